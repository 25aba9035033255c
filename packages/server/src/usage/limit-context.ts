import {
  type EntitlementSnapshot,
  evaluateEntitlements,
  type PlanDefinition,
  type TenantOverrides,
  type TenantState,
} from '@tenantry/core';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Schema } from '../db/index.ts';

/** What it takes to know a tenant's limits now. */
export interface LimitContext {
  readonly tenantId: string;
  readonly definition: PlanDefinition;
  readonly billingAnchor: Date;
  readonly snapshot: EntitlementSnapshot;
  /**
   * The limits as they apply while the tenant is active: the snapshot's own when it is, and when
   * it is not (an inactive snapshot has no limits), what they would be — for the answers about
   * units handed back by a tenant that is suspended.
   */
  readonly limits: EntitlementSnapshot['limits'];
}

/**
 * Loads the tenants' plans and overrides and evaluates their entitlements without usage: the
 * limits, periods and thresholds that usage is then checked against.
 */
export async function loadLimitContexts(
  db: Kysely<Schema> | Transaction<Schema>,
  tenantIds: readonly string[],
  now: Date,
): Promise<LimitContext[]> {
  if (tenantIds.length === 0) return [];
  const rows = await db
    .selectFrom('tenants as t')
    .innerJoin('plans as p', 'p.id', 't.plan_id')
    .innerJoin('plan_versions as v', (join) =>
      join.onRef('v.plan_id', '=', 't.plan_id').onRef('v.version', '=', 't.plan_version'),
    )
    .select([
      't.id',
      't.state',
      't.seats',
      't.overrides',
      't.billing_anchor',
      't.trial_ends_at',
      't.plan_version',
      'p.key',
      'v.definition',
    ])
    .select(
      sql<Date | null>`(select c.frozen_time from test_clocks c where c.id = t.test_clock_id)`.as(
        'clock_time',
      ),
    )
    .where('t.id', 'in', tenantIds)
    .execute();
  return rows.map((row) => {
    const definition = row.definition as PlanDefinition;
    const input = {
      tenantId: row.id,
      state: row.state as TenantState,
      seats: row.seats,
      plan: { key: row.key, version: row.plan_version, definition },
      overrides: row.overrides as TenantOverrides,
      billingAnchor: row.billing_anchor,
      trialEndsAt: row.trial_ends_at,
      // A test tenant's trial and period are judged at its test clock's time.
      now: row.clock_time ?? now,
    };
    const snapshot = evaluateEntitlements(input);
    const limits = snapshot.active
      ? snapshot.limits
      : evaluateEntitlements({ ...input, state: 'active' }).limits;
    return { tenantId: row.id, definition, billingAnchor: row.billing_anchor, snapshot, limits };
  });
}
