import {
  admitSlot,
  type DomainError,
  err,
  fail,
  limitKind,
  meterUseRefusal,
  ok,
  type Result,
} from '@tenantry/core';
import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import { announceUsage } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { Schema, SlotHoldersTable } from '../db/index.ts';
import { newId } from '../ids.ts';
import { loadLimitContexts } from './limit-context.ts';
import { periodUsage, usageKey } from './period-usage.ts';

/** The shortest and longest life of a slot holder between heartbeats, in seconds. */
export const SLOT_HOLDER_TTL = { min: 2, max: 600, default: 30 } as const;

/** Holders lapsed this long ago are deleted, with their slots, when a new holder is created. */
const PURGE_AFTER_MS = 3_600_000;

/** An app instance's claim on its slots: they count while it sends heartbeats. */
export interface SlotHolderView {
  id: string;
  instance_id: string;
  ttl_seconds: number;
  expires_at: string;
}

/** One unit of a gauge held open now. */
export interface SlotView {
  id: string;
  tenant_id: string;
  meter: string;
  subject: string | null;
  holder_id: string;
  acquired_at: string;
  /** The holder's expiry: the slot stops counting then unless the holder's heartbeat renews it. */
  expires_at: string;
  /** The tenant's limit on the meter (its pool); null when unlimited. */
  limit: number | null;
  /** The most one subject may hold at once; null when the plan sets no cap per subject. */
  per_subject: number | null;
  /** The gauge's level with this slot: open slots plus the level usage events report. */
  used: number;
  /** The subject's open slots with this one; null without a subject. */
  subject_used: number | null;
  enforcement: 'hard' | 'soft';
  /** For soft limits: this slot goes past the limit. */
  overage: boolean;
}

function holderView(row: Selectable<SlotHoldersTable>): SlotHolderView {
  return {
    id: row.id,
    instance_id: row.instance_id,
    ttl_seconds: row.ttl_seconds,
    expires_at: row.expires_at.toISOString(),
  };
}

/**
 * Gauge limits held across every app instance: an instance opens a slot per unit it holds (a
 * session, a connected device) and closes it when done; the control plane counts the open slots
 * against the tenant's limit and each subject's cap. Slots belong to a holder, which the instance
 * keeps alive with heartbeats: when an instance dies its holder lapses and its slots stop counting
 * at once — every count joins the holder, so nothing has to run for them to be reclaimed. Acquires
 * of one tenant and meter take turns (a transaction-scoped advisory lock), each seeing the slots
 * of the ones before, so concurrent acquires can never pass a hard limit.
 *
 * Slots write no audit rows: they churn at the rate of the app's sessions, like usage events and
 * leases, and what they hold is shown by the level itself; the holder and acquire times are kept
 * on the rows for as long as the slots are open.
 */
