import {
  DEFAULT_GRACE_PERIOD_DAYS,
  DEFAULT_PAYMENT_RETRY_DAYS,
  type DomainError,
  fail,
  ok,
  type PlanDefinition,
  type Result,
  type TenantState,
} from '@tenantry/core';
import type { Kysely, Selectable, Transaction } from 'kysely';
import { recordChange } from '../changes/index.ts';
import { type Clock, tenantNow } from '../clock.ts';
import type { DunningCasesTable, Schema } from '../db/index.ts';
import type { JobQueue } from '../jobs/index.ts';
import { type RequestContext, systemContext } from '../request-context.ts';
import { tenantNotFound } from '../tenants/index.ts';
import { BILLING_REASONS, billingTransition, type LockedTenant, lockTenant } from './billing-tenant.ts';
import type { PaymentEvents } from './payment-events.ts';

/** Job kinds dunning owns. */
export const DUNNING_JOBS = {
  retry: 'dunning.retry',
  suspend: 'dunning.suspend',
} as const;

const DAY_MS = 86_400_000;

/** Who the audit log names for dunning's changes. */
const DUNNING: RequestContext = systemContext('dunning');

/** States the end of a grace period suspends; the others are left as they are. */
const SUSPENDABLE: ReadonlySet<TenantState> = new Set(['trialing', 'active', 'past_due']);

/** How a plan treats a failed payment: when it is retried, and when the tenant is suspended. */
export interface DunningPolicy {
  /** Days from the failed payment until a tenant that has not paid is suspended. */
  readonly gracePeriodDays: number;
  /** Days after the failed payment on which it is retried, ascending. */
  readonly retryDays: readonly number[];
}

/** A plan's dunning policy, with the defaults for what its definition does not say. */
export function dunningPolicy(plan: PlanDefinition): DunningPolicy {
  return {
    gracePeriodDays: plan.grace_period_days ?? DEFAULT_GRACE_PERIOD_DAYS,
    retryDays: plan.payment_retry_days ?? DEFAULT_PAYMENT_RETRY_DAYS,
  };
}

/**
 * Thrown by {@link Dunning.paymentFailed} and {@link Dunning.paymentSucceeded} for input that
 * names no tenant or no invoice. They run inside the caller's transaction and return nothing, so
 * the mistake is thrown, which rolls the caller's transaction back: nothing is written. `error`
 * is the problem to answer with.
 */
export class PaymentEventError extends Error {
  /** The problem, with a stable code (`tenant_not_found`, `validation_failed`). */
  readonly error: DomainError;

  constructor(error: DomainError) {
    super(error.detail);
    this.name = 'PaymentEventError';
    this.error = error;
  }
}

/** What {@link Dunning} needs. */
export interface DunningOptions {
  readonly db: Kysely<Schema>;
  readonly clock: Clock;
  readonly jobs: JobQueue;
  /** Told after a dunning job has committed a change to a tenant, e.g. to drop cached entitlements. */
  readonly onChanged: (tenantId: string) => void;
}

/** An unpaid invoice in dunning, as the jobs and tests read it. */
export type DunningCase = Selectable<DunningCasesTable>;

/** One invoice's dunning, as `GET /v1/tenants/{id}/dunning` shows it. */
export interface DunningCaseView {
  invoice_id: string;
  /** The invoice's number, when it is a Tenantry invoice (payments reported by API may name others). */
  invoice_number: string | null;
  /** 1 for the invoice's first failed payment; a failure after a payment opens the next round. */
  round: number;
  opened_at: string;
  /** When each retry falls due. */
  retry_at: string[];
  /** Retries raised so far. */
  retries_raised: number;
  /** The next retry still to come, or null. */
  next_retry_at: string | null;
  /** When the tenant is suspended if the invoice is still unpaid. */
  suspend_at: string;
  suspended_at: string | null;
  /** When the invoice was paid, voided or written off, ending its dunning; null while open. */
  resolved_at: string | null;
}

/** A tenant's dunning: whether an unpaid invoice holds it, and every case, oldest first. */
export interface DunningStatus {
  tenant_id: string;
  tenant_state: string;
  in_dunning: boolean;
  cases: DunningCaseView[];
}

/** The payment outcome the invoices service reports. */
interface PaymentEvent {
  readonly tenantId: string;
  readonly invoiceId: string;
  readonly now: Date;
  /** The request that reported the outcome, if one did: dunning's changes are recorded under it. */
  readonly requestId?: string | null;
}

/** Dunning acting on a payment outcome, under the request that reported it. */
function dunningFor(e: PaymentEvent): RequestContext {
  return { ...DUNNING, requestId: e.requestId ?? null };
}

