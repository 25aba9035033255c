import {
  applyOverrides,
  type DomainError,
  fail,
  ok,
  type PlanDefinition,
  type Result,
  type TenantOverrides,
} from '@tenantry/core';
import type { Kysely } from 'kysely';
import type { Schema } from '../db/index.ts';
import { tenantNotFound } from '../tenants/index.ts';

/** A tenant as the members feature needs it: who it is, its state, and its plan after overrides. */
export interface TenantInfo {
  readonly id: string;
  readonly slug: string;
  readonly name: string;
  readonly state: string;
  /** The tenant's plan version with its overrides applied: the features and limits in force. */
  readonly plan: PlanDefinition;
}

/**
 * The tenant `ref` names (id, or slug of a tenant not deleted), optionally locked until the
 * transaction ends: member changes of one tenant take turns on its row, so that a seat count or
 * an owner count read in one cannot be overtaken by another.
 */
export async function findTenant(
  db: Kysely<Schema>,
  ref: string,
  options: { lock?: boolean; writable?: boolean } = {},
): Promise<Result<TenantInfo, DomainError>> {
  let query = db
    .selectFrom('tenants as t')
    .innerJoin('plan_versions as v', (join) =>
      join.onRef('v.plan_id', '=', 't.plan_id').onRef('v.version', '=', 't.plan_version'),
    )
    .select(['t.id', 't.slug', 't.name', 't.state', 't.overrides', 'v.definition']);
  query = ref.startsWith('ten_')
    ? query.where('t.id', '=', ref)
    : query.where('t.slug', '=', ref).where('t.state', '<>', 'deleted');
  if (options.lock) query = query.forUpdate('t');
  const row = await query.executeTakeFirst();
  if (!row) return tenantNotFound(ref);
  if (options.writable && row.state === 'deleted') {
    return fail('tenant_deleted', `tenant "${row.slug}" is deleted; its members cannot change`);
  }
  return ok({
    id: row.id,
    slug: row.slug,
    name: row.name,
    state: row.state,
    plan: applyOverrides(row.definition as PlanDefinition, (row.overrides ?? {}) as TenantOverrides),
  });
}

/** Refuses with `feature_disabled` unless the tenant's plan (after overrides) enables `feature`. */
export function requireFeature(tenant: TenantInfo, feature: string, what: string): Result<null, DomainError> {
  if (tenant.plan.features[feature] === true) return ok(null);
  return fail(
    'feature_disabled',
    `${what} needs the feature "${feature}", which the plan "${tenant.plan.key}" of tenant "${tenant.slug}" does not enable`,
    { details: { feature } },
  );
}

/**
 * The plan feature that makes a tenant's members count as its seats: with it, the plan's hard
 * `seats` limit caps how many members (and open invitations) the tenant may have.
 */
export const MEMBER_SEATS_FEATURE = 'member_seats';

/**
 * How many members the tenant may have: the plan's hard `seats` limit (after overrides) when the
 * plan counts seats from members; null for no cap (no such feature, no limit, unlimited, or soft).
 */
export function memberSeatLimit(tenant: TenantInfo): number | null {
  if (tenant.plan.features[MEMBER_SEATS_FEATURE] !== true) return null;
  const limit = tenant.plan.limits.seats;
  if (limit === undefined || limit.value === null || limit.enforcement === 'soft') return null;
  return limit.value;
}
