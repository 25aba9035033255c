import { canTransition, type PlanDefinition, type TenantState } from '@tenantry/core';
import type { Transaction } from 'kysely';
import { type RequestContext, recordAudit } from '../audit/audit-log.ts';
import { announceTenantChanges } from '../changes/tenant-changes.ts';
import type { Schema } from '../db/schema.ts';
import { recordDomainEvents } from '../events/domain-events.ts';
import { followTenantState } from './subscription-changes.ts';

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

/** A state change billing makes to a locked tenant. */
export interface TenantTransition {
  readonly to: TenantState;
  /** The new `state_reason` (null clears it). */
  readonly reason: string | null;
  /** The audit action, named like the tenant service's: `tenant.marked_past_due`, `tenant.resumed`… */
  readonly auditAction: string;
  /** The domain event's type; its data, like the audit row's, is `{from, to, reason?}` and {@link data}. */
  readonly eventType: string;
  /** What else the audit row and the event say (the invoice, the trial end…). */
  readonly data?: Record<string, unknown>;
  readonly now: Date;
}

/**
 * Moves a locked tenant to another state and writes, in the same transaction, the subscription's
 * follow-up, its audit row, its domain event and the announcement that drops every process's cached entitlements on commit.
 * Billing decides which transitions it makes; one the lifecycle does not allow is a bug here,
 * so it throws rather than returning a result.
 */
export async function transitionTenant(
  tx: Transaction<Schema>,
  ctx: RequestContext,
  tenant: LockedTenant,
  change: TenantTransition,
): Promise<void> {
  if (!canTransition(tenant.state, change.to)) {
    throw new Error(`billing may not move tenant ${tenant.id} from ${tenant.state} to ${change.to}`);
  }
  await tx
    .updateTable('tenants')
    .set({ state: change.to, state_reason: change.reason, updated_at: change.now })
    .where('id', '=', tenant.id)
    .execute();
  // The subscription follows every lifecycle change the way it does the operator's (a trial
  // ended by billing starts the charges like one ended by hand).
  await followTenantState(tx, { tenantId: tenant.id, from: tenant.state, to: change.to, now: change.now });
  const data = {
    from: tenant.state,
    to: change.to,
    ...(change.reason === null ? {} : { reason: change.reason }),
    ...change.data,
  };
  await recordAudit(tx, ctx, {
    action: change.auditAction,
    targetType: 'tenant',
    targetId: tenant.id,
    tenantId: tenant.id,
    data,
  });
  await recordDomainEvents(tx, { type: change.eventType, tenantId: tenant.id, data, occurredAt: change.now });
  await announceTenantChanges(tx, [tenant.id]);
}
