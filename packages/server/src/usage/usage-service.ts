import {
  type Aggregation,
  billingPeriod,
  type DomainError,
  fail,
  limitKind,
  ok,
  type Result,
} from '@tenantry/core';
import type { Kysely, Selectable } from 'kysely';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import { type Schema, type UsageEventsTable, withRetry } from '../db/index.ts';
import type { RequestContext } from '../request-context.ts';
import { type TenantService, tenantNotFound } from '../tenants/index.ts';
import type { MeterCatalog } from './meter-catalog.ts';
import { periodUsage, usageKey } from './period-usage.ts';
import { recomputeGaugeSeries, recomputeHour } from './rollups.ts';
import { queryUsage, type UsageReport, type UsageWindow } from './usage-query.ts';

const HOUR = 3_600_000;

/** A stored usage event as the API shows it. */
export interface UsageEventView {
  tenant_id: string;
  id: string;
  meter: string;
  value: number;
  time: string;
  subject: string | null;
  properties: Record<string, unknown> | null;
  received_at: string;
  voided_at: string | null;
  void_reason: string | null;
}

/** Reading usage and correcting it; ingestion is {@link UsageIngest}, leases {@link LeaseService}. */
export class UsageService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #tenants: TenantService;
  readonly #meters: MeterCatalog;
  readonly #onUsage: (tenantIds: ReadonlySet<string>) => void;

  constructor(
    db: Kysely<Schema>,
    clock: Clock,
    tenants: TenantService,
    meters: MeterCatalog,
    onUsage: (tenantIds: ReadonlySet<string>) => void,
  ) {
    this.#db = db;
    this.#clock = clock;
    this.#tenants = tenants;
    this.#meters = meters;
    this.#onUsage = onUsage;
  }

  /**
   * A tenant's usage of one meter over `[from, to)` (default: the current billing period), as a
   * series by hour, day or billing period, with the total; optionally per subject.
   */
  async query(
    idOrSlug: string,
    input: {
      meter: string;
      from?: Date | undefined;
      to?: Date | undefined;
      window: UsageWindow;
      groupBy?: 'subject' | undefined;
    },
  ): Promise<Result<UsageReport, DomainError>> {
    const record = await this.#tenants.record(idOrSlug);
    if (!record) return tenantNotFound(idOrSlug);
    const meter = await this.#meters.get(input.meter);
    if (!meter) {
      return fail('validation_failed', `unknown meter "${input.meter}"`, {
        errors: [{ path: 'query.meter', message: `no meter "${input.meter}" is declared` }],
      });
    }
    // A test tenant's current period and open gauge levels are at its test clock's time.
    const now = record.clock_time ?? this.#clock.now();
    const period = billingPeriod(record.billing_anchor, record.definition.interval, now);
    const from = input.from ?? floorHour(period.start);
    const to = input.to ?? ceilHour(period.end);
    const errors = [
      ...(from.getTime() % HOUR !== 0
        ? [{ path: 'query.from', message: 'must be a whole hour (rollups are hourly)' }]
        : []),
      ...(to.getTime() % HOUR !== 0
        ? [{ path: 'query.to', message: 'must be a whole hour (rollups are hourly)' }]
        : []),
      ...(to <= from ? [{ path: 'query.to', message: 'must be after from' }] : []),
      ...(to.getTime() - from.getTime() > 400 * 24 * HOUR
        ? [{ path: 'query.to', message: 'the range may span at most 400 days' }]
        : []),
    ];
    if (errors.length > 0) return fail('validation_failed', 'the usage range is not valid', { errors });
    const report = await queryUsage(this.#db, {
      tenantId: record.id,
      meter: meter.key,
      aggregation: meter.aggregation,
      unit: record.definition.meters[meter.key]?.unit ?? null,
      from,
      to,
      window: input.window,
      groupBySubject: input.groupBy === 'subject',
      billingAnchor: record.billing_anchor,
      interval: record.definition.interval,
      now,
    });
    if (limitKind(meter.aggregation as Aggregation) === 'gauge') {
      const request = {
        tenantId: record.id,
        meter: meter.key,
        aggregation: meter.aggregation as Aggregation,
        start: period.start,
        end: period.end,
      };
      report.level = (await periodUsage(this.#db, [request], this.#clock.now())).get(usageKey(request)) ?? 0;
    }
    return ok(report);
  }

  /**
   * Voids an event: it stays stored, marked void with the reason, and stops counting; the
   * rollups it was in are recomputed in the same transaction. Voiding twice changes nothing.
   */
  async void(
    ctx: RequestContext,
    idOrSlug: string,
    eventId: string,
    reason: string,
  ): Promise<Result<UsageEventView, DomainError>> {
    const record = await this.#tenants.record(idOrSlug);
    if (!record) return tenantNotFound(idOrSlug);
    // Retried like ingestion when Postgres resolves a deadlock with a concurrent batch.
    const result = await withRetry(() =>
      this.#db.transaction().execute(async (tx) => {
        const event = await tx
          .selectFrom('usage_events')
          .selectAll()
          .where('tenant_id', '=', record.id)
          .where('id', '=', eventId)
          .forUpdate()
          .executeTakeFirst();
        if (!event)
          return fail('usage_event_not_found', `tenant ${record.id} has no usage event "${eventId}"`);
        if (event.voided_at) return ok(eventView(event));
        const now = this.#clock.now();
        const voided = await tx
          .updateTable('usage_events')
          .set({ voided_at: now, void_reason: reason })
          .where('tenant_id', '=', record.id)
          .where('id', '=', eventId)
          .returningAll()
          .executeTakeFirstOrThrow();
        const meter = await this.#meters.get(event.meter);
        if ((meter?.aggregation as Aggregation | undefined) === 'time_weighted') {
          await recomputeGaugeSeries(tx, record.id, event.meter, event.subject, event.time);
        } else {
          await recomputeHour(
            tx,
            record.id,
            event.meter,
            event.subject,
            new Date(Math.floor(event.time.getTime() / HOUR) * HOUR),
          );
        }
        await recordChange(tx, ctx, {
          action: 'usage_event.voided',
          tenantId: record.id,
          target: { type: 'usage_event', id: eventId },
          before: { voided_at: null, void_reason: null },
          after: { voided_at: now.toISOString(), void_reason: reason },
          data: { meter: event.meter, value: Number(event.value), time: event.time.toISOString(), reason },
          occurredAt: now,
        });
        return ok(eventView(voided));
      }),
    );
    if (result.ok) this.#onUsage(new Set([record.id]));
    return result;
  }
}

function eventView(row: Selectable<UsageEventsTable>): UsageEventView {
  return {
    tenant_id: row.tenant_id,
    id: row.id,
    meter: row.meter,
    value: Number(row.value),
    time: row.time.toISOString(),
    subject: row.subject === '' ? null : row.subject,
    properties: (row.properties as Record<string, unknown> | null) ?? null,
    received_at: row.received_at.toISOString(),
    voided_at: row.voided_at?.toISOString() ?? null,
    void_reason: row.void_reason,
  };
}

function floorHour(date: Date): Date {
  return new Date(Math.floor(date.getTime() / HOUR) * HOUR);
}

function ceilHour(date: Date): Date {
  return new Date(Math.ceil(date.getTime() / HOUR) * HOUR);
}
