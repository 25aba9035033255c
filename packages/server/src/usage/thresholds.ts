import { type Aggregation, billingPeriod } from '@tenantry/core';
import { type Kysely, sql, type Transaction } from 'kysely';
import { recordChanges } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import { type Schema, withRetry } from '../db/index.ts';
import { WakeLoop } from '../jobs/index.ts';
import { systemContext } from '../request-context.ts';
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

/** Who the audit log names for thresholds reached. */
const THRESHOLDS = systemContext('thresholds');

/**
 * How many queued batches one transaction of the checker takes. Many, because its work is per
 * distinct (tenant, meter, hour) taken, and busy ingestion queues the same ones again and again.
 */
const DRAIN_BATCH = 500;

/**
 * How long the checker lets wake-ups gather before it drains. Ingestion wakes it after every
 * batch, and a drain reads the period usage of every tenant it takes (a thousand, for a batch
 * spread over a thousand tenants): draining once a second over all of that second's batches,
 * rather than after each, took a fifth off the database and server time per ingested event in
 * `bench:ingest`. It is also about how late a threshold is raised after the usage that crosses it.
 */
const SETTLE_MS = 1_000;

/**
 * Raises limit thresholds, after usage has committed and off the ingestion path. Ingestion
 * queues each (tenant, meter) whose usage changed in the transaction that stores the usage; the
 * checker takes queued entries (`FOR UPDATE SKIP LOCKED`, so several processes share the work),
 * reads the committed usage and records every threshold reached, and deletes the entries, all
 * in one transaction: a checker that dies leaves them queued for the next. The
 * (tenant, meter, period, threshold) key is unique, so every threshold is raised exactly once.
 * No crossing is missed: an entry is taken only once its batch has committed, and the usage is
 * read after that, so it includes the batch.
 */
export class ThresholdChecker {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #loop = new WakeLoop({ settleMs: SETTLE_MS });

  constructor(db: Kysely<Schema>, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  /** Checks everything queued now; returns the thresholds it raised. */
  async drain(): Promise<ThresholdReached[]> {
    const raised: ThresholdReached[] = [];
    for (;;) {
      const round = await withRetry(() =>
        this.#db.transaction().execute(async (tx) => {
          // Two plain statements rather than a DELETE joined to its locking scan: with statistics
          // taken while this fast-growing queue was empty, the planner joins them by scanning the
          // whole table once per taken row.
          const taken = await sql<{ id: string }>`
            select id from usage_threshold_queue order by id limit ${DRAIN_BATCH} for update skip locked`.execute(
            tx,
          );
          if (taken.rows.length === 0) return null;
          // The hours as epoch milliseconds, sorted: parsing thousands of timestamps into Dates
          // was a good part of a drain's time.
          const changes = await sql<{ tenant_id: string; meter: string; hours: number[] }>`
            with gone as (
              delete from usage_threshold_queue where id = any(${taken.rows.map((r) => r.id)}::bigint[]) returning changes
            )
            select c.t as tenant_id, c.m as meter,
                   array_agg(distinct extract(epoch from c.at)::float8 * 1000 order by extract(epoch from c.at)::float8 * 1000) as hours
            from gone cross join lateral jsonb_to_recordset(gone.changes) as c(t text, m text, at timestamptz)
            group by c.t, c.m`.execute(tx);
          return recordThresholds(tx, changes.rows, this.#clock.now());
        }),
      );
      if (round === null) return raised;
      raised.push(...round);
    }
  }

  /** Makes a sleeping {@link work} loop check now. */
  wake(): void {
    this.#loop.wake();
  }

  /** Checks queued usage until `signal` aborts, every `pollMs` or when woken. */
  work(signal: AbortSignal, pollMs: number, onError: (error: unknown) => void): Promise<void> {
    return this.#loop.run(signal, pollMs, () => this.drain(), onError);
  }
}

/**
 * Checks the limits of these tenants and meters against their usage in the billing periods that
 * hold the hours when it changed (a late event counts in its own period), and records each
 * threshold reached for the first time, recorded as `usage.threshold_reached`. `hours` are epoch
 * milliseconds in ascending order.
 */
export async function recordThresholds(
  tx: Transaction<Schema>,
  changes: readonly { tenant_id: string; meter: string; hours: readonly number[] }[],
  now: Date,
): Promise<ThresholdReached[]> {
  const byTenant = new Map<string, { meter: string; hours: readonly number[] }[]>();
  for (const { tenant_id, meter, hours } of changes) {
    const list = byTenant.get(tenant_id) ?? [];
    list.push({ meter, hours });
    byTenant.set(tenant_id, list);
  }
  const contexts = await loadLimitContexts(tx, [...byTenant.keys()], now);
  const requests = new Map<string, UsageRequest & { limit: number; thresholds: readonly number[] }>();
  for (const { tenantId, definition, billingAnchor, snapshot } of contexts) {
    if (!snapshot.active) continue;
    for (const { meter: key, hours } of byTenant.get(tenantId) ?? []) {
      const limit = snapshot.limits[key];
      const meter = definition.meters[key];
      if (!meter || !limit || limit.limit === null || limit.kind === 'seats') continue;
      // The hours are sorted, so each period is worked out once, at the first hour past the last.
      let periodEnd = Number.NEGATIVE_INFINITY;
      for (const hour of hours) {
        if (hour < periodEnd) continue;
        const period = billingPeriod(billingAnchor, definition.interval, new Date(hour));
        periodEnd = period.end.getTime();
        const request = {
          tenantId,
          meter: key,
          aggregation: meter.aggregation as Aggregation,
          start: period.start,
          end: period.end,
          limit: limit.limit,
          thresholds: limit.thresholds,
        };
        requests.set(usageKey(request), request);
      }
    }
  }
  if (requests.size === 0) return [];
  const usage = await periodUsage(tx, [...requests.values()], now);
  const reached: ThresholdReached[] = [];
  for (const r of requests.values()) {
    const used = usage.get(usageKey(r)) ?? 0;
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
  const inserted = await sql<{ tenant_id: string; meter: string; period_start: Date; threshold: number }>`
    insert into usage_thresholds (tenant_id, meter, period_start, period_end, threshold, limit_value, used, reached_at)
    select t, m, ps, pe, th, l, u, ${now}
    from unnest(${reached.map((r) => r.tenant_id)}::text[], ${reached.map((r) => r.meter)}::text[],
                ${reached.map((r) => new Date(r.period.start))}::timestamptz[],
                ${reached.map((r) => new Date(r.period.end))}::timestamptz[], ${reached.map((r) => r.threshold)}::int[],
                ${reached.map((r) => String(r.limit))}::numeric[], ${reached.map((r) => String(r.used))}::numeric[])
         as x(t, m, ps, pe, th, l, u)
    order by t, m, th
    on conflict do nothing
    returning tenant_id, meter, period_start, threshold`.execute(tx);
  const fresh = reached.filter((r) =>
    inserted.rows.some(
      (row) =>
        row.tenant_id === r.tenant_id &&
        row.meter === r.meter &&
        row.threshold === r.threshold &&
        row.period_start.toISOString() === r.period.start,
    ),
  );
  await recordChanges(
    tx,
    THRESHOLDS,
    fresh.map((r) => ({
      action: 'usage.threshold_reached',
      tenantId: r.tenant_id,
      target: { type: 'meter', id: r.meter },
      data: { ...r },
      occurredAt: now,
    })),
  );
  return fresh;
}
