import { type Aggregation, billingPeriod } from '@tenantry/core';
import { type Kysely, sql } from 'kysely';
import { timeWeightedUnit, unitConversion } from '../billing/index.ts';
import type { Schema } from '../db/index.ts';

/** How usage is cut into a series: UTC hours, UTC days, or the tenant's billing periods. */
export type UsageWindow = 'hour' | 'day' | 'month';

/** One bucket of a series. */
export interface UsagePoint {
  start: string;
  end: string;
  value: number;
  subject?: string;
}

/** Usage of one meter for one tenant over `[from, to)`. */
export interface UsageReport {
  tenant_id: string;
  meter: string;
  aggregation: Aggregation;
  /**
   * The unit of every value: the meter's (null when it declares none); for a time-weighted meter
   * its billing unit, the one its invoice lines count in (`GB-month`, `GB-hour`, `session-hour`).
   */
  unit: string | null;
  from: string;
  to: string;
  window: UsageWindow;
  series: UsagePoint[];
  /** Over the whole range: a sum of sums, but the max of maxes and the distinct count of uniques. */
  total: number;
  /** With `group_by=subject`: each subject's total over the range. */
  subjects?: { subject: string; value: number }[];
  /** For gauges: the level now, as limits count it (every subject's last value plus the open slots). */
  level?: number;
}

export interface UsageQuery {
  tenantId: string;
  meter: string;
  aggregation: Aggregation;
  /** The meter's unit as the tenant's plan declares it. */
  unit: string | null;
  from: Date;
  to: Date;
  window: UsageWindow;
  groupBySubject: boolean;
  billingAnchor: Date;
  interval: 'month' | 'year';
  now: Date;
}

const HOUR = 3_600_000;

/** The buckets of `[from, to)`: whole UTC hours or days, or billing periods, clipped to the range. */
export function buckets(
  query: Pick<UsageQuery, 'from' | 'to' | 'window' | 'billingAnchor' | 'interval'>,
): { start: Date; end: Date }[] {
  const out: { start: Date; end: Date }[] = [];
  let start = query.from;
  while (start < query.to) {
    let end: Date;
    if (query.window === 'hour') end = new Date(start.getTime() + HOUR);
    else if (query.window === 'day')
      end = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate() + 1));
    else end = periodAround(query.billingAnchor, query.interval, start).end;
    if (end > query.to) end = query.to;
    out.push({ start, end });
    start = end;
  }
  return out;
}

/**
 * The billing period holding `at`. From the anchor on, that is {@link billingPeriod}'s; before it
 * (late events may precede a tenant's creation) periods run on backwards from the anchor, so the
 * months before the first period are cut at the same day and hour, and never merged into the
 * first period.
 */
function periodAround(anchor: Date, interval: 'month' | 'year', at: Date): { start: Date; end: Date } {
  if (at >= anchor) return billingPeriod(anchor, interval, at);
  const step = interval === 'year' ? 12 : 1;
  let end = anchor;
  for (let months = step; ; months += step) {
    const start = shiftMonths(anchor, -months);
    if (start <= at) return { start, end };
    end = start;
  }
}

/** `anchor` moved `months` months on (or back), its day clamped to the month's length. */
function shiftMonths(anchor: Date, months: number): Date {
  const monthIndex = anchor.getUTCFullYear() * 12 + anchor.getUTCMonth() + months;
  const year = Math.floor(monthIndex / 12);
  const month = monthIndex - year * 12;
  const date = new Date(anchor.getTime());
  date.setUTCFullYear(year, month + 1, 0);
  const lastDay = date.getUTCDate();
  date.setUTCFullYear(year, month, Math.min(anchor.getUTCDate(), lastDay));
  return date;
}

interface Row {
  i: number;
  subject: string | null;
  value: string | null;
}

/**
 * Reads usage from the hourly rollups, never from raw events (apart from the open segment of
 * time-weighted gauges: the level since their last event, up to `now`). `from` and `to` must be
 * whole hours.
 */
export async function queryUsage(db: Kysely<Schema>, query: UsageQuery): Promise<UsageReport> {
  const cut = buckets(query);
  const timeWeighted = query.aggregation === 'time_weighted';
  const series = await aggregateBuckets(db, query, cut, query.groupBySubject);
  if (timeWeighted) {
    for (const point of series) point.value = inBillingUnit(query, cut[point.i], point.value);
  }
  const report: UsageReport = {
    tenant_id: query.tenantId,
    meter: query.meter,
    aggregation: query.aggregation,
    unit: timeWeighted ? timeWeightedUnit(query.unit) : query.unit,
    from: query.from.toISOString(),
    to: query.to.toISOString(),
    window: query.window,
    series: series.map((p) => ({
      start: cut[p.i]?.start.toISOString() ?? '',
      end: cut[p.i]?.end.toISOString() ?? '',
      value: timeWeighted ? roundUnit(p.value) : p.value,
      ...(query.groupBySubject ? { subject: p.subject } : {}),
    })),
    total: 0,
  };
  if (timeWeighted) {
    // Value × time adds up across buckets, each converted in its own billing period (a GB-month
    // is a different number of GB-hours in February and in March): the totals are the sums.
    const bySubject = new Map<string, number>();
    for (const p of series) bySubject.set(p.subject, (bySubject.get(p.subject) ?? 0) + p.value);
    report.total = roundUnit(series.reduce((total, p) => total + p.value, 0));
    if (query.groupBySubject) {
      report.subjects = [...bySubject]
        .map(([subject, value]) => ({ subject, value: roundUnit(value) }))
        .sort((a, b) => b.value - a.value);
    }
    return report;
  }
  const totals = await aggregateBuckets(
    db,
    query,
    [{ start: query.from, end: query.to }],
    query.groupBySubject,
  );
  if (query.groupBySubject) {
    report.subjects = totals
      .map((t) => ({ subject: t.subject, value: t.value }))
      .sort((a, b) => b.value - a.value);
    const overall = await aggregateBuckets(db, query, [{ start: query.from, end: query.to }], false);
    report.total = overall[0]?.value ?? 0;
  } else {
    report.total = totals[0]?.value ?? 0;
  }
  return report;
}

