import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyBillingPlans,
  billedTenant,
  billingState,
  ingest,
  runInvoices,
  setClock,
} from '../../test/billing-support.ts';
import { backend, startTestApp, type TestApp } from '../../test/harness.ts';
import { allocate } from './showback.ts';

let t: TestApp;
let tenant: any;

beforeAll(async () => {
  t = await startTestApp();
  await applyBillingPlans(t);
  setClock(t, '2026-11-01T00:00:00Z');
  tenant = await billedTenant(t, { plan: 'cloud', seats: 2, name: 'Remote, "Desks"' });
  setClock(t, '2026-11-30T00:00:00Z');
  await ingest(t, tenant.id, [
    { id: 'c1', meter: 'cpu_hours', value: 30, time: '2026-11-03T00:00:00Z', subject: 'ana' },
    { id: 'c2', meter: 'cpu_hours', value: 10, time: '2026-11-04T00:00:00Z', subject: '=ben' },
    { id: 'c3', meter: 'cpu_hours', value: 20, time: '2026-11-05T00:00:00Z', subject: 'ana' },
    // 100 GB all month on one volume, 50 GB for half of it on another.
    { id: 's1', meter: 'storage_gb', value: 100, time: '2026-11-01T00:00:00Z', subject: 'ana' },
    { id: 's2', meter: 'storage_gb', value: 50, time: '2026-11-01T00:00:00Z', subject: 'cleo' },
    { id: 's3', meter: 'storage_gb', value: 0, time: '2026-11-16T00:00:00Z', subject: 'cleo' },
  ]);
  // The period has ended, but is not invoiced yet: a preview holds the levels to its end.
  setClock(t, '2026-12-01T00:00:00Z');
});
afterAll(() => t.close());