/**
 * Dunning: what a failed payment does to a tenant, and what its payment undoes. The invoices
 * service calls {@link paymentFailed} and {@link paymentSucceeded} inside the transaction that
 * records the outcome, so everything here commits or rolls back with it.
 *
 * - A failed payment opens a case for the invoice: the payment is retried on the plan's
 *   `payment_retry_days` (each retry raises `invoice.payment_retry`, for the Stripe adapter or the
 *   vendor to charge again), and an active tenant becomes `past_due`. A further failure of an
 *   invoice already in dunning changes nothing: its schedule runs from the first failure.
 * - At the end of the plan's `grace_period_days` a case still unpaid suspends the tenant
 *   (reason `nonpayment`) unless it is already suspended, cancelled or deleted.
 * - The payment closes the case; when the tenant has no other unpaid invoice in dunning, a
 *   `past_due` tenant, or one suspended for `nonpayment`, becomes `active` again. A tenant
 *   suspended for any other reason stays suspended.
 *
 * Retries and the suspension are durable jobs enqueued with the case; each carries the case's
 * round and checks it, so a job left over from a case since paid (or paid and failed again) does
 * nothing. Every change is recorded (audit entry, event) in its transaction.
 */
export class Dunning implements PaymentEvents {
  readonly #o: DunningOptions;

