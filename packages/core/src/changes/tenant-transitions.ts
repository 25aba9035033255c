import { canTransition, type TenantState } from '../tenants/index.ts';
import type { RaisesOf } from './audit-actions.ts';

/** The audit actions of lifecycle transitions. */
export type TenantTransitionAction =
  | 'tenant.provisioned'
  | 'tenant.provisioning_failed'
  | 'tenant.provisioning_retried'
  | 'tenant.activated'
  | 'tenant.resumed'
  | 'tenant.marked_past_due'
  | 'tenant.suspended'
  | 'tenant.cancelled'
  | 'tenant.deleted';

/** How a transition is recorded: its audit action, and the event (one the action raises). */
export type TransitionRecord = {
  [A in TenantTransitionAction]: { readonly action: A; readonly event: RaisesOf<A> };
}[TenantTransitionAction];

/**
 * How the move of a tenant from `from` to `to` is recorded, whoever makes it (an operator,
 * billing, a trial's end, provisioning): the same move is always the same action and event, so
 * the audit log and subscribers read one vocabulary. The action follows the operator's action of
 * the same move (`activate` ends a trial or a payment problem, `resume` lifts a suspension); the
 * event says where the tenant is now (`tenant.reactivated` for any return to `active` from
 * `past_due` or `suspended`). Undefined for a move the transition table does not allow.
 */
export function transitionRecord(from: TenantState, to: TenantState): TransitionRecord | undefined {
  if (!canTransition(from, to)) return undefined;
  switch (to) {
    case 'trialing':
      return { action: 'tenant.provisioned', event: 'tenant.provisioned' };
    case 'active':
      if (from === 'provisioning') return { action: 'tenant.provisioned', event: 'tenant.provisioned' };
      if (from === 'suspended') return { action: 'tenant.resumed', event: 'tenant.reactivated' };
      return from === 'past_due'
        ? { action: 'tenant.activated', event: 'tenant.reactivated' }
        : { action: 'tenant.activated', event: 'tenant.activated' };
    case 'provisioning_failed':
      return { action: 'tenant.provisioning_failed', event: 'tenant.provisioning_failed' };
    case 'provisioning':
      return { action: 'tenant.provisioning_retried', event: 'tenant.provisioning_retried' };
    case 'past_due':
      return { action: 'tenant.marked_past_due', event: 'tenant.past_due' };
    case 'suspended':
      return { action: 'tenant.suspended', event: 'tenant.suspended' };
    case 'cancelled':
      return { action: 'tenant.cancelled', event: 'tenant.cancelled' };
    case 'deleted':
      return { action: 'tenant.deleted', event: 'tenant.deleted' };
  }
}
