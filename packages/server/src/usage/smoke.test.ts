import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { applyPlans, provisionedTenant } from '../../test/tenant-support.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
});
afterAll(() => t.close());

test('usage smoke', async () => {
  const tenant = await provisionedTenant(t, { plan: 'starter', trial_days: 0 });
  t.clock.advance(2 * 3_600_000);
  const now = t.clock.now().getTime();
  const events = [
    ...Array.from({ length: 5 }, (_, i) => ({ id: `m${i}`, tenant: tenant.slug, meter: 'meetings', time: new Date(now - i * 60_000).toISOString(), subject: `u${i % 2}` })),
    { id: 'g1', tenant: tenant.id, meter: 'concurrent_sessions', value: 2, time: new Date(now - 3_600_000).toISOString() },
    { id: 'g2', tenant: tenant.id, meter: 'concurrent_sessions', value: 4, time: new Date(now - 1_800_000).toISOString() },
    { id: 'bad', tenant: tenant.id, meter: 'nope', value: 1, time: new Date(now).toISOString() },
  ];
  const ingested = await t.request({ method: 'POST', url: '/v1/events', payload: events });
  expect(ingested.status, JSON.stringify(ingested.body)).toBe(200);
  expect(ingested.body).toMatchObject({ accepted: 7, duplicates: 0, rejected: [{ index: 7 }] });
  const again = await t.request({ method: 'POST', url: '/v1/events', payload: events.slice(0, 7) });
  expect(again.body).toMatchObject({ accepted: 0, duplicates: 7 });
  const usage = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/usage?meter=meetings&window=hour` });
  expect(usage.status, JSON.stringify(usage.body)).toBe(200);
  expect(usage.body.total).toBe(5);
  const gauge = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/usage?meter=concurrent_sessions&window=hour` });
  expect(gauge.status, JSON.stringify(gauge.body)).toBe(200);
  expect(gauge.body.total).toBeCloseTo(2 * 0.5 + 4 * 0.5, 6);
  const ent = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
  expect(ent.body.limits.meetings).toMatchObject({ limit: 100, used: 5, remaining: 95 });
  const lease = await t.request({ method: 'POST', url: `/v1/tenants/${tenant.id}/leases`, payload: { meter: 'meetings', units: 200, instance_id: 'i1' } });
  expect(lease.status, JSON.stringify(lease.body)).toBe(201);
  expect(lease.body.granted).toBe(95);
  const voided = await t.request({ method: 'POST', url: `/v1/tenants/${tenant.id}/events/m0/void`, payload: { reason: 'test' } });
  expect(voided.status, JSON.stringify(voided.body)).toBe(200);
  const after = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/usage?meter=meetings` });
  expect(after.body.total).toBe(4);
});
