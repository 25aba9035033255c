import {
  DEFAULT_METER_CATEGORY,
  type DomainError,
  METER_CATEGORIES,
  type MeterCategory,
  ok,
  type Result,
  roundHalfEven,
} from '@tenantry/core';
import type { Kysely } from 'kysely';
import type { Schema } from '../db/index.ts';
import type { BillingMonth } from './billing-month.ts';
import { type BillingUsageRequest, readBillingUsage } from './billing-usage.ts';
import { minorOf, moneyOf, parseDecimalText } from './decimal-text.ts';
import { linesOfRating } from './invoice-documents.ts';
import type { InvoiceService } from './invoice-service.ts';
import { documentLineView, type InvoiceLineView } from './invoice-view.ts';

/**
 * What a line of the breakdown is: `subscription` (flat, per-seat and minimum lines), or for a
 * usage line its meter's category as the plan file sets it (`other` when it sets none).
 */
export type ShowbackCategory = 'subscription' | MeterCategory;

/** Every category, in the order `totals` lists them. */
export const CATEGORIES: readonly ShowbackCategory[] = ['subscription', ...METER_CATEGORIES];

/** One line of the cost breakdown: quantity × price = amount. */
export interface ShowbackLine {
  category: ShowbackCategory;
  description: string;
  /** The meter of a usage line. */
  meter: string | null;
  quantity: string;
  /** Price per unit; `null` for tiered lines (see the invoice for their tiers). */
  unit_amount: string | null;
  amount: string;
}

/** A subject's (a user's) share of one usage line. */
export interface ConsumerUsage {
  meter: string;
  description: string;
  quantity: string;
  amount: string;
  /** Percent of the line's usage, two decimals. */
  share: string;
}

/** One subject and what its usage cost. */
export interface ShowbackConsumer {
  /** `''` for usage recorded without a subject. */
  subject: string;
  amount: string;
  /** Percent of the usage charges (every category but `subscription`), two decimals. */
  share: string;
  usage: ConsumerUsage[];
}

/** A tenant's costs for one period, broken down, with its top consumers. */
export interface Showback {
  tenant: { id: string; slug: string; name: string };
  period: { start: string; end: string };
  currency: string;
  /** `invoice`: read from the period's final invoice; `preview`: rated now (the period is open or not invoiced yet). */
  source: 'invoice' | 'preview';
  invoice: { id: string; number: string } | null;
  total: string;
  totals: Record<ShowbackCategory, string>;
  lines: ShowbackLine[];
  consumers: ShowbackConsumer[];
  /** The subjects beyond the top ones, together. */
  other_consumers: { count: number; amount: string; share: string } | null;
}

/**
 * Showback: what a tenant's period cost, line by line, and who used it. Costs come from the
 * period's final invoice when there is one, from a preview otherwise. Each usage line's amount is
 * shared among the subjects in proportion to their usage of its meter (for `max` and `latest`
 * meters, to each subject's own maximum or last value), split to the minor unit by largest
 * remainder so the shares add up to the line exactly.
 */
