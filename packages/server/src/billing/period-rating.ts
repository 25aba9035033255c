import type { Aggregation, Period, PlanDefinition, SubscriptionSegment } from '@tenantry/core';
import type { PlanVersions } from './plan-versions.ts';
import type { SubscriptionRecord } from './subscription-records.ts';

const HOUR_MS = 3_600_000;

/** A meter the period's usage prices charge, and how to read it. */
export interface PricedMeter {
  readonly key: string;
  readonly aggregation: Aggregation;
  readonly unit: string | null;
}

/** What rating one period of one subscription needs, apart from the usage quantities. */
export interface PeriodRating {
  readonly tenantId: string;
  readonly period: Period;
  /** Segments tiling the period; the parts outside the billable window charge nothing recurring. */
  readonly segments: readonly SubscriptionSegment[];
  /** Usage counts over these whole hours: the billable window, widened to the hours it touches. */
  readonly usageWindow: Period;
  /** The meters the usage prices of the period-end plan charge. */
  readonly meters: readonly PricedMeter[];
  /** The period-end plan (its currency names the invoice's). */
  readonly plan: PlanDefinition;
}

/**
 * The segments to rate `period` with: the subscription's history clipped to the billable window
 * (from the end of the trial, or the start, to the cancellation, if any), instants truncated to
 * the second and identical neighbours merged. Outside the window the period is tiled by segments
 * whose plan keeps only its usage prices, so nothing recurring is charged there and the minimum
 * commitment is prorated to the window. Usage is read over whole hours: from the first hour that
 * starts at or after the window's start to the end of the hour that holds its end. `null` when
 * nothing of the period is billable (a trial over all of it, or a subscription over before it).
 */
export function periodRating(
  subscription: SubscriptionRecord,
  plans: PlanVersions,
  period: Period,
): PeriodRating | null {
  const windowStart = maxDate(period.start, subscription.billingStartsAt);
  const windowEnd =
    subscription.endedAt !== null && subscription.endedAt < period.end ? subscription.endedAt : period.end;
  if (windowStart >= windowEnd) return null;

  const parts: { from: number; to: number; planId: string; version: number; seats: number; free: boolean }[] =
    [];
  for (const segment of subscription.segments) {
    const from = Math.max(segment.from.getTime(), windowStart.getTime());
    const to = Math.min(segment.to?.getTime() ?? Number.POSITIVE_INFINITY, windowEnd.getTime());
    if (to <= from) continue;
    parts.push({
      from,
      to,
      planId: segment.planId,
      version: segment.planVersion,
      seats: segment.seats,
      free: false,
    });
  }
  const first = parts[0];
  const last = parts.at(-1);
  if (first === undefined || last === undefined) return null;
  if (first.from > period.start.getTime())
    parts.unshift({ ...first, from: period.start.getTime(), to: first.from, free: true });
  if (last.to < period.end.getTime())
    parts.push({ ...last, from: last.to, to: period.end.getTime(), free: true });

  // Seconds are what proration counts: boundaries inside the period are truncated to the second,
  // and parts left empty by that (changes within one second) are dropped.
  const cut = parts.map((p, i) => ({
    ...p,
    from: i === 0 ? period.start.getTime() : Math.floor(p.from / 1000) * 1000,
    to: i === parts.length - 1 ? period.end.getTime() : Math.floor(p.to / 1000) * 1000,
  }));
  const merged: typeof cut = [];
  for (const part of cut) {
    if (part.to <= part.from) continue;
    const previous = merged.at(-1);
    if (
      previous !== undefined &&
      previous.planId === part.planId &&
      previous.version === part.version &&
      previous.seats === part.seats &&
      previous.free === part.free
    ) {
      previous.to = part.to;
    } else {
      merged.push({ ...part, from: previous?.to ?? part.from });
    }
  }
  const segments: SubscriptionSegment[] = merged.map((part) => {
    const definition = plans.get(part.planId, part.version).definition;
    return {
      from: new Date(part.from),
      to: new Date(part.to),
      plan: part.free ? usageOnly(definition) : definition,
      planVersion: part.version,
      seats: part.seats,
    };
  });
  const end = segments.at(-1);
  if (end === undefined) return null;
  const plan = end.plan;
  const meters: PricedMeter[] = [];
  for (const price of plan.prices) {
    if (price.type !== 'usage' || meters.some((m) => m.key === price.meter)) continue;
    const meter = plan.meters[price.meter];
    if (meter) meters.push({ key: price.meter, aggregation: meter.aggregation, unit: meter.unit });
  }
  return {
    tenantId: subscription.tenantId,
    period,
    segments,
    usageWindow: { start: ceilHour(windowStart), end: ceilHour(windowEnd) },
    meters,
    plan,
  };
}

/** The plan without its recurring prices and minimum: what applies outside the billable window. */
function usageOnly(plan: PlanDefinition): PlanDefinition {
  return { ...plan, prices: plan.prices.filter((price) => price.type === 'usage') };
}

function ceilHour(at: Date): Date {
  return new Date(Math.ceil(at.getTime() / HOUR_MS) * HOUR_MS);
}

function maxDate(a: Date, b: Date): Date {
  return a > b ? a : b;
}
