import { type Aggregation, limitKind } from '@tenantry/core';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Schema } from '../db/index.ts';

/** One tenant's usage of one meter, wanted for the period `[start, end)`. */
export interface UsageRequest {
  readonly tenantId: string;
  readonly meter: string;
  readonly aggregation: Aggregation;
  readonly start: Date;
  readonly end: Date;
}

type Db = Kysely<Schema> | Transaction<Schema>;

/** The key of a request in the answer of {@link periodUsage}. */
export function usageKey(request: {
  readonly tenantId: string;
  readonly meter: string;
  readonly start: Date;
}): string {
  return `${request.tenantId}\u0000${request.meter}\u0000${request.start.getTime()}`;
}

/**
 * The usage that limits are checked against: for metered limits the total over the period, for
 * gauges the level now (the sum of every subject's last value, plus the slots open at `wallNow`:
 * those of holders whose heartbeat has not lapsed). `wallNow` is the wall clock's time even for a
 * tenant on a test clock: holders' heartbeats are real processes' and lapse in real time. Read from the rollups and slots in at most
 * four queries however many tenants and meters are asked for.
 */
export async function periodUsage(
  db: Db,
  requests: readonly UsageRequest[],
  wallNow: Date,
): Promise<Map<string, number>> {
  const usage = new Map<string, number>();
  for (const r of requests) usage.set(usageKey(r), 0);
  const additive = requests.filter(
    (r) => limitKind(r.aggregation) === 'metered' && r.aggregation !== 'unique_count',
  );
  const uniques = requests.filter((r) => r.aggregation === 'unique_count');
  const gauges = requests.filter((r) => limitKind(r.aggregation) === 'gauge');
  const keys = (list: readonly UsageRequest[]) => sql`unnest(
      ${list.map((r) => r.tenantId)}::text[], ${list.map((r) => r.meter)}::text[],
      ${list.map((r) => r.start)}::timestamptz[], ${list.map((r) => r.end)}::timestamptz[]) as q(t, m, s, e)`;

  if (additive.length > 0) {
    const rows = await sql<{ t: string; m: string; s: Date; sum: string; count: string; max: string | null }>`
      select q.t, q.m, q.s, sum(r.sum)::text as sum, sum(r.count)::text as count, max(r.max)::text as max
      from ${keys(additive)}
      join usage_rollups r on r.tenant_id = q.t and r.meter = q.m and r.hour >= q.s and r.hour < q.e
      group by q.t, q.m, q.s`.execute(db);
    const byKey = new Map(
      rows.rows.map((row) => [usageKey({ tenantId: row.t, meter: row.m, start: row.s }), row]),
    );
    for (const r of additive) {
      const row = byKey.get(usageKey(r));
      const value = r.aggregation === 'sum' ? row?.sum : r.aggregation === 'count' ? row?.count : row?.max;
      usage.set(usageKey(r), Number(value ?? 0));
    }
  }
  if (uniques.length > 0) {
    const rows = await sql<{ t: string; m: string; s: Date; n: number }>`
      select q.t, q.m, q.s, count(distinct u.value)::int as n
      from ${keys(uniques)}
      join usage_uniques u on u.tenant_id = q.t and u.meter = q.m and u.hour >= q.s and u.hour < q.e
      group by q.t, q.m, q.s`.execute(db);
    for (const row of rows.rows) usage.set(usageKey({ tenantId: row.t, meter: row.m, start: row.s }), row.n);
  }
  if (gauges.length > 0) {
    const rows = await sql<{ t: string; m: string; level: string }>`
      select s.t, s.m, sum(e.value)::text as level
      from (select distinct q.t, q.m, r.subject from ${keys(gauges)}
            join usage_rollups r on r.tenant_id = q.t and r.meter = q.m) s
      cross join lateral (
        select value from usage_events
        where tenant_id = s.t and meter = s.m and subject = s.subject and voided_at is null
        order by time desc, id desc limit 1
      ) e
      group by s.t, s.m`.execute(db);
    const slots = await sql<{ t: string; m: string; n: number }>`
      select s.tenant_id as t, s.meter as m, count(*)::int as n
      from (select distinct t, m from unnest(
              ${gauges.map((r) => r.tenantId)}::text[], ${gauges.map((r) => r.meter)}::text[]) as q(t, m)) q
      join usage_slots s on s.tenant_id = q.t and s.meter = q.m
      join slot_holders h on h.id = s.holder_id and h.expires_at > ${wallNow}
      group by s.tenant_id, s.meter`.execute(db);
    // A gauge's level is now, whatever period is asked for.
    const levels = new Map(rows.rows.map((row) => [`${row.t}\u0000${row.m}`, Number(row.level)]));
    for (const row of slots.rows) {
      const key = `${row.t}\u0000${row.m}`;
      levels.set(key, (levels.get(key) ?? 0) + row.n);
    }
    for (const r of gauges) usage.set(usageKey(r), levels.get(`${r.tenantId}\u0000${r.meter}`) ?? 0);
  }
  return usage;
}