describe(`GET /v1/tenants/{id}/showback (${backend})`, () => {
  it('breaks the period down by the categories the plan file gives its meters, and ranks the consumers with their shares', async () => {
    const response = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.slug}/showback?period=2026-11`,
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const report = response.body;
    expect(report).toMatchObject({
      source: 'preview',
      invoice: null,
      currency: 'usd',
      period: { start: '2026-11-01T00:00:00.000Z', end: '2026-12-01T00:00:00.000Z' },
      totals: {
        subscription: '60.00',
        compute: '6.00',
        storage: '12.50',
        network: '0.00',
        requests: '0.00',
        seats: '0.00',
        other: '0.00',
      },
      total: '78.50',
    });
    expect(report.lines.filter((l: any) => l.amount !== '0.00')).toEqual([
      {
        category: 'subscription',
        description: 'Users',
        meter: null,
        quantity: '2',
        unit_amount: '30.00',
        amount: '60.00',
      },
      {
        category: 'compute',
        description: 'CPU hours',
        meter: 'cpu_hours',
        quantity: '60',
        unit_amount: '0.10',
        amount: '6.00',
      },
      {
        category: 'storage',
        description: 'Storage (GB-months)',
        meter: 'storage_gb',
        quantity: '125',
        unit_amount: '0.10',
        amount: '12.50',
      },
    ]);
    // ana: 50 of 60 CPU hours (5.00) and 100 of 125 GB-months (10.00); cleo: 25 GB-months (2.50); ben: 1.00.
    expect(report.consumers.map((c: any) => [c.subject, c.amount, c.share])).toEqual([
      ['ana', '15.00', '81.08'],
      ['cleo', '2.50', '13.51'],
      ['=ben', '1.00', '5.41'],
    ]);
    expect(report.consumers[0].usage).toEqual([
      { meter: 'cpu_hours', description: 'CPU hours', quantity: '50', amount: '5.00', share: '83.33' },
      {
        meter: 'storage_gb',
        description: 'Storage (GB-months)',
        quantity: '100',
        amount: '10.00',
        share: '80.00',
      },
    ]);
    expect(report.other_consumers).toBeNull();

    const top = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/showback?period=2026-11&top=1`,
    });
    expect(top.body.consumers.map((c: any) => c.subject)).toEqual(['ana']);
    expect(top.body.other_consumers).toEqual({ count: 2, amount: '3.50', share: '18.92' });
  });

  it('answers CSV for format=csv or Accept: text/csv, quoting and defusing what a spreadsheet would run', async () => {
    const byQuery = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/showback?period=2026-11&format=csv`,
    });
    const byAccept = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/showback?period=2026-11`,
      headers: { accept: 'text/csv' },
    });
    for (const response of [byQuery, byAccept]) {
      expect(response.status).toBe(200);
      expect(String(response.headers['content-type'])).toContain('text/csv');
      expect(String(response.headers['content-disposition'])).toContain(
        `showback-${tenant.slug}-2026-11-01.csv`,
      );
    }
    const rows = String(byQuery.body).split('\r\n');
    expect(rows[0]).toBe('category,description,meter,subject,quantity,unit_amount,amount,share');
    expect(rows).toContain('subscription,Users,,,2,30.00,60.00,');
    expect(rows).toContain('total,2026-11-01T00:00:00.000Z to 2026-12-01T00:00:00.000Z (usd),,,,,78.50,');
    expect(rows).toContain('consumer,,,ana,,,15.00,81.08');
    expect(rows).toContain("consumer,,,'=ben,,,1.00,5.41");
    expect(rows.at(-1)).toBe('');
  });

  it('reads a finalized period from its invoice', async () => {
    await runInvoices(t, { tenant: tenant.id });
    const response = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/showback?period=2026-11`,
    });
    expect(response.body.source).toBe('invoice');
    expect(response.body.invoice.number).toMatch(/^INV-/);
    expect(response.body.total).toBe('78.50');
  });

  it('puts memory GB-hours under compute as the plan file says, and a meter without a category under other', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const other = await billedTenant(t, { plan: 'cloud', seats: 1 });
    setClock(t, '2026-11-10T00:00:00Z');
    await ingest(t, other.id, [
      { id: 'm1', meter: 'memory_gb', value: 2, time: '2026-11-01T00:00:00Z', subject: 'ana' },
      { id: 'p1', meter: 'peak_sessions', value: 3, time: '2026-11-02T00:00:00Z', subject: 'ana' },
    ]);
    setClock(t, '2026-12-01T00:00:00Z');
    const response = await t.request({
      method: 'GET',
      url: `/v1/tenants/${other.id}/showback?period=2026-11`,
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const byMeter = Object.fromEntries(
      response.body.lines.filter((l: any) => l.meter !== null).map((l: any) => [l.meter, l.category]),
    );
    expect(byMeter).toMatchObject({ memory_gb: 'compute', peak_sessions: 'other', storage_gb: 'storage' });
    // 2 GB for the 720 hours of November at 0.01 a GB-hour, and a peak of 3 sessions at 1.00.
    expect(response.body.totals).toMatchObject({ compute: '14.40', other: '3.00', storage: '0.00' });
  });

  it('refuses an unknown tenant, a bad period and a bad format, writing nothing', async () => {
    const before = await billingState(t);
    const cases: [string, number, string][] = [
      ['/v1/tenants/nobody/showback', 404, 'tenant_not_found'],
      [`/v1/tenants/${tenant.id}/showback?period=2026-1`, 400, 'validation_failed'],
      [`/v1/tenants/${tenant.id}/showback?format=xml`, 400, 'validation_failed'],
      [`/v1/tenants/${tenant.id}/showback?top=0`, 400, 'validation_failed'],
    ];
    for (const [url, status, code] of cases) {
      const response = await t.request({ method: 'GET', url });
      expect(response.status, url).toBe(status);
      expect(response.body.code).toBe(code);
    }
    expect(await billingState(t)).toEqual(before);
  });
});

describe('allocate', () => {
  it('splits an amount in proportion to the weights, to the unit, adding up exactly', () => {
    expect(allocate(100n, [1n, 1n, 1n])).toEqual([34n, 33n, 33n]);
    expect(allocate(1000n, [50n, 10n, 0n])).toEqual([833n, 167n, 0n]);
    expect(allocate(7n, [0n, 0n])).toEqual([0n, 0n]);
    const parts = allocate(99_999n, [3n, 7n, 11n, 13n]);
    expect(parts.reduce((a, b) => a + b, 0n)).toBe(99_999n);
  });
});
