import { type DomainError, fail, ok, type Result, toFieldErrors } from '@tenantry/core';
import { PaymentMethodInput as PaymentMethodBody } from '@tenantry/core/api/requests';
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { z } from 'zod';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { PaymentMethodsTable, Schema } from '../db/index.ts';
import type { RequestContext } from '../request-context.ts';
import { tenantNotFound } from '../tenants/index.ts';
import { BILLING_REASONS, billingTransition, type LockedTenant, lockTenant } from './billing-tenant.ts';

/** The input of {@link PaymentMethodService.set}. */
export type PaymentMethodInput = z.input<typeof PaymentMethodBody>;

/** A tenant's payment method on file, as the API shows it. */
export interface PaymentMethodView {
  tenant_id: string;
  reference: string;
  brand: string | null;
  last4: string | null;
  created_at: string;
  updated_at: string;
}

/** What {@link PaymentMethodService} needs. */
export interface PaymentMethodServiceOptions {
  readonly db: Kysely<Schema>;
  readonly clock: Clock;
  /** Told after a committed change to a tenant's state, e.g. to drop cached entitlements. */
  readonly onChanged: (tenantId: string) => void;
}

/** What {@link PaymentMethodService.attach} did. */
export interface Attached {
  readonly paymentMethod: PaymentMethodView;
  /** Whether the tenant, suspended because its trial ended without a payment method, was resumed. */
  readonly resumed: boolean;
}

/**
 * The payment method a tenant has on file: one or none. Stripe's adapter sets it from Stripe;
 * vendors who settle invoices by API set it by hand. Trials read it: a trial on a plan that
 * requires a payment method ends in suspension without one, and putting one on file lifts that
 * suspension. Every change is recorded (audit entry, event) in its transaction.
 */
export class PaymentMethodService {
  readonly #o: PaymentMethodServiceOptions;

  constructor(options: PaymentMethodServiceOptions) {
    this.#o = options;
  }

  /** The tenant's payment method; `payment_method_not_found` when it has none. */
  async get(idOrSlug: string): Promise<Result<PaymentMethodView, DomainError>> {
    let query = this.#o.db
      .selectFrom('tenants as t')
      .leftJoin('payment_methods as m', 'm.tenant_id', 't.id')
      .select(['t.id', 't.slug', 'm.reference', 'm.brand', 'm.last4', 'm.created_at', 'm.updated_at']);
    query = idOrSlug.startsWith('ten_')
      ? query.where('t.id', '=', idOrSlug)
      : query.where('t.slug', '=', idOrSlug).where('t.state', '<>', 'deleted');
    const row = await query.executeTakeFirst();
    if (!row) return tenantNotFound(idOrSlug);
    if (row.reference === null || row.created_at === null || row.updated_at === null) return none(row.slug);
    return ok(
      view({
        tenant_id: row.id,
        reference: row.reference,
        brand: row.brand,
        last4: row.last4,
        created_at: row.created_at,
        updated_at: row.updated_at,
      }),
    );
  }

