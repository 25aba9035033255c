import { expect } from 'vitest';
import type { TestApp } from './harness.ts';

/** Days, in milliseconds, for moving the test clock. */
export const DAY = 86_400_000;

/**
 * Plans for the trials and dunning tests: `basic` takes the default dunning policy (retries
 * after 1, 3 and 5 days, suspension after 7), `strict` its own, and the two trials differ only in
 * whether a payment method is required.
 */
export const BILLING_PLANS = `
currency: usd
plans:
  basic:
    name: Basic
    prices:
      - type: per_seat
        unit_amount: "5.00"
  strict:
    name: Strict
    grace_period_days: 10
    payment_retry_days: [2, 4, 8]
  card_trial:
    name: Card trial
    trial_days: 14
    requires_payment_method: true
  open_trial:
    name: Open trial
    trial_days: 14
`;

/** Applies {@link BILLING_PLANS}. */
export async function applyBillingPlans(t: TestApp): Promise<void> {
  const applied = await t.request({
    method: 'POST',
    url: '/v1/plans/apply',
    payload: { source: BILLING_PLANS },
  });
  expect(applied.status, JSON.stringify(applied.body)).toBe(200);
}

/** The tenant's domain events, oldest first; `types` keeps only those. */
export async function eventsOf(t: TestApp, tenantId: string, ...types: string[]) {
  let query = t.services.database.db
    .selectFrom('domain_events')
    .select(['type', 'data', 'occurred_at'])
    .where('tenant_id', '=', tenantId)
    .orderBy('occurred_at')
    .orderBy('type');
  if (types.length > 0) query = query.where('type', 'in', types);
  return (await query.execute()).map((r) => ({
    type: r.type,
    data: r.data as Record<string, any>,
    at: r.occurred_at.toISOString(),
  }));
}

/** The tenant's audit rows written by Tenantry itself (`system` actors), oldest first. */
export async function systemAudit(t: TestApp, tenantId: string) {
  const rows = await t.services.database.db
    .selectFrom('audit_events')
    .select(['actor_type', 'actor_id', 'action', 'target_type', 'target_id', 'data'])
    .where('tenant_id', '=', tenantId)
    .where('actor_type', '=', 'system')
    .orderBy('occurred_at')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ ...r, data: r.data as Record<string, any> }));
}

/** How many rows each table billing writes to holds: what a refused call must leave alone. */
export async function billingCounts(t: TestApp) {
  const count = async (
    table: 'domain_events' | 'audit_events' | 'dunning_cases' | 'jobs' | 'payment_methods' | 'trial_notices',
  ) => {
    const row = await t.services.database.db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    return Number(row.n);
  };
  return {
    domain_events: await count('domain_events'),
    audit_events: await count('audit_events'),
    dunning_cases: await count('dunning_cases'),
    jobs: await count('jobs'),
    payment_methods: await count('payment_methods'),
    trial_notices: await count('trial_notices'),
  };
}

/** The tenant's state and state reason, read from its row. */
export async function stateOfTenant(t: TestApp, tenantId: string) {
  const row = await t.services.database.db
    .selectFrom('tenants')
    .select(['state', 'state_reason'])
    .where('id', '=', tenantId)
    .executeTakeFirstOrThrow();
  return { state: row.state, reason: row.state_reason };
}