export async function showback(
  db: Kysely<Schema>,
  invoices: InvoiceService,
  tenantRef: string,
  options: { month?: BillingMonth | undefined; top: number; now: Date },
): Promise<Result<Showback, DomainError>> {
  const resolved = await invoices.resolvePeriod(tenantRef, options.month);
  if (!resolved.ok) return resolved;
  const { tenant, period, rating, subscription, plans } = resolved.value;
  const final = await invoices.periodInvoice(tenant.id, period);
  let lines: InvoiceLineView[];
  let currency: string;
  if (final !== undefined) {
    lines = final.lines;
    currency = final.currency;
  } else {
    const rated = await invoices.rate(resolved.value);
    if (!rated.ok) return rated;
    lines = rated.value === null ? [] : linesOfRating(rated.value).map(documentLineView);
    const last = subscription.segments.at(-1);
    currency =
      rated.value?.currency ?? (last ? plans.get(last.planId, last.planVersion).definition.currency : 'usd');
  }
  const meters = rating?.plan.meters ?? {};
  const category = (line: InvoiceLineView): ShowbackCategory => {
    if (line.kind !== 'usage' || line.usage === null) return 'subscription';
    return meters[line.usage.meter]?.category ?? DEFAULT_METER_CATEGORY;
  };
  const breakdown: ShowbackLine[] = lines.map((line) => ({
    category: category(line),
    description: line.description,
    meter: line.usage?.meter ?? null,
    quantity: line.quantity,
    unit_amount: line.unit_amount,
    amount: line.amount,
  }));
  const sum = (of: (l: ShowbackLine) => boolean) =>
    breakdown.filter(of).reduce((total, l) => total + minorOf(l.amount, currency), 0n);
  const metered = lines.filter((line) => line.usage !== null && rating !== null);

  // Who used each metered line, over the same hours the invoice counts.
  const requests: BillingUsageRequest[] =
    rating === null
      ? []
      : metered.map((line) => {
          const meter = meters[line.usage?.meter ?? ''];
          return {
            tenantId: tenant.id,
            meter: line.usage?.meter ?? '',
            aggregation: meter?.aggregation ?? 'sum',
            unit: meter?.unit ?? null,
            start: rating.usageWindow.start,
            end: rating.usageWindow.end,
            periodSeconds: (period.end.getTime() - period.start.getTime()) / 1000,
            periodMonths: rating.plan.interval === 'year' ? 12 : 1,
            now: options.now,
          };
        });
  const usage = await readBillingUsage(db, requests, { bySubject: true });
  const consumers = new Map<string, { amount: bigint; usage: ConsumerUsage[] }>();
  metered.forEach((line, i) => {
    const subjects = [...(usage.bySubject.get(i) ?? new Map<string, string>())];
    const weights = commonScale(subjects.map(([, quantity]) => quantity));
    const whole = weights.reduce((a, b) => a + b, 0n);
    const shares = allocate(minorOf(line.amount, currency), weights);
    subjects.forEach(([subject, quantity], s) => {
      const entry = consumers.get(subject) ?? { amount: 0n, usage: [] };
      const amount = shares[s] ?? 0n;
      entry.amount += amount;
      entry.usage.push({
        meter: line.usage?.meter ?? '',
        description: line.description,
        quantity,
        amount: moneyOf(amount, currency),
        share: percent(weights[s] ?? 0n, whole),
      });
      consumers.set(subject, entry);
    });
  });
  const attributed = sum((l) => l.category !== 'subscription');
  const ranked = [...consumers]
    .sort(([a, x], [b, y]) => (x.amount === y.amount ? (a < b ? -1 : 1) : x.amount > y.amount ? -1 : 1))
    .map(([subject, entry]) => ({
      subject,
      amount: moneyOf(entry.amount, currency),
      share: percent(entry.amount, attributed),
      usage: entry.usage,
    }));
  const top = ranked.slice(0, options.top);
  const rest = ranked.slice(options.top);
  const restAmount = rest.reduce((total, c) => total + minorOf(c.amount, currency), 0n);
  return ok({
    tenant,
    period: { start: period.start.toISOString(), end: period.end.toISOString() },
    currency,
    source: final === undefined ? 'preview' : 'invoice',
    invoice: final?.id && final.number ? { id: final.id, number: final.number } : null,
    total: moneyOf(
      sum(() => true),
      currency,
    ),
    totals: Object.fromEntries(
      CATEGORIES.map((c) => [
        c,
        moneyOf(
          sum((l) => l.category === c),
          currency,
        ),
      ]),
    ) as Record<ShowbackCategory, string>,
    lines: breakdown,
    consumers: top,
    other_consumers:
      rest.length === 0
        ? null
        : {
            count: rest.length,
            amount: moneyOf(restAmount, currency),
            share: percent(restAmount, attributed),
          },
  });
}

/**
 * `amount` minor units split in proportion to `weights`, by largest remainder: each gets the
 * floor of its exact share, and the units left over go to the largest remainders (the earlier
 * weight on a tie), so the parts add up to `amount` exactly. All zero when the weights are.
 */
export function allocate(amount: bigint, scaled: readonly bigint[]): bigint[] {
  const total = scaled.reduce((a, b) => a + b, 0n);
  if (total === 0n || amount <= 0n) return scaled.map(() => 0n);
  const parts = scaled.map((w) => (amount * w) / total);
  const remainders = scaled.map((w, i) => ({ i, r: (amount * w) % total }));
  let left = amount - parts.reduce((a, b) => a + b, 0n);
  remainders.sort((a, b) => (a.r === b.r ? a.i - b.i : a.r > b.r ? -1 : 1));
  for (const { i } of remainders) {
    if (left === 0n) break;
    parts[i] = (parts[i] ?? 0n) + 1n;
    left--;
  }
  return parts;
}

/** `part / whole` as a percentage with two decimals, half to even; `"0.00"` when whole is 0. */
export function percent(part: bigint, whole: bigint): string {
  return whole === 0n ? '0.00' : moneyOf(roundHalfEven(part * 10_000n, whole), 'usd');
}

/** Decimal texts as integers at one scale, so that their ratios are exact. */
function commonScale(values: readonly string[]): bigint[] {
  const parsed = values.map(parseDecimalText);
  const scale = Math.max(0, ...parsed.map((p) => p.scale));
  return parsed.map((p) => p.coefficient * 10n ** BigInt(scale - p.scale));
}