  /**
   * Puts a payment method on file for the tenant, replacing the one it had. Refuses bad input
   * (`validation_failed`), an unknown tenant and a deleted one (`tenant_deleted`).
   */
  async set(
    ctx: RequestContext,
    idOrSlug: string,
    input: PaymentMethodInput,
  ): Promise<Result<PaymentMethodView, DomainError>> {
    const parsed = PaymentMethodBody.safeParse(input);
    if (!parsed.success) {
      const errors = toFieldErrors(
        parsed.error.issues.map((issue) => ({
          path: issue.path.filter((p): p is string | number => typeof p !== 'symbol'),
          message: issue.message,
        })),
      );
      return fail('validation_failed', `invalid fields: ${errors.map((e) => e.path).join(', ')}`, { errors });
    }
    const result = await this.#o.db
      .transaction()
      .execute((tx) => this.attach(tx, ctx, idOrSlug, parsed.data, this.#o.clock.now()));
    if (!result.ok) return result;
    if (result.value.resumed) this.#o.onChanged(result.value.paymentMethod.tenant_id);
    return ok(result.value.paymentMethod);
  }

  /**
   * {@link set} inside the caller's transaction, for the Stripe adapter, with input already
   * checked against {@link PaymentMethodBody}. Entitlements cached in other processes are told
   * on commit; a caller that resumed the tenant (`resumed`) tells its own process's listeners.
   */
  async attach(
    tx: Transaction<Schema>,
    ctx: RequestContext,
    idOrSlug: string,
    input: z.output<typeof PaymentMethodBody>,
    now: Date,
  ): Promise<Result<Attached, DomainError>> {
    const tenant = await this.#changeable(tx, idOrSlug);
    if (!tenant.ok) return tenant;
    const previous = await tx
      .selectFrom('payment_methods')
      .select(['reference', 'brand', 'last4'])
      .where('tenant_id', '=', tenant.value.id)
      .executeTakeFirst();
    const values = { reference: input.reference, brand: input.brand ?? null, last4: input.last4 ?? null };
    const row = await tx
      .insertInto('payment_methods')
      .values({ tenant_id: tenant.value.id, ...values, created_at: now, updated_at: now })
      .onConflict((oc) => oc.column('tenant_id').doUpdateSet({ ...values, created_at: now, updated_at: now }))
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordChange(tx, ctx, {
      action: 'payment_method.attached',
      tenantId: tenant.value.id,
      target: { type: 'tenant', id: tenant.value.id },
      before: previous ?? {},
      after: values,
      data: { ...values, replaced: previous?.reference ?? null },
      occurredAt: now,
    });
    const resumed =
      tenant.value.state === 'suspended' &&
      tenant.value.state_reason === BILLING_REASONS.trialEndedWithoutPaymentMethod;
    if (resumed) {
      await billingTransition(tx, ctx, tenant.value, {
        to: 'active',
        reason: null,
        details: { cause: 'payment_method_attached' },
        now,
      });
    }
    return ok({ paymentMethod: view(row), resumed });
  }

  /**
   * Takes the tenant's payment method off file. Refuses a tenant without one
   * (`payment_method_not_found`), an unknown tenant and a deleted one (`tenant_deleted`).
   */
  async remove(ctx: RequestContext, idOrSlug: string): Promise<Result<PaymentMethodView, DomainError>> {
    return this.#o.db.transaction().execute(async (tx) => {
      const tenant = await this.#changeable(tx, idOrSlug);
      if (!tenant.ok) return tenant;
      const removed = await this.#removeIn(tx, ctx, tenant.value.id, this.#o.clock.now());
      return removed ? ok(removed) : none(tenant.value.slug);
    });
  }

  /**
   * Takes `reference` off file inside the caller's transaction, for the Stripe adapter when the
   * method is detached from the customer: only if it is still the tenant's method on file.
   */
  async detach(
    tx: Transaction<Schema>,
    ctx: RequestContext,
    tenantId: string,
    reference: string,
    now: Date,
  ): Promise<Result<PaymentMethodView, DomainError>> {
    const tenant = await this.#changeable(tx, tenantId);
    if (!tenant.ok) return tenant;
    const removed = await this.#removeIn(tx, ctx, tenant.value.id, now, reference);
    return removed ? ok(removed) : none(tenant.value.slug);
  }

  /** Deletes the (locked) tenant's method, or only `reference`, audited; undefined when there was none. */
  async #removeIn(
    tx: Transaction<Schema>,
    ctx: RequestContext,
    tenantId: string,
    now: Date,
    reference?: string,
  ): Promise<PaymentMethodView | undefined> {
    let deleting = tx.deleteFrom('payment_methods').where('tenant_id', '=', tenantId);
    if (reference !== undefined) deleting = deleting.where('reference', '=', reference);
    const removed = await deleting.returningAll().executeTakeFirst();
    if (!removed) return undefined;
    const data = { reference: removed.reference, brand: removed.brand, last4: removed.last4 };
    await recordChange(tx, ctx, {
      action: 'payment_method.removed',
      tenantId,
      target: { type: 'tenant', id: tenantId },
      before: data,
      after: {},
      data,
      occurredAt: now,
    });
    return view(removed);
  }

  /** The locked tenant, if it exists and may still change. */
  async #changeable(tx: Transaction<Schema>, idOrSlug: string): Promise<Result<LockedTenant, DomainError>> {
    const tenant = await lockTenant(tx, idOrSlug);
    if (!tenant) return tenantNotFound(idOrSlug);
    if (tenant.state === 'deleted') {
      return fail('tenant_deleted', `tenant "${tenant.slug}" is deleted: its payment method cannot change`);
    }
    return ok(tenant);
  }
}

/** Whether the tenant has a payment method on file, read in the caller's transaction. */
export async function hasPaymentMethod(tx: Transaction<Schema>, tenantId: string): Promise<boolean> {
  const row = await tx
    .selectFrom('payment_methods')
    .select('tenant_id')
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return row !== undefined;
}

function none(slug: string): { readonly ok: false; readonly error: DomainError } {
  return fail('payment_method_not_found', `tenant "${slug}" has no payment method on file`);
}

function view(row: Selectable<PaymentMethodsTable>): PaymentMethodView {
  return {
    tenant_id: row.tenant_id,
    reference: row.reference,
    brand: row.brand,
    last4: row.last4,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}