  constructor(options: DunningOptions) {
    this.#o = options;
    options.jobs.handle(DUNNING_JOBS.retry, { run: (payload) => this.#retry(payload) });
    options.jobs.handle(DUNNING_JOBS.suspend, { run: (payload) => this.#suspend(payload) });
  }

  /**
   * An invoice's payment failed: opens its dunning case (unless one is open), schedules the
   * retries and the suspension, and moves an active tenant to `past_due`. Throws
   * {@link PaymentEventError} for an unknown tenant or a blank invoice id.
   */
  async paymentFailed(tx: Transaction<Schema>, e: PaymentEvent): Promise<void> {
    const tenant = await this.#tenant(tx, e);
    const existing = await tx
      .selectFrom('dunning_cases')
      .select(['round', 'resolved_at'])
      .where('tenant_id', '=', tenant.id)
      .where('invoice_id', '=', e.invoiceId)
      .forUpdate()
      .executeTakeFirst();
    // Stripe reports every failed attempt, the retries' too: the first failure sets the schedule.
    if (existing && existing.resolved_at === null) return;

    const policy = dunningPolicy(tenant.definition);
    const at = (days: number) => new Date(e.now.getTime() + days * DAY_MS);
    const round = (existing?.round ?? 0) + 1;
    const retryAt = policy.retryDays.map(at);
    const suspendAt = at(policy.gracePeriodDays);
    const stored = {
      round,
      opened_at: e.now,
      retry_at: JSON.stringify(retryAt.map((d) => d.toISOString())),
      retries_raised: 0,
      suspend_at: suspendAt,
      suspended_at: null,
      resolved_at: null,
    };
    await tx
      .insertInto('dunning_cases')
      .values({ tenant_id: tenant.id, invoice_id: e.invoiceId, ...stored })
      .onConflict((oc) => oc.columns(['tenant_id', 'invoice_id']).doUpdateSet(stored))
      .execute();
    const job = { tenant_id: tenant.id, invoice_id: e.invoiceId, round };
    const key = `${tenant.id}:${e.invoiceId}:${round}`;
    await this.#o.jobs.enqueue(
      tx,
      ...retryAt.map((runAt, index) => ({
        kind: DUNNING_JOBS.retry,
        payload: { ...job, attempt: index + 1 },
        dedupeKey: `dunning-retry:${key}:${index + 1}`,
        runAt,
        testClockId: tenant.test_clock_id,
      })),
      {
        kind: DUNNING_JOBS.suspend,
        payload: job,
        dedupeKey: `dunning-suspend:${key}`,
        runAt: suspendAt,
        testClockId: tenant.test_clock_id,
      },
    );

    const data = {
      invoice_id: e.invoiceId,
      round,
      retry_at: retryAt.map((d) => d.toISOString()),
      suspend_at: suspendAt.toISOString(),
    };
    await recordChange(tx, dunningFor(e), {
      action: 'dunning.started',
      tenantId: tenant.id,
      target: { type: 'invoice', id: e.invoiceId },
      data,
      occurredAt: e.now,
    });
    if (tenant.state === 'active') {
      await billingTransition(tx, dunningFor(e), tenant, {
        to: 'past_due',
        reason: BILLING_REASONS.paymentFailed,
        details: { invoice_id: e.invoiceId, suspend_at: data.suspend_at },
        now: e.now,
      });
    }
  }

  /**
   * An invoice was paid: closes its dunning case, if it has one, and reactivates the tenant when
   * no other invoice of it is in dunning and billing is why it is `past_due` or suspended. An
   * invoice that never failed changes nothing. Throws {@link PaymentEventError} for an unknown
   * tenant or a blank invoice id.
   */
  async paymentSucceeded(tx: Transaction<Schema>, e: PaymentEvent): Promise<void> {
    await this.#close(tx, e, 'invoice_paid');
  }

  /**
   * An invoice in dunning will not be collected: it was voided (nothing is owed, so the tenant is
   * reactivated as by a payment) or marked uncollectible (written off: no more retries and no
   * suspension, but the tenant keeps its state for an operator to decide). Without it, a voided
   * invoice's case would still suspend the tenant at the end of the grace period. Throws
   * {@link PaymentEventError} like {@link paymentSucceeded}.
   */
  async invoiceClosed(
    tx: Transaction<Schema>,
    e: PaymentEvent & { readonly as: 'void' | 'uncollectible' },
  ): Promise<void> {
    await this.#close(tx, e, e.as === 'void' ? 'invoice_voided' : 'invoice_uncollectible');
  }

  /** Takes an invoice out of dunning, and reactivates the tenant when that is billing's to do. */
  async #close(
    tx: Transaction<Schema>,
    e: PaymentEvent,
    cause: 'invoice_paid' | 'invoice_voided' | 'invoice_uncollectible',
  ): Promise<void> {
    const tenant = await this.#tenant(tx, e);
    const open = await tx
      .selectFrom('dunning_cases')
      .select(['round', 'opened_at'])
      .where('tenant_id', '=', tenant.id)
      .where('invoice_id', '=', e.invoiceId)
      .where('resolved_at', 'is', null)
      .forUpdate()
      .executeTakeFirst();
    if (!open) return;
    await tx
      .updateTable('dunning_cases')
      .set({ resolved_at: e.now })
      .where('tenant_id', '=', tenant.id)
      .where('invoice_id', '=', e.invoiceId)
      .execute();
    const others = await tx
      .selectFrom('dunning_cases')
      .select('invoice_id')
      .where('tenant_id', '=', tenant.id)
      .where('resolved_at', 'is', null)
      .execute();
    const reactivate =
      cause !== 'invoice_uncollectible' &&
      others.length === 0 &&
      (tenant.state === 'past_due' ||
        (tenant.state === 'suspended' && tenant.state_reason === BILLING_REASONS.nonpayment));
    const data = {
      invoice_id: e.invoiceId,
      round: open.round,
      opened_at: open.opened_at.toISOString(),
      cause,
      reactivated: reactivate,
      still_unpaid: others.map((o) => o.invoice_id).sort(),
    };
    await recordChange(tx, dunningFor(e), {
      action: 'dunning.resolved',
      tenantId: tenant.id,
      target: { type: 'invoice', id: e.invoiceId },
      data,
      occurredAt: e.now,
    });
    if (!reactivate) return;
    await billingTransition(tx, dunningFor(e), tenant, {
      to: 'active',
      reason: null,
      details: { cause, invoice_id: e.invoiceId },
      now: e.now,
    });
  }

  /**
   * The tenant's dunning: its cases, oldest first, open ones and those since resolved. Answers
   * `tenant_not_found` for an unknown tenant.
   */
  async status(idOrSlug: string): Promise<Result<DunningStatus, DomainError>> {
    let tenantQuery = this.#o.db.selectFrom('tenants').select(['id', 'state']);
    tenantQuery = idOrSlug.startsWith('ten_')
      ? tenantQuery.where('id', '=', idOrSlug)
      : tenantQuery.where('slug', '=', idOrSlug).where('state', '<>', 'deleted');
    const tenant = await tenantQuery.executeTakeFirst();
    if (!tenant) return tenantNotFound(idOrSlug);
    const rows = await this.#o.db
      .selectFrom('dunning_cases as d')
      .leftJoin('invoices as i', (join) =>
        join.onRef('i.tenant_id', '=', 'd.tenant_id').onRef('i.id', '=', 'd.invoice_id'),
      )
      .selectAll('d')
      .select('i.number as invoice_number')
      .where('d.tenant_id', '=', tenant.id)
      .orderBy('d.opened_at')
      .orderBy('d.invoice_id')
      .execute();
    const cases = rows.map((row): DunningCaseView => {
      const retryAt = row.retry_at;
      return {
        invoice_id: row.invoice_id,
        invoice_number: row.invoice_number,
        round: row.round,
        opened_at: row.opened_at.toISOString(),
        retry_at: retryAt,
        retries_raised: row.retries_raised,
        next_retry_at: row.resolved_at === null ? (retryAt[row.retries_raised] ?? null) : null,
        suspend_at: row.suspend_at.toISOString(),
        suspended_at: row.suspended_at?.toISOString() ?? null,
        resolved_at: row.resolved_at?.toISOString() ?? null,
      };
    });
    return ok({
      tenant_id: tenant.id,
      tenant_state: tenant.state,
      in_dunning: cases.some((c) => c.resolved_at === null),
      cases,
    });
  }

  async #tenant(tx: Transaction<Schema>, e: PaymentEvent): Promise<LockedTenant> {
    if (typeof e.invoiceId !== 'string' || e.invoiceId.trim() === '') {
      throw new PaymentEventError(
        fail('validation_failed', 'a payment event needs the id of the invoice it is about', {
          errors: [{ path: 'invoiceId', message: 'must be a non-empty invoice id' }],
        }).error,
      );
    }
    if (!(e.now instanceof Date) || Number.isNaN(e.now.getTime())) {
      throw new PaymentEventError(
        fail('validation_failed', 'a payment event needs the time it happened', {
          errors: [{ path: 'now', message: 'must be a valid Date' }],
        }).error,
      );
    }
    const tenant = typeof e.tenantId === 'string' ? await lockTenant(tx, e.tenantId) : undefined;
    if (!tenant) throw new PaymentEventError(tenantNotFound(String(e.tenantId)).error);
    return tenant;
  }

  /** A retry falls due: raises `invoice.payment_retry` once, if the case is still open in its round. */
  async #retry(payload: Record<string, unknown>): Promise<void> {
    const { tenantId, invoiceId, round } = jobTarget(payload);
    const attempt = Number(payload.attempt);
    const now = await tenantNow(this.#o.db, this.#o.clock, tenantId);
    await this.#o.db.transaction().execute(async (tx) => {
      const open = await this.#openCase(tx, tenantId, invoiceId, round);
      if (!open || open.retries_raised >= attempt) return;
      await tx
        .updateTable('dunning_cases')
        .set({ retries_raised: attempt })
        .where('tenant_id', '=', tenantId)
        .where('invoice_id', '=', invoiceId)
        .execute();
      const data = {
        invoice_id: invoiceId,
        round,
        attempt,
        attempts: open.retry_at.length,
        next_retry_at: open.retry_at[attempt] ?? null,
        suspend_at: open.suspend_at.toISOString(),
      };
      await recordChange(tx, DUNNING, {
        action: 'invoice.payment_retry_requested',
        tenantId,
        target: { type: 'invoice', id: invoiceId },
        data,
        occurredAt: now,
      });
    });
  }

  /** The grace period ends: suspends the tenant if the case is still open in its round. */
  async #suspend(payload: Record<string, unknown>): Promise<void> {
    const { tenantId, invoiceId, round } = jobTarget(payload);
    const now = await tenantNow(this.#o.db, this.#o.clock, tenantId);
    const changed = await this.#o.db.transaction().execute(async (tx) => {
      const tenant = await lockTenant(tx, tenantId);
      const open = await this.#openCase(tx, tenantId, invoiceId, round);
      if (!tenant || !open || open.suspended_at !== null) return false;
      // Already suspended (by an operator, or for another invoice), cancelled or deleted: that
      // state and its reason stay; the case stays open until the invoice is paid.
      if (!SUSPENDABLE.has(tenant.state)) return false;
      await tx
        .updateTable('dunning_cases')
        .set({ suspended_at: now })
        .where('tenant_id', '=', tenantId)
        .where('invoice_id', '=', invoiceId)
        .execute();
      await billingTransition(tx, DUNNING, tenant, {
        to: 'suspended',
        reason: BILLING_REASONS.nonpayment,
        details: { invoice_id: invoiceId, unpaid_since: open.opened_at.toISOString() },
        now,
      });
      return true;
    });
    if (changed) this.#o.onChanged(tenantId);
  }

  async #openCase(
    tx: Transaction<Schema>,
    tenantId: string,
    invoiceId: string,
    round: number,
  ): Promise<DunningCase | undefined> {
    const row = await tx
      .selectFrom('dunning_cases')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('invoice_id', '=', invoiceId)
      .forUpdate()
      .executeTakeFirst();
    return row && row.round === round && row.resolved_at === null ? row : undefined;
  }
}

function jobTarget(payload: Record<string, unknown>): { tenantId: string; invoiceId: string; round: number } {
  return {
    tenantId: String(payload.tenant_id),
    invoiceId: String(payload.invoice_id),
    round: Number(payload.round),
  };
}