export class SlotService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #onChanged: (tenantIds: ReadonlySet<string>) => void;

  constructor(db: Kysely<Schema>, clock: Clock, onChanged: (tenantIds: ReadonlySet<string>) => void) {
    this.#db = db;
    this.#clock = clock;
    this.#onChanged = onChanged;
  }

  /** A new holder, alive for `ttl_seconds` unless renewed by heartbeats. */
  async createHolder(input: { instance_id: string; ttl_seconds: number }): Promise<SlotHolderView> {
    const { holder, reclaimed } = await this.#db.transaction().execute(async (tx) => {
      const now = this.#clock.now();
      // The sweep of holders that died long ago rides on the creation of new ones: their slots
      // already count for nothing, so only the space is reclaimed here.
      const { tenants: reclaimed } = await deleteHolders(tx, {
        lapsedBefore: new Date(now.getTime() - PURGE_AFTER_MS),
      });
      const holder = await tx
        .insertInto('slot_holders')
        .values({
          id: newId('shd'),
          instance_id: input.instance_id,
          ttl_seconds: input.ttl_seconds,
          expires_at: new Date(now.getTime() + input.ttl_seconds * 1000),
          created_at: now,
          updated_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return { holder, reclaimed };
    });
    if (reclaimed.size > 0) this.#onChanged(reclaimed);
    return holderView(holder);
  }

  /**
   * Keeps a holder's slots for another TTL. A holder that has lapsed is not revived: its slots may
   * already have been given to others. It is deleted with its slots, and the answer is
   * `slot_holder_expired`: the instance must take a new holder and acquire again.
   */
  async heartbeat(holderId: string): Promise<Result<SlotHolderView, DomainError>> {
    const result = await this.#db.transaction().execute(async (tx) => {
      const now = this.#clock.now();
      const renewed = await tx
        .updateTable('slot_holders')
        .set({
          expires_at: sql<Date>`${now}::timestamptz + ttl_seconds * interval '1 second'`,
          updated_at: now,
        })
        .where('id', '=', holderId)
        .where('expires_at', '>', now)
        .returningAll()
        .executeTakeFirst();
      if (renewed) return { result: ok(holderView(renewed)), reclaimed: new Set<string>() };
      const lapsed = await tx
        .selectFrom('slot_holders')
        .select('id')
        .where('id', '=', holderId)
        .forUpdate()
        .executeTakeFirst();
      if (!lapsed) {
        return {
          result: fail('slot_holder_not_found', `no slot holder has the id "${holderId}"`),
          reclaimed: new Set<string>(),
        };
      }
      return {
        result: fail(
          'slot_holder_expired',
          `slot holder ${holderId} missed its heartbeat: its slots were released; create a new holder and acquire again`,
        ),
        reclaimed: (await deleteHolders(tx, { id: holderId })).tenants,
      };
    });
    if (result.reclaimed.size > 0) this.#onChanged(result.reclaimed);
    return result.result;
  }

  /** Deletes a holder and releases every slot it held (an instance shutting down). */
  async deleteHolder(holderId: string): Promise<Result<{ id: string; released_slots: number }, DomainError>> {
    const result = await this.#db.transaction().execute(async (tx) => {
      const exists = await tx
        .selectFrom('slot_holders')
        .select('id')
        .where('id', '=', holderId)
        .forUpdate()
        .executeTakeFirst();
      if (!exists) return null;
      return deleteHolders(tx, { id: holderId });
    });
    if (result === null) return fail('slot_holder_not_found', `no slot holder has the id "${holderId}"`);
    if (result.tenants.size > 0) this.#onChanged(result.tenants);
    return ok({ id: holderId, released_slots: result.slots });
  }

  /**
   * Opens a slot of gauge `meter` for the tenant, held by `holder_id`, unless it would pass the
   * tenant's hard limit or the subject's cap (`limit_exhausted`).
   */
  async acquire(
    tenantId: string,
    input: { meter: string; subject?: string | undefined; holder_id: string },
  ): Promise<Result<SlotView, DomainError>> {
    const subject = input.subject ?? null;
    const result = await this.#db
      .transaction()
      .execute(async (tx): Promise<Result<SlotView, DomainError>> => {
        const now = this.#clock.now();
        await sql`select pg_advisory_xact_lock(hashtext(${`slot:${tenantId}:${input.meter}`}))`.execute(tx);
        // KEY SHARE keeps the holder from being deleted until this slot is stored under it.
        const holder = await tx
          .selectFrom('slot_holders')
          .selectAll()
          .where('id', '=', input.holder_id)
          .forKeyShare()
          .executeTakeFirst();
        if (!holder) {
          return fail('slot_holder_not_found', `no slot holder has the id "${input.holder_id}"`, {
            errors: [
              { path: 'holder_id', message: 'is not a slot holder; create one with POST /v1/slot-holders' },
            ],
          });
        }
        if (holder.expires_at <= now) {
          return fail('slot_holder_expired', `slot holder ${holder.id} missed its heartbeat`);
        }
        const [context] = await loadLimitContexts(tx, [tenantId], now);
        if (!context) return fail('tenant_not_found', `no tenant has the id "${tenantId}"`);
        const meter = context.definition.meters[input.meter];
        if (!meter) {
          return fail('validation_failed', `plan "${context.definition.key}" has no meter "${input.meter}"`, {
            errors: [{ path: 'meter', message: `is not a meter of plan "${context.definition.key}"` }],
          });
        }
        if (limitKind(meter.aggregation) !== 'gauge') {
          return fail(
            'validation_failed',
            `"${input.meter}" is not a gauge: slots hold a level, not a total`,
            {
              errors: [
                {
                  path: 'meter',
                  message: `is aggregated by ${meter.aggregation}; only latest and time_weighted meters take slots (use a lease)`,
                },
              ],
            },
          );
        }
        const refusal = meterUseRefusal(context.snapshot, input.meter);
        if (refusal) return err(refusal);
        // Slots of holders that lapsed count for nothing already; deleting them keeps counts cheap.
        await tx
          .deleteFrom('usage_slots')
          .where('tenant_id', '=', tenantId)
          .where('meter', '=', input.meter)
          .where('holder_id', 'in', (q) =>
            q.selectFrom('slot_holders').select('id').where('expires_at', '<=', now),
          )
          .execute();
        const request = {
          tenantId,
          meter: input.meter,
          aggregation: meter.aggregation,
          start: new Date(context.snapshot.period.start),
          end: new Date(context.snapshot.period.end),
        };
        const pool = (await periodUsage(tx, [request], now)).get(usageKey(request)) ?? 0;
        const held =
          subject === null
            ? 0
            : Number(
                (
                  await tx
                    .selectFrom('usage_slots')
                    .select((eb) => eb.fn.countAll<string>().as('n'))
                    .where('tenant_id', '=', tenantId)
                    .where('meter', '=', input.meter)
                    .where('subject', '=', subject)
                    .executeTakeFirstOrThrow()
                ).n,
              );
        const limit = context.limits[input.meter];
        const admitted = admitSlot({
          tenantId,
          meter: input.meter,
          subject,
          limit,
          open: { pool, subject: held },
        });
        if (!admitted.ok) return admitted;
        const row = await tx
          .insertInto('usage_slots')
          .values({
            tenant_id: tenantId,
            id: newId('slt'),
            meter: input.meter,
            subject: subject ?? '',
            holder_id: holder.id,
            acquired_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        await announceUsage(tx, [tenantId]);
        return ok({
          id: row.id,
          tenant_id: tenantId,
          meter: row.meter,
          subject,
          holder_id: holder.id,
          acquired_at: now.toISOString(),
          expires_at: holder.expires_at.toISOString(),
          limit: limit?.limit ?? null,
          per_subject: limit?.per_subject ?? null,
          used: pool + 1,
          subject_used: subject === null ? null : held + 1,
          enforcement: limit?.enforcement ?? 'soft',
          overage: admitted.value.overage,
        });
      });
    if (result.ok) this.#onChanged(new Set([tenantId]));
    return result;
  }

  /** Closes one of the tenant's slots; the level drops at once. */
  async release(tenantId: string, slotId: string): Promise<Result<ReleasedSlot, DomainError>> {
    const now = this.#clock.now();
    const row = await this.#db.transaction().execute(async (tx) => {
      const deleted = await tx
        .deleteFrom('usage_slots')
        .where('tenant_id', '=', tenantId)
        .where('id', '=', slotId)
        .returningAll()
        .executeTakeFirst();
      if (deleted) await announceUsage(tx, [tenantId]);
      return deleted;
    });
    // A slot released before, or reclaimed with its lapsed holder, is gone alike.
    if (!row) return fail('slot_not_found', `tenant ${tenantId} has no open slot "${slotId}"`);
    this.#onChanged(new Set([tenantId]));
    return ok({
      id: row.id,
      tenant_id: row.tenant_id,
      meter: row.meter,
      subject: row.subject === '' ? null : row.subject,
      holder_id: row.holder_id,
      acquired_at: row.acquired_at.toISOString(),
      released_at: now.toISOString(),
    });
  }
}

