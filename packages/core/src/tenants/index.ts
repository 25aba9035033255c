/**
 * The tenant lifecycle: states, actions and the legal transitions between them.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: shared modules.
 */
export {
  ACTION_RULES,
  allowedActions,
  applyAction,
  canTransition,
  isTenantAction,
  isTenantState,
  TENANT_ACTIONS,
  TENANT_STATES,
  TENANT_TRANSITIONS,
  type TenantAction,
  type TenantState,
} from './lifecycle.ts';
