import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestApp, type TestApp, uniqueSlug } from './harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

test('smoke', async () => {
  const source = readFileSync(new URL('./fixtures/plans.yaml', import.meta.url), 'utf8');
  const applied = await t.request({ method: 'POST', url: '/v1/plans/apply', payload: { source } });
  expect(applied.status, JSON.stringify(applied.body)).toBe(200);
  for (const placement of ['pool', 'schema', 'database']) {
    const created = await t.request({
      method: 'POST',
      url: '/v1/tenants',
      payload: { slug: uniqueSlug(), name: 'Acme', plan: 'pro', placement },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await t.services.jobs.runDue();
    const shown = await t.request({ method: 'GET', url: `/v1/tenants/${created.body.id}` });
    expect(shown.body.state, JSON.stringify(shown.body)).toBe('active');
    const ent = await t.request({ method: 'GET', url: `/v1/tenants/${created.body.id}/entitlements` });
    expect(ent.status, JSON.stringify(ent.body)).toBe(200);
    expect(ent.body.features.sso).toBe(true);
  }
});
