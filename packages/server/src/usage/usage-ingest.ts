import {
  CloudUsageEvent,
  fromCloudEvent,
  hourOf,
  type RejectedEvent,
  timeOutOfRange,
  UsageEventInput,
} from '@tenantry/core';
import { type Kysely, sql, type Transaction } from 'kysely';
import { announceUsage } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import { type Schema, withRetry } from '../db/index.ts';
import type { MeterCatalog, MeterInfo } from './meter-catalog.ts';
import { recomputeGaugeSeries } from './rollups.ts';
import type { TenantDirectory, TenantRef } from './tenant-directory.ts';

/** What became of a batch: every event is accepted, a duplicate, or rejected with its reason. */
export interface IngestResult {
  accepted: number;
  duplicates: number;
  rejected: RejectedEvent[];
}

/**
 * A batch validated by {@link UsageIngest.check}: what to store (each id once, in a fixed order),
 * ids repeated within the batch, and the events rejected with their reasons.
 */
export interface CheckedBatch {
  readonly events: readonly ValidEvent[];
  readonly repeated: number;
  readonly rejected: readonly RejectedEvent[];
  /** When it was checked: the events' `received_at`. */
  readonly now: Date;
}

/** An event that passed validation, in the shape the database stores. */
interface ValidEvent {
  tenantId: string;
  id: string;
  meter: string;
  value: number;
  time: Date;
  subject: string;
  uniqueValue: string | null;
  properties: Record<string, unknown> | null;
  gauge: boolean;
}

/**
 * The events as one JSON array for `json_to_recordset`: one `JSON.stringify` per batch instead of
 * a Postgres array literal per column, which the driver builds by escaping every element.
 */
function eventRows(events: readonly ValidEvent[]): string {
  return JSON.stringify(
    events.map((e) => ({
      t: e.tenantId,
      i: e.id,
      m: e.meter,
      v: e.value,
      ts: e.time.toISOString(),
      s: e.subject,
      u: e.uniqueValue,
      p: e.properties,
    })),
  );
}

/** The columns of {@link eventRows}, for `json_to_recordset(…) as e(…)`. */
const EVENT_COLUMNS = sql`e(t text, i text, m text, v numeric, ts timestamptz, s text, u text, p jsonb)`;

export interface UsageIngestOptions {
  db: Kysely<Schema>;
  clock: Clock;
  meters: MeterCatalog;
  tenants: TenantDirectory;
  /** How far back an event's time may lie. */
  lateWindowMs: number;
  /** Told, after commit, which tenants got new usage (their entitlements changed). */
  onUsage: (tenantIds: ReadonlySet<string>) => void;
}

