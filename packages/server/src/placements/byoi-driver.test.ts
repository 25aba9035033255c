import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { asSuperuser, byoiTenant, dropTestDataPlanes, testDataPlane } from '../../test/data-plane-support.ts';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { withAdmin } from '../../test/postgres-admin.ts';
import { applyPlans } from '../../test/tenant-support.ts';
import { ByoiDriver } from './byoi-driver.ts';
import type { PlacedTenant } from './placement-driver.ts';

/*
 * The byoi driver against customers' databases of the tests' own: it waits for the tenant's data
 * connection, validates it again, makes the app's schema as the customer's role (never adopting
 * one it does not own), runs the vendor's migrations, and exports, imports and verifies the
 * app's tables; deprovisioning leaves the customer's data.
 */

let t: TestApp;
beforeEach(async () => {
  t = await startTestApp();
  await applyPlans(t);
});
afterEach(() => t.close());
afterAll(() => dropTestDataPlanes());

function put(tenant: string, payload: Record<string, unknown>) {
  return t.request({ method: 'PUT', url: `/v1/tenants/${tenant}/data-connection`, payload });
}

describe('the byoi driver', () => {
  async function placed(tenantId: string): Promise<PlacedTenant<'byoi'>> {
    const row = await t.services.database.db
      .selectFrom('tenants')
      .select('resources')
      .where('id', '=', tenantId)
      .executeTakeFirstOrThrow();
    return { id: tenantId, resources: row.resources as PlacedTenant<'byoi'>['resources'] };
  }

  it('waits for the connection, then validates it, makes the schema, migrates, and exports and verifies', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'byoi-migrations-'));
    await writeFile(
      join(dir, '0001_notes.sql'),
      'create table notes (id int primary key, body text not null);',
    );
    const driver = new ByoiDriver({
      dataPlanes: t.services.dataPlanes,
      connector: t.services.dataPlaneConnector,
      appMigrationsDir: dir,
    });
    expect(driver.steps.map((s) => s.name)).toEqual(['connection', 'schema', 'app_migrations']);
    const [connection, schema, migrations] = driver.steps;
    if (!connection || !schema || !migrations) throw new Error('steps');
    const tenant = await byoiTenant(t, 'app');
    let current = await placed(tenant.id);
    expect(await connection.run(current)).toMatchObject({ status: 'waiting', for: 'customer_connection' });

    const customer = await testDataPlane('customer');
    const set = await put(tenant.id, customer.connection);
    expect(set.status).toBe(201);
    const connected = await connection.run(current);
    expect(connected).toEqual({
      status: 'done',
      resources: {
        placement: 'byoi',
        data_plane: set.body.id,
        database: customer.connection.database,
        schema: 'app',
      },
    });
    if (connected.status !== 'done' || !connected.resources) throw new Error('not connected');
    current = { id: tenant.id, resources: connected.resources };
    expect(await schema.run(current)).toEqual({ status: 'done' });
    // Again (a retry after a crash): the schema it made is kept.
    expect(await schema.run(current)).toEqual({ status: 'done' });
    // A key in the process's environment is not the driver's: it installs the binding with the key
    // loadConfig gave it (none here), so this customer's role, which may not create the binder
    // role, is never asked to.
    process.env.TENANTRY_BINDING_KEY = randomBytes(32).toString('hex');
    try {
      expect(await migrations.run(current)).toEqual({ status: 'done' });
    } finally {
      delete process.env.TENANTRY_BINDING_KEY;
    }
    const binding = await t.services.dataPlaneConnector.run(set.body.id, (db) =>
      sql<{
        installed: boolean;
      }>`select to_regnamespace('tenantry_private') is not null as installed`.execute(db),
    );
    expect(binding.rows).toEqual([{ installed: false }]);
    const owner = await t.services.dataPlaneConnector.run(set.body.id, (db) =>
      sql<{
        owner: string;
      }>`select tableowner as owner from pg_tables where schemaname = 'app' and tablename = 'notes'`.execute(
        db,
      ),
    );
    expect(owner.rows).toEqual([{ owner: customer.connection.user }]);
    await t.services.dataPlaneConnector.run(set.body.id, (db) =>
      sql`insert into app.notes values (1, 'a'), (2, 'b')`.execute(db),
    );
    expect(await driver.check(current)).toEqual({ ok: true, problems: [] });
    const batches = [];
    for await (const batch of driver.export(current)) batches.push(batch);
    expect(batches).toEqual([
      {
        table: 'notes',
        columns: ['id', 'body'],
        rows: [
          [1, 'a'],
          [2, 'b'],
        ],
      },
    ]);
    const digests = await driver.verify(current);
    expect(digests).toMatchObject([{ table: 'notes', rows: 2 }]);

    // Imported into another byoi tenant's database: the same digest.
    const other = await byoiTenant(t, 'app');
    const otherDb = await testDataPlane('customer');
    const otherSet = await put(other.id, otherDb.connection);
    const target: PlacedTenant<'byoi'> = {
      id: other.id,
      resources: {
        placement: 'byoi',
        data_plane: otherSet.body.id,
        database: otherDb.connection.database,
        schema: 'app',
      },
    };
    expect(await schema.run(target)).toEqual({ status: 'done' });
    expect(await migrations.run(target)).toEqual({ status: 'done' });
    await driver.import(
      target,
      (async function* () {
        yield* batches;
      })(),
    );
    expect(await driver.verify(target)).toEqual(digests);

    // Deprovisioning closes the connections and leaves the customer's data.
    await driver.deprovision(current);
    const rows = await t.services.dataPlaneConnector.run(set.body.id, (db) =>
      sql<{ n: number }>`select count(*)::int as n from app.notes`.execute(db),
    );
    expect(rows.rows).toEqual([{ n: 2 }]);
  });

  it('fails the connection step with the problem’s code when the role gained too much power, and never adopts a schema it does not own', async () => {
    const driver = new ByoiDriver({
      dataPlanes: t.services.dataPlanes,
      connector: t.services.dataPlaneConnector,
    });
    const [connection, schema] = driver.steps;
    if (!connection || !schema) throw new Error('steps');
    const tenant = await byoiTenant(t, 'app');
    const customer = await testDataPlane('customer');
    const set = await put(tenant.id, customer.connection);
    expect(set.status).toBe(201);
    const current: PlacedTenant<'byoi'> = {
      id: tenant.id,
      resources: {
        placement: 'byoi',
        data_plane: set.body.id,
        database: customer.connection.database,
        schema: 'app',
      },
    };
    // Someone else made the schema after the connection was validated.
    await asSuperuser(customer.connection.database, 'create schema app authorization postgres');
    expect(await schema.run(current)).toMatchObject({
      status: 'failed',
      code: 'data_plane_privilege_missing',
    });
    await withAdmin((client) => client.query(`alter role ${customer.connection.user} bypassrls`));
    expect(await connection.run(current)).toMatchObject({
      status: 'failed',
      code: 'data_plane_role_too_powerful',
    });
  });
});
