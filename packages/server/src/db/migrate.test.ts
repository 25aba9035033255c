import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, describe, expect, test } from 'vitest';
import { adminUrl, backend, pgliteDatabase } from '../../test/harness.ts';
import { type Database, openDatabase } from './database.ts';
import { migrateToLatest, migrationStatus, SchemaTooNewError } from './migrate.ts';

/** A database with nothing in it, on the backend under test; dropped after the test. */
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function emptyDatabase(): Promise<{ open(): Promise<Database> }> {
  if (backend === 'pglite') {
    const { database, drop } = await pgliteDatabase('initdb');
    cleanups.push(drop);
    return { open: async () => database };
  }
  const name = `tenantry_migrate_${randomBytes(6).toString('hex')}`;
  const admin = async (query: string) => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(query);
    } finally {
      await client.end();
    }
  };
  await admin(`create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const opened: Database[] = [];
  cleanups.push(async () => {
    for (const database of opened) await database.close();
    await admin(`drop database if exists ${name} with (force)`);
  });
  return {
    open: async () => {
      const database = await openDatabase({ url: url.toString() });
      opened.push(database);
      return database;
    },
  };
}

async function tables(database: Database): Promise<string[]> {
  const result = await sql<{ name: string }>`
    select table_name as name from information_schema.tables
    where table_schema = 'tenantry' order by table_name`.execute(database.db);
  return result.rows.map((r) => r.name);
}

describe('migrations', () => {
  test('apply to an empty database, and a second run is a no-op', async () => {
    const database = await (await emptyDatabase()).open();
    const before = await migrationStatus(database.db);
    expect(before.applied).toEqual([]);
    expect(before.unknown).toEqual([]);
    expect(before.pending.length).toBeGreaterThan(0);
    expect(before.pending).toContain('0001_foundation');

    const applied = await migrateToLatest(database.db);
    expect(applied).toEqual(before.pending);
    expect(await tables(database)).toEqual(
      expect.arrayContaining([
        'api_keys',
        'audit_events',
        'idempotency_keys',
        'jobs',
        'meters',
        'plan_versions',
        'plans',
        'tenants',
      ]),
    );
    const after = await migrationStatus(database.db);
    expect(after).toEqual({ applied: before.pending, pending: [], unknown: [] });

    const schemaBefore = await tables(database);
    expect(await migrateToLatest(database.db)).toEqual([]);
    expect(await tables(database)).toEqual(schemaBefore);
    expect(await migrationStatus(database.db)).toEqual(after);
  });

  test('several processes migrating at once apply each migration exactly once', async () => {
    const empty = await emptyDatabase();
    const databases = await Promise.all([empty.open(), empty.open(), empty.open()]);
    const results = await Promise.all(databases.map((d) => migrateToLatest(d.db)));
    const all = results.flat();
    const status = await migrationStatus(databases[0]?.db ?? (await empty.open()).db);
    expect(all.sort()).toEqual([...status.applied].sort());
    expect(status.pending).toEqual([]);
  });

  test('a database with a migration this build does not know is refused and left unchanged', async () => {
    const database = await (await emptyDatabase()).open();
    // What a newer Tenantry would leave behind, before this build has applied anything.
    await sql`create schema tenantry`.execute(database.db);
    await sql`create table tenantry.schema_migrations (name varchar(255) primary key, timestamp varchar(255) not null)`.execute(
      database.db,
    );
    await sql`insert into tenantry.schema_migrations values ('9999_from_the_future', '2030-01-01T00:00:00Z')`.execute(
      database.db,
    );
    const before = await tables(database);

    const error = await migrateToLatest(database.db).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(SchemaTooNewError);
    expect((error as SchemaTooNewError).unknown).toEqual(['9999_from_the_future']);
    expect((error as Error).message).toContain('9999_from_the_future');

    expect(await tables(database)).toEqual(before);
    const rows = await sql<{ name: string }>`select name from tenantry.schema_migrations`.execute(
      database.db,
    );
    expect(rows.rows.map((r) => r.name)).toEqual(['9999_from_the_future']);
    const status = await migrationStatus(database.db);
    expect(status.unknown).toEqual(['9999_from_the_future']);
    expect(status.pending).toContain('0001_foundation');
  });

  test('a migrated database that later meets an unknown migration is refused too', async () => {
    const database = await (await emptyDatabase()).open();
    await migrateToLatest(database.db);
    await sql`insert into tenantry.schema_migrations values ('0002_newer', '2030-01-01T00:00:00Z')`.execute(
      database.db,
    );
    await expect(migrateToLatest(database.db)).rejects.toThrow(/0002_newer/);
  });
});
