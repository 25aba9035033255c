import type { Aggregation } from '@tenantry/core';
import { type Kysely, type RawBuilder, sql, type Transaction } from 'kysely';
import type { Schema } from '../db/index.ts';
import { canonicalText, formatScaled, parseDecimalText, scaleRatio } from './decimal-text.ts';

/** Fraction digits of a time-weighted quantity once converted to its billing unit. */
const TIME_WEIGHTED_DIGITS = 6;

/** One tenant's usage of one meter over one billing window, as an invoice needs it. */
export interface BillingUsageRequest {
  readonly tenantId: string;
  readonly meter: string;
  readonly aggregation: Aggregation;
  /** The meter's unit (`GB-month`, `GB-hour`…): time-weighted usage is converted to it. */
  readonly unit: string | null;
  /** Whole hours `[start, end)`. */
  readonly start: Date;
  readonly end: Date;
  /** The billed period's length and months (1 or 12), for `-month` and `-year` units. */
  readonly periodSeconds: number;
  readonly periodMonths: number;
  /** A gauge's level after its last event counts up to here at most (a preview reads up to now). */
  readonly now: Date;
}

/** Usage of each request by its index, and with `bySubject` per subject too (`''`: no subject). */
export interface BillingUsage {
  readonly totals: ReadonlyMap<number, string>;
  readonly bySubject: ReadonlyMap<number, ReadonlyMap<string, string>>;
}

type Db = Kysely<Schema> | Transaction<Schema>;

interface Row {
  i: number;
  subject: string;
  value: string | null;
}

type Indexed = { request: BillingUsageRequest; i: number };

/** What each aggregation reads from the rollups, per request (and subject). */
const MEASURES: Record<Exclude<Aggregation, 'unique_count'>, RawBuilder<unknown>> = {
  sum: sql`sum(r.sum)`,
  count: sql`sum(r.count)`,
  max: sql`max(r.max)`,
  latest: sql`(array_agg(r.latest_value order by r.latest_time desc, r.latest_id desc) filter (where r.latest_time is not null))[1]`,
  // value × seconds of the segments closed by a later event; the open one is added below.
  time_weighted: sql`sum(r.sum)`,
};

/**
 * Reads the usage of many (tenant, meter, window) requests at once from the hourly rollups, with
 * one set-based query per aggregation in use (two for time-weighted gauges, and with `bySubject`
 * one more for unique counts and latest values) however many requests there are, side by side. Time-weighted
 * gauges are value × seconds — the rollups' closed segments plus each series' level after its last
 * event, up to the window's end — converted to the meter's unit. Exact: numeric in, decimal text out.
 */
export async function readBillingUsage(
  db: Db,
  requests: readonly BillingUsageRequest[],
  options: { bySubject: boolean } = { bySubject: false },
): Promise<BillingUsage> {
  const totals = new Map<number, string>();
  const bySubject = new Map<number, Map<string, string>>();
  for (let i = 0; i < requests.length; i++) totals.set(i, '0');
  const indexed: Indexed[] = requests.map((request, i) => ({ request, i }));
  const groups = new Map<Aggregation, Indexed[]>();
  for (const entry of indexed) {
    const list = groups.get(entry.request.aggregation) ?? [];
    list.push(entry);
    groups.set(entry.request.aggregation, list);
  }
  // Outside a transaction each query runs in its own, so that the aggregations are read side by
  // side on several connections (and cores). A batch of thousands of index probes is estimated
  // far above jit_above_cost, and compiling the plan then takes longer than running it: JIT is
  // turned off for these reads alone.
  const rows = async (query: RawBuilder<Row>): Promise<Row[]> => {
    if (db.isTransaction) {
      await sql`set local jit = off`.execute(db);
      return (await query.execute(db)).rows;
    }
    return db.transaction().execute(async (tx) => {
      await sql`set local jit = off`.execute(tx);
      return (await query.execute(tx)).rows;
    });
  };
  const read = (aggregation: Aggregation, list: Indexed[], perSubject: boolean) => {
    const subject = perSubject ? sql`subject` : sql`''`;
    if (aggregation === 'unique_count') {
      return rows(sql<Row>`
        select q.i, ${subject} as subject, count(distinct u.value)::text as value
        from ${keys(list)}
        join usage_uniques u on u.tenant_id = q.t and u.meter = q.m and u.hour >= q.s and u.hour < q.e
        group by 1, 2`);
    }
    return rows(sql<Row>`
      select q.i, ${subject} as subject, (${MEASURES[aggregation]})::text as value
      from ${keys(list)}
      join usage_rollups r on r.tenant_id = q.t and r.meter = q.m and r.hour >= q.s and r.hour < q.e
      group by 1, 2`);
  };

  const readGroup = async (aggregation: Aggregation, list: Indexed[]) => {
    const [found, open] = await Promise.all([
      read(aggregation, list, options.bySubject),
      aggregation === 'time_weighted' ? openSegments(list, options.bySubject) : [],
    ]);
    found.push(...open);
    const values = new Map<number, Map<string, string>>();
    for (const row of found) {
      if (row.value === null) continue;
      const subjects = values.get(row.i) ?? new Map<string, string>();
      const previous = subjects.get(row.subject);
      subjects.set(row.subject, previous === undefined ? row.value : addText(previous, row.value));
      values.set(row.i, subjects);
    }
    const convert = (i: number, value: string) => {
      const request = requests[i];
      if (aggregation !== 'time_weighted' || request === undefined) return canonicalText(value);
      const { numerator, denominator } = unitConversion(
        request.unit,
        request.periodSeconds,
        request.periodMonths,
      );
      return scaleRatio(value, numerator, denominator, TIME_WEIGHTED_DIGITS);
    };
    for (const [i, subjects] of values) {
      let total: string | undefined;
      for (const value of subjects.values()) {
        total =
          total === undefined
            ? value
            : aggregation === 'max'
              ? compareText(value, total) > 0
                ? value
                : total
              : addText(total, value);
      }
      if (total !== undefined) totals.set(i, convert(i, total));
      if (options.bySubject) {
        bySubject.set(i, new Map([...subjects].map(([s, value]) => [s, convert(i, value)])));
      }
    }
    // Subjects share unique values, and only one subject's value is the latest: neither total is
    // the sum of the subjects', so it is read on its own.
    if (options.bySubject && (aggregation === 'unique_count' || aggregation === 'latest')) {
      for (const row of await read(aggregation, list, false)) {
        if (row.value !== null) totals.set(row.i, canonicalText(row.value));
      }
    }
  };
  await Promise.all([...groups].map(([aggregation, list]) => readGroup(aggregation, list)));
  return { totals, bySubject };

  /**
   * Each series' level after its last event, held from that event (or the window's start) to the
   * window's end. The series of a (tenant, meter) are found by skipping through the events' index
   * one subject at a time, a few probes each rather than a scan of the meter's whole history.
   */
  function openSegments(list: Indexed[], perSubject: boolean) {
    return rows(sql<Row>`
      select q.i, ${perSubject ? sql`s.subject` : sql`''`} as subject,
        sum(e.value * extract(epoch from (q.cap - greatest(e.time, q.s))))::text as value
      from ${keys(list)}
      cross join lateral (
        with recursive series(subject) as (
          (select u.subject from usage_events u where u.tenant_id = q.t and u.meter = q.m order by u.subject limit 1)
          union all
          select (
            select u.subject from usage_events u
            where u.tenant_id = q.t and u.meter = q.m and u.subject > series.subject
            order by u.subject limit 1
          )
          from series where series.subject is not null
        )
        select subject from series where subject is not null
      ) s
      cross join lateral (
        select time, value from usage_events
        where tenant_id = q.t and meter = q.m and subject = s.subject and voided_at is null
        order by time desc, id desc limit 1
      ) e
      where e.time < q.cap
      group by 1, 2`);
  }
}

