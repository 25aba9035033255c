import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropTestDataPlanes, testDataPlane } from '../../../server/test/data-plane-support.ts';
import type { TestApp } from '../../../server/test/harness.ts';
import { withAdmin } from '../../../server/test/postgres-admin.ts';
import { closedPort, silentServer } from '../../../server/test/silent-server.ts';
import { provisionedTenant } from '../../../server/test/tenant-support.ts';
import { startDataPlane } from '../../test/data-plane-support.ts';
import { runAsTenant } from '../context/index.ts';
import { ControlPlaneClient } from '../control-plane/index.ts';
import { DataPlaneNotConfiguredError, DataPlaneUnavailableError } from './data-plane-guard.ts';
import { PlacementDirectory } from './placement-directory.ts';
import { rowLevelSecuritySql } from './row-level-security.ts';
import { installTenantBinding, schemaTenantSql } from './tenant-binding.ts';
import { RowLevelSecurityError, TenantData } from './tenant-data.ts';

// Two vendor data planes on one PostgreSQL server: `dpl_default` (the control plane's own
// database) and a second database registered with POST /v1/data-planes, which stands for another
// server: the SDK reaches it only through the URL given for its id in `dataPlanes`. Each has the
// vendor's pool table `notes`, with row-level security, and the tenant binding installed.
const appRole = `tenantry_sdk_app_${randomBytes(4).toString('hex')}`;
const bindingKey = randomBytes(32).toString('hex');

let t: TestApp;
let dbUrl: string;
let controlPlaneUrl: string;
let admin: pg.Client;
let placements: PlacementDirectory;
let data: TenantData;
/** The second data plane's id and database. */
let plane: string;
let planeDb: string;
const tenants = {} as Record<'home' | 'poolA' | 'poolB' | 'schemaA' | 'schemaB' | 'databaseA', string>;
/** What afterAll closes: TenantData instances and clients. */
const closing: (() => Promise<unknown>)[] = [];

function urlAs(user: string, database?: string, port?: number): string {
  const url = new URL(dbUrl);
  url.username = user;
  url.password = '';
  if (database !== undefined) url.pathname = `/${database}`;
  if (port !== undefined) url.port = String(port);
  return url.toString();
}

function as<T>(tenantId: string, fn: () => Promise<T>): Promise<T> {
  return runAsTenant({ tenantId, subject: 'user_1', roles: [] }, fn);
}

function ids(
  source: TenantData,
  tenantId: string,
  sql = 'select id from notes order by id',
): Promise<string[]> {
  return as(tenantId, async () => (await source.query<{ id: string }>(sql)).rows.map((r) => r.id));
}

function failure(source: TenantData, tenantId: string, sql = 'select id from notes'): Promise<unknown> {
  return as(tenantId, () => source.transaction((db) => db.query(sql))).catch((error: unknown) => error);
}

/** Runs `text` as the superuser in the second data plane's database. */
async function onPlane(text: string, values: unknown[] = []): Promise<void> {
  const client = new pg.Client({ connectionString: urlAs(new URL(dbUrl).username, planeDb) });
  await client.connect();
  try {
    await client.query(text, values);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  ({ t, dbUrl, admin, controlPlaneUrl } = await startDataPlane(appRole, bindingKey));
  const vendor = await testDataPlane('vendor');
  planeDb = vendor.connection.database;
  // A vendor's server that may hold database tenants too.
  await withAdmin((c) => c.query(`alter role ${vendor.connection.user} createdb`));
  const registered = await t.request({
    method: 'POST',
    url: '/v1/data-planes',
    payload: { name: `second-${randomBytes(3).toString('hex')}`, connection: vendor.connection },
  });
  expect(registered.status, JSON.stringify(registered.body)).toBe(201);
  plane = registered.body.id;
  // The vendor's install on its second server, as on the first: the binding, and the pool table
  // owned by its migrations' role, open to the app's role for DML only.
  const client = new pg.Client({ connectionString: urlAs(new URL(dbUrl).username, planeDb) });
  await client.connect();
  await installTenantBinding(client, Buffer.from(bindingKey, 'hex'));
  await client.query(`revoke temporary on database ${planeDb} from public`);
  await client.query(`
    create table public.notes (tenant_id text not null, id text not null, body text, primary key (tenant_id, id));
    ${rowLevelSecuritySql('notes')}
    grant select, insert, update, delete on public.notes to ${appRole};`);
  await client.end();

  tenants.home = (await provisionedTenant(t, { placement: 'pool' })).id;
  for (const [key, placement] of [
    ['poolA', 'pool'],
    ['poolB', 'pool'],
    ['schemaA', 'schema'],
    ['schemaB', 'schema'],
    ['databaseA', 'database'],
  ] as const) {
    const tenant = await provisionedTenant(t, { placement, data_plane: plane });
    expect(tenant, JSON.stringify(tenant)).toMatchObject({ state: 'active', data_plane: plane });
    tenants[key] = tenant.id;
  }
  await admin.query(`insert into public.notes values ($1, 'home1', 'default plane')`, [tenants.home]);
  await onPlane(`insert into public.notes values ($1, 'a1', 'A'), ($1, 'a2', 'A'), ($2, 'b1', 'B')`, [
    tenants.poolA,
    tenants.poolB,
  ]);
  for (const [tenantId, row] of [
    [tenants.schemaA, 'sa1'],
    [tenants.schemaB, 'sb1'],
  ] as const) {
    // As the fleet migrations make a schema tenant's table: as its role, with the standard policy.
    await onPlane(`set role "tenantry_${tenantId}";
      create table "${tenantId}".notes (id text primary key, body text);
      insert into "${tenantId}".notes values ('${row}', 'schema');
      ${schemaTenantSql(tenantId, 'notes', tenantId)}`);
  }

  // The database tenant's table, made as its role in its own database on that server.
  const tenantDb = new pg.Client({
    connectionString: urlAs(new URL(dbUrl).username, `tenantry_${tenants.databaseA}`),
  });
  await tenantDb.connect();
  await tenantDb.query(`set role "tenantry_${tenants.databaseA}"`);
  await tenantDb.query(
    `create table notes (id text primary key, body text); insert into notes values ('da1', 'database')`,
  );
  await tenantDb.end();

  placements = new PlacementDirectory({
    controlPlane: new ControlPlaneClient({
      url: controlPlaneUrl,
      token: t.token,
    }),
  });
  data = new TenantData({
    url: urlAs(appRole),
    dataPlanes: { [plane]: urlAs(appRole, planeDb) },
    placements,
    bindingKey,
  });
  closing.push(() => data.close());
});

