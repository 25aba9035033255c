import type { Schemas } from '@tenantry/core/api';

export type Tenant = Schemas['Tenant'];
export type TenantState = Tenant['state'];
export type Placement = Tenant['placement'];

/**
 * A tenant as the views both entry points share take it: the id their calls use, and the id or
 * slug their "Copy as curl" shows (the operator knows the slug; a member's token names the id).
 */
export interface TenantRef {
  readonly id: string;
  readonly shown: string;
}

/** Every state a tenant may be in, in lifecycle order; the type checks it is all of them. */
export const TENANT_STATES = [
  'provisioning',
  'provisioning_failed',
  'trialing',
  'active',
  'past_due',
  'suspended',
  'cancelled',
  'deleted',
] as const satisfies readonly TenantState[];

/** Every placement, from the most shared to the customer's own. */
export const PLACEMENTS = [
  'pool',
  'schema',
  'database',
  'byoi',
  'byoi_agent',
] as const satisfies readonly Placement[];

// Compile-time checks that the lists above name every value the API has.
type Missing<All, Listed> = Exclude<All, Listed>;
const allStates: [Missing<TenantState, (typeof TENANT_STATES)[number]>] extends [never] ? true : false = true;
const allPlacements: [Missing<Placement, (typeof PLACEMENTS)[number]>] extends [never] ? true : false = true;
void allStates;
void allPlacements;

export function isTenantState(value: unknown): value is TenantState {
  return (TENANT_STATES as readonly unknown[]).includes(value);
}

export function isPlacement(value: unknown): value is Placement {
  return (PLACEMENTS as readonly unknown[]).includes(value);
}
