import {
  type DomainError,
  type EventData,
  fail,
  ok,
  type Result,
  TENANT_TRANSITIONS,
  type TenantState,
  transitionRecord,
} from '@tenantry/core';
import type { Transaction } from 'kysely';
import { followTenantState } from '../billing/index.ts';
import { recordChange } from '../changes/index.ts';
import type { Schema } from '../db/index.ts';
import type { RequestContext } from '../request-context.ts';
import { destroyTenantDataKey } from '../tenant-secrets/index.ts';

/** A tenant as a transition needs it, read with its row locked (`FOR UPDATE`) by the caller. */
export interface TransitionSubject {
  readonly id: string;
  readonly state: string;
  readonly state_reason: string | null;
}

/** What a transition's audit entry and event say beyond `from`, `to` and `reason`. */
export type TransitionDetails = Omit<EventData<'tenant.suspended'>, 'from' | 'to' | 'reason'>;

/** A move of a tenant to another lifecycle state. */
export interface TenantTransition {
  readonly to: TenantState;
  /** The new `state_reason` (null clears it). */
  readonly reason: string | null;
  /** The tenant's time (its test clock's, for a test tenant). */
  readonly now: Date;
  readonly details?: TransitionDetails;
  /** Whether a trial's end made the move: it raises `trial.ended` too, with the same payload. */
  readonly trialEnded?: boolean;
}

/** A transition made: where the tenant was and is. */
export interface TransitionDone {
  readonly from: TenantState;
  readonly to: TenantState;
}

/**
 * Moves a tenant, locked by the caller in `tx`, to another state: the one way any caller —
 * operators' actions, billing (past due, nonpayment, a payment lifting a suspension), trials,
 * provisioning, a test clock's deletion — changes a tenant's lifecycle state. It checks the move
 * against core's transition table, writes the state and its reason, has the subscription follow
 * (a cancellation ends it, an activation ends the trial) and records the change: the audit entry
 * and the event core's `transitionRecord` names for the move, and the announcement that drops
 * every process's cached entitlements on commit. A move to `deleted` also destroys the tenant's
 * data key and secrets (crypto-shredding), whichever caller deletes it. A move the table does not allow is answered
 * with `illegal_transition`, and nothing is written.
 *
 * What else a move sets off (a purge after a deletion, provisioning after a retry) stays with
 * the caller that asks for it.
 */
export async function transitionTenant(
  tx: Transaction<Schema>,
  ctx: RequestContext,
  tenant: TransitionSubject,
  move: TenantTransition,
): Promise<Result<TransitionDone, DomainError>> {
  const from = tenant.state as TenantState;
  const record = transitionRecord(from, move.to);
  if (record === undefined) {
    return fail('illegal_transition', `A tenant in state "${tenant.state}" cannot move to "${move.to}".`, {
      details: { state: tenant.state, to: move.to, allowed_states: TENANT_TRANSITIONS[from] ?? [] },
    });
  }
  await tx
    .updateTable('tenants')
    .set({
      state: move.to,
      state_reason: move.reason,
      updated_at: move.now,
      ...(move.to === 'deleted' ? { deleted_at: move.now } : {}),
    })
    .where('id', '=', tenant.id)
    .execute();
  await followTenantState(tx, { tenantId: tenant.id, from, to: move.to, now: move.now });
  const payload: EventData<'tenant.suspended'> = {
    from,
    to: move.to,
    ...(move.reason === null ? {} : { reason: move.reason }),
    ...move.details,
  };
  await recordChange(tx, ctx, {
    action: record.action,
    tenantId: tenant.id,
    target: { type: 'tenant', id: tenant.id },
    before: { state: tenant.state, state_reason: tenant.state_reason },
    after: { state: move.to, state_reason: move.reason },
    event: { type: record.event, data: payload },
    ...(move.trialEnded ? { also: [{ type: 'trial.ended' as const, data: payload }] } : {}),
    occurredAt: move.now,
  });
  // A deleted tenant's secrets are shredded with the deletion, not at the purge days later: no
  // one may read them from now on, and any copy of their ciphertexts is unreadable once the key
  // that decrypts them is gone.
  if (move.to === 'deleted') await destroyTenantDataKey(tx, ctx, tenant.id, move.now);
  return ok({ from, to: move.to });
}
