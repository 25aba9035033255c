import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adminUrl } from '../../../server/test/harness.ts';
import {
  ConnectionBudgetTimeoutError,
  TenantDatabasePools,
  type TenantDatabasePoolsOptions,
} from './tenant-database-pools.ts';

// Four scratch databases stand for four tenant databases; the pools connect to them as the
// admin, since what is under test is how many pools and connections exist, not who connects.
const suffix = randomBytes(4).toString('hex');
const databases = ['a', 'b', 'c', 'd'].map((name) => `tenantry_pools_${name}_${suffix}`);
const [dbA, dbB, dbC] = databases as [string, string, string, string];
let admin: pg.Client;
let applicationName: string;
let pools: TenantDatabasePools | undefined;

beforeAll(async () => {
  admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  for (const database of databases) await admin.query(`create database ${database}`);
});

afterEach(async () => {
  await pools?.end();
  pools = undefined;
});

afterAll(async () => {
  for (const database of databases) await admin.query(`drop database if exists ${database} with (force)`);
  await admin.end();
});

function open(options: Omit<TenantDatabasePoolsOptions, 'config'> = {}): TenantDatabasePools {
  // Each test's connections carry a name of their own, so the server can count them.
  applicationName = `tenantry_pools_${randomBytes(4).toString('hex')}`;
  pools = new TenantDatabasePools({
    ...options,
    config: (database) => {
      const url = new URL(adminUrl);
      url.pathname = `/${database}`;
      return { connectionString: url.toString(), application_name: applicationName };
    },
  });
  return pools;
}

/** Connections the server has open for this test, by database. */
async function serverConnections(): Promise<Record<string, number>> {
  const rows = await admin.query<{ datname: string; n: number }>(
    'select datname, count(*)::int as n from pg_stat_activity where application_name = $1 group by datname order by datname',
    [applicationName],
  );
  return Object.fromEntries(rows.rows.map((r) => [r.datname, r.n]));
}

async function databaseOf(client: pg.PoolClient): Promise<string> {
  return (await client.query<{ db: string }>('select current_database() as db')).rows[0]?.db ?? '';
}

describe('TenantDatabasePools', () => {
  it('connects to each tenant database and reuses a released connection', async () => {
    const p = open();
    const first = await p.connect(dbA);
    expect(await databaseOf(first)).toBe(dbA);
    const pid = (await first.query('select pg_backend_pid() as pid')).rows[0].pid;
    first.release();
    const again = await p.connect(dbA);
    expect((await again.query('select pg_backend_pid() as pid')).rows[0].pid).toBe(pid);
    again.release();
    expect(await serverConnections()).toEqual({ [dbA]: 1 });
    expect(p.stats()).toMatchObject({ pools: 1, connections: 1, retiring: 0, waiting: 0 });
  });

  it('keeps at most maxPools pools, evicting the least recently used, and closes its connections', async () => {
    const p = open({ maxPools: 2 });
    for (const database of [dbA, dbB, dbA, dbC]) (await p.connect(database)).release();
    // A was used after B, so B is the least recently used when C arrives.
    expect(p.stats().databases).toEqual([dbA, dbC]);
    await p.retired();
    expect(await serverConnections()).toEqual({ [dbA]: 1, [dbC]: 1 });
    expect(p.stats()).toMatchObject({ pools: 2, retiring: 0, connections: 2 });
  });

  it('ends an evicted pool only after its clients are released', async () => {
    const p = open({ maxPools: 1 });
    const held = await p.connect(dbA);
    const other = await p.connect(dbB);
    expect(p.stats()).toMatchObject({ pools: 1, retiring: 1, databases: [dbB] });
    // The evicted pool's client still works until it is given back.
    expect(await databaseOf(held)).toBe(dbA);
    expect(await serverConnections()).toEqual({ [dbA]: 1, [dbB]: 1 });
    held.release();
    other.release();
    await p.retired();
    expect(p.stats()).toMatchObject({ retiring: 0, connections: 1 });
    expect(await serverConnections()).toEqual({ [dbB]: 1 });
  });

  it('never opens more connections than the budget: a checkout waits for a released one', async () => {
    const p = open({ connectionBudget: 2, maxPerPool: 2 });
    const a1 = await p.connect(dbA);
    const a2 = await p.connect(dbA);
    const waiting = p.connect(dbB);
    // Let the checkout reach the budget and queue there.
    while (p.stats().waiting === 0) await new Promise((resolve) => setImmediate(resolve));
    expect(await serverConnections()).toEqual({ [dbA]: 2 });
    a1.release();
    const b = await waiting;
    expect(await databaseOf(b)).toBe(dbB);
    // The released connection was closed, not kept idle, so its slot could go to B.
    expect(await serverConnections()).toEqual({ [dbA]: 1, [dbB]: 1 });
    expect(p.stats().connections).toBe(2);
    a2.release();
    b.release();
  });

  it('ends an unused pool to free the budget for another database', async () => {
    const p = open({ connectionBudget: 1 });
    (await p.connect(dbA)).release();
    expect(await serverConnections()).toEqual({ [dbA]: 1 });
    const b = await p.connect(dbB);
    expect(await databaseOf(b)).toBe(dbB);
    b.release();
    await p.retired();
    expect(await serverConnections()).toEqual({ [dbB]: 1 });
    expect(p.stats()).toMatchObject({ databases: [dbB], connections: 1 });
  });

  it('fails a checkout that waits past acquireTimeoutMs, with the budget in the message', async () => {
    const p = open({ connectionBudget: 1, acquireTimeoutMs: 50 });
    const held = await p.connect(dbA);
    const error = await p.connect(dbB).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionBudgetTimeoutError);
    expect((error as Error).message).toContain('all 1 of the connection budget are in use');
    held.release();
    // The failed checkout left nothing behind: B can be reached once the budget allows.
    const b = await p.connect(dbB);
    expect(await databaseOf(b)).toBe(dbB);
    b.release();
    expect(p.stats().waiting).toBe(0);
  });

  it('closes pools unused for idleTimeoutMs, and only those', async () => {
    let now = 0;
    const p = open({ idleTimeoutMs: 60_000, now: () => now });
    (await p.connect(dbA)).release();
    now = 30_000;
    const b = await p.connect(dbB);
    now = 60_000;
    await p.closeIdle();
    // A has been unused for 60 s; B is in use, and was taken 30 s ago anyway.
    expect(p.stats().databases).toEqual([dbB]);
    expect(await serverConnections()).toEqual({ [dbB]: 1 });
    b.release();
    now = 120_000;
    await p.closeIdle();
    expect(p.stats()).toMatchObject({ pools: 0, connections: 0 });
    expect(await serverConnections()).toEqual({});
  });

  it('survives the server ending an idle connection (a tenant database dropped or restarted)', async () => {
    const p = open();
    (await p.connect(dbA)).release();
    await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [
      applicationName,
    ]);
    while (p.stats().connections > 0) await new Promise((resolve) => setImmediate(resolve));
    const again = await p.connect(dbA);
    expect(await databaseOf(again)).toBe(dbA);
    again.release();
  });

  it('end() waits for the clients in use, then closes everything and refuses new checkouts', async () => {
    const p = open();
    const held = await p.connect(dbA);
    (await p.connect(dbB)).release();
    const ended = p.end();
    expect(await databaseOf(held)).toBe(dbA);
    held.release();
    await ended;
    expect(await serverConnections()).toEqual({});
    await expect(p.connect(dbA)).rejects.toThrow('the tenant database pools are closed');
  });
});
