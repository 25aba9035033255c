import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyBillingPlans,
  billedTenant,
  billingState,
  ingest,
  invoicesOf,
  runInvoices,
  setClock,
} from '../../test/billing-support.ts';
import { backend, startTestApp, type TestApp } from '../../test/harness.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
  await applyBillingPlans(t);
});
afterAll(() => t.close());

/** Worked example B of docs/billing.md, lived through the API: Starter, then Pro with 8 and 10 seats. */
async function exampleB(): Promise<any> {
  setClock(t, '2026-11-01T00:00:00Z');
  const tenant = await billedTenant(t, { plan: 'starter', seats: 5 });
  setClock(t, '2026-11-10T09:00:00Z');
  const upgraded = await t.request({
    method: 'POST',
    url: `/v1/tenants/${tenant.id}/change-plan`,
    payload: { plan: 'pro', at: 'auto' },
  });
  expect(upgraded.status, JSON.stringify(upgraded.body)).toBe(200);
  expect(upgraded.body.plan.key).toBe('pro');
  const eight = await t.request({ method: 'PATCH', url: `/v1/tenants/${tenant.id}`, payload: { seats: 8 } });
  expect(eight.status, JSON.stringify(eight.body)).toBe(200);
  setClock(t, '2026-11-22T00:00:00Z');
  const ten = await t.request({ method: 'PATCH', url: `/v1/tenants/${tenant.id}`, payload: { seats: 10 } });
  expect(ten.status, JSON.stringify(ten.body)).toBe(200);
  setClock(t, '2026-11-30T12:00:00Z');
  // 412.5 CPU hours over the month, by two users.
  await ingest(t, tenant.id, [
    { id: 'c1', meter: 'cpu_hours', value: 300, time: '2026-11-05T10:00:00Z', subject: 'ana' },
    { id: 'c2', meter: 'cpu_hours', value: 100, time: '2026-11-15T10:00:00Z', subject: 'ben' },
    { id: 'c3', meter: 'cpu_hours', value: 12.5, time: '2026-11-30T11:00:00Z', subject: 'ana' },
  ]);
  return tenant;
}

describe(`invoice run (${backend})`, () => {
  it('previews and then finalizes worked example B with the amounts docs/billing.md prints', async () => {
    const tenant = await exampleB();
    const preview = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/invoices/upcoming` });
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body.status).toBe('draft');
    expect(preview.body.lines.map((l: any) => [l.description, l.quantity, l.amount])).toEqual([
      ['Starter platform fee, 2026-11-01 to 2026-11-10 09:00:00 UTC', '1', '5.94'],
      ['Starter seats, 2026-11-01 to 2026-11-10 09:00:00 UTC', '5', '15.62'],
      ['Pro platform fee, 2026-11-10 09:00:00 UTC to 2026-11-22', '1', '18.99'],
      ['Pro seats, 2026-11-10 09:00:00 UTC to 2026-11-22', '8', '77.50'],
      ['Pro platform fee, 2026-11-22 to 2026-12-01', '1', '14.70'],
      ['Pro seats, 2026-11-22 to 2026-12-01', '10', '75.00'],
      ['CPU hours', '312.5', '12.50'],
    ]);
    expect(preview.body.total).toBe('220.25');

    setClock(t, '2026-12-01T00:00:00Z');
    const run = await runInvoices(t, { tenant: tenant.id });
    expect(run).toMatchObject({ invoices: 1, late_usage_invoices: 0, credit_notes: 0, failed: [] });
    const [invoice] = await invoicesOf(t, tenant.id);
    expect(invoice).toMatchObject({
      status: 'open',
      total: '220.25',
      amount_due: '220.25',
      reason: 'period',
    });
    expect(invoice.number).toMatch(/^INV-\d{6}$/);
    expect(invoice.lines.map((l: any) => l.amount)).toEqual(preview.body.lines.map((l: any) => l.amount));

    const again = await runInvoices(t, { tenant: tenant.id });
    expect(again).toMatchObject({ invoices: 0, numbers: null });
    expect(await invoicesOf(t, tenant.id)).toHaveLength(1);
  });

  it('refuses a month whose period has not ended and writes nothing', async () => {
    setClock(t, '2027-01-05T00:00:00Z');
    const tenant = await billedTenant(t, { plan: 'team', seats: 7 });
    const before = await billingState(t);
    const response = await t.request({
      method: 'POST',
      url: '/v1/invoices/run',
      payload: { period: '2027-01', tenant: tenant.id },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(409);
    expect(response.body.code).toBe('period_not_ended');
    expect(response.body.detail).toContain('2027-01');
    expect(await billingState(t)).toEqual(before);
  });
});

describe(`scheduled invoice run (${backend})`, () => {
  it('finalizes at the period end by itself, and schedules the next run', async () => {
    setClock(t, '2027-02-01T00:00:00Z');
    const tenant = await billedTenant(t, { plan: 'team', seats: 2 });
    await t.services.invoices.ensureScheduled();
    await t.services.invoices.ensureScheduled();
    const pending = () =>
      t.services.database.db
        .selectFrom('jobs')
        .select(['run_at'])
        .where('kind', '=', 'billing.invoice_run')
        .where('status', '=', 'pending')
        .execute();
    expect(await pending()).toHaveLength(1);

    setClock(t, '2027-03-01T00:00:00Z');
    await t.services.jobs.runDue();
    const invoices = await invoicesOf(t, tenant.id);
    expect(invoices.map((i) => [i.period.start, i.total, i.status])).toEqual([
      ['2027-02-01T00:00:00.000Z', '98.00', 'open'],
    ]);
    const next = await pending();
    expect(next).toHaveLength(1);
    expect(next[0]?.run_at.getTime()).toBeGreaterThan(t.clock.now().getTime());
    expect(next[0]?.run_at.getTime()).toBeLessThanOrEqual(t.clock.now().getTime() + 86_400_000);
  });
});
