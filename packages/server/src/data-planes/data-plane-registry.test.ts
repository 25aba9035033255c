import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dropTestDataPlanes, testDataPlane } from '../../test/data-plane-support.ts';
import { SETTINGS, startTestApp, type TestApp } from '../../test/harness.ts';
import { closedPort } from '../../test/silent-server.ts';
import { applyPlans, createTenant } from '../../test/tenant-support.ts';
import { ControlPlaneServer, DataPlaneUnavailableError, RegisteredDataPlanes } from './index.ts';

/*
 * The registry of vendor data planes over HTTP. The data planes are roles and databases of the
 * tests' own on the shared PostgreSQL server, which the control plane (PostgreSQL or PGlite)
 * reaches over TCP as it would a vendor's server.
 */

let t: TestApp;
beforeEach(async () => {
  t = await startTestApp();
});
afterEach(() => t.close());
afterAll(() => dropTestDataPlanes());

let vendor: Awaited<ReturnType<typeof testDataPlane>>;
beforeAll(async () => {
  vendor = await testDataPlane('vendor');
});

async function register(
  connection: Record<string, unknown>,
  name = `dp-${Math.random().toString(36).slice(2, 8)}`,
) {
  return t.request({
    method: 'POST',
    url: '/v1/data-planes',
    payload: { name, region: 'eu-west-1', connection },
  });
}

async function planeCount(): Promise<number> {
  const rows = await t.services.database.db.selectFrom('data_planes').select('id').execute();
  return rows.length;
}

