import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  asSuperuser,
  byoiTenant,
  connectByoiTenant,
  dropTestDataPlanes,
  type TestDataPlane,
  testDataPlane,
} from '../../../server/test/data-plane-support.ts';
import type { TestApp } from '../../../server/test/harness.ts';
import { withAdmin } from '../../../server/test/postgres-admin.ts';
import { auditRows, provisionedTenant } from '../../../server/test/tenant-support.ts';
import { startDataPlane } from '../../test/data-plane-support.ts';
import { runAsTenant } from '../context/index.ts';
import { ControlPlaneClient } from '../control-plane/index.ts';
import { DataPlaneUnavailableError } from './data-plane-guard.ts';
import { PlacementDirectory } from './placement-directory.ts';
import { byoiBindingKey, installTenantBinding } from './tenant-binding.ts';
import { TenantData } from './tenant-data.ts';

// A BYOI tenant made through the API (POST /v1/tenants placement byoi, then PUT its data
// connection), whose data lives in the customer's own database: the SDK reads the connection
// with the app key from the credentials route and runs the tenant's transactions there, in the
// app's schema, with the binding set. The customer's database is a database of its own role on
// the local server, standing for another server.
const appRole = `tenantry_sdk_app_${randomBytes(4).toString('hex')}`;
const bindingKey = randomBytes(32).toString('hex');

let t: TestApp;
let dbUrl: string;
let admin: pg.Client;
let controlPlaneUrl: string;
let appKey: string;
let customer: TestDataPlane;
let byoi: { id: string; dataPlane: string };
let pool: string;

function as<T>(tenantId: string, fn: () => Promise<T>): Promise<T> {
  return runAsTenant({ tenantId, subject: 'user_1', roles: [] }, fn);
}

function directory(): PlacementDirectory {
  return new PlacementDirectory({
    controlPlane: new ControlPlaneClient({ url: controlPlaneUrl, token: appKey }),
  });
}

function appData(
  placements: PlacementDirectory,
  options: Partial<ConstructorParameters<typeof TenantData>[0]> = {},
) {
  const url = new URL(dbUrl);
  url.username = appRole;
  url.password = '';
  return new TenantData({ url: url.toString(), placements, bindingKey, ...options });
}

async function reads(tenantId: string): Promise<number> {
  return (await auditRows(t, tenantId)).filter((row) => row.action === 'data_connection.read').length;
}

beforeAll(async () => {
  ({ t, dbUrl, admin, controlPlaneUrl } = await startDataPlane(appRole, bindingKey));
  // The vendor's app holds an app key, not an operator key: it is what may read the connection.
  const key = await t.request({
    method: 'POST',
    url: '/v1/api-keys',
    payload: { name: 'app', preset: 'app' },
  });
  expect(key.status, JSON.stringify(key.body)).toBe(201);
  appKey = key.body.secret;

  const tenant = await byoiTenant(t, 'minutes');
  customer = await testDataPlane('customer');
  const shown = await connectByoiTenant(t, tenant.id, customer);
  byoi = { id: tenant.id, dataPlane: shown.data_plane };
  // What the vendor's migrations make there: the binding (installed by a superuser, as
  // TENANTRY_BINDING_KEY has the byoi driver do, with the tenant's own key) and the app's table in its schema.
  const superuser = new URL(dbUrl);
  superuser.pathname = `/${customer.connection.database}`;
  const client = new pg.Client({ connectionString: superuser.toString() });
  await client.connect();
  await installTenantBinding(client, byoiBindingKey(Buffer.from(bindingKey, 'hex'), tenant.id));
  await client.end();
  const { host, port, database, user, password } = customer.connection;
  const owner = new pg.Client({ host, port, database, user, password });
  await owner.connect();
  await owner.query(`create table minutes.notes (id text primary key, body text, tenant_id text)`);
  await owner.query(`insert into minutes.notes values ('c1', 'customer', null)`);
  await owner.end();

  pool = (await provisionedTenant(t, { placement: 'pool' })).id;
  await admin.query(`insert into public.notes values ($1, 'p1', 'pool')`, [pool]);
});

afterAll(async () => {
  await admin?.end();
  await dropTestDataPlanes();
  await t?.close();
  await withAdmin((c) => c.query(`drop role if exists ${appRole}`));
});

