import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { asSuperuser, byoiTenant, dropTestDataPlanes, testDataPlane } from '../../test/data-plane-support.ts';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { withAdmin } from '../../test/postgres-admin.ts';
import { applyPlans, createTenant } from '../../test/tenant-support.ts';
import { systemContext } from '../request-context.ts';
import { destroyTenantDataKey } from '../tenant-secrets/index.ts';

/*
 * A BYOI tenant's connection to its own database: set (validated, sealed under the tenant's data
 * key), shown without its password, read by the app with every read audited, refused when copied
 * to another tenant's row or once the tenant's data key is destroyed.
 */

let t: TestApp;
beforeEach(async () => {
  t = await startTestApp();
  await applyPlans(t);
});
afterEach(() => t.close());
afterAll(() => dropTestDataPlanes());

function put(tenant: string, payload: Record<string, unknown>, token?: string) {
  return t.request({
    method: 'PUT',
    url: `/v1/tenants/${tenant}/data-connection`,
    payload,
    ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
  });
}

function credentials(tenant: string, token?: string) {
  return t.request({
    method: 'GET',
    url: `/v1/tenants/${tenant}/data-connection/credentials`,
    ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
  });
}

async function keyWith(...scopes: string[]): Promise<string> {
  return (await t.services.apiKeys.create(systemContext('test'), { name: 'k', scopes: scopes as never }))
    .secret;
}

async function appKey(): Promise<string> {
  return (await t.services.apiKeys.create(systemContext('test'), { name: 'app', preset: 'app' })).secret;
}

async function actions(tenantId: string): Promise<string[]> {
  const rows = await t.services.database.db
    .selectFrom('audit_events')
    .select('action')
    .where('tenant_id', '=', tenantId)
    .orderBy('seq')
    .execute();
  return rows.map((r) => r.action);
}

