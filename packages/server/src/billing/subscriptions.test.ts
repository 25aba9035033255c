import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyBillingPlans,
  billedTenant,
  billingState,
  invoicesOf,
  runInvoices,
  setClock,
} from '../../test/billing-support.ts';
import { backend, startTestApp, type TestApp } from '../../test/harness.ts';
import { act, createTenant, getTenant } from '../../test/tenant-support.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
  await applyBillingPlans(t);
});
afterAll(() => t.close());

async function subscription(id: string): Promise<any> {
  const response = await t.request({ method: 'GET', url: `/v1/tenants/${id}/subscription` });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

function segments(s: any): [string, string | null, string, number][] {
  return s.segments.map((x: any) => [x.from, x.to, `${x.plan.key}@${x.plan.version}`, x.seats]);
}

async function changePlan(id: string, payload: Record<string, unknown>) {
  return t.request({ method: 'POST', url: `/v1/tenants/${id}/change-plan`, payload });
}

describe(`subscriptions (${backend})`, () => {
  it('starts at the billing anchor with one segment, and charges from the end of a trial', async () => {
    setClock(t, '2026-11-10T12:34:56Z');
    const tenant = await createTenant(t, { plan: 'cloud', seats: 3 });
    const s = await subscription(tenant.id);
    expect(s).toMatchObject({
      tenant_id: tenant.id,
      started_at: '2026-11-10T12:00:00.000Z',
      billing_starts_at: '2026-11-24T12:34:56.000Z',
      ended_at: null,
      current_period: { start: '2026-11-10T12:00:00.000Z', end: '2026-12-10T12:00:00.000Z' },
      invoiced_until: '2026-11-10T12:00:00.000Z',
      next_invoice_at: '2026-12-10T12:00:00.000Z',
    });
    expect(segments(s)).toEqual([['2026-11-10T12:00:00.000Z', null, 'cloud@1', 3]]);
  });

  it('records each seat change as a segment from that instant, and merges changes made at one instant', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const tenant = await billedTenant(t, { plan: 'starter', seats: 2 });
    setClock(t, '2026-11-05T06:00:00Z');
    for (const seats of [4, 5]) {
      const patched = await t.request({
        method: 'PATCH',
        url: `/v1/tenants/${tenant.id}`,
        payload: { seats },
      });
      expect(patched.status).toBe(200);
    }
    // Unchanged seats (and other fields) make no segment.
    await t.request({
      method: 'PATCH',
      url: `/v1/tenants/${tenant.id}`,
      payload: { seats: 5, name: 'Renamed' },
    });
    expect(segments(await subscription(tenant.id))).toEqual([
      ['2026-11-01T00:00:00.000Z', '2026-11-05T06:00:00.000Z', 'starter@1', 2],
      ['2026-11-05T06:00:00.000Z', null, 'starter@1', 5],
    ]);
  });

  it('applies an upgrade now and a downgrade at the period end unless asked otherwise (at: auto, the default)', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const tenant = await billedTenant(t, { plan: 'starter', seats: 3 });
    setClock(t, '2026-11-03T00:00:00Z');
    const up = await changePlan(tenant.id, { plan: 'pro' });
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    expect(up.body.plan.key).toBe('pro');
    expect(up.body.scheduled_change).toBeNull();

    setClock(t, '2026-11-04T00:00:00Z');
    const down = await changePlan(tenant.id, { plan: 'starter' });
    expect(down.status, JSON.stringify(down.body)).toBe(200);
    expect(down.body.plan.key).toBe('pro');
    expect(down.body.scheduled_change).toMatchObject({
      plan: { key: 'starter' },
      effective_at: '2026-12-01T00:00:00.000Z',
    });
    // The job runs late; the segment still starts where the period ends.
    setClock(t, '2026-12-01T00:07:00Z');
    await t.services.jobs.runDue();
    expect(segments(await subscription(tenant.id))).toEqual([
      ['2026-11-01T00:00:00.000Z', '2026-11-03T00:00:00.000Z', 'starter@1', 3],
      ['2026-11-03T00:00:00.000Z', '2026-12-01T00:00:00.000Z', 'pro@1', 3],
      ['2026-12-01T00:00:00.000Z', null, 'starter@1', 3],
    ]);
  });

  it('refuses to change currency inside a period (currency_mismatch) and writes nothing; auto waits for the period end', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const tenant = await billedTenant(t, { plan: 'starter', seats: 1 });
    const before = await billingState(t);
    const refused = await changePlan(tenant.id, { plan: 'euro', at: 'now' });
    expect(refused.status, JSON.stringify(refused.body)).toBe(409);
    expect(refused.body.code).toBe('currency_mismatch');
    expect(refused.body.detail).toContain('eur');
    expect(await billingState(t)).toEqual(before);

    const auto = await changePlan(tenant.id, { plan: 'euro', at: 'auto' });
    expect(auto.status, JSON.stringify(auto.body)).toBe(200);
    expect(auto.body.scheduled_change.effective_at).toBe('2026-12-01T00:00:00.000Z');
  });

  it('moves to another billing interval only at the period end, and counts periods from there', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const tenant = await billedTenant(t, { plan: 'starter', seats: 2 });
    const before = await billingState(t);
    const refused = await changePlan(tenant.id, { plan: 'annual', at: 'now' });
    expect(refused.status, JSON.stringify(refused.body)).toBe(400);
    expect(refused.body.errors.map((e: any) => e.path)).toEqual(['at']);
    expect(await billingState(t)).toEqual(before);

    setClock(t, '2026-11-15T00:00:00Z');
    expect((await changePlan(tenant.id, { plan: 'annual', at: 'period_end' })).status).toBe(200);
    setClock(t, '2026-12-01T00:00:00Z');
    await t.services.jobs.runDue();
    const s = await subscription(tenant.id);
    expect(s.current_period).toEqual({ start: '2026-12-01T00:00:00.000Z', end: '2027-12-01T00:00:00.000Z' });
    await runInvoices(t, { tenant: tenant.id });
    setClock(t, '2027-12-01T00:00:00Z');
    await runInvoices(t, { tenant: tenant.id });
    const invoices = await invoicesOf(t, tenant.id);
    expect(invoices.map((i) => [i.period.start, i.period.end, i.total])).toEqual([
      ['2026-11-01T00:00:00.000Z', '2026-12-01T00:00:00.000Z', '39.00'],
      ['2026-12-01T00:00:00.000Z', '2027-12-01T00:00:00.000Z', '600.00'],
    ]);
  });

  const refusals: { name: string; payload: Record<string, unknown>; path: string }[] = [
    { name: 'a negative seat count', payload: { seats: -1 }, path: 'seats' },
    { name: 'a fractional seat count', payload: { seats: 2.5 }, path: 'seats' },
    { name: 'more seats than the plan allows', payload: { seats: 21 }, path: 'seats' },
  ];
  for (const c of refusals) {
    it(`refuses ${c.name}, naming it, and writes no segment`, async () => {
      setClock(t, '2026-11-01T00:00:00Z');
      const tenant = await billedTenant(t, { plan: 'starter', seats: 2 });
      setClock(t, '2026-11-02T00:00:00Z');
      const before = await billingState(t);
      const response = await t.request({
        method: 'PATCH',
        url: `/v1/tenants/${tenant.id}`,
        payload: c.payload,
      });
      expect(response.status, JSON.stringify(response.body)).toBe(400);
      expect(response.body.code).toBe('validation_failed');
      expect(response.body.errors.map((e: any) => e.path)).toContain(c.path);
      expect(await billingState(t)).toEqual(before);
    });
  }

  it('refuses an unknown plan, naming it, and writes no segment', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const tenant = await billedTenant(t, { plan: 'starter', seats: 2 });
    const before = await billingState(t);
    const response = await changePlan(tenant.id, { plan: 'platinum' });
    expect(response.status, JSON.stringify(response.body)).toBe(400);
    expect(response.body.errors.map((e: any) => e.path)).toEqual(['plan']);
    expect(response.body.detail).toContain('platinum');
    expect(await billingState(t)).toEqual(before);
  });

  it('ends at the cancellation: the last period is charged up to it, and nothing after', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const tenant = await billedTenant(t, { plan: 'starter', seats: 2 });
    setClock(t, '2026-11-16T00:00:00Z');
    expect((await act(t, tenant.id, 'cancel')).status).toBe(200);
    expect((await subscription(tenant.id)).ended_at).toBe('2026-11-16T00:00:00.000Z');
    setClock(t, '2027-02-01T00:00:00Z');
    await runInvoices(t, { tenant: tenant.id });
    const invoices = await invoicesOf(t, tenant.id);
    expect(invoices).toHaveLength(1);
    // 15 of 30 days: (19.00 + 2 × 10.00) / 2.
    expect(invoices[0].lines.map((l: any) => [l.amount, l.proration])).toEqual([
      ['9.50', { seconds: 1_296_000, period_seconds: 2_592_000 }],
      ['10.00', { seconds: 1_296_000, period_seconds: 2_592_000 }],
      ['0.00', null],
    ]);
    expect((await subscription(tenant.id)).next_invoice_at).toBeNull();
  });

  it('ends a trial as Stripe does: the first paid period starts at the trial end and is charged in full', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const tenant = await createTenant(t, { plan: 'cloud', seats: 1, trial_days: 14 });
    await t.services.jobs.runDue();
    setClock(t, '2026-11-15T00:00:00Z');
    expect((await t.services.trials.sweep()).ended).toEqual([{ tenantId: tenant.id, to: 'active' }]);
    const s = await subscription(tenant.id);
    expect(s).toMatchObject({
      started_at: '2026-11-01T00:00:00.000Z',
      billing_starts_at: '2026-11-15T00:00:00.000Z',
      current_period: { start: '2026-11-15T00:00:00.000Z', end: '2026-12-15T00:00:00.000Z' },
      invoiced_until: '2026-11-15T00:00:00.000Z',
      next_invoice_at: '2026-12-15T00:00:00.000Z',
    });
    expect((await getTenant(t, tenant.id)).billing_anchor).toBe('2026-11-15T00:00:00.000Z');
    // Not yet: the first paid period has not ended.
    setClock(t, '2026-12-01T00:00:00Z');
    expect((await runInvoices(t, { tenant: tenant.id })).invoices).toBe(0);
    setClock(t, '2026-12-15T00:00:00Z');
    await runInvoices(t, { tenant: tenant.id });
    const [invoice, ...others] = await invoicesOf(t, tenant.id);
    expect(others).toEqual([]);
    expect(invoice).toMatchObject({
      total: '30.00',
      period: { start: '2026-11-15T00:00:00.000Z', end: '2026-12-15T00:00:00.000Z' },
    });
    const users = invoice.lines.find((l: any) => l.kind === 'per_seat');
    expect(users).toMatchObject({ amount: '30.00', proration: null });
  });

  it('ends a trial early on activation: trial_ends_at and the anchor move to that instant', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const tenant = await createTenant(t, { plan: 'cloud', seats: 2, trial_days: 14 });
    await t.services.jobs.runDue();
    setClock(t, '2026-11-05T10:30:00Z');
    const activated = await act(t, tenant.id, 'activate');
    expect(activated.body).toMatchObject({
      state: 'active',
      trial_ends_at: '2026-11-05T10:30:00.000Z',
      billing_anchor: '2026-11-05T10:30:00.000Z',
      current_period: { start: '2026-11-05T10:30:00.000Z', end: '2026-12-05T10:30:00.000Z' },
    });
    expect(await subscription(tenant.id)).toMatchObject({
      billing_starts_at: '2026-11-05T10:30:00.000Z',
      next_invoice_at: '2026-12-05T10:30:00.000Z',
    });
    // The sweep finds no trial left to end.
    setClock(t, '2026-11-15T00:00:00Z');
    expect((await t.services.trials.sweep()).ended).toEqual([]);
    setClock(t, '2026-12-05T10:30:00Z');
    await runInvoices(t, { tenant: tenant.id });
    const [invoice] = await invoicesOf(t, tenant.id);
    expect(invoice).toMatchObject({ total: '60.00' });
  });
});