describe('a BYOI tenant through the SDK', () => {
  it('runs its transactions in the customer’s database, in the app’s schema, with the binding set', async () => {
    const placements = directory();
    const data = appData(placements);
    try {
      const placement = await placements.usable(byoi.id);
      expect(placement).toMatchObject({
        placement: 'byoi',
        dataPlane: byoi.dataPlane,
        schema: 'minutes',
        resources: { placement: 'byoi', data_plane: byoi.dataPlane, database: customer.connection.database },
      });
      const seen = await as(byoi.id, () =>
        data.transaction(async (db) => {
          await db.query(`insert into notes values ('c2', 'written', tenantry.current_tenant())`);
          return (
            await db.query<{ id: string; tenant_id: string | null; db: string; schema: string }>(
              'select id, tenant_id, current_database() as db, current_schema() as schema from notes order by id',
            )
          ).rows;
        }),
      );
      expect(seen).toEqual([
        { id: 'c1', tenant_id: null, db: customer.connection.database, schema: 'minutes' },
        { id: 'c2', tenant_id: byoi.id, db: customer.connection.database, schema: 'minutes' },
      ]);
      // query() too, and the pool tenant on the vendor's server alongside.
      const viaQuery = await as(byoi.id, () =>
        data.query<{ id: string }>('select id from notes order by id'),
      );
      expect(viaQuery.rows.map((r) => r.id)).toEqual(['c1', 'c2']);
      // query()'s one round trip: the app's schema holds after the clean-session reset, and SQL
      // that moves search_path for the session does not carry it to the next statement.
      await as(byoi.id, () => data.query(`select set_config('search_path', 'public', false)`));
      const after = await as(byoi.id, () =>
        data.query<{ schema: string; tenant: string }>(
          'select current_schema() as schema, tenantry.current_tenant() as tenant',
        ),
      );
      expect(after.rows).toEqual([{ schema: 'minutes', tenant: byoi.id }]);
      const pooled = await as(pool, () => data.query<{ id: string }>('select id from notes'));
      expect(pooled.rows.map((r) => r.id)).toEqual(['p1']);
      // Its pool is in the one budget of tenant databases.
      expect(data.databaseStats().databases).toEqual([`${byoi.dataPlane}/${customer.connection.database}`]);
    } finally {
      await data.close();
    }
  });

  it('reads the connection once for many transactions (each read is audited), and again once invalidated', async () => {
    const placements = directory();
    const data = appData(placements);
    try {
      const before = await reads(byoi.id);
      await Promise.all(
        Array.from({ length: 8 }, () => as(byoi.id, () => data.query('select count(*) from notes'))),
      );
      expect(await reads(byoi.id)).toBe(before + 1);
      placements.invalidate(byoi.id);
      await as(byoi.id, () => data.query('select 1'));
      expect(await reads(byoi.id)).toBe(before + 2);
    } finally {
      await data.close();
    }
  });

  it('opens a new pool once the connection is set again (a rotated password), retiring the old one', async () => {
    const placements = directory();
    const data = appData(placements);
    try {
      const pid = () =>
        as(
          byoi.id,
          async () => (await data.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid,
        );
      const first = await pid();
      expect(await pid()).toBe(first);
      const put = await t.request({
        method: 'PUT',
        url: `/v1/tenants/${byoi.id}/data-connection`,
        payload: customer.connection,
      });
      expect(put.status, JSON.stringify(put.body)).toBeLessThan(300);
      const before = await reads(byoi.id);
      placements.invalidate(byoi.id);
      const rows = await as(byoi.id, () => data.query<{ id: string }>('select id from notes order by id'));
      expect(rows.rows.map((r) => r.id)).toContain('c1');
      expect(await reads(byoi.id)).toBe(before + 1);
      // A connection of the new pool, not the old one's.
      expect(await pid()).not.toBe(first);
      expect(data.databaseStats()).toMatchObject({
        pools: 1,
        databases: [`${byoi.dataPlane}/${customer.connection.database}`],
      });
      // The old pool, opened with the connection as it was, ends: only the new one holds a connection.
      await vi.waitFor(() => expect(data.databaseStats()).toMatchObject({ connections: 1, retiring: 0 }), {
        timeout: 5_000,
      });
    } finally {
      await data.close();
    }
  });

  it('answers DataPlaneUnavailableError for that tenant only when the customer’s database is out, naming no credential', async () => {
    const placements = directory();
    const data = appData(placements, {
      guard: { failuresToOpen: 2, halfOpenAfterMs: 600_000, connectTimeoutMs: 2_000 },
    });
    const logged: string[] = [];
    // Whatever the SDK would print, on any console level, is kept to be searched.
    const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((level) =>
      vi.spyOn(globalThis.console, level).mockImplementation((...args: unknown[]) => {
        logged.push(args.map(String).join(' '));
      }),
    );
    const { user, password, database } = customer.connection;
    try {
      expect((await as(byoi.id, () => data.query('select 1 as one'))).rows).toEqual([{ one: 1 }]);
      // The customer's DBA locks the app's role out and drops its sessions.
      await asSuperuser(
        database,
        `alter role ${user} nologin; select pg_terminate_backend(pid) from pg_stat_activity where usename = '${user}' and pid <> pg_backend_pid()`,
      );
      const failures = await Promise.all(
        Array.from({ length: 4 }, () =>
          as(byoi.id, () => data.transaction((db) => db.query('select 1'))).catch((e: unknown) => e),
        ),
      );
      const others = await Promise.all(
        Array.from({ length: 10 }, () => as(pool, () => data.query<{ id: string }>('select id from notes'))),
      );
      for (const result of others) expect(result.rows).toEqual([{ id: 'p1' }]);
      for (const error of failures) {
        expect(error).toBeInstanceOf(DataPlaneUnavailableError);
        expect(error).toMatchObject({ tenantId: byoi.id, dataPlane: byoi.dataPlane });
      }
      // Once open, the breaker refuses at once.
      const refused = await as(byoi.id, () => data.query('select 1')).catch((e: unknown) => e);
      expect((refused as Error).message).toContain('circuit breaker is open');
      for (const error of [...failures, refused] as Error[]) {
        const shown = `${error.message}\n${error.stack}\n${JSON.stringify(error)}\n${String(error.cause)}`;
        expect(shown).not.toContain(password);
      }
      expect(logged.join('\n')).not.toContain(password);
    } finally {
      for (const spy of spies) spy.mockRestore();
      await asSuperuser(database, `alter role ${user} login`);
      await data.close();
    }
  });
});
