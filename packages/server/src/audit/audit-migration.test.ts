import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { OPERATOR_CHAIN, verifyAuditChains } from '@tenantry/core';
import { sql } from 'kysely';
import { type Migration, Migrator } from 'kysely/migration';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { backend, pgliteDatabase } from '../../test/harness.ts';
import { databaseUrl, withAdmin } from '../../test/postgres-admin.ts';
import { type Database, migrateToLatest, openDatabase } from '../db/index.ts';
import { appendAuditEntries, entryView, sha256Hex } from './audit-chain.ts';

/**
 * Migration 0015 on a database that has audit rows from before it: they are kept, numbered in
 * their chains in the order they were written, and sealed into the chain by the next append.
 */

const MIGRATIONS = fileURLToPath(new URL('../db/migrations/', import.meta.url));
let database: Database;
let drop: () => Promise<void>;

beforeAll(async () => {
  if (backend === 'pglite') {
    ({ database, drop } = await pgliteDatabase('initdb'));
  } else {
    const name = `tenantry_audit_migration_${randomBytes(6).toString('hex')}`;
    await withAdmin((client) => client.query(`create database ${name}`));
    database = await openDatabase({ url: databaseUrl(name) });
    drop = async () => {
      await database.close();
      await withAdmin((client) => client.query(`drop database if exists ${name} with (force)`));
    };
  }
});
afterAll(() => drop());

/** Applies the migrations before 0015, as a database upgraded from an earlier Tenantry has them. */
async function migrateBefore0015(): Promise<void> {
  const files = (await readdir(MIGRATIONS)).filter((f) => f.endsWith('.sql') && f < '0015').sort();
  const migrations: Record<string, Migration> = {};
  for (const file of files) {
    const text = await readFile(MIGRATIONS + file, 'utf8');
    migrations[file.replace(/\.sql$/, '')] = { up: async (db) => void (await sql.raw(text).execute(db)) };
  }
  // The migration table and lock of migrate.ts, so that migrateToLatest goes on from here.
  const migrator = new Migrator({
    db: database.db,
    provider: { getMigrations: async () => migrations },
    migrationTableSchema: 'tenantry',
    migrationTableName: 'schema_migrations',
    migrationLockTableName: 'schema_migrations_lock',
  });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error;
}

test('the audit rows of an earlier version are numbered into chains, kept, and sealed by the next append', async () => {
  await migrateBefore0015();
  await sql`
    insert into tenantry.audit_events (id, occurred_at, actor_type, actor_id, tenant_id, action, target_type, target_id, request_id, data)
    values
      ('aud_b', '2026-01-01T00:00:00.123456Z', 'api_key', 'key_1', 'ten_1', 'tenant.updated', 'tenant', 'ten_1', 'req_2', '{"fields":["name"]}'),
      ('aud_a', '2026-01-01T00:00:00.123456Z', 'api_key', 'key_1', 'ten_1', 'tenant.created', 'tenant', 'ten_1', 'req_1', '{}'),
      ('aud_c', '2026-01-02T00:00:00Z', 'system', 'scheduler', 'ten_1', 'tenant.suspended', 'tenant', 'ten_1', null, '{}'),
      ('aud_k', '2026-01-01T00:00:00Z', 'system', 'bootstrap', null, 'api_key.created', 'api_key', 'key_1', null, '{}')`.execute(
    database.db,
  );
  // The audit chain's migration is the first to run on such a database; later ones follow it.
  expect((await migrateToLatest(database.db))[0]).toBe('0015_audit_chain');

  const rows = await database.db
    .selectFrom('audit_events')
    .selectAll()
    .orderBy('chain_id')
    .orderBy('seq')
    .execute();
  expect(rows.map((r) => [r.id, r.chain_id, Number(r.seq), r.hash])).toEqual([
    ['aud_k', OPERATOR_CHAIN, 1, null],
    // The same time: by id.
    ['aud_a', 'ten_1', 1, null],
    ['aud_b', 'ten_1', 2, null],
    ['aud_c', 'ten_1', 3, null],
  ]);
  // Times are kept to the millisecond, as the hash covers them.
  expect(rows[1]?.occurred_at.toISOString()).toBe('2026-01-01T00:00:00.123Z');
  const heads = await database.db.selectFrom('audit_chain_heads').selectAll().orderBy('chain_id').execute();
  expect(heads.map((h) => [h.chain_id, Number(h.seq), h.hash])).toEqual([
    [OPERATOR_CHAIN, 1, null],
    ['ten_1', 3, null],
  ]);

  await database.db.transaction().execute((tx) =>
    appendAuditEntries(tx, [
      {
        actor: { type: 'api_key', id: 'key_1' },
        requestId: 'req_3',
        sourceIp: null,
        tenantId: 'ten_1',
        action: 'tenant.resumed',
        targetType: 'tenant',
        targetId: 'ten_1',
        before: { state: 'suspended' },
        after: { state: 'active' },
        data: {},
      },
    ]),
  );
  const chain = (
    await database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('chain_id', '=', 'ten_1')
      .orderBy('seq')
      .execute()
  ).map(entryView);
  expect(chain.map((e) => [e.id.startsWith('aud_') && e.id.length === 5 ? e.id : 'new', e.seq])).toEqual([
    ['aud_a', 1],
    ['aud_b', 2],
    ['aud_c', 3],
    ['new', 4],
  ]);
  expect(verifyAuditChains(chain, sha256Hex, []).ok).toBe(true);
});