/**
 * A bucket's value-hours in the meter's billing unit, converted as its invoice converts them
 * ({@link unitConversion}) in the billing period the bucket starts in; not rounded yet.
 */
function inBillingUnit(query: UsageQuery, bucket: { start: Date } | undefined, valueHours: number): number {
  if (bucket === undefined) return valueHours;
  const period = periodAround(query.billingAnchor, query.interval, bucket.start);
  const { numerator, denominator } = unitConversion(
    query.unit,
    (period.end.getTime() - period.start.getTime()) / 1000,
    query.interval === 'year' ? 12 : 1,
  );
  return (valueHours * 3600 * Number(numerator)) / Number(denominator);
}

/** Converted quantities are shown to the invoices' six decimal places (and summed before). */
function roundUnit(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

async function aggregateBuckets(
  db: Kysely<Schema>,
  query: UsageQuery,
  cut: { start: Date; end: Date }[],
  bySubject: boolean,
): Promise<{ i: number; subject: string; value: number }[]> {
  if (cut.length === 0) return [];
  // The buckets are contiguous, so one index range scan over [from, to) and each row's bucket
  // by width_bucket over their starts; a join against the list of buckets made the planner
  // filter the whole range once per bucket.
  const starts = cut.map((b) => b.start);
  const from = cut[0]?.start ?? query.from;
  const to = cut.at(-1)?.end ?? query.to;
  const subject = bySubject ? sql`r.subject` : sql`''`;
  let rows: Row[];
  if (query.aggregation === 'unique_count') {
    const uSubject = bySubject ? sql`u.subject` : sql`''`;
    rows = (
      await sql<Row>`
        select (width_bucket(u.hour, ${starts}::timestamptz[]) - 1)::int as i, ${uSubject} as subject,
               count(distinct u.value)::text as value
        from usage_uniques u
        where u.tenant_id = ${query.tenantId} and u.meter = ${query.meter} and u.hour >= ${from} and u.hour < ${to}
        group by 1, 2 order by 1, 2`.execute(db)
    ).rows;
  } else {
    const measure = {
      sum: sql`sum(r.sum)`,
      count: sql`sum(r.count)`,
      max: sql`max(r.max)`,
      latest: sql`(array_agg(r.latest_value order by r.latest_time desc, r.latest_id desc))[1]`,
      time_weighted: sql`sum(r.sum) / 3600`,
    }[query.aggregation];
    rows = (
      await sql<Row>`
        select (width_bucket(r.hour, ${starts}::timestamptz[]) - 1)::int as i, ${subject} as subject,
               (${measure})::text as value
        from usage_rollups r
        where r.tenant_id = ${query.tenantId} and r.meter = ${query.meter} and r.hour >= ${from} and r.hour < ${to}
        group by 1, 2 order by 1, 2`.execute(db)
    ).rows;
  }
  const points = new Map<string, { i: number; subject: string; value: number }>();
  for (const row of rows) {
    points.set(`${row.i}/${row.subject ?? ''}`, {
      i: row.i,
      subject: row.subject ?? '',
      value: Number(row.value ?? 0),
    });
  }
  if (query.aggregation === 'time_weighted') await addOpenSegments(db, query, cut, bySubject, points);
  return [...points.values()].sort((a, b) => a.i - b.i || (a.subject < b.subject ? -1 : 1));
}

/** Adds, per bucket, each gauge's level since its last event up to `now` (not yet in the rollups). */
async function addOpenSegments(
  db: Kysely<Schema>,
  query: UsageQuery,
  cut: { start: Date; end: Date }[],
  bySubject: boolean,
  points: Map<string, { i: number; subject: string; value: number }>,
): Promise<void> {
  const last = await sql<{ subject: string; time: Date; value: string }>`
    select s.subject, e.time, e.value::text as value
    from (select distinct subject from usage_rollups where tenant_id = ${query.tenantId} and meter = ${query.meter}) s
    cross join lateral (
      select time, value from usage_events
      where tenant_id = ${query.tenantId} and meter = ${query.meter} and subject = s.subject and voided_at is null
      order by time desc, id desc limit 1
    ) e`.execute(db);
  for (const series of last.rows) {
    cut.forEach((bucket, i) => {
      const from = Math.max(series.time.getTime(), bucket.start.getTime());
      const to = Math.min(query.now.getTime(), bucket.end.getTime());
      if (to <= from) return;
      const key = `${i}/${bySubject ? series.subject : ''}`;
      const point = points.get(key) ?? { i, subject: bySubject ? series.subject : '', value: 0 };
      point.value += (Number(series.value) * (to - from)) / HOUR;
      points.set(key, point);
    });
  }
}