/** A slot as it was when released. */
export type ReleasedSlot = Pick<
  SlotView,
  'id' | 'tenant_id' | 'meter' | 'subject' | 'holder_id' | 'acquired_at'
> & {
  released_at: string;
};

/**
 * Deletes one holder, or every holder lapsed before a time, with their slots; announces the
 * tenants whose slots went and returns them.
 */
async function deleteHolders(
  tx: Transaction<Schema>,
  which: { readonly id: string } | { readonly lapsedBefore: Date },
): Promise<{ tenants: Set<string>; slots: number }> {
  const picked = 'id' in which ? sql`id = ${which.id}` : sql`expires_at < ${which.lapsedBefore}`;
  const slots = await sql<{ tenant_id: string }>`
    delete from usage_slots where holder_id in (select id from slot_holders where ${picked})
    returning tenant_id`.execute(tx);
  await sql`delete from slot_holders where ${picked}`.execute(tx);
  const tenants = new Set(slots.rows.map((row) => row.tenant_id));
  await announceUsage(tx, tenants);
  return { tenants, slots: slots.rows.length };
}

/**
 * When the level of a tenant's gauges may next drop by itself: the earliest expiry of a live
 * holder of its slots, or null when it holds none. A snapshot cached past it would show slots
 * that no longer count.
 */
export async function nextSlotLapse(db: Kysely<Schema>, tenantId: string, now: Date): Promise<Date | null> {
  const row = await db
    .selectFrom('usage_slots as s')
    .innerJoin('slot_holders as h', 'h.id', 's.holder_id')
    .select((eb) => eb.fn.min('h.expires_at').as('next'))
    .where('s.tenant_id', '=', tenantId)
    .where('h.expires_at', '>', now)
    .executeTakeFirst();
  return (row?.next as Date | null | undefined) ?? null;
}