/** The requests as a relation `q(i, t, m, s, e, cap)`: cap is where an open gauge level stops counting. */
function keys(list: Indexed[]) {
  return sql`unnest(
      ${list.map((r) => r.i)}::int[], ${list.map((r) => r.request.tenantId)}::text[],
      ${list.map((r) => r.request.meter)}::text[], ${list.map((r) => r.request.start)}::timestamptz[],
      ${list.map((r) => r.request.end)}::timestamptz[],
      ${list.map((r) => new Date(Math.min(r.request.now.getTime(), r.request.end.getTime())))}::timestamptz[]
    ) as q(i, t, m, s, e, cap)`;
}

/** A unit whose last word is a length of time: what {@link unitConversion} reads. */
const TIME_UNIT = /(?:^|[^a-z])(second|minute|hour|day|month|year)s?$/i;

/**
 * The unit a time-weighted meter's quantities are in once {@link unitConversion} has converted
 * them: the meter's own when it ends in a length of time (`GB-month`), else value-hours
 * (`session-hour` for a unit `session`, `hour` without a unit).
 */
export function timeWeightedUnit(unit: string | null): string {
  const trimmed = unit?.trim() ?? '';
  if (TIME_UNIT.test(trimmed)) return trimmed;
  return trimmed === '' ? 'hour' : `${trimmed}-hour`;
}

/**
 * How value-seconds of a time-weighted meter become its billing unit, by the unit's last word:
 * `second`, `minute`, `hour`, `day`, `month` (the billed month: value-seconds ÷ the period's
 * seconds on a monthly plan, ÷ a twelfth of them on an annual one), `year`. Any other unit (or
 * none) is billed in value-hours, the unit of the usage API.
 */
export function unitConversion(
  unit: string | null,
  periodSeconds: number,
  periodMonths: number,
): { numerator: bigint; denominator: bigint } {
  const word = TIME_UNIT.exec(unit?.trim() ?? '')?.[1]?.toLowerCase();
  switch (word) {
    case 'second':
      return { numerator: 1n, denominator: 1n };
    case 'minute':
      return { numerator: 1n, denominator: 60n };
    case 'day':
      return { numerator: 1n, denominator: 86_400n };
    case 'month':
      return { numerator: BigInt(periodMonths), denominator: BigInt(periodSeconds) };
    case 'year':
      return { numerator: BigInt(periodMonths), denominator: BigInt(periodSeconds) * 12n };
    default:
      return { numerator: 1n, denominator: 3_600n };
  }
}

function addText(a: string, b: string): string {
  const x = parseDecimalText(a);
  const y = parseDecimalText(b);
  const scale = Math.max(x.scale, y.scale);
  const coefficient =
    x.coefficient * 10n ** BigInt(scale - x.scale) + y.coefficient * 10n ** BigInt(scale - y.scale);
  return formatScaled({ coefficient, scale });
}

function compareText(a: string, b: string): number {
  const x = parseDecimalText(a);
  const y = parseDecimalText(b);
  const scale = Math.max(x.scale, y.scale);
  const difference =
    x.coefficient * 10n ** BigInt(scale - x.scale) - y.coefficient * 10n ** BigInt(scale - y.scale);
  return difference > 0n ? 1 : difference < 0n ? -1 : 0;
}
