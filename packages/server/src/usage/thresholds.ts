import type { Aggregation } from '@tenantry/core';
import { sql, type Transaction } from 'kysely';
import type { Schema } from '../db/schema.ts';
import { newId } from '../ids.ts';
import { loadLimitContexts } from './limit-context.ts';
import { periodUsage, type UsageRequest, usageKey } from './period-usage.ts';

/** A limit threshold a tenant reached for the first time in a period. */
export interface ThresholdReached {
  tenant_id: string;
  meter: string;
  threshold: number;
  limit: number;
  used: number;
  period: { start: string; end: string };
}

/**
 * Checks the limits on `meters` of `tenantIds` against their current-period usage and records
 * each threshold reached for the first time, with a `usage.threshold_reached` event. Runs in the
 * transaction that stored the usage, after it; the (tenant, meter, period, threshold) key is
 * unique, so every threshold is raised exactly once however many batches cross it at once, and
 * the checks of one tenant and meter take turns, so that batches crossing it together do not
 * each miss it. Read committed isolation (the default) is assumed: each statement sees what
 * committed before it.
 */
export async function recordThresholds(
  tx: Transaction<Schema>,
  tenantIds: ReadonlySet<string>,
  meters: ReadonlySet<string>,
  now: Date,
): Promise<ThresholdReached[]> {
  const contexts = await loadLimitContexts(tx, [...tenantIds], now);
  const requests: (UsageRequest & { limit: number; thresholds: readonly number[] })[] = [];
  for (const { tenantId, definition, snapshot } of contexts) {
    if (!snapshot.active) continue;
    for (const [key, limit] of Object.entries(snapshot.limits)) {
      const meter = definition.meters[key];
      if (!meter || !meters.has(key) || limit.limit === null || limit.kind === 'seats') continue;
      requests.push({
        tenantId,
        meter: key,
        aggregation: meter.aggregation as Aggregation,
        start: new Date(snapshot.period.start),
        end: new Date(snapshot.period.end),
        limit: limit.limit,
        thresholds: limit.thresholds,
      });
    }
  }
  if (requests.length === 0) return [];
  // Concurrent batches that cross a threshold together may each see only its own usage (the
  // others are not committed yet) and none of them the total. So the checks of one tenant and
  // meter take turns, each after its batch is stored and until its commit: the later one reads
  // after the earlier committed, and sees both. Taken in one order, so batches cannot deadlock.
  const keys = [...new Set(requests.map((r) => `threshold:${r.tenantId}:${r.meter}`))].sort();
  for (const key of keys) await sql`select pg_advisory_xact_lock(hashtext(${key}))`.execute(tx);
  const usage = await periodUsage(tx, requests);
  const reached: ThresholdReached[] = [];
  for (const r of requests) {
    const used = usage.get(usageKey(r.tenantId, r.meter)) ?? 0;
    for (const threshold of r.thresholds) {
      if (used > 0 && used * 100 >= r.limit * threshold) {
        reached.push({
          tenant_id: r.tenantId,
          meter: r.meter,
          threshold,
          limit: r.limit,
          used,
          period: { start: r.start.toISOString(), end: r.end.toISOString() },
        });
      }
    }
  }
  if (reached.length === 0) return [];
  const inserted = await sql<{ tenant_id: string; meter: string; threshold: number }>`
    insert into usage_thresholds (tenant_id, meter, period_start, threshold, limit_value, used, reached_at)
    select t, m, ps, th, l, u, ${now}
    from unnest(${reached.map((r) => r.tenant_id)}::text[], ${reached.map((r) => r.meter)}::text[],
                ${reached.map((r) => new Date(r.period.start))}::timestamptz[], ${reached.map((r) => r.threshold)}::int[],
                ${reached.map((r) => String(r.limit))}::numeric[], ${reached.map((r) => String(r.used))}::numeric[])
         as x(t, m, ps, th, l, u)
    order by t, m, th
    on conflict do nothing
    returning tenant_id, meter, threshold`.execute(tx);
  const fresh = reached.filter((r) =>
    inserted.rows.some(
      (row) => row.tenant_id === r.tenant_id && row.meter === r.meter && row.threshold === r.threshold,
    ),
  );
  if (fresh.length > 0) {
    await tx
      .insertInto('domain_events')
      .values(
        fresh.map((r) => ({
          id: newId('evt'),
          type: 'usage.threshold_reached',
          tenant_id: r.tenant_id,
          data: JSON.stringify(r),
          occurred_at: now,
        })),
      )
      .execute();
  }
  return fresh;
}
