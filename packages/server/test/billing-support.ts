import { expect } from 'vitest';
import type { TestApp } from './harness.ts';
import { applyPlans, createTenant } from './tenant-support.ts';

/*
 * Helpers of the billing tests: a plan file with every kind of price, a clock set to a date, and
 * tenants, usage and runs through the API.
 */

/** Plans of worked examples A and B of docs/billing.md, and a few more for the edge cases. */
export const BILLING_PLANS = `
currency: usd
meters:
  api_calls: { name: API calls, unit: call, aggregation: count, category: requests }
  cpu_hours: { name: CPU hours, unit: hour, aggregation: sum, category: compute }
  storage_gb: { name: Storage, unit: GB-month, aggregation: time_weighted, category: storage }
  memory_gb: { name: Memory, unit: GB-hour, aggregation: time_weighted, category: compute }
  active_users: { name: Active users, aggregation: unique_count, category: seats }
  peak_sessions: { name: Peak sessions, aggregation: max }
plans:
  team:
    name: Team
    prices:
      - type: per_seat
        name: Seats
        unit_amount: "49.00"
      - type: usage
        name: API calls
        meter: api_calls
        included: 10000
        tiers_mode: graduated
        tiers:
          - { up_to: 100000, unit_amount: "0.002" }
          - { up_to: 1000000, unit_amount: "0.001" }
          - { up_to: inf, unit_amount: "0.0005" }
  starter:
    name: Starter
    limits:
      seats: { value: 20 }
    prices:
      - type: flat
        name: Starter platform fee
        amount: "19.00"
      - type: per_seat
        name: Starter seats
        unit_amount: "10.00"
      - type: usage
        name: CPU hours
        meter: cpu_hours
        unit_amount: "0.05"
  pro:
    name: Pro
    prices:
      - type: flat
        name: Pro platform fee
        amount: "49.00"
      - type: per_seat
        name: Pro seats
        unit_amount: "25.00"
      - type: usage
        name: CPU hours
        meter: cpu_hours
        unit_amount: "0.04"
        included: 100
  cloud:
    name: Cloud
    trial_days: 14
    prices:
      - type: per_seat
        name: Users
        unit_amount: "30.00"
      - type: usage
        name: CPU hours
        meter: cpu_hours
        unit_amount: "0.10"
      - type: usage
        name: Storage (GB-months)
        meter: storage_gb
        unit_amount: "0.10"
      - type: usage
        name: Memory (GB-hours)
        meter: memory_gb
        unit_amount: "0.01"
      - type: usage
        name: Active users
        meter: active_users
        unit_amount: "2.00"
      - type: usage
        name: Peak sessions
        meter: peak_sessions
        unit_amount: "1.00"
  free:
    name: Free
    prices:
      - type: usage
        meter: api_calls
        unit_amount: "0.01"
        included: 1000
  annual:
    name: Annual
    interval: year
    prices:
      - type: per_seat
        name: Users (annual)
        unit_amount: "300.00"
`;

/** The same meters with a plan priced in euros, for currency mismatches. */
export const EURO_PLANS = `
currency: eur
meters:
  api_calls: { name: API calls, unit: call, aggregation: count }
plans:
  euro:
    name: Euro
    prices:
      - type: per_seat
        unit_amount: "99.00"
`;

/** Applies the billing plans (and the euro plan). */
export async function applyBillingPlans(t: TestApp): Promise<void> {
  await applyPlans(t, BILLING_PLANS);
  await applyPlans(t, EURO_PLANS);
}

/** Moves the test clock to `iso` (backwards too). */
export function setClock(t: TestApp, iso: string): void {
  t.clock.advance(Date.parse(iso) - t.clock.now().getTime());
}

/** A tenant created (and provisioned) at the clock's time; no trial unless asked. */
export async function billedTenant(t: TestApp, payload: Record<string, unknown> = {}): Promise<any> {
  const tenant = await createTenant(t, { trial_days: 0, ...payload });
  await t.services.jobs.runDue();
  return tenant;
}

/** Ingests usage events (expects every one accepted). */
export async function ingest(
  t: TestApp,
  tenant: string,
  events: { id: string; meter: string; value?: number; time: string; subject?: string }[],
): Promise<void> {
  for (let i = 0; i < events.length; i += 1000) {
    const batch = events.slice(i, i + 1000).map((e) => ({ tenant, ...e }));
    const response = await t.request({
      method: 'POST',
      url: '/v1/events',
      payload: JSON.stringify(batch),
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body.rejected, JSON.stringify(response.body)).toEqual([]);
  }
}

/** POST /v1/invoices/run; expects a 200. */
export async function runInvoices(t: TestApp, body: Record<string, unknown> = {}): Promise<any> {
  const response = await t.request({ method: 'POST', url: '/v1/invoices/run', payload: body });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

/** The invoices and credit notes of a tenant, oldest first (as issued). */
export async function invoicesOf(t: TestApp, tenant: string): Promise<any[]> {
  const response = await t.request({ method: 'GET', url: `/v1/tenants/${tenant}/invoices?limit=100` });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  // The API lists newest first; the tests read a tenant's history in the order it was issued.
  return [...response.body.data].reverse();
}

/** Everything a refused billing request must leave alone. */
export async function billingState(t: TestApp): Promise<unknown> {
  const db = t.services.database.db;
  const [invoices, lines, counters, subscriptions, segments, billed, audit, events, tenants] =
    await Promise.all([
      db.selectFrom('invoices').selectAll().orderBy('id').execute(),
      db.selectFrom('invoice_lines').selectAll().orderBy('invoice_id').orderBy('position').execute(),
      db.selectFrom('billing_counters').selectAll().orderBy('name').execute(),
      db.selectFrom('subscriptions').selectAll().orderBy('tenant_id').execute(),
      db.selectFrom('subscription_segments').selectAll().orderBy('tenant_id').orderBy('valid_from').execute(),
      db.selectFrom('billed_periods').selectAll().orderBy('tenant_id').orderBy('period_start').execute(),
      db
        .selectFrom('audit_events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow(),
      db
        .selectFrom('domain_events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow(),
      db.selectFrom('tenants').selectAll().orderBy('id').execute(),
    ]);
  return {
    invoices,
    lines,
    counters,
    subscriptions,
    segments,
    billed,
    audit: Number(audit.n),
    events: Number(events.n),
    tenants,
  };
}
