import { sql } from 'kysely';
import { expect } from 'vitest';
import type { TestApp } from './harness.ts';
import { applyPlans, fixture, provisionedTenant } from './tenant-support.ts';

export const HOUR = 3_600_000;

/** Applies `fixtures/usage-meters.yaml`: one meter of every aggregation, plan `metered`. */
export function applyUsageMeters(t: TestApp): Promise<unknown> {
  return applyPlans(t, fixture('usage-meters.yaml'));
}

/** A provisioned tenant on plan `metered` (no limits), its billing anchor the clock's hour. */
export function meteredTenant(t: TestApp): Promise<any> {
  return provisionedTenant(t, { plan: 'metered', trial_days: 0 });
}

/** The clock's now plus `ms`, as an ISO string. */
export function at(t: TestApp, ms = 0): string {
  return new Date(t.clock.now().getTime() + ms).toISOString();
}

/** Posts events to `/v1/events` (JSON unless `contentType` says otherwise). */
export function postEvents(t: TestApp, payload: unknown, contentType?: string) {
  return t.request({
    method: 'POST',
    url: '/v1/events',
    payload: JSON.stringify(payload),
    headers: { 'content-type': contentType ?? 'application/json' },
  });
}

/** Posts events and expects a 200; returns the answer's body. */
export async function ingestOk(t: TestApp, payload: unknown): Promise<any> {
  const response = await postEvents(t, payload);
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

/** GET /v1/tenants/{id}/usage with the given query; expects a 200. */
export async function usage(t: TestApp, tenant: string, query: Record<string, string>): Promise<any> {
  const response = await t.request({
    method: 'GET',
    url: `/v1/tenants/${tenant}/usage?${new URLSearchParams(query)}`,
  });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

/** How many rows a table of the usage schema holds, optionally for one tenant. */
export async function countRows(
  t: TestApp,
  table: 'usage_events' | 'usage_rollups' | 'usage_uniques',
  tenantId?: string,
): Promise<number> {
  const db = t.db.database.db;
  const where = tenantId === undefined ? sql`` : sql`where tenant_id = ${tenantId}`;
  const result = await sql<{
    n: number;
  }>`select count(*)::int as n from ${sql.table(table)} ${where}`.execute(db);
  return result.rows[0]?.n ?? 0;
}

/** Every rollup and unique row of a tenant, in a fixed order, for before/after comparisons. */
export async function rollupState(t: TestApp, tenantId: string): Promise<unknown[]> {
  const db = t.db.database.db;
  const rollups = await sql`
    select meter, hour, subject, sum::text, count::text, max::text, latest_time, latest_id, latest_value::text
    from usage_rollups where tenant_id = ${tenantId} order by meter, hour, subject`.execute(db);
  const uniques = await sql`
    select meter, hour, subject, value from usage_uniques where tenant_id = ${tenantId}
    order by meter, hour, subject, value`.execute(db);
  return [...rollups.rows, ...uniques.rows];
}

// ---------------------------------------------------------------------------------------------
// An exact recompute of usage from raw events, written independently of the rollups and of the
// query code: plain JavaScript over the stored rows, decimals as scaled bigints.

/** A stored usage event, as the recompute reads it. */
export interface RawEvent {
  readonly id: string;
  readonly meter: string;
  /** The value as a decimal string, exactly as stored. */
  readonly value: string;
  readonly time: Date;
  readonly subject: string;
  readonly uniqueValue: string | null;
  readonly voided: boolean;
}

/** Every stored event of a tenant (voided ones too), for the recompute. */
export async function rawEvents(t: TestApp, tenantId: string): Promise<RawEvent[]> {
  const rows = await sql<{
    id: string;
    meter: string;
    value: string;
    time: Date;
    subject: string;
    unique_value: string | null;
    voided_at: Date | null;
  }>`select id, meter, value::text as value, time, subject, unique_value, voided_at
     from usage_events where tenant_id = ${tenantId}`.execute(t.db.database.db);
  return rows.rows.map((r) => ({
    id: r.id,
    meter: r.meter,
    value: r.value,
    time: r.time,
    subject: r.subject,
    uniqueValue: r.unique_value,
    voided: r.voided_at !== null,
  }));
}

const SCALE = 6;
const ONE = 10n ** BigInt(SCALE);

/** A decimal string as an integer count of 10^-6. Test values have at most 6 decimals. */
export function scaled(decimal: string): bigint {
  const [whole = '0', fraction = ''] = decimal.split('.');
  if (fraction.length > SCALE) throw new Error(`${decimal} has more than ${SCALE} decimals`);
  return BigInt(whole) * ONE + BigInt(fraction.padEnd(SCALE, '0'));
}

/** A scaled bigint back to the nearest double, through its exact decimal string. */
function unscaled(value: bigint): number {
  const sign = value < 0n ? '-' : '';
  const abs = value < 0n ? -value : value;
  return Number(`${sign}${abs / ONE}.${String(abs % ONE).padStart(SCALE, '0')}`);
}

export type Window = 'hour' | 'day' | 'month';

/** `anchor` moved by `months` (negative too), its day clamped to the month's length. */
function shiftMonths(anchor: Date, months: number): number {
  const total = anchor.getUTCFullYear() * 12 + anchor.getUTCMonth() + months;
  const year = Math.floor(total / 12);
  const month = total - year * 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return Date.UTC(
    year,
    month,
    Math.min(anchor.getUTCDate(), lastDay),
    anchor.getUTCHours(),
    anchor.getUTCMinutes(),
    anchor.getUTCSeconds(),
    anchor.getUTCMilliseconds(),
  );
}

/** The buckets of `[from, to)`: UTC hours, UTC days, or monthly billing periods from `anchor`, clipped. */
export function expectedBuckets(from: number, to: number, window: Window, anchor: Date): [number, number][] {
  const cuts = new Set<number>([from, to]);
  if (window === 'hour') for (let h = from; h < to; h += HOUR) cuts.add(h);
  else if (window === 'day')
    for (let d = Math.ceil(from / 86_400_000) * 86_400_000; d < to; d += 86_400_000) cuts.add(d);
  else {
    for (let k = -30; k <= 30; k++) {
      const cut = shiftMonths(anchor, k);
      if (cut > from && cut < to) cuts.add(cut);
    }
  }
  const sorted = [...cuts].sort((a, b) => a - b);
  return sorted.slice(0, -1).map((start, i) => [start, sorted[i + 1] as number]);
}

export type Aggregation = 'sum' | 'count' | 'max' | 'unique_count' | 'latest' | 'time_weighted';

/** Ties in time are broken by id, as the server does; test ids are chosen to sort alike everywhere. */
function byTimeThenId(a: RawEvent, b: RawEvent): number {
  return a.time.getTime() - b.time.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * The usage of `events` (one tenant, one meter; voided ones are skipped) over `[start, end)`, for
 * time-weighted meters with the open segment after each subject's last event running to `now`.
 * Returns null when nothing counts in the range (the API may leave such a bucket out or show 0).
 */
export function expectedValue(
  events: readonly RawEvent[],
  aggregation: Aggregation,
  start: number,
  end: number,
  now: number,
): number | null {
  const live = events.filter((e) => !e.voided);
  if (aggregation === 'time_weighted') {
    // value (scaled) × milliseconds, summed exactly; divided by 10^6 × 3,600,000 at the end.
    let integral = 0n;
    let any = false;
    const bySubject = new Map<string, RawEvent[]>();
    for (const e of live) bySubject.set(e.subject, [...(bySubject.get(e.subject) ?? []), e]);
    for (const series of bySubject.values()) {
      series.sort(byTimeThenId);
      series.forEach((e, i) => {
        const segmentEnd = series[i + 1]?.time.getTime() ?? now;
        const from = Math.max(e.time.getTime(), start);
        const to = Math.min(segmentEnd, end);
        if (to > from) {
          integral += scaled(e.value) * BigInt(to - from);
          any = true;
        }
      });
    }
    return any ? Number(integral) / Number(ONE * BigInt(HOUR)) : null;
  }
  const inRange = live.filter((e) => e.time.getTime() >= start && e.time.getTime() < end);
  if (inRange.length === 0) return null;
  switch (aggregation) {
    case 'sum':
      return unscaled(inRange.reduce((total, e) => total + scaled(e.value), 0n));
    case 'count':
      return inRange.length;
    case 'max':
      return unscaled(
        inRange
          .map((e) => scaled(e.value))
          .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
          .at(-1) ?? 0n,
      );
    case 'latest':
      return unscaled(scaled([...inRange].sort(byTimeThenId).at(-1)?.value ?? '0'));
    case 'unique_count':
      return new Set(inRange.map((e) => e.uniqueValue)).size;
  }
}

/**
 * Exact for every aggregation but time_weighted, which the usage API reports in its billing unit
 * to six decimal places, as invoices count it.
 */
export function expectSameUsage(
  actual: number,
  expected: number,
  aggregation: Aggregation,
  what: string,
): void {
  if (aggregation === 'time_weighted') {
    expect(Math.abs(actual - expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(
      0.5e-6 + 1e-9 * Math.max(1, Math.abs(expected)),
    );
  } else {
    expect(actual, what).toBe(expected);
  }
}

/**
 * Checks a usage report against the recompute: every bucket (absent from the series means 0),
 * the total, and with `group_by=subject` every subject's points and total, and their order.
 */
export function checkReport(
  report: any,
  events: readonly RawEvent[],
  aggregation: Aggregation,
  query: { from: number; to: number; window: Window; bySubject: boolean; now: number; anchor: Date },
): void {
  const label = `${aggregation} ${new Date(query.from).toISOString()}..${new Date(query.to).toISOString()} ${query.window}${query.bySubject ? ' by subject' : ''}`;
  const buckets = expectedBuckets(query.from, query.to, query.window, query.anchor);
  const subjects = query.bySubject ? [...new Set(events.map((e) => e.subject))] : [null];
  const points = new Map<string, number>();
  for (const point of report.series) {
    const key = `${point.start}/${point.end}/${query.bySubject ? point.subject : ''}`;
    expect(points.has(key), `${label}: one point per bucket${query.bySubject ? ' and subject' : ''}`).toBe(
      false,
    );
    points.set(key, point.value);
  }
  let matched = 0;
  for (const [start, end] of buckets) {
    for (const subject of subjects) {
      const key = `${new Date(start).toISOString()}/${new Date(end).toISOString()}/${subject ?? ''}`;
      const mine = subject === null ? events : events.filter((e) => e.subject === subject);
      const expected = expectedValue(mine, aggregation, start, end, query.now) ?? 0;
      const actual = points.get(key);
      if (actual !== undefined) matched++;
      expectSameUsage(actual ?? 0, expected, aggregation, `${label}: bucket ${key}`);
    }
  }
  expect(matched, `${label}: the series has no point outside the buckets`).toBe(points.size);
  expectSameUsage(
    report.total,
    expectedValue(events, aggregation, query.from, query.to, query.now) ?? 0,
    aggregation,
    `${label}: total`,
  );
  if (query.bySubject) {
    const listed = new Map<string, number>(report.subjects.map((s: any) => [s.subject, s.value]));
    for (const subject of subjects as string[]) {
      const expected =
        expectedValue(
          events.filter((e) => e.subject === subject),
          aggregation,
          query.from,
          query.to,
          query.now,
        ) ?? 0;
      expectSameUsage(listed.get(subject) ?? 0, expected, aggregation, `${label}: subject "${subject}"`);
    }
    const values = report.subjects.map((s: any) => s.value);
    expect(values, `${label}: subjects largest first`).toEqual([...values].sort((a, b) => b - a));
  }
}
