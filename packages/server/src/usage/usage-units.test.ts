import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyBillingPlans,
  billedTenant,
  ingest,
  invoicesOf,
  runInvoices,
  setClock,
} from '../../test/billing-support.ts';
import { backend, startTestApp, type TestApp } from '../../test/harness.ts';
import { applyPlans } from '../../test/tenant-support.ts';
import { usage } from '../../test/usage-support.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await applyBillingPlans(t);
});
afterAll(() => t.close());

describe(`usage of a time-weighted meter in its billing unit (${backend})`, () => {
  it('reports GB-months as the invoice counts them, with the unit, per month and per day', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const tenant = await billedTenant(t, { plan: 'cloud', seats: 1 });
    setClock(t, '2026-11-20T00:00:00Z');
    // 100 GB all of November, and 2 GB of memory for its first 15 days.
    await ingest(t, tenant.id, [
      { id: 's1', meter: 'storage_gb', value: 100, time: '2026-11-01T00:00:00Z' },
      { id: 'm1', meter: 'memory_gb', value: 2, time: '2026-11-01T00:00:00Z' },
      { id: 'm2', meter: 'memory_gb', value: 0, time: '2026-11-16T00:00:00Z' },
    ]);
    setClock(t, '2026-12-01T00:00:00Z');
    const november = { from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z' };

    const monthly = await usage(t, tenant.id, { meter: 'storage_gb', ...november, window: 'month' });
    expect(monthly).toMatchObject({ unit: 'GB-month', total: 100 });
    expect(monthly.series.map((p: any) => p.value)).toEqual([100]);
    const daily = await usage(t, tenant.id, { meter: 'storage_gb', ...november, window: 'day' });
    expect(daily.unit).toBe('GB-month');
    expect(daily.series[0].value).toBe(3.333333);
    expect(daily.total).toBe(100);
    const memory = await usage(t, tenant.id, { meter: 'memory_gb', ...november, window: 'month' });
    expect(memory).toMatchObject({ unit: 'GB-hour', total: 720 });

    // The same figures the invoice bills.
    await runInvoices(t, { tenant: tenant.id });
    const [invoice] = await invoicesOf(t, tenant.id);
    const quantity = (meter: string) => invoice.lines.find((l: any) => l.usage?.meter === meter)?.quantity;
    expect(quantity('storage_gb')).toBe('100');
    expect(quantity('memory_gb')).toBe('720');
  });

  it('keeps value-hours for a meter whose unit is not a length of time, and names them', async () => {
    await applyPlans(
      t,
      `currency: usd
meters:
  desktops: { unit: desktop, aggregation: time_weighted }
plans:
  desks:
    name: Desks
`,
    );
    setClock(t, '2026-12-01T00:00:00Z');
    const tenant = await billedTenant(t, { plan: 'desks' });
    setClock(t, '2026-12-01T05:00:00Z');
    await ingest(t, tenant.id, [{ id: 'd1', meter: 'desktops', value: 3, time: '2026-12-01T01:00:00Z' }]);
    const report = await usage(t, tenant.id, {
      meter: 'desktops',
      from: '2026-12-01T00:00:00Z',
      to: '2026-12-01T05:00:00Z',
      window: 'hour',
    });
    expect(report).toMatchObject({ unit: 'desktop-hour', total: 12 });
  });
});
