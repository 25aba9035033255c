import type { PlanDefinition, TenantState } from '@tenantry/core';
import type { Transaction } from 'kysely';
import type { Schema } from '../db/index.ts';
import type { RequestContext } from '../request-context.ts';
import { type TenantTransition, transitionTenant } from '../tenants/index.ts';

/**
 * The `state_reason`s billing writes. They are how billing later tells its own changes from an
 * operator's: a payment lifts only a suspension whose reason is `nonpayment`, and a payment
 * method on file only one whose reason is `trial_ended_without_payment_method`.
 */
export const BILLING_REASONS = {
  /** Past due: an invoice's payment failed. */
  paymentFailed: 'payment_failed',
  /** Suspended: an invoice was still unpaid at the end of the plan's grace period. */
  nonpayment: 'nonpayment',
  /** Suspended: the trial ended, the plan requires a payment method, and none was on file. */
  trialEndedWithoutPaymentMethod: 'trial_ended_without_payment_method',
} as const;

/** A tenant row locked for a billing change, with its plan version's definition. */
export interface LockedTenant {
  readonly id: string;
  readonly slug: string;
  readonly state: TenantState;
  readonly state_reason: string | null;
  readonly trial_ends_at: Date | null;
  /** The test clock it lives on, null for a live tenant. */
  readonly test_clock_id: string | null;
  readonly definition: PlanDefinition;
}

/**
 * Reads and locks (`FOR UPDATE`) a tenant by id (`ten_…`), or by the slug of a tenant that is not
 * deleted, the way the tenant service finds one. Every billing change to a tenant starts here, so
 * that it is serialised with operators' actions and with the other billing jobs.
 */
export async function lockTenant(
  tx: Transaction<Schema>,
  idOrSlug: string,
): Promise<LockedTenant | undefined> {
  let query = tx
    .selectFrom('tenants as t')
    .innerJoin('plan_versions as v', (join) =>
      join.onRef('v.plan_id', '=', 't.plan_id').onRef('v.version', '=', 't.plan_version'),
    )
    .select([
      't.id',
      't.slug',
      't.state',
      't.state_reason',
      't.trial_ends_at',
      't.test_clock_id',
      'v.definition',
    ]);
  query = idOrSlug.startsWith('ten_')
    ? query.where('t.id', '=', idOrSlug)
    : query.where('t.slug', '=', idOrSlug).where('t.state', '<>', 'deleted');
  return (await query.forUpdate('t').executeTakeFirst()) as LockedTenant | undefined;
}

/**
 * Moves a locked tenant as billing decides ({@link transitionTenant}, which records it). Billing
 * checks the tenant's state before it asks, so a move the lifecycle refuses is a bug here: it
 * throws, which rolls the whole change back.
 */
export async function billingTransition(
  tx: Transaction<Schema>,
  ctx: RequestContext,
  tenant: LockedTenant,
  move: TenantTransition,
): Promise<void> {
  const done = await transitionTenant(tx, ctx, tenant, move);
  if (!done.ok) throw new Error(`billing may not move tenant ${tenant.id}: ${done.error.detail}`);
}
