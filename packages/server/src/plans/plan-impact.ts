import {
  billingPeriod,
  evaluateEntitlements,
  type PlanDefinition,
  type TenantOverrides,
  type TenantState,
} from '@tenantry/core';
import { type Kysely, sql } from 'kysely';
import type { Schema } from '../db/index.ts';
import { periodUsage, usageKey } from '../usage/index.ts';

/**
 * The most tenants of one plan a dry run evaluates (their usage read in a few batched queries):
 * enough for a real review, bounded for a large fleet. The counts say how many were examined.
 */
export const MAX_IMPACT_EXAMINED = 2000;

/**
 * The most tenants a dry run lists under each heading of a plan, the most affected first (the
 * furthest over a limit, the largest rise); the counts cover all examined.
 */
export const MAX_IMPACT_LISTED = 50;

/** A limit a tenant's current usage would pass on the new version. */
export interface LimitExceeded {
  key: string;
  used: number;
  /** The tenant's effective limit now (its version, overrides, seats); `null` = unlimited. */
  current: number | null;
  /** The effective limit it would have on the new version. */
  new: number;
}

export interface TenantOverLimit {
  id: string;
  slug: string;
  name: string;
  version: number;
  limits: LimitExceeded[];
}

/** A tenant whose recurring charge per interval (flat + per seat × seats, topped up to any minimum) would rise. */
export interface TenantPaysMore {
  id: string;
  slug: string;
  name: string;
  version: number;
  seats: number;
  currency: string;
  /** In major units, as a decimal string. */
  current: string;
  new: string;
}

/** What a new version of one plan would mean for the tenants on that plan. */
export interface PlanImpact {
  key: string;
  /** The version the dry run would create. */
  version: number;
  /** Tenants on the plan (any version, not deleted). */
  tenants: number;
  /** How many of them were evaluated (at most {@link MAX_IMPACT_EXAMINED}). */
  examined: number;
  over_limit: { count: number; tenants: TenantOverLimit[] };
  pays_more: { count: number; tenants: TenantPaysMore[] };
}

/**
 * Tenants keep the version they are on until they are moved (`change-plan`); a new version never
 * reaches them by itself. The impact is what moving them would do.
 */
export interface ApplyImpact {
  adoption: 'grandfathered';
  plans: PlanImpact[];
}

const SCALE = 12;
const FACTOR = 10n ** BigInt(SCALE);

/** A canonical decimal (major units) as an integer scaled by 10^12, exact for any plan amount. */
function scaled(amount: string): bigint {
  const [whole = '0', fraction = ''] = amount.split('.');
  return BigInt(whole) * FACTOR + BigInt(fraction.padEnd(SCALE, '0').slice(0, SCALE) || '0');
}

function decimal(value: bigint): string {
  const whole = value / FACTOR;
  const fraction = (value % FACTOR).toString().padStart(SCALE, '0').replace(/0+$/, '');
  return fraction === '' ? whole.toString() : `${whole}.${fraction}`;
}

/**
 * The recurring charge of a plan per interval at `seats`: its flat and per-seat prices, topped up
 * to its minimum. Usage prices depend on usage to come and are left out.
 */
export function recurringCharge(definition: PlanDefinition, seats: number): bigint {
  let total = 0n;
  let minimum = 0n;
  for (const price of definition.prices) {
    if (price.type === 'flat') total += scaled(price.amount);
    else if (price.type === 'per_seat') total += scaled(price.unit_amount) * BigInt(seats);
    else if (price.type === 'minimum') minimum += scaled(price.amount);
  }
  return total > minimum ? total : minimum;
}

/**
 * The impact of new definitions on the tenants of their plans: who would pass a lowered limit
 * with the usage they have now, and who would pay more at their seats, were they moved to the
 * new version. Reads at most {@link MAX_IMPACT_EXAMINED} tenants per plan, and their usage in a
 * few batched queries; writes nothing.
 */
