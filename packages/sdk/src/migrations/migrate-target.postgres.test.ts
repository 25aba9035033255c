import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { databaseUrl, withAdmin } from '../../../server/test/postgres-admin.ts';
import { clientSession, type FleetSession } from './migrate-fleet.ts';
import { type MigrationTarget, migrateTarget } from './migrate-target.ts';
import type { Migration } from './read-migrations.ts';

/*
 * A target whose transaction PostgreSQL rolls back as a deadlock (SQLSTATE 40P01) is run again:
 * raised here by PostgreSQL itself, from the post-check, as the server raises it when two
 * transactions' DDL meet. Only transient states are run again, and only three times in all.
 */

const name = `mt_${randomBytes(4).toString('hex')}`;
let opened: FleetSession;
const target: MigrationTarget = {
  placement: 'pool',
  tenantId: null,
  slug: null,
  schema: 'app',
  role: null,
  database: null,
};
const migrations: Migration[] = [
  {
    version: 1,
    name: '0001_notes',
    file: '0001_notes.sql',
    sql: 'create table notes (id int)',
    checksum: 'a'.repeat(64),
  },
];

beforeAll(async () => {
  await withAdmin((client) => client.query(`create database ${name}`));
  opened = await clientSession({ connectionString: databaseUrl(name) });
});
afterAll(async () => {
  await opened?.release(true);
  await withAdmin((client) => client.query(`drop database if exists ${name} with (force)`));
});

/** A post-check that has PostgreSQL raise `sqlstate` on its first `times` calls; counts its calls. */
function raising(sqlstate: string, times: number) {
  const calls = { n: 0 };
  return {
    calls,
    beforeCommit: async (session: FleetSession['session']) => {
      calls.n++;
      if (calls.n <= times)
        await session.query(
          `do $$ begin raise sqlstate '${sqlstate}' using message = 'raised by the test'; end $$`,
        );
      return null;
    },
  };
}

const applied = async () =>
  (await opened.session.query(`select to_regclass('app.tenantry_migrations') is not null as made`)).rows[0]
    ?.made;

it('runs a target again after a deadlock rolled it back, and applies each migration once', async () => {
  const check = raising('40P01', 1);
  const result = await migrateTarget(opened.session, target, migrations, {
    bindingKey: '',
    beforeCommit: check.beforeCommit,
  });
  expect(result).toMatchObject({ status: 'applied', error: null, fromVersion: 0, toVersion: 1 });
  expect(check.calls.n).toBe(2);
  const rows = (await opened.session.query('select version from app.tenantry_migrations')).rows;
  expect(rows).toEqual([{ version: 1 }]);
});

it('fails the target after three deadlocks, and a non-transient error at once, leaving it as it was', async () => {
  await opened.session.query('drop schema app cascade');
  const always = raising('40P01', 99);
  const result = await migrateTarget(opened.session, target, migrations, {
    bindingKey: '',
    beforeCommit: always.beforeCommit,
  });
  expect(result).toMatchObject({ status: 'failed', error: { code: 'error', message: 'raised by the test' } });
  expect(always.calls.n).toBe(3);
  const other = raising('42501', 99);
  const refused = await migrateTarget(opened.session, target, migrations, {
    bindingKey: '',
    beforeCommit: other.beforeCommit,
  });
  expect(refused).toMatchObject({ status: 'failed', error: { code: 'error' } });
  expect(other.calls.n).toBe(1);
  expect(await applied()).toBe(false);
});