afterAll(async () => {
  for (const close of closing) await close();
  await admin?.end();
  // The second plane first: its tenants' roles own objects there, which the harness's drop would trip on.
  if (tenants.databaseA !== undefined)
    await withAdmin((c) => c.query(`drop database if exists "tenantry_${tenants.databaseA}" with (force)`));
  await dropTestDataPlanes();
  await t?.close();
  await withAdmin((c) => c.query(`drop role if exists ${appRole}`));
});

describe('tenants on a registered vendor data plane', () => {
  it('reaches pool, schema and database tenants there through the directory, and the default plane’s as before', async () => {
    expect(await ids(data, tenants.poolA)).toEqual(['a1', 'a2']);
    expect(await ids(data, tenants.poolB)).toEqual(['b1']);
    expect(await ids(data, tenants.schemaA)).toEqual(['sa1']);
    expect(await ids(data, tenants.schemaB)).toEqual(['sb1']);
    expect(await ids(data, tenants.databaseA)).toEqual(['da1']);
    expect(data.databaseStats().databases).toEqual([`${plane}/tenantry_${tenants.databaseA}`]);
    expect(await ids(data, tenants.home)).toEqual(['home1']);
    // A transaction too, and a write lands on that plane under the tenant's id.
    await as(tenants.poolB, () =>
      data.transaction((db) =>
        db.query(`insert into notes (tenant_id, id) values (tenantry.current_tenant(), 'b2')`),
      ),
    );
    expect(await ids(data, tenants.poolB)).toEqual(['b1', 'b2']);
    const client = new pg.Client({ connectionString: urlAs(new URL(dbUrl).username, planeDb) });
    await client.connect();
    closing.push(() => client.end());
    const landed = await client.query('select tenant_id from public.notes where id = $1', ['b2']);
    expect(landed.rows).toEqual([{ tenant_id: tenants.poolB }]);
  });

  it('keeps row-level security on that plane: a tenant’s SQL reads no other tenant’s rows there', async () => {
    // Asking for another tenant's rows by id, or all rows, gives only its own.
    expect(
      await ids(data, tenants.poolA, `select id from notes where tenant_id = '${tenants.poolB}'`),
    ).toEqual([]);
    expect(await ids(data, tenants.poolA, 'select id from public.notes order by id')).toEqual(['a1', 'a2']);
    // Forging the binding for B inside A's transaction: the MAC does not verify, so no rows at all.
    const forged = await as(tenants.poolA, () =>
      data.transaction(async (db) => {
        await db.query(`select set_config('tenantry.binding', $1, true)`, [
          `x.1.9999999999.${tenants.poolB}`,
        ]);
        return (await db.query('select id from notes')).rows;
      }),
    );
    expect(forged).toEqual([]);
    // A schema tenant naming the other's schema: its policy admits only its own binding.
    expect(await ids(data, tenants.schemaA, `select id from "${tenants.schemaB}".notes`)).toEqual([]);
    // The app's role cannot switch off row-level security there either.
    const off = await failure(data, tenants.poolA, 'alter table public.notes disable row level security');
    expect(off).toBeInstanceOf(Error);
    expect(
      await ids(data, tenants.poolA, `select id from notes where tenant_id = '${tenants.poolB}'`),
    ).toEqual([]);
  });

  it('refuses a tenant on a data plane the app has no URL for, naming the data plane and the option', async () => {
    const bare = new TenantData({ url: urlAs(appRole), placements, bindingKey });
    closing.push(() => bare.close());
    const error = await failure(bare, tenants.poolA);
    expect(error).toBeInstanceOf(DataPlaneNotConfiguredError);
    expect(error).toMatchObject({ tenantId: tenants.poolA, dataPlane: plane });
    expect((error as Error).message).toContain(`dataPlanes: { ${plane}:`);
    const viaQuery = await as(tenants.schemaA, () => bare.query('select 1')).catch((e: unknown) => e);
    expect(viaQuery).toBeInstanceOf(DataPlaneNotConfiguredError);
    expect(await ids(bare, tenants.home)).toEqual(['home1']);
  });

  it('checks row-level security on each data plane at its first use, refusing only that plane’s tenants', async () => {
    // A database whose notes table lacks row-level security, given as the second plane's URL.
    const leaky = `leaky_${randomBytes(4).toString('hex')}`;
    await withAdmin((c) => c.query(`create database ${leaky}`));
    const client = new pg.Client({ connectionString: urlAs(new URL(dbUrl).username, leaky) });
    await client.connect();
    await installTenantBinding(client, Buffer.from(bindingKey, 'hex'));
    await client.query(`create table notes (tenant_id text, id text); grant select on notes to ${appRole}`);
    await client.end();
    const unsafe = new TenantData({
      url: urlAs(appRole),
      dataPlanes: { [plane]: urlAs(appRole, leaky) },
      placements,
      bindingKey,
    });
    try {
      // It starts: the default plane is safe, and the other is checked when first used.
      await unsafe.start();
      const error = await failure(unsafe, tenants.poolA);
      expect(error).toBeInstanceOf(RowLevelSecurityError);
      expect(error).toMatchObject({ dataPlane: plane });
      expect((error as Error).message).toContain('notes');
      // A verdict, not an outage: it stands, and the default plane's tenants are served.
      expect(await failure(unsafe, tenants.poolB)).toBeInstanceOf(RowLevelSecurityError);
      expect(await ids(unsafe, tenants.home)).toEqual(['home1']);
    } finally {
      await unsafe.close();
      await withAdmin((c) => c.query(`drop database ${leaky} with (force)`));
    }
  });
});