describe('registering a vendor data plane', () => {
  it('validates the connection, stores it sealed, and never answers, records or stores the password in the clear', async () => {
    const created = await register(
      { ...vendor.connection, password: undefined, url: undefined },
      'shared-eu-1',
    );
    // No password given: trust authentication on the test server lets the role in.
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const withPassword = await register(vendor.connection, 'shared-eu-2');
    expect(withPassword.status, JSON.stringify(withPassword.body)).toBe(201);
    const plane = withPassword.body;
    expect(plane).toMatchObject({
      kind: 'vendor',
      region: 'eu-west-1',
      tenants: 0,
      health: 'unknown',
      connection: {
        host: vendor.connection.host,
        port: vendor.connection.port,
        database: vendor.connection.database,
        user: vendor.connection.user,
        sslmode: 'disable',
      },
    });
    expect(plane.id).toMatch(/^dpl_/);
    expect(plane.server_version).toMatch(/^1[5-9]/);

    const shown = await t.request({ method: 'GET', url: `/v1/data-planes/${plane.id}` });
    expect(shown.status).toBe(200);
    const listed = await t.request({ method: 'GET', url: '/v1/data-planes?kind=vendor&region=eu-west-1' });
    expect(listed.body.data.map((p: { id: string }) => p.id)).toContain(plane.id);
    const row = await t.services.database.db
      .selectFrom('data_planes')
      .selectAll()
      .where('id', '=', plane.id)
      .executeTakeFirstOrThrow();
    const audit = await sql<{
      text: string;
    }>`select row_to_json(a)::text as text from tenantry.audit_events a`.execute(t.services.database.db);
    const events = await sql<{
      text: string;
    }>`select row_to_json(e)::text as text from tenantry.domain_events e`.execute(t.services.database.db);
    const password = vendor.connection.password;
    for (const text of [
      JSON.stringify(shown.body),
      JSON.stringify(listed.body),
      JSON.stringify(row),
      ...audit.rows.map((r) => r.text),
      ...events.rows.map((r) => r.text),
    ])
      expect(text).not.toContain(password);
    expect(audit.rows.some((r) => r.text.includes('data_plane.registered'))).toBe(true);
    // The sealed details open, and the connector reaches the data plane with them.
    const found = await t.services.dataPlaneConnector.run(plane.id, (db) =>
      sql<{ user: string }>`select current_user as user`.execute(db),
    );
    expect(found.rows).toEqual([{ user: vendor.connection.user }]);
    expect(t.services.dataPlaneConnector.hasDatabases(plane.id)).toBe(true);
    // Another process learns at start which data planes are vendor servers, before any call.
    const other = new RegisteredDataPlanes({
      db: t.services.database.db,
      secrets: SETTINGS.secrets,
      control: new ControlPlaneServer(t.services.database.db, undefined),
    });
    expect(other.hasDatabases(plane.id)).toBe(false);
    await other.refresh();
    expect(other.hasDatabases(plane.id)).toBe(true);
  });

  it('takes a PostgreSQL URL as well as fields', async () => {
    const c = vendor.connection;
    const created = await register({
      url: `postgres://${c.user}:${c.password}@${c.host}:${c.port}/${c.database}?sslmode=disable`,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.connection).toMatchObject({ user: c.user, database: c.database, sslmode: 'disable' });
  });

  it('answers each validation problem with its own code, naming the thing, and stores nothing', async () => {
    const before = await planeCount();
    const port = await closedPort();
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [
        { ...vendor.connection, port },
        'data_plane_unreachable',
        new RegExp(`127\\.0\\.0\\.1:${port} refused`),
      ],
      [
        { ...vendor.connection, host: 'no-such-host.invalid' },
        'data_plane_unreachable',
        /no-such-host\.invalid/,
      ],
      [{ ...vendor.connection, user: 'no_such_role_here' }, 'data_plane_auth_failed', /no_such_role_here/],
      [{ ...vendor.connection, sslmode: 'require' }, 'data_plane_tls_required', /does not offer TLS/],
      [{ ...vendor.connection, user: 'postgres' }, 'data_plane_role_too_powerful', /SUPERUSER/],
    ];
    for (const [connection, code, detail] of cases) {
      const refused = await register(connection);
      expect(refused.status, JSON.stringify(refused.body)).toBe(422);
      expect(refused.body.code).toBe(code);
      expect(refused.body.detail).toMatch(detail);
      expect(JSON.stringify(refused.body)).not.toContain(vendor.connection.password);
    }
    const weak = await testDataPlane('vendor', { createrole: false });
    const missing = await register(weak.connection);
    expect(missing.status).toBe(422);
    expect(missing.body).toMatchObject({ code: 'data_plane_privilege_missing', missing: ['CREATEROLE'] });
    expect(await planeCount()).toBe(before);
  });

  it('refuses bad fields by name, and a name a live data plane has', async () => {
    const bad = await t.request({
      method: 'POST',
      url: '/v1/data-planes',
      payload: { name: 'Bad Name', capacity: 0, connection: { host: 'db', port: 70000, user: 'u' } },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(
      ['capacity', 'connection.database', 'connection.port', 'name'].sort(),
    );
    expect((await register(vendor.connection, 'taken')).status).toBe(201);
    const again = await register(vendor.connection, 'taken');
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('data_plane_name_taken');
  });

  it('changes name, region, capacity and connection (validated), and retires a data plane no tenant lives on', async () => {
    const created = await register(vendor.connection);
    const id = created.body.id;
    const renamed = await t.request({
      method: 'PATCH',
      url: `/v1/data-planes/${id}`,
      payload: { name: 'renamed', region: null, capacity: 50 },
    });
    expect(renamed.status, JSON.stringify(renamed.body)).toBe(200);
    expect(renamed.body).toMatchObject({ name: 'renamed', region: null, capacity: 50 });
    const badConnection = await t.request({
      method: 'PATCH',
      url: `/v1/data-planes/${id}`,
      payload: { connection: { ...vendor.connection, user: 'postgres' } },
    });
    expect(badConnection.status).toBe(422);
    expect(badConnection.body.code).toBe('data_plane_role_too_powerful');
    expect((await t.request({ method: 'GET', url: `/v1/data-planes/${id}` })).body.connection.user).toBe(
      vendor.connection.user,
    );

    // A tenant on it: retiring is refused.
    await applyPlans(t);
    const tenant = await createTenant(t, { plan: 'pro', data_plane: id });
    const refused = await t.request({ method: 'DELETE', url: `/v1/data-planes/${id}` });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'data_plane_in_use', tenants: 1 });
    expect((await t.request({ method: 'GET', url: `/v1/data-planes/${id}` })).body.tenants).toBe(1);
    // The tenant moves off it (by hand: moving tenants between data planes is not built yet).
    await sql`update tenantry.tenants set data_plane_id = 'dpl_default',
        resources = jsonb_set(resources, '{data_plane}', '"dpl_default"') where id = ${tenant.id}`.execute(
      t.services.database.db,
    );
    const retired = await t.request({ method: 'DELETE', url: `/v1/data-planes/${id}` });
    expect(retired.status, JSON.stringify(retired.body)).toBe(200);
    expect(retired.body.retired_at).not.toBeNull();
    expect(retired.body.connection).toBeNull();
    const row = await t.services.database.db
      .selectFrom('data_planes')
      .select('connection_sealed')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row.connection_sealed).toBeNull();
    await expect(t.services.dataPlaneConnector.run(id, async () => 1)).rejects.toThrow(/retired/);
    const listed = await t.request({ method: 'GET', url: '/v1/data-planes' });
    expect(listed.body.data.map((p: { id: string }) => p.id)).not.toContain(id);
    const defaultPlane = await t.request({ method: 'DELETE', url: '/v1/data-planes/dpl_default' });
    expect(defaultPlane.status).toBe(400);
  });

  it('refuses a sealed connection copied from another data plane’s row (attack)', async () => {
    const a = await register(vendor.connection);
    const other = await testDataPlane('vendor');
    const b = await register(other.connection);
    const db = t.services.database.db;
    // Without the purpose binding, B's row would now log in with A's credentials.
    const sealedA = await db
      .selectFrom('data_planes')
      .select('connection_sealed')
      .where('id', '=', a.body.id)
      .executeTakeFirstOrThrow();
    await db
      .updateTable('data_planes')
      .set({ connection_sealed: sealedA.connection_sealed })
      .where('id', '=', b.body.id)
      .execute();
    const refused = t.services.dataPlaneConnector.run(b.body.id, async () => 1);
    await expect(refused).rejects.toBeInstanceOf(DataPlaneUnavailableError);
    await expect(refused).rejects.toThrow(/cannot be opened/);
  });

  it('lists with cursor pagination and filters', async () => {
    for (let i = 0; i < 4; i++) expect((await register(vendor.connection)).status).toBe(201);
    const first = await t.request({ method: 'GET', url: '/v1/data-planes?kind=vendor&limit=3' });
    expect(first.body.data).toHaveLength(3);
    const second = await t.request({
      method: 'GET',
      url: `/v1/data-planes?kind=vendor&limit=3&cursor=${first.body.next_cursor}`,
    });
    expect(second.body.next_cursor).toBeNull();
    const ids = [...first.body.data, ...second.body.data].map((p: { id: string }) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    // The four registered, and the control plane's own server.
    expect(ids).toHaveLength(5);
    expect(ids).toContain('dpl_default');
    const healthy = await t.request({ method: 'GET', url: '/v1/data-planes?health=healthy' });
    expect(healthy.body.data).toEqual([]);
    const customers = await t.request({ method: 'GET', url: '/v1/data-planes?kind=customer' });
    expect(customers.body.data).toEqual([]);
  });
});
