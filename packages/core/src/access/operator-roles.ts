import { ALL_SCOPES, type Scope } from '../api-keys/index.ts';

/** The roles of the vendor's staff in the operator organisation. */
export const OPERATOR_ROLES = ['admin', 'support', 'finance'] as const;

/** One of {@link OPERATOR_ROLES}. */
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

/**
 * The API scopes each operator role holds: an admin every scope, support every `:read` scope and
 * nothing that changes anything, finance the billing scopes and the reads billing work needs
 * (usage and tenants). Derived from the scope catalogue, so a new `:read` scope reaches support
 * without an edit here.
 */
export const OPERATOR_ROLE_SCOPES: Readonly<Record<OperatorRole, readonly Scope[]>> = {
  admin: ALL_SCOPES,
  support: ALL_SCOPES.filter((scope) => scope.endsWith(':read')),
  finance: ['billing:read', 'billing:write', 'usage:read', 'tenants:read'],
};