describe('a dead data plane', () => {
  for (const [name, deadPort] of [
    ['accepts connections and never answers', async () => silentServer()],
    [
      'refuses connections',
      async () => ({ port: await closedPort(), accepted: () => 0, close: async () => {} }),
    ],
  ] as const)
    it(`(${name}) fails its tenants with DataPlaneUnavailableError, fast once its breaker opens, while every other tenant's queries go on`, async () => {
      const dead = await deadPort();
      const password = `secret-${randomBytes(8).toString('hex')}`;
      const deadUrl = new URL(urlAs(appRole, planeDb, dead.port));
      deadUrl.password = password;
      const guarded = new TenantData({
        url: urlAs(appRole),
        dataPlanes: { [plane]: deadUrl.toString() },
        placements,
        bindingKey,
        guard: {
          failuresToOpen: 2,
          connectTimeoutMs: 500,
          halfOpenAfterMs: 600_000,
          concurrency: 2,
          queue: 4,
        },
      });
      try {
        await guarded.start();
        // Concurrently: tenants on the dead plane, and tenants on the live default plane.
        const deadCalls = Array.from({ length: 6 }, (_, i) =>
          failure(guarded, i % 2 === 0 ? tenants.poolA : tenants.schemaA),
        );
        const liveCalls = Array.from({ length: 20 }, () => ids(guarded, tenants.home));
        const [deadResults, liveResults] = await Promise.all([
          Promise.all(deadCalls),
          Promise.all(liveCalls),
        ]);
        for (const ids of liveResults) expect(ids).toEqual(['home1']);
        for (const error of deadResults) {
          expect(error).toBeInstanceOf(DataPlaneUnavailableError);
          expect((error as DataPlaneUnavailableError).dataPlane).toBe(plane);
          expect([tenants.poolA, tenants.schemaA]).toContain((error as DataPlaneUnavailableError).tenantId);
          // Neither the password nor the URL is in what the app sees.
          expect(
            JSON.stringify({ message: (error as Error).message, stack: (error as Error).stack }),
          ).not.toContain(password);
          expect((error as Error).cause).toBeUndefined();
        }
        // The breaker is open: further calls are refused without touching the network.
        const accepted = dead.accepted();
        const refused = await Promise.all(Array.from({ length: 10 }, () => failure(guarded, tenants.poolB)));
        for (const error of refused) {
          expect(error).toBeInstanceOf(DataPlaneUnavailableError);
          expect((error as Error).message).toContain('circuit breaker is open');
          expect(error).toMatchObject({ tenantId: tenants.poolB, dataPlane: plane });
        }
        expect(dead.accepted()).toBe(accepted);
        // And the default plane's tenants, through both paths, still answer.
        expect(await ids(guarded, tenants.home)).toEqual(['home1']);
        expect(
          await as(tenants.home, () =>
            guarded.transaction(async (db) => (await db.query('select 1 as one')).rows),
          ),
        ).toEqual([{ one: 1 }]);
      } finally {
        await guarded.close();
        await dead.close();
      }
    });
});
