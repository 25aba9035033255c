import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  asSuperuser,
  byoiTenant,
  connectByoiTenant,
  dropTestDataPlanes,
  type TestDataPlane,
  testDataPlane,
} from '../../../server/test/data-plane-support.ts';
import { startTestApp, type TestApp } from '../../../server/test/harness.ts';
import { databaseUrl as adminDatabaseUrl, withAdmin } from '../../../server/test/postgres-admin.ts';
import { applyPlans, provisionedTenant } from '../../../server/test/tenant-support.ts';
import { BINDER_ROLE, byoiBindingKey, parseBindingKey } from '../data/index.ts';
import { type CoordinatedReport, coordinateMigrations, vendorTargets } from './coordinate.ts';

// The coordinator's default source reaches BYOI tenants in their customers' own databases: a
// schema tenant on the vendor's server and a byoi tenant whose database is a database of its own
// role on the local server (standing for the customer's server), made through the API.
const MIGRATIONS = {
  '0001_create_meetings.sql': 'create table meetings (id bigint primary key, title text not null);\n',
  '0002_add_starts_at.sql': 'alter table meetings add column starts_at timestamptz;\n',
};

let t: TestApp;
let origin: string;
let dir: string;
let schemaTenant: { id: string; slug: string };
let byoi: { id: string };
let customer: TestDataPlane;

beforeEach(async () => {
  process.env.TENANTRY_BINDING_KEY = randomBytes(32).toString('hex');
  t = await startTestApp();
  await applyPlans(t);
  origin = await t.app.listen({ port: 0, host: '127.0.0.1' });
  dir = await mkdtemp(join(tmpdir(), 'tenantry-rollout-byoi-'));
  schemaTenant = await provisionedTenant(t, { placement: 'schema' });
  // CREATEROLE: with a binding key, the runner installs the binding as the customer's role, as the
  // server's byoi provisioning does.
  customer = await testDataPlane('customer', { createrole: true });
  byoi = await byoiTenant(t, 'minutes');
  await connectByoiTenant(t, byoi.id, customer);
});

afterEach(async () => {
  delete process.env.TENANTRY_BINDING_KEY;
  await rm(dir, { recursive: true, force: true });
  // The binder role is the server's, shared by every database: only the customer's membership goes.
  await withAdmin((c) => c.query(`revoke ${BINDER_ROLE} from ${customer.connection.user} cascade`)).catch(
    () => {},
  );
  await dropTestDataPlanes();
  await t.close();
});

/** The HMAC inner key the binding stores for `key` (the key zero-padded to 64 bytes, XOR 0x36), in hex. */
function innerPad(key: Buffer): string {
  const block = Buffer.alloc(64);
  key.copy(block);
  return Buffer.from(block.map((byte) => byte ^ 0x36)).toString('hex');
}

async function write(...names: (keyof typeof MIGRATIONS)[]): Promise<void> {
  for (const name of names) await writeFile(join(dir, name), MIGRATIONS[name]);
}

function databaseUrl(): string {
  const target = t.db.target;
  if (!('url' in target)) throw new Error('the coordinator tests run on the postgres backend');
  return target.url;
}

async function rollout(token = t.token): Promise<CoordinatedReport> {
  const controlPlane = { url: origin, token };
  return coordinateMigrations({
    migrationsDir: dir,
    source: vendorTargets({ databaseUrl: databaseUrl(), controlPlane }),
    controlPlane,
  });
}

/** The byoi tenant's version and its tables' owners, read in the customer's database as its role. */
async function customerSide(): Promise<{ version: number; owners: string[] }> {
  const { host, port, database, user, password } = customer.connection;
  const client = new pg.Client({ host, port, database, user, password });
  await client.connect();
  try {
    const made = await client.query("select to_regclass('minutes.tenantry_migrations') is not null as made");
    const version = made.rows[0]?.made
      ? await client.query<{ v: number | null }>('select max(version) as v from minutes.tenantry_migrations')
      : { rows: [] };
    const owners = await client.query<{ o: string }>(
      "select distinct tableowner as o from pg_tables where schemaname = 'minutes'",
    );
    return { version: version.rows[0]?.v ?? 0, owners: owners.rows.map((r) => r.o) };
  } finally {
    await client.end();
  }
}

async function schemaVersion(): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl() });
  await client.connect();
  try {
    const { rows } = await client.query<{ v: number | null }>(
      `select max(version) as v from "${schemaTenant.id}".tenantry_migrations`,
    );
    return rows[0]?.v ?? 0;
  } finally {
    await client.end();
  }
}

