import {
  type Aggregation,
  type DomainError,
  err,
  fail,
  limitExhausted,
  limitKind,
  meterUseRefusal,
  ok,
  type Result,
} from '@tenantry/core';
import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Schema, UsageLeasesTable } from '../db/index.ts';
import { newId } from '../ids.ts';
import { loadLimitContexts } from './limit-context.ts';
import { periodUsage, usageKey } from './period-usage.ts';

/** A block of units an app instance may spend locally until the lease expires. */
export interface LeaseView {
  id: string;
  tenant_id: string;
  meter: string;
  instance_id: string;
  granted: number;
  consumed: number;
  /** Units handed back: what was granted and not consumed, once released or expired. */
  returned: number;
  expires_at: string;
  released_at: string | null;
  period: { start: string; end: string };
  /** The tenant's limit; null when unlimited. */
  limit: number | null;
  enforcement: 'hard' | 'soft';
  /** For soft limits: the grant goes past the limit. */
  overage: boolean;
}

const MAX_TTL_S = 3600;

function view(
  row: Selectable<UsageLeasesTable>,
  period: { start: string; end: string },
  limit: { limit: number | null; enforcement: 'hard' | 'soft' },
  overage: boolean,
  now: Date,
): LeaseView {
  const granted = Number(row.granted);
  const consumed = Number(row.consumed);
  const closed = row.released_at !== null || row.expires_at <= now;
  return {
    id: row.id,
    tenant_id: row.tenant_id,
    meter: row.meter,
    instance_id: row.instance_id,
    granted,
    consumed,
    returned: closed ? granted - consumed : 0,
    expires_at: row.expires_at.toISOString(),
    released_at: row.released_at?.toISOString() ?? null,
    period,
    limit: limit.limit,
    enforcement: limit.enforcement,
    overage,
  };
}

/**
 * Hard limits across many app instances without a call per check: an instance leases a block
 * of units, spends it locally and reports what it consumed when it renews or releases. A grant
 * never lets usage plus the units still out on open leases pass a hard limit. Leases expire, so
 * a crashed instance cannot hold units for ever. Grants for one tenant and meter take turns.
 *
 * An instance must store the usage it spent (ingest its events) before it reports it consumed:
 * until then its units count twice, as used and as outstanding, which only grants less, while
 * the other order would for a moment count them nowhere and could let a grant pass the limit.
 */
