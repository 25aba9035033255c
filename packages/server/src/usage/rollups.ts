import { sql, type Transaction } from 'kysely';
import type { Schema } from '../db/index.ts';

/**
 * Recomputes a time-weighted series' hourly rollups from its raw events, from the hour where
 * `since` starts to affect it: a gauge holds each value until the next event, so an event at
 * `since` changes the integral from the previous event on. Only closed segments (those with a
 * next event) are stored; the open one after the last event is added when usage is read, up to
 * the reading's `now`. The series is locked while it is recomputed, so concurrent batches that
 * touch it take turns.
 */
export async function recomputeGaugeSeries(
  tx: Transaction<Schema>,
  tenantId: string,
  meter: string,
  subject: string,
  since: Date,
): Promise<void> {
  await lockSeries(tx, tenantId, meter, subject);
  const start = await sql<{ hour: Date }>`
    select date_trunc('hour', coalesce(
      (select time from usage_events
        where tenant_id = ${tenantId} and meter = ${meter} and subject = ${subject} and voided_at is null and time < ${since}
        order by time desc, id desc limit 1),
      ${since}::timestamptz)) as hour`.execute(tx);
  const from = start.rows[0]?.hour ?? since;
  await sql`
    delete from usage_rollups
    where tenant_id = ${tenantId} and meter = ${meter} and subject = ${subject} and hour >= ${from}`.execute(
    tx,
  );
  await sql`
    with ev as (
      select time, id, value from usage_events
      where tenant_id = ${tenantId} and meter = ${meter} and subject = ${subject} and voided_at is null
        and time >= coalesce(
          (select max(time) from usage_events
            where tenant_id = ${tenantId} and meter = ${meter} and subject = ${subject} and voided_at is null and time < ${from}),
          ${from}::timestamptz)
    ),
    seg as (
      select greatest(time, ${from}::timestamptz) as s, lead(time) over (order by time, id) as e, value from ev
    ),
    split as (
      select h.hour, seg.value * extract(epoch from (least(seg.e, h.hour + interval '1 hour') - greatest(seg.s, h.hour))) as amount
      from seg
      cross join lateral generate_series(date_trunc('hour', seg.s), seg.e - interval '1 microsecond', interval '1 hour') as h(hour)
      where seg.e is not null and seg.e > seg.s
    )
    -- The last event's hour gets a row even when nothing closed in it yet, so readers find
    -- every series in the rollups.
    , last as (select date_trunc('hour', max(time)) as hour, 0::numeric as amount from ev having count(*) > 0)
    insert into usage_rollups (tenant_id, meter, hour, subject, sum, count)
    select ${tenantId}, ${meter}, hour, ${subject}, sum(amount), 0 from (select * from split union all select * from last) parts
    group by hour order by hour`.execute(tx);
}

/**
 * Locks one series (tenant, meter, subject) until the transaction ends, so that the recomputes
 * of a series take turns: each one's statements, run after the lock is granted, see what the one
 * before committed. Without it, two recomputes that delete and re-insert the same rollup row
 * would both insert it, and the second would fail on the primary key.
 */
async function lockSeries(tx: Transaction<Schema>, tenantId: string, meter: string, subject: string) {
  await sql`select pg_advisory_xact_lock(hashtext(${`usage:${tenantId}:${meter}:${subject}`}))`.execute(tx);
}

/**
 * Recomputes one hour of one series of an additive meter (sum, count, max, latest,
 * unique_count) from its raw events; used when an event in it is voided. Ingestion adding to the
 * same hour meanwhile is safe: it locks the rollup row (and the unique values) it adds to, so
 * either it waits for the recompute to commit and adds to its result, or the recompute waits for
 * it and counts its events.
 */
export async function recomputeHour(
  tx: Transaction<Schema>,
  tenantId: string,
  meter: string,
  subject: string,
  hour: Date,
): Promise<void> {
  await lockSeries(tx, tenantId, meter, subject);
  await sql`
    delete from usage_rollups where tenant_id = ${tenantId} and meter = ${meter} and subject = ${subject} and hour = ${hour}`.execute(
    tx,
  );
  await sql`
    insert into usage_rollups (tenant_id, meter, hour, subject, sum, count, max, latest_time, latest_id, latest_value)
    select ${tenantId}, ${meter}, ${hour}, ${subject}, sum(value), count(*), max(value),
           (array_agg(time order by time desc, id desc))[1],
           (array_agg(id order by time desc, id desc))[1],
           (array_agg(value order by time desc, id desc))[1]
    from usage_events
    where tenant_id = ${tenantId} and meter = ${meter} and subject = ${subject} and voided_at is null
      and time >= ${hour} and time < ${hour}::timestamptz + interval '1 hour'
    having count(*) > 0`.execute(tx);
  await sql`
    delete from usage_uniques where tenant_id = ${tenantId} and meter = ${meter} and subject = ${subject} and hour = ${hour}`.execute(
    tx,
  );
  await sql`
    insert into usage_uniques (tenant_id, meter, hour, subject, value)
    select distinct ${tenantId}, ${meter}, ${hour}::timestamptz, ${subject}, unique_value
    from usage_events
    where tenant_id = ${tenantId} and meter = ${meter} and subject = ${subject} and voided_at is null
      and unique_value is not null and time >= ${hour} and time < ${hour}::timestamptz + interval '1 hour'`.execute(
    tx,
  );
}