export async function planImpact(
  db: Kysely<Schema>,
  changed: readonly { definition: PlanDefinition; planId: string; version: number }[],
  wallNow: Date,
): Promise<ApplyImpact> {
  const plans: PlanImpact[] = [];
  for (const { definition, planId, version } of changed) {
    const total = await db
      .selectFrom('tenants')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('plan_id', '=', planId)
      .where('state', '<>', 'deleted')
      .executeTakeFirstOrThrow();
    const rows = await db
      .selectFrom('tenants as t')
      .innerJoin('plan_versions as v', (join) =>
        join.onRef('v.plan_id', '=', 't.plan_id').onRef('v.version', '=', 't.plan_version'),
      )
      .select([
        't.id',
        't.slug',
        't.name',
        't.state',
        't.seats',
        't.overrides',
        't.billing_anchor',
        't.trial_ends_at',
        't.plan_version',
        'v.definition',
      ])
      .select(
        sql<Date | null>`(select c.frozen_time from test_clocks c where c.id = t.test_clock_id)`.as(
          'clock_time',
        ),
      )
      .where('t.plan_id', '=', planId)
      .where('t.state', '<>', 'deleted')
      .orderBy('t.id')
      .limit(MAX_IMPACT_EXAMINED)
      .execute();

    // Usage as the new version would count it: its limited meters over its period for each tenant.
    const requests = rows.flatMap((row) => {
      const overrides = row.overrides as TenantOverrides;
      const period = billingPeriod(row.billing_anchor, definition.interval, row.clock_time ?? wallNow);
      const limited = new Set([...Object.keys(definition.limits), ...Object.keys(overrides.limits ?? {})]);
      return [...limited].flatMap((key) => {
        const meter = definition.meters[key];
        return meter
          ? [
              {
                tenantId: row.id,
                meter: key,
                aggregation: meter.aggregation,
                start: period.start,
                end: period.end,
              },
            ]
          : [];
      });
    });
    const usage =
      requests.length === 0 ? new Map<string, number>() : await periodUsage(db, requests, wallNow);
    const usedBy = new Map<string, Record<string, number>>();
    for (const r of requests) {
      const used = usedBy.get(r.tenantId) ?? {};
      used[r.meter] = usage.get(usageKey(r)) ?? 0;
      usedBy.set(r.tenantId, used);
    }

    const overLimit: TenantOverLimit[] = [];
    const paysMore: TenantPaysMore[] = [];
    for (const row of rows) {
      const current = row.definition as PlanDefinition;
      const overrides = row.overrides as TenantOverrides;
      const now = row.clock_time ?? wallNow;
      const input = {
        tenantId: row.id,
        // Judged as active: a suspended tenant's snapshot holds no limits, yet it would meet them on its return.
        state: 'active' as TenantState,
        seats: row.seats,
        overrides,
        billingAnchor: row.billing_anchor,
        trialEndsAt: row.trial_ends_at,
        now,
      };
      const next = evaluateEntitlements({
        ...input,
        usage: usedBy.get(row.id) ?? {},
        plan: { key: definition.key, version, definition },
      });
      const was = evaluateEntitlements({
        ...input,
        plan: { key: definition.key, version: row.plan_version, definition: current },
      });
      const exceeded: LimitExceeded[] = [];
      for (const [key, limit] of Object.entries(next.limits)) {
        if (limit.limit === null || limit.used === null || limit.used <= limit.limit) continue;
        exceeded.push({ key, used: limit.used, current: was.limits[key]?.limit ?? null, new: limit.limit });
      }
      if (exceeded.length > 0) {
        overLimit.push({
          id: row.id,
          slug: row.slug,
          name: row.name,
          version: row.plan_version,
          limits: exceeded,
        });
      }
      // Charges in two currencies or over two intervals do not compare; the diff shows that change.
      if (current.currency === definition.currency && current.interval === definition.interval) {
        const before = recurringCharge(current, row.seats);
        const after = recurringCharge(definition, row.seats);
        if (after > before) {
          paysMore.push({
            id: row.id,
            slug: row.slug,
            name: row.name,
            version: row.plan_version,
            seats: row.seats,
            currency: definition.currency,
            current: decimal(before),
            new: decimal(after),
          });
        }
      }
    }
    // The most affected first, so that the listed few are the ones to look at.
    const overBy = (tenant: TenantOverLimit) =>
      Math.max(...tenant.limits.map((l) => l.used / Math.max(l.new, 1)));
    overLimit.sort((a, b) => overBy(b) - overBy(a));
    paysMore.sort((a, b) => {
      const rise = (t: TenantPaysMore) => scaled(t.new) - scaled(t.current);
      const diff = rise(b) - rise(a);
      return diff > 0n ? 1 : diff < 0n ? -1 : 0;
    });
    plans.push({
      key: definition.key,
      version,
      tenants: Number(total.n),
      examined: rows.length,
      over_limit: { count: overLimit.length, tenants: overLimit.slice(0, MAX_IMPACT_LISTED) },
      pays_more: { count: paysMore.length, tenants: paysMore.slice(0, MAX_IMPACT_LISTED) },
    });
  }
  return { adoption: 'grandfathered', plans };
}