function byTenant(report: CoordinatedReport) {
  return Object.fromEntries(report.targets.map((x) => [x.target.tenantId ?? 'pool', x]));
}

describe('coordinateMigrations across BYOI tenants', () => {
  it('applies a new migration to a schema tenant and a byoi tenant, in the customer’s database as its role, and records both', async () => {
    await write('0001_create_meetings.sql');
    expect((await rollout()).state).toBe('succeeded');
    await write('0002_add_starts_at.sql');

    const report = await rollout();

    expect(report.state).toBe('succeeded');
    const targets = byTenant(report);
    expect(targets[byoi.id]).toMatchObject({
      stage: 'verified',
      target: { placement: 'byoi', schema: 'minutes', database: customer.connection.database, role: null },
      result: { fromVersion: 1, toVersion: 2 },
    });
    expect(targets[schemaTenant.id]).toMatchObject({
      stage: 'verified',
      result: { fromVersion: 1, toVersion: 2 },
    });
    expect(await schemaVersion()).toBe(2);
    // The app's tables and the migrations table belong to the customer's role, as the server's
    // provisioning leaves them: one migrations table for both.
    expect(await customerSide()).toEqual({ version: 2, owners: [customer.connection.user] });
    // The binding installed in the customer's database holds the tenant's own key, never the vendor's.
    const client = new pg.Client({ connectionString: adminDatabaseUrl(customer.connection.database) });
    await client.connect();
    const installed = await client
      .query<{ key: string }>("select encode(ikey, 'hex') as key from tenantry_private.binding_key")
      .finally(() => client.end());
    const vendorKey = parseBindingKey(process.env.TENANTRY_BINDING_KEY as string);
    expect(installed.rows).toEqual([{ key: innerPad(byoiBindingKey(vendorKey, byoi.id)) }]);

    const run = await t.request({ method: 'GET', url: `/v1/migration-runs/${report.runId}` });
    expect(run.status).toBe(200);
    const recorded = Object.fromEntries(
      (run.body.targets as { target: string; placement: string; stage: string }[]).map((x) => [x.target, x]),
    );
    expect(recorded[byoi.id]).toMatchObject({ placement: 'byoi', stage: 'verified', version_after: 2 });
    expect(recorded[schemaTenant.id]).toMatchObject({
      placement: 'schema',
      stage: 'verified',
      version_after: 2,
    });
    expect(JSON.stringify(report)).not.toContain(customer.connection.password);
    expect(JSON.stringify(run.body)).not.toContain(customer.connection.password);
  });

  it('fails only the byoi target whose customer database cannot be reached, applies the others, and shows no password', async () => {
    await write('0001_create_meetings.sql');
    // The customer locks Tenantry's role out: its database is not reachable with the connection held.
    await asSuperuser('postgres', `alter role ${customer.connection.user} nologin`);

    const report = await rollout();

    expect(report.state).toBe('failed');
    const targets = byTenant(report);
    expect(targets[schemaTenant.id]?.stage).toBe('verified');
    expect(targets.pool?.stage).toBe('verified');
    expect(targets[byoi.id]).toMatchObject({
      stage: 'failed',
      result: { status: 'failed', error: { code: 'connection_failed' } },
    });
    expect(targets[byoi.id]?.result.error?.message).toMatch(/not permitted to log in/);
    expect(await schemaVersion()).toBe(1);
    const run = await t.request({ method: 'GET', url: `/v1/migration-runs/${report.runId}` });
    expect(JSON.stringify(report)).not.toContain(customer.connection.password);
    expect(JSON.stringify(run.body)).not.toContain(customer.connection.password);
    expect(run.body.targets).toContainEqual(
      expect.objectContaining({
        target: byoi.id,
        stage: 'failed',
        error: expect.objectContaining({ code: 'connection_failed' }),
      }),
    );
  });

  it('names the data-planes:connect scope when the token cannot read a byoi tenant’s connection, and still migrates the rest', async () => {
    await write('0001_create_meetings.sql');
    const key = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'release', scopes: ['tenants:read', 'migrations:write', 'migrations:read'] },
    });
    expect(key.status, JSON.stringify(key.body)).toBe(201);

    const report = await rollout(key.body.secret);

    const targets = byTenant(report);
    expect(targets[schemaTenant.id]?.stage).toBe('verified');
    expect(targets[byoi.id]).toMatchObject({
      stage: 'failed',
      result: { error: { code: 'connection_failed' } },
    });
    expect(targets[byoi.id]?.result.error?.message).toContain('data-planes:connect');
    expect((await customerSide()).version).toBe(0);
  });
});
