import { type DomainError, fail } from '../errors.ts';
import { ok, type Result } from '../result.ts';

/** Every state a tenant can be in, in lifecycle order. */
export const TENANT_STATES = [
  'provisioning',
  'provisioning_failed',
  'trialing',
  'active',
  'past_due',
  'suspended',
  'cancelled',
  'deleted',
] as const;

/** One of {@link TENANT_STATES}. */
export type TenantState = (typeof TENANT_STATES)[number];

/** The named actions the API and CLI expose to move a tenant; see {@link applyAction}. */
export const TENANT_ACTIONS = [
  'activate',
  'suspend',
  'resume',
  'cancel',
  'delete',
  'retry_provisioning',
  'mark_past_due',
] as const;

/** One of {@link TENANT_ACTIONS}. */
export type TenantAction = (typeof TENANT_ACTIONS)[number];

/**
 * Every allowed transition. Those out of `provisioning` happen only when provisioning ends,
 * so no action leads to them; the system checks them with {@link canTransition}.
 */
export const TENANT_TRANSITIONS: Readonly<Record<TenantState, readonly TenantState[]>> = {
  provisioning: ['trialing', 'active', 'provisioning_failed'],
  provisioning_failed: ['provisioning', 'deleted'],
  trialing: ['active', 'suspended', 'cancelled'],
  active: ['past_due', 'suspended', 'cancelled'],
  past_due: ['active', 'suspended', 'cancelled'],
  suspended: ['active', 'cancelled'],
  cancelled: ['deleted'],
  deleted: [],
};

/**
 * Each action's target and the states it may start from. The sources are narrower than the
 * transition table where two actions reach the same state: `activate` ends a trial or a payment
 * problem, while only `resume` lifts a suspension, so that lifting one is always deliberate.
 */
export const ACTION_RULES: Readonly<
  Record<TenantAction, { readonly to: TenantState; readonly from: readonly TenantState[] }>
> = {
  activate: { to: 'active', from: ['trialing', 'past_due'] },
  suspend: { to: 'suspended', from: ['trialing', 'active', 'past_due'] },
  resume: { to: 'active', from: ['suspended'] },
  cancel: { to: 'cancelled', from: ['trialing', 'active', 'past_due', 'suspended'] },
  delete: { to: 'deleted', from: ['provisioning_failed', 'cancelled'] },
  retry_provisioning: { to: 'provisioning', from: ['provisioning_failed'] },
  mark_past_due: { to: 'past_due', from: ['active'] },
};

/** Whether `value` is a tenant state, for input that has not been validated. */
export function isTenantState(value: unknown): value is TenantState {
  return TENANT_STATES.includes(value as TenantState);
}

/** Whether `value` is a tenant action, for input that has not been validated. */
export function isTenantAction(value: unknown): value is TenantAction {
  return TENANT_ACTIONS.includes(value as TenantAction);
}

/** Whether a tenant may move from `from` to `to`, by an action or by the end of provisioning. */
export function canTransition(from: TenantState, to: TenantState): boolean {
  return TENANT_TRANSITIONS[from]?.includes(to) ?? false;
}

/** The actions a tenant in `state` accepts, in {@link TENANT_ACTIONS} order. */
export function allowedActions(state: TenantState): TenantAction[] {
  return TENANT_ACTIONS.filter((action) => ACTION_RULES[action].from.includes(state));
}

/**
 * The state a tenant in `state` reaches by `action`, or `illegal_transition` naming both and
 * listing, in `details.allowed_actions`, what the tenant accepts instead.
 */
export function applyAction(state: TenantState, action: TenantAction): Result<TenantState, DomainError> {
  const rule = isTenantAction(action) ? ACTION_RULES[action] : undefined;
  if (rule?.from.includes(state)) return ok(rule.to);
  const allowed = isTenantState(state) ? allowedActions(state) : [];
  const instead = allowed.length === 0 ? 'it accepts no action' : `allowed actions: ${allowed.join(', ')}`;
  return fail(
    'illegal_transition',
    `A tenant in state "${state}" cannot take the action "${action}"; ${instead}.`,
    {
      details: { state, action, allowed_actions: allowed },
    },
  );
}
