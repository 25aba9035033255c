import type { AddressInfo } from 'node:net';
import { plannedResources } from '@tenantry/core';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../../server/test/harness.ts';
import { act, applyPlans, createTenant, provisionedTenant } from '../../../server/test/tenant-support.ts';
import { ControlPlaneClient, ControlPlaneError } from '../control-plane/index.ts';
import {
  AgentOnlyPlacementError,
  PlacementDirectory,
  TenantUnavailableError,
} from './placement-directory.ts';

let t: TestApp;
let url: string;
/** GET /v1/tenants/… requests that reached the control plane. */
let lookups: string[] = [];

beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
});
afterAll(() => t.close());

function directory(options: { maxAgeMs?: number; now?: () => number } = {}): PlacementDirectory {
  lookups = [];
  const controlPlane = new ControlPlaneClient({
    url,
    token: t.token,
    // Counts the requests, and passes each to the real control plane.
    fetch: (input, init) => {
      lookups.push(String(input).slice(url.length));
      return fetch(input, init);
    },
  });
  return new PlacementDirectory({ controlPlane, ...options });
}

describe('PlacementDirectory', () => {
  it('tells each placement with its resources, as the control plane provisioned it', async () => {
    const places = directory();
    const pool = await provisionedTenant(t, { placement: 'pool' });
    const schema = await provisionedTenant(t, { placement: 'schema' });
    const database = await provisionedTenant(t, { placement: 'database' });
    expect(await places.usable(pool.id)).toEqual({
      tenantId: pool.id,
      placement: 'pool',
      state: 'active',
      dataPlane: 'dpl_default',
      resources: { placement: 'pool', data_plane: 'dpl_default' },
      schema: null,
      role: null,
      database: null,
    });
    expect(await places.usable(schema.id)).toEqual({
      tenantId: schema.id,
      placement: 'schema',
      state: 'active',
      dataPlane: 'dpl_default',
      resources: {
        placement: 'schema',
        data_plane: 'dpl_default',
        schema: schema.id,
        role: `tenantry_${schema.id}`,
      },
      schema: schema.id,
      role: `tenantry_${schema.id}`,
      database: null,
    });
    expect(await places.usable(database.id)).toEqual({
      tenantId: database.id,
      placement: 'database',
      state: 'active',
      dataPlane: 'dpl_default',
      resources: {
        placement: 'database',
        data_plane: 'dpl_default',
        database: `tenantry_${database.id}`,
        role: `tenantry_${database.id}`,
      },
      schema: null,
      role: `tenantry_${database.id}`,
      database: `tenantry_${database.id}`,
    });
  });

  it('tells where a byoi_agent tenant lives, and refuses it as unreachable by the app, naming why', async () => {
    const places = directory();
    const tenant = await provisionedTenant(t, { placement: 'pool' });
    // Placed as the agent workflow would leave it (that workflow is not the SDK's).
    const resources = plannedResources(tenant.id, 'byoi_agent', 'dpl_agent1', 'app');
    await sql`insert into tenantry.data_planes (id, name, kind, tenant_id)
        values ('dpl_agent1', 'agent-1', 'agent', ${tenant.id})`.execute(t.services.database.db);
    await sql`update tenantry.tenants set placement = 'byoi_agent', data_plane_id = 'dpl_agent1',
        resources = ${JSON.stringify(resources)}::jsonb where id = ${tenant.id}`.execute(
      t.services.database.db,
    );
    expect(await places.lookup(tenant.id)).toMatchObject({
      placement: 'byoi_agent',
      dataPlane: 'dpl_agent1',
      resources: { placement: 'byoi_agent', data_plane: 'dpl_agent1', agent: null, schema: 'app' },
      schema: 'app',
    });
    const refused = await places.usable(tenant.id).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AgentOnlyPlacementError);
    expect(refused).toMatchObject({ tenantId: tenant.id, dataPlane: 'dpl_agent1' });
    expect((refused as Error).message).toContain("never leaves the customer's environment");
    expect(() => places.usableNow(tenant.id)).toThrow(AgentOnlyPlacementError);
  });

  it('asks once, shares one request between concurrent lookups, and asks again after the max age', async () => {
    let now = 1_000_000;
    const places = directory({ maxAgeMs: 30_000, now: () => now });
    const tenant = await provisionedTenant(t, { placement: 'pool' });
    const [first, second] = await Promise.all([places.usable(tenant.id), places.usable(tenant.id)]);
    expect(second).toBe(first);
    await places.usable(tenant.id);
    expect(lookups).toEqual([`/v1/tenants/${tenant.id}`]);
    now += 29_999;
    await places.usable(tenant.id);
    expect(lookups).toHaveLength(1);
    now += 1;
    await places.usable(tenant.id);
    expect(lookups).toHaveLength(2);
  });

  it('refuses a suspended tenant once invalidated, naming its state, and lets it back when resumed', async () => {
    const places = directory();
    const tenant = await provisionedTenant(t, { placement: 'schema' });
    await places.usable(tenant.id);
    expect((await act(t, tenant.id, 'suspend', { reason: 'unpaid' })).status).toBe(200);
    // Until told, the directory keeps what it knew: invalidation is what the entitlement stream sends.
    expect((await places.usable(tenant.id)).state).toBe('active');
    places.invalidate(tenant.id);
    const refused = await places.usable(tenant.id).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(TenantUnavailableError);
    expect(refused).toMatchObject({ tenantId: tenant.id, state: 'suspended' });
    expect((refused as Error).message).toBe(
      `tenant ${tenant.id} is suspended: its data can be used only while it is trialing, active or past_due`,
    );
    expect((await act(t, tenant.id, 'resume')).status).toBe(200);
    places.invalidate(tenant.id);
    expect((await places.usable(tenant.id)).state).toBe('active');
  });

  it('refuses a tenant still provisioning, and sees it once provisioned', async () => {
    const places = directory();
    const created = await createTenant(t, { placement: 'database' });
    await expect(places.usable(created.id)).rejects.toMatchObject({ state: 'provisioning' });
    await t.services.jobs.runDue();
    places.invalidate(created.id);
    expect(await places.usable(created.id)).toMatchObject({ state: 'active', placement: 'database' });
  });

  it('does not keep a lookup that was under way when its tenant was invalidated', async () => {
    const places = directory();
    const tenant = await provisionedTenant(t, { placement: 'pool' });
    const before = places.lookup(tenant.id);
    places.invalidate(tenant.id);
    expect((await before).state).toBe('active');
    await places.lookup(tenant.id);
    // The second lookup asked again: the first answer might have described the tenant before the change.
    expect(lookups).toEqual([`/v1/tenants/${tenant.id}`, `/v1/tenants/${tenant.id}`]);
    await places.lookup(tenant.id);
    expect(lookups).toHaveLength(2);
  });

  it('passes on the control plane’s answer for an unknown tenant, and keeps nothing', async () => {
    const places = directory();
    for (let i = 0; i < 2; i++) {
      const error = await places.usable('ten_00000000000000000000000000').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ControlPlaneError);
      expect(error).toMatchObject({ status: 404, code: 'tenant_not_found' });
    }
    expect(lookups).toHaveLength(2);
  });

  it('forgets every tenant with invalidateAll', async () => {
    const places = directory();
    const a = await provisionedTenant(t, { placement: 'pool' });
    const b = await provisionedTenant(t, { placement: 'pool' });
    await places.lookup(a.id);
    await places.lookup(b.id);
    places.invalidateAll();
    await places.lookup(a.id);
    await places.lookup(b.id);
    expect(lookups).toHaveLength(4);
  });
});