function firstIssue(error: { issues: { path: PropertyKey[]; message: string }[] }): string {
  const issue = error.issues[0];
  if (!issue) return 'is not a valid event';
  const path = issue.path.map(String).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

/**
 * Takes usage events in, exactly once. A batch is answered only after it is durable: the events
 * and the hourly rollups they change commit in one transaction, so the rollups always equal the
 * events. Valid events of a partly bad batch are kept; each bad one is reported by its index.
 */
export class UsageIngest {
  readonly #o: UsageIngestOptions;

  constructor(options: UsageIngestOptions) {
    this.#o = options;
  }

  /** Ingests a batch in Tenantry's event shape, or CloudEvents when `format` says so. */
  async ingest(inputs: readonly unknown[], format: 'tenantry' | 'cloudevents'): Promise<IngestResult> {
    const batch = await this.check(inputs, format);
    if (batch.events.length === 0)
      return { accepted: 0, duplicates: batch.repeated, rejected: [...batch.rejected] };
    const accepted = await withRetry(() => this.#o.db.transaction().execute((tx) => this.storeIn(tx, batch)));
    this.announce(batch, accepted);
    return {
      accepted,
      duplicates: batch.events.length + batch.repeated - accepted,
      rejected: [...batch.rejected],
    };
  }

  /**
   * Validates a batch as {@link ingest} does (shape, tenant, meter, value, time against the late
   * window), without storing it: the events to store, in a fixed order, and those rejected.
   */
  async check(inputs: readonly unknown[], format: 'tenantry' | 'cloudevents'): Promise<CheckedBatch> {
    const rejected: RejectedEvent[] = [];
    const parsed: { index: number; event: UsageEventInput }[] = [];
    inputs.forEach((input, index) => {
      let candidate: unknown = input;
      if (format === 'cloudevents') {
        const cloud = CloudUsageEvent.safeParse(input);
        if (!cloud.success) {
          rejected.push({ index, id: idOf(input), reason: firstIssue(cloud.error) });
          return;
        }
        candidate = fromCloudEvent(cloud.data);
      }
      const result = UsageEventInput.safeParse(candidate);
      if (result.success) parsed.push({ index, event: result.data });
      else rejected.push({ index, id: idOf(input), reason: firstIssue(result.error) });
    });

    const tenants = await this.#o.tenants.resolve(new Set(parsed.map((p) => p.event.tenant)));
    const meters = await this.#o.meters.resolve(parsed.map((p) => p.event.meter));
    const now = this.#o.clock.now();
    const clockTimes = await this.#clockTimes(tenants);
    const valid: ValidEvent[] = [];
    for (const { index, event } of parsed) {
      // A test tenant's events are dated in its test clock's time, late window and all.
      const clockId = tenants.get(event.tenant)?.testClockId ?? null;
      const tenantNow = (clockId === null ? undefined : clockTimes.get(clockId)) ?? now;
      const reason = this.#check(event, tenants, meters, tenantNow, valid);
      if (reason) rejected.push({ index, id: event.id, reason });
    }
    rejected.sort((a, b) => a.index - b.index);
    // An id sent twice in one batch is stored as its first occurrence, as it would be across
    // batches; the later ones are duplicates without reaching the database (where the additive
    // and gauge events are inserted by separate statements, so batch order would be lost).
    const seen = new Set<string>();
    const unique = valid.filter((e) => {
      const key = `${e.tenantId}\u0000${e.id}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    // A fixed order for every batch, so two batches that touch the same keys lock them in the
    // same order and cannot deadlock.
    unique.sort((a, b) =>
      a.tenantId === b.tenantId ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.tenantId < b.tenantId ? -1 : 1,
    );
    return { events: unique, repeated: valid.length - unique.length, rejected, now };
  }

  /**
   * Stores a checked batch in the caller's transaction, with the rollups it changes; returns how
   * many events were new (the others were stored before, by id). Call {@link announce} after commit.
   */
  async storeIn(tx: Transaction<Schema>, batch: CheckedBatch): Promise<number> {
    return batch.events.length === 0 ? 0 : this.#store(tx, batch.events, batch.now);
  }

  /** Tells, after the commit of {@link storeIn}, which tenants got new usage. */
  announce(batch: CheckedBatch, accepted: number): void {
    if (accepted > 0) this.#o.onUsage(new Set(batch.events.map((e) => e.tenantId)));
  }

  /** The frozen time of each test clock the batch's tenants live on (none for live tenants). */
  async #clockTimes(tenants: ReadonlyMap<string, TenantRef>): Promise<Map<string, Date>> {
    const ids = [
      ...new Set([...tenants.values()].flatMap((t) => (t.testClockId === null ? [] : [t.testClockId]))),
    ];
    if (ids.length === 0) return new Map();
    const rows = await this.#o.db
      .selectFrom('test_clocks')
      .select(['id', 'frozen_time'])
      .where('id', 'in', ids)
      .execute();
    return new Map(rows.map((r) => [r.id, r.frozen_time]));
  }

  #check(
    event: UsageEventInput,
    tenants: ReadonlyMap<string, TenantRef>,
    meters: ReadonlyMap<string, MeterInfo>,
    now: Date,
    valid: ValidEvent[],
  ): string | null {
    const tenant = tenants.get(event.tenant);
    if (!tenant) return `unknown tenant "${event.tenant}"`;
    if (tenant.deleted) return `tenant "${event.tenant}" is deleted`;
    const meter = meters.get(event.meter);
    if (!meter) return `unknown meter "${event.meter}"`;
    // Count and unique_count meters do not read the value (count counts events, unique_count
    // distinct subjects or properties), so it may be left out; the others need it.
    if (event.value === undefined && meter.aggregation !== 'count' && meter.aggregation !== 'unique_count')
      return `value is required for ${meter.aggregation} meter "${meter.key}"`;
    const time = new Date(event.time);
    const outOfRange = timeOutOfRange(time, now, this.#o.lateWindowMs);
    if (outOfRange) return outOfRange;
    let uniqueValue: string | null = null;
    if (meter.aggregation === 'unique_count') {
      const by = meter.unique_by ?? 'subject';
      const raw = by === 'subject' ? event.subject : event.properties?.[by.slice('properties.'.length)];
      if (raw === undefined || raw === null || raw === '')
        return `meter "${meter.key}" counts unique ${by}, which this event lacks`;
      uniqueValue = typeof raw === 'string' ? raw : JSON.stringify(raw);
    }
    valid.push({
      tenantId: tenant.id,
      id: event.id,
      meter: meter.key,
      value: event.value ?? 1,
      time,
      subject: event.subject ?? '',
      uniqueValue,
      properties: event.properties ?? null,
      gauge: meter.aggregation === 'time_weighted',
    });
    return null;
  }

  /** Stores the events and updates the rollups; returns how many were new. */
  async #store(tx: Transaction<Schema>, events: readonly ValidEvent[], now: Date): Promise<number> {
    const additive = events.filter((e) => !e.gauge);
    const gauges = events.filter((e) => e.gauge);
    let accepted = 0;
    if (additive.length > 0) {
      // One statement: insert what is new, then fold exactly those rows into the rollups.
      const result = await sql<{ accepted: number }>`
        with inserted as (
          insert into usage_events (tenant_id, id, meter, value, time, subject, unique_value, properties, received_at)
          select t, i, m, v, ts, s, u, p, ${now}
          from json_to_recordset(${eventRows(additive)}::json) as ${EVENT_COLUMNS}
          on conflict (tenant_id, id) do nothing
          returning tenant_id, id, meter, value, time, subject, unique_value
        ),
        folded as (
          insert into usage_rollups as r (tenant_id, meter, hour, subject, sum, count, max, latest_time, latest_id, latest_value)
          select tenant_id, meter, date_trunc('hour', time), subject, sum(value), count(*), max(value),
                 (array_agg(time order by time desc, id desc))[1],
                 (array_agg(id order by time desc, id desc))[1],
                 (array_agg(value order by time desc, id desc))[1]
          from inserted
          group by tenant_id, meter, date_trunc('hour', time), subject
          order by tenant_id, meter, date_trunc('hour', time), subject
          on conflict (tenant_id, meter, hour, subject) do update set
            sum = r.sum + excluded.sum,
            count = r.count + excluded.count,
            max = greatest(r.max, excluded.max),
            latest_time = case when (excluded.latest_time, excluded.latest_id) > (r.latest_time, r.latest_id)
                               then excluded.latest_time else r.latest_time end,
            latest_id = case when (excluded.latest_time, excluded.latest_id) > (r.latest_time, r.latest_id)
                             then excluded.latest_id else r.latest_id end,
            latest_value = case when (excluded.latest_time, excluded.latest_id) > (r.latest_time, r.latest_id)
                                then excluded.latest_value else r.latest_value end
          returning 1
        ),
        uniques as (
          insert into usage_uniques (tenant_id, meter, hour, subject, value)
          select distinct tenant_id, meter, date_trunc('hour', time), subject, unique_value
          from inserted where unique_value is not null
          order by 1, 2, 3, 4, 5
          -- Locks a value already there without writing it (the update's condition is false), so
          -- that a void recomputing this hour cannot drop it from under an event being added.
          on conflict (tenant_id, meter, hour, subject, value) do update set value = excluded.value where false
          returning 1
        )
        -- The rollup and unique CTEs run whether or not they are read; counting them keeps that plain.
        select (select count(*) from inserted)::int as accepted,
               (select count(*) from folded)::int as folded,
               (select count(*) from uniques)::int as uniques`.execute(tx);
      accepted += result.rows[0]?.accepted ?? 0;
    }
    if (gauges.length > 0) {
      const inserted = await sql<{
        tenant_id: string;
        meter: string;
        subject: string;
        since: Date;
        n: number;
      }>`
        with inserted as (
          insert into usage_events (tenant_id, id, meter, value, time, subject, unique_value, properties, received_at)
          select t, i, m, v, ts, s, null, p, ${now}
          from json_to_recordset(${eventRows(gauges)}::json) as ${EVENT_COLUMNS}
          on conflict (tenant_id, id) do nothing
          returning tenant_id, meter, subject, time
        )
        select tenant_id, meter, subject, min(time) as since, count(*)::int as n from inserted
        group by tenant_id, meter, subject order by tenant_id, meter, subject`.execute(tx);
      for (const series of inserted.rows) {
        await recomputeGaugeSeries(tx, series.tenant_id, series.meter, series.subject, series.since);
        accepted += series.n;
      }
    }
    if (accepted > 0) {
      const changed = [
        ...new Map(
          events.map((e) => [`${e.tenantId}\u0000${e.meter}\u0000${hourOf(e.time).getTime()}`, e]),
        ).values(),
      ];
      // Their limits' thresholds are checked after the commit, off this path (ThresholdChecker).
      const queued = JSON.stringify(changed.map((e) => ({ t: e.tenantId, m: e.meter, at: hourOf(e.time) })));
      await sql`insert into usage_threshold_queue (changes) values (${queued}::jsonb)`.execute(tx);
      // Their entitlements' `used` changed: other control-plane processes drop their snapshots.
      await announceUsage(
        tx,
        events.map((e) => e.tenantId),
      );
    }
    return accepted;
  }
}

function idOf(input: unknown): string | null {
  return typeof input === 'object' && input !== null && typeof (input as { id?: unknown }).id === 'string'
    ? (input as { id: string }).id
    : null;
}