describe("a BYOI tenant's data connection", () => {
  it('lets a byoi tenant made through the API finish provisioning in the customer’s database', async () => {
    const tenant = await byoiTenant(t, 'minutes');
    const waiting = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}` });
    expect(waiting.body).toMatchObject({ state: 'provisioning', placement: 'byoi' });
    expect(waiting.body.resources).toMatchObject({ placement: 'byoi', database: null, schema: 'minutes' });
    const customer = await testDataPlane('customer');
    expect((await put(tenant.id, customer.connection)).status).toBe(201);
    await t.services.jobs.runDue();
    await t.services.jobs.runDue();
    const done = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}` });
    expect(done.body.state, JSON.stringify(done.body.provisioning)).toMatch(/^(trialing|active)$/);
    expect(done.body.provisioning).toMatchObject({ state: 'succeeded' });
    expect(done.body.resources).toEqual({
      placement: 'byoi',
      data_plane: waiting.body.data_plane,
      database: customer.connection.database,
      schema: 'minutes',
    });
    // The app's schema was made in the customer's database, owned by the customer's role.
    const { host, port, database, user, password } = customer.connection;
    const client = new pg.Client({ host, port, database, user, password });
    await client.connect();
    try {
      const owner = await client.query<{ owner: string }>(
        "select pg_get_userbyid(nspowner) as owner from pg_namespace where nspname = 'minutes'",
      );
      expect(owner.rows).toEqual([{ owner: user }]);
    } finally {
      await client.end();
    }
    // The tenant shows its data plane's health as the scheduled check finds it.
    expect(done.body.data_plane_health).toBe('unknown');
    await t.services.dataPlaneHealth.checkAll();
    const checked = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}` });
    expect(checked.body.data_plane_health).toBe('healthy');
    await asSuperuser('postgres', `alter role ${user} nologin`);
    await t.services.dataPlaneConnector.forget(waiting.body.data_plane);
    await t.services.dataPlaneHealth.checkAll();
    const failing = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}` });
    expect(failing.body.data_plane_health).toBe('degraded');
  });

  it('is validated, stored sealed, shown without its password, and the workflow is told', async () => {
    const told: string[] = [];
    t.services.dataPlanes.onConnectionSet(async (tenantId) => {
      told.push(tenantId);
    });
    const tenant = await byoiTenant(t);
    const customer = await testDataPlane('customer');
    const set = await put(tenant.id, customer.connection);
    expect(set.status, JSON.stringify(set.body)).toBe(201);
    expect(set.body).toMatchObject({
      kind: 'customer',
      tenant_id: tenant.id,
      connection: { user: customer.connection.user, database: customer.connection.database },
    });
    expect(told).toEqual([tenant.id]);
    const shown = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/data-connection` });
    expect(shown.status).toBe(200);
    expect(shown.body.id).toBe(set.body.id);
    const listed = await t.request({ method: 'GET', url: '/v1/data-planes?kind=customer' });
    expect(listed.body.data.map((p: { id: string }) => p.id)).toEqual([set.body.id]);
    for (const body of [set.body, shown.body, listed.body])
      expect(JSON.stringify(body)).not.toContain(customer.connection.password);
    const row = await t.services.database.db
      .selectFrom('data_planes')
      .select('connection_sealed')
      .where('id', '=', set.body.id)
      .executeTakeFirstOrThrow();
    expect(row.connection_sealed).not.toContain(customer.connection.password);
    // Set again: the same data plane, its connection replaced.
    const again = await put(tenant.id, customer.connection);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(set.body.id);
    expect(await actions(tenant.id)).toEqual(expect.arrayContaining(['data_connection.set']));
  });

  it('refuses a tenant that is not byoi, and a connection that fails validation, storing nothing', async () => {
    const pool = await createTenant(t, { plan: 'pro' });
    const customer = await testDataPlane('customer');
    const notByoi = await put(pool.id, customer.connection);
    expect(notByoi.status).toBe(409);
    expect(notByoi.body.code).toBe('data_plane_not_byoi');
    const tenant = await byoiTenant(t, 'app');
    const superuser = await put(tenant.id, { ...customer.connection, user: 'postgres' });
    expect(superuser.status).toBe(422);
    expect(superuser.body.code).toBe('data_plane_role_too_powerful');
    // The app's schema exists and belongs to another role: named, never taken over.
    const other = await testDataPlane('customer');
    await asSuperuser(other.connection.database, 'create schema app authorization postgres');
    const foreign = await put(tenant.id, other.connection);
    expect(foreign.status).toBe(422);
    expect(foreign.body.code).toBe('data_plane_privilege_missing');
    expect(foreign.body.missing).toEqual([
      `ownership of schema "app" (it belongs to "postgres", not "${other.connection.user}")`,
    ]);
    // The tenant's data plane, made with it, still holds no connection.
    const planes = await t.services.database.db
      .selectFrom('data_planes')
      .select(['tenant_id', 'connection_sealed'])
      .where('kind', '=', 'customer')
      .execute();
    expect(planes).toEqual([{ tenant_id: tenant.id, connection_sealed: null }]);
  });

  it('is decrypted for the app key only, each read audited, with no-store', async () => {
    const tenant = await byoiTenant(t);
    const customer = await testDataPlane('customer');
    expect((await put(tenant.id, customer.connection)).status).toBe(201);
    const denied = await credentials(tenant.id, await keyWith('data-planes:read', 'tenants:read'));
    expect(denied.status).toBe(403);
    const read = await credentials(tenant.id, await appKey());
    expect(read.status, JSON.stringify(read.body)).toBe(200);
    expect(read.headers['cache-control']).toBe('no-store');
    expect(read.body).toMatchObject({
      host: customer.connection.host,
      port: customer.connection.port,
      database: customer.connection.database,
      user: customer.connection.user,
      password: customer.connection.password,
      sslmode: 'disable',
      schema: 'app',
    });
    expect((await actions(tenant.id)).filter((a) => a === 'data_connection.read')).toHaveLength(1);
    const audit = await sql<{
      text: string;
    }>`select row_to_json(a)::text as text from tenantry.audit_events a`.execute(t.services.database.db);
    for (const row of audit.rows) expect(row.text).not.toContain(customer.connection.password);
  });

  it('does not open when copied into another tenant’s data plane row (attack)', async () => {
    const victim = await byoiTenant(t);
    const attacker = await byoiTenant(t);
    const victimDb = await testDataPlane('customer');
    const attackerDb = await testDataPlane('customer');
    const v = await put(victim.id, victimDb.connection);
    const a = await put(attacker.id, attackerDb.connection);
    const db = t.services.database.db;
    const sealed = await db
      .selectFrom('data_planes')
      .select('connection_sealed')
      .where('id', '=', v.body.id)
      .executeTakeFirstOrThrow();
    // Without the binding to tenant and data plane, the attacker's app would now log in to the victim's database.
    await db
      .updateTable('data_planes')
      .set({ connection_sealed: sealed.connection_sealed })
      .where('id', '=', a.body.id)
      .execute();
    const read = await credentials(attacker.id, await appKey());
    expect(read.status).toBe(409);
    expect(read.body.code).toBe('data_plane_unreadable');
    expect(JSON.stringify(read.body)).not.toContain(victimDb.connection.password);
    expect(await actions(attacker.id)).not.toContain('data_connection.read');
  });

  it('is crypto-shredded with the tenant’s data key', async () => {
    const tenant = await byoiTenant(t);
    const customer = await testDataPlane('customer');
    expect((await put(tenant.id, customer.connection)).status).toBe(201);
    await t.services.database.db
      .transaction()
      .execute((tx) => destroyTenantDataKey(tx, systemContext('test'), tenant.id, t.clock.now()));
    const read = await credentials(tenant.id, await appKey());
    expect(read.status).toBe(409);
    expect(read.body).toMatchObject({ code: 'data_plane_unreadable' });
    expect(read.body.detail).toMatch(/crypto-shredded/);
  });

  it('is removed only while the tenant does not use it', async () => {
    const tenant = await byoiTenant(t);
    const customer = await testDataPlane('customer');
    expect((await put(tenant.id, customer.connection)).status).toBe(201);
    await sql`update tenantry.tenants set state = 'active' where id = ${tenant.id}`.execute(
      t.services.database.db,
    );
    const refused = await t.request({ method: 'DELETE', url: `/v1/tenants/${tenant.id}/data-connection` });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('data_connection_in_use');
    await sql`update tenantry.tenants set state = 'provisioning' where id = ${tenant.id}`.execute(
      t.services.database.db,
    );
    const removed = await t.request({ method: 'DELETE', url: `/v1/tenants/${tenant.id}/data-connection` });
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/data-connection` })).status).toBe(
      404,
    );
    // The customer's database is left as it was.
    const stillThere = await withAdmin((client) =>
      client.query('select 1 from pg_database where datname = $1', [customer.connection.database]),
    );
    expect(stillThere.rowCount).toBe(1);
    // Set again later: the tenant's data plane holds a connection again, as new.
    expect((await put(tenant.id, customer.connection)).status).toBe(201);
  });
});
