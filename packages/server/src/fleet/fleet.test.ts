import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { applyAccess, memberAuthorization } from '../../test/member-support.ts';
import {
  applyPlans,
  createTenant,
  failedTenant,
  provisionedTenant,
  query,
} from '../../test/tenant-support.ts';
import { startReceiver } from '../../test/webhook-receiver.ts';
import { systemContext } from '../request-context.ts';
import { SIGNAL_ITEMS } from './fleet-service.ts';

let t: TestApp;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  receiver = await startReceiver();
  t = await startTestApp({
    webhooks: {
      resolve: async () => [{ address: '127.0.0.1', family: 4 }],
      allowedHosts: ['127.0.0.1'],
      // Long enough for a healthy receiver on a loaded machine: the failing one answers 503 at once.
      timeoutMs: 10_000,
    },
  });
  await applyPlans(t);
});
afterAll(async () => {
  await t.close();
  await receiver.close();
});

async function signals() {
  const response = await t.request({ method: 'GET', url: '/v1/fleet-signals' });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

async function runs(query = '') {
  const response = await t.request({ method: 'GET', url: `/v1/provisioning-runs${query}` });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

/** Ingests `n` meetings for the tenant now, then lets the threshold checker record what they reached. */
async function meetings(tenantId: string, n: number): Promise<void> {
  const time = t.clock.now().toISOString();
  const batch = Array.from({ length: n }, (_, i) => ({
    id: `fleet-${tenantId}-${i}`,
    tenant: tenantId,
    meter: 'meetings',
    time,
  }));
  const result = await t.services.usage.ingest.ingest(batch, 'tenantry');
  expect(result.rejected).toEqual([]);
  await t.services.usage.thresholds.drain();
}

const ids = (items: Array<{ tenant: { id: string } }>) => items.map((i) => i.tenant.id);

describe('provisioning runs across the fleet', () => {
  it('lists the failed runs with their step and error, and a retried run leaves the list', async () => {
    const failed = await failedTenant(t);
    const page = await runs('?state=failed');
    const row = page.data.find((r: { tenant: { id: string } }) => r.tenant.id === failed.id);
    expect(row).toMatchObject({
      tenant: { id: failed.id, slug: failed.slug },
      tenant_state: 'provisioning_failed',
      state: 'failed',
      step: expect.any(String),
      error: expect.any(String),
      attempts: expect.any(Number),
    });
    expect(row.attempts).toBeGreaterThan(0);
    expect(page.data.every((r: { state: string }) => r.state === 'failed')).toBe(true);

    // The schema in the way is removed; the retry resumes the run, which then succeeds.
    await query(t, `drop schema "${failed.id}"`);
    const retried = await t.request({ method: 'POST', url: `/v1/tenants/${failed.id}/retry-provisioning` });
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    await t.services.jobs.runDue();
    expect(ids((await runs('?state=failed')).data)).not.toContain(failed.id);
    expect(ids((await runs('?state=succeeded&limit=100')).data)).toContain(failed.id);
  });

  it('pages by cursor, newest tenant first, each run once', async () => {
    for (let i = 0; i < 3; i++) await createTenant(t);
    const all = ids((await runs('?limit=100')).data);
    expect(all.length).toBeGreaterThanOrEqual(4);
    expect([...all].sort().reverse()).toEqual(all);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { data: Array<{ tenant: { id: string } }>; next_cursor: string | null } = await runs(
        `?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`,
      );
      expect(page.data.length).toBeLessThanOrEqual(2);
      seen.push(...ids(page.data));
      cursor = page.next_cursor;
    } while (cursor !== null);
    expect(seen).toEqual(all);
  });

  it('refuses a state or cursor it does not know, naming it', async () => {
    const state = await t.request({ method: 'GET', url: '/v1/provisioning-runs?state=stuck' });
    expect(state.status).toBe(400);
    expect(JSON.stringify(state.body.errors)).toContain('state');
    const cursor = await t.request({ method: 'GET', url: "/v1/provisioning-runs?cursor=x'--" });
    expect(cursor.status).toBe(400);
    expect(cursor.body.errors).toEqual([{ path: 'query.cursor', message: expect.any(String) }]);
  });
});

describe('fleet signals', () => {
  it('shows a tenant at 80 % of a limit and not one below it, with the limit and use', async () => {
    const near = await provisionedTenant(t, { plan: 'starter' });
    const far = await provisionedTenant(t, { plan: 'starter' });
    await meetings(near.id, 85);
    await meetings(far.id, 10);
    const shown = (await signals()).near_limit;
    expect(ids(shown.items)).toContain(near.id);
    expect(ids(shown.items)).not.toContain(far.id);
    expect(shown.items.find((i: { tenant: { id: string } }) => i.tenant.id === near.id)).toMatchObject({
      meter: 'meetings',
      threshold: 80,
      used: 85,
      limit: 100,
    });
    // Once the period is over, the tenant is no longer near: its new period starts from nothing.
    t.clock.advance(32 * 86_400_000);
    expect(ids((await signals()).near_limit.items)).not.toContain(near.id);
  });

  it('shows trials ending within 7 days, soonest first, and counts past the listed ones', async () => {
    const later = await createTenant(t, { plan: 'starter', trial_days: 14 });
    const soon: string[] = [];
    for (let days = 6; days >= 1; days--)
      soon.push((await createTenant(t, { plan: 'starter', trial_days: days })).id);
    for (let i = 0; i < SIGNAL_ITEMS; i++) await createTenant(t, { plan: 'starter', trial_days: 5 });
    // A trial runs from provisioning's end: every one of them provisioned.
    await t.services.jobs.runDue();
    const shown = (await signals()).trials_ending;
    expect(shown.count).toBe(soon.length + SIGNAL_ITEMS);
    expect(shown.items).toHaveLength(SIGNAL_ITEMS);
    expect(ids(shown.items).slice(0, 4)).toEqual(soon.slice(-4).reverse());
    expect(ids(shown.items)).not.toContain(later.id);
    const ends = shown.items.map((i: { trial_ends_at: string }) => i.trial_ends_at);
    expect([...ends].sort()).toEqual(ends);
  });

  it('shows licenses expiring within 30 days, and not a longer one', async () => {
    const key = await t.request({ method: 'POST', url: '/v1/license-keys', payload: {} });
    expect(key.status, JSON.stringify(key.body)).toBe(201);
    const soon = await provisionedTenant(t, { plan: 'pro' });
    const later = await provisionedTenant(t, { plan: 'pro' });
    for (const [tenant, days] of [
      [soon.id, 10],
      [later.id, 90],
    ] as const) {
      const issued = await t.request({
        method: 'POST',
        url: `/v1/tenants/${tenant}/licenses`,
        payload: { days },
      });
      expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    }
    const shown = (await signals()).licenses_expiring;
    expect(ids(shown.items)).toContain(soon.id);
    expect(ids(shown.items)).not.toContain(later.id);
    expect(shown.items[0].license_id).toMatch(/^lic_/);
  });

  it('shows a webhook endpoint whose deliveries fail, and not a healthy one', async () => {
    receiver.behaviours.set('/failing', (_r, res) => res.writeHead(503).end());
    const endpoint = async (path: string) => {
      const created = await t.request({
        method: 'POST',
        url: '/v1/webhook-endpoints',
        payload: { url: receiver.url(path), event_types: ['tenant.created'] },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      return created.body.id as string;
    };
    const failing = await endpoint('/failing');
    const healthy = await endpoint('/healthy');
    await createTenant(t);
    for (let round = 0; round < 5; round++) {
      await t.services.webhooks.fanOut();
      await t.services.webhooks.deliverDue();
    }
    const shown = (await signals()).failing_webhooks;
    const listed = shown.items.map((i: { endpoint_id: string }) => i.endpoint_id);
    expect(listed).toContain(failing);
    expect(listed).not.toContain(healthy);
    expect(shown.items.find((i: { endpoint_id: string }) => i.endpoint_id === failing)).toMatchObject({
      status: 'enabled',
      tenant: null,
      retrying_deliveries: 1,
    });
  });

  it('shows failed provisioning, and migration runs failed or not moving', async () => {
    const failed = await failedTenant(t);
    expect(ids((await signals()).provisioning_stuck.items)).toContain(failed.id);

    const a = (await provisionedTenant(t, { plan: 'pro' })).id;
    const create = (targets: string[]) =>
      t.request({
        method: 'POST',
        url: '/v1/migration-runs',
        payload: { target_version: 2, targets: targets.map((target) => ({ target, placement: 'schema' })) },
      });
    const failedRun = (await create([a])).body;
    await t.request({
      method: 'POST',
      url: `/v1/migration-runs/${failedRun.id}/targets/${a}`,
      payload: { stage: 'failed', error: { code: 'migration_failed', message: 'boom', migration: null } },
    });
    const idle = (await create([a])).body;
    const moving = (await create([a])).body;
    const precheck = (run: string, stage: string) =>
      t.request({ method: 'POST', url: `/v1/migration-runs/${run}/targets/${a}`, payload: { stage } });
    // Both runs' targets move now (the run's clock: a run's own creation is the database's).
    expect((await precheck(idle.id, 'prechecked')).status).toBe(200);
    expect((await precheck(moving.id, 'prechecked')).status).toBe(200);
    let shown = (await signals()).migrations_stuck.items.map((i: { run_id: string }) => i.run_id);
    expect(shown).toContain(failedRun.id);
    expect(shown).not.toContain(idle.id);
    // Two hours on, one run's target moves and the other's does not: the idle one is stuck.
    t.clock.advance(2 * 3_600_000);
    expect((await precheck(moving.id, 'applying')).status).toBe(200);
    const items = (await signals()).migrations_stuck.items;
    shown = items.map((i: { run_id: string }) => i.run_id);
    expect(shown).toContain(idle.id);
    expect(shown).not.toContain(moving.id);
    expect(items.find((i: { run_id: string }) => i.run_id === failedRun.id)).toMatchObject({
      state: 'failed',
      failed: 1,
    });
  });
});

describe('who may read them', () => {
  it('refuses no token, an app key, and a tenant member', async () => {
    const app = await t.services.apiKeys.create(systemContext('test'), { name: 'app', preset: 'app' });
    await applyAccess(t);
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const member = await memberAuthorization(t, tenant.id, 'owner');
    for (const url of ['/v1/fleet-signals', '/v1/provisioning-runs']) {
      const none = await t.request({ method: 'GET', url, headers: { authorization: '' } });
      expect(none.status).toBe(401);
      const appKey = await t.request({
        method: 'GET',
        url,
        headers: { authorization: `Bearer ${app.secret}` },
      });
      expect(appKey.status).toBe(403);
      expect(appKey.body.required_scope).toBe('fleet:read');
      const asMember = await t.request({ method: 'GET', url, headers: member });
      expect(asMember.status, JSON.stringify(asMember.body)).toBe(403);
    }
  });
});