export class LeaseService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;

  constructor(db: Kysely<Schema>, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  async grant(
    tenantId: string,
    input: { meter: string; units: number; instance_id: string; ttl_seconds: number },
  ): Promise<Result<LeaseView, DomainError>> {
    return this.#db.transaction().execute(async (tx) => {
      const now = this.#clock.now();
      const state = await this.#state(tx, tenantId, input.meter, now, 'use');
      if (!state.ok) return state;
      const { granted, overage, used, outstanding } = await this.#available(
        tx,
        state.value,
        input.units,
        now,
      );
      // A grant of nothing is a refusal, with what the tenant has used: not a lease to renew.
      if (granted === 0) {
        const refusal = limitExhausted({
          tenantId,
          meter: input.meter,
          limit: state.value.limit.limit ?? 0,
          used,
          scope: 'tenant',
          kind: 'metered',
        });
        // Units leased and not yet reported count too: name them, or "used" would not explain it.
        return err({
          ...refusal,
          detail:
            outstanding > 0
              ? `${refusal.detail}, and ${outstanding} more are leased to instances`
              : refusal.detail,
          details: { ...refusal.details, outstanding },
        });
      }
      const row = await tx
        .insertInto('usage_leases')
        .values({
          tenant_id: tenantId,
          id: newId('lse'),
          meter: input.meter,
          instance_id: input.instance_id,
          period_start: new Date(state.value.period.start),
          granted: String(granted),
          consumed: '0',
          expires_at: new Date(now.getTime() + Math.min(input.ttl_seconds, MAX_TTL_S) * 1000),
          released_at: null,
          created_at: now,
          updated_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      return ok(view(row, state.value.period, state.value.limit, overage, now));
    });
  }

  /**
   * Reports what an open lease has consumed so far, extends it and optionally asks for more
   * units; a lease that has expired or was released cannot be renewed.
   */
  async renew(
    tenantId: string,
    leaseId: string,
    input: { consumed: number; units: number; ttl_seconds: number },
  ): Promise<Result<LeaseView, DomainError>> {
    return this.#change(tenantId, leaseId, input.consumed, 'use', async (tx, _row, state, now) => {
      const lease = tx
        .updateTable('usage_leases')
        .where('tenant_id', '=', tenantId)
        .where('id', '=', leaseId);
      // Record the consumption first, so the grant below counts this lease's own outstanding units.
      // A lease renewed in a later period than it was granted in now holds units of this one.
      await lease
        .set({
          consumed: String(input.consumed),
          period_start: new Date(state.period.start),
          expires_at: new Date(now.getTime() + Math.min(input.ttl_seconds, MAX_TTL_S) * 1000),
          updated_at: now,
        })
        .execute();
      const more =
        input.units > 0
          ? await this.#available(tx, state, input.units, now)
          : { granted: 0, overage: false, used: 0, outstanding: 0 };
      const updated = await lease
        .set({ granted: sql<string>`granted + ${String(more.granted)}::numeric` })
        .returningAll()
        .executeTakeFirstOrThrow();
      return view(updated, state.period, state.limit, more.overage, now);
    });
  }

  /**
   * Closes a lease with what it consumed; the rest goes back to the tenant's limit at once. Units
   * may always be handed back, also by a tenant that is no longer active.
   */
  async release(
    tenantId: string,
    leaseId: string,
    input: { consumed: number },
  ): Promise<Result<LeaseView, DomainError>> {
    return this.#change(tenantId, leaseId, input.consumed, 'release', async (tx, _row, state, now) => {
      const updated = await tx
        .updateTable('usage_leases')
        .set({ consumed: String(input.consumed), released_at: now, updated_at: now })
        .where('tenant_id', '=', tenantId)
        .where('id', '=', leaseId)
        .returningAll()
        .executeTakeFirstOrThrow();
      return view(updated, state.period, state.limit, false, now);
    });
  }

  async #change(
    tenantId: string,
    leaseId: string,
    consumed: number,
    purpose: Purpose,
    apply: (
      tx: Transaction<Schema>,
      row: Selectable<UsageLeasesTable>,
      state: LeaseState,
      now: Date,
    ) => Promise<LeaseView>,
  ): Promise<Result<LeaseView, DomainError>> {
    return this.#db.transaction().execute(async (tx) => {
      const now = this.#clock.now();
      const row = await tx
        .selectFrom('usage_leases')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('id', '=', leaseId)
        .forUpdate()
        .executeTakeFirst();
      if (!row) return fail('lease_not_found', `tenant ${tenantId} has no lease "${leaseId}"`);
      if (row.released_at !== null || row.expires_at <= now) {
        return fail(
          'lease_closed',
          `lease ${leaseId} was ${row.released_at ? 'released' : 'left to expire'}; take a new one`,
        );
      }
      if (consumed < Number(row.consumed) || consumed > Number(row.granted)) {
        return fail(
          'validation_failed',
          `consumed must be between ${row.consumed} (reported before) and ${row.granted} (granted)`,
          {
            errors: [{ path: 'consumed', message: `must be between ${row.consumed} and ${row.granted}` }],
          },
        );
      }
      const state = await this.#state(tx, tenantId, row.meter, now, purpose);
      if (!state.ok) return state;
      return ok(await apply(tx, row, state.value, now));
    });
  }

  /**
   * The tenant's limit on `meter` now. To take units (`use`), grants for one tenant and meter are
   * decided one at a time, each seeing the ones before, and the tenant must be active and its plan
   * must declare the meter; handing units back (`release`) needs neither.
   */
  async #state(
    tx: Transaction<Schema>,
    tenantId: string,
    meter: string,
    now: Date,
    purpose: Purpose,
  ): Promise<Result<LeaseState, DomainError>> {
    if (purpose === 'use') {
      await sql`select pg_advisory_xact_lock(hashtext(${`lease:${tenantId}:${meter}`}))`.execute(tx);
    }
    const [context] = await loadLimitContexts(tx, [tenantId], now);
    if (!context) return fail('tenant_not_found', `no tenant has the id "${tenantId}"`);
    const definition = context.definition.meters[meter];
    if (purpose === 'use') {
      if (!definition) {
        return fail('validation_failed', `plan "${context.definition.key}" has no meter "${meter}"`, {
          errors: [{ path: 'meter', message: `is not a meter of plan "${context.definition.key}"` }],
        });
      }
      if (limitKind(definition.aggregation) === 'gauge') {
        return fail('validation_failed', `"${meter}" is a gauge: hold it with slots, not leases`, {
          errors: [
            {
              path: 'meter',
              message: `is aggregated by ${definition.aggregation}: a level is held with POST /v1/tenants/{id}/slots, not spent as units`,
            },
          ],
        });
      }
      const refusal = meterUseRefusal(context.snapshot, meter);
      if (refusal) return err(refusal);
    }
    const limit = definition ? context.limits[meter] : undefined;
    return ok({
      tenantId,
      meter,
      aggregation: (definition?.aggregation ?? 'sum') as Aggregation,
      period: context.snapshot.period,
      limit: { limit: limit?.limit ?? null, enforcement: limit?.enforcement ?? 'soft' },
    });
  }

  /**
   * How many of `units` may be granted now, counting usage and the units out on open leases. A
   * lease granted in an earlier period that is still open counts too: its units can be spent now,
   * and they would count against this period.
   */
  async #available(
    tx: Transaction<Schema>,
    state: LeaseState,
    units: number,
    now: Date,
  ): Promise<{ granted: number; overage: boolean; used: number; outstanding: number }> {
    if (state.limit.limit === null) return { granted: units, overage: false, used: 0, outstanding: 0 };
    const start = new Date(state.period.start);
    const usage = await periodUsage(
      tx,
      [
        {
          tenantId: state.tenantId,
          meter: state.meter,
          aggregation: state.aggregation,
          start,
          end: new Date(state.period.end),
        },
      ],
      now,
    );
    const used = usage.get(usageKey({ tenantId: state.tenantId, meter: state.meter, start })) ?? 0;
    const open = await tx
      .selectFrom('usage_leases')
      .select(sql<string>`coalesce(sum(granted - consumed), 0)::text`.as('outstanding'))
      .where('tenant_id', '=', state.tenantId)
      .where('meter', '=', state.meter)
      .where('released_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirstOrThrow();
    const outstanding = Number(open.outstanding);
    const available = Math.max(0, state.limit.limit - used - outstanding);
    if (state.limit.enforcement === 'soft') {
      return { granted: units, overage: units > available, used, outstanding };
    }
    return { granted: Math.min(units, available), overage: false, used, outstanding };
  }
}

type Purpose = 'use' | 'release';

interface LeaseState {
  tenantId: string;
  meter: string;
  aggregation: Aggregation;
  period: { start: string; end: string };
  limit: { limit: number | null; enforcement: 'hard' | 'soft' };
}
