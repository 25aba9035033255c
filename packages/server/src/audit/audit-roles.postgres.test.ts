import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { recordAudit } from '../../test/audit-support.ts';
import { adminUrl } from '../../test/harness.ts';
import { withAdmin } from '../../test/postgres-admin.ts';
import { type Database, migrateToLatest, openDatabase } from '../db/index.ts';
import { systemContext } from '../request-context.ts';

/**
 * The deployment the catalog test stands in for, for real: a control plane whose role is not a
 * superuser (it has CREATEROLE, as the schema and database placements need) migrates its own
 * database and then connects as itself. The migration must succeed, and the role must come out
 * of it able to append to the audit log and read it, never to change or remove an entry.
 */

const suffix = randomBytes(4).toString('hex');
const role = `tenantry_server_${suffix}`;
const name = `tenantry_audit_roles_${suffix}`;
const password = randomBytes(12).toString('hex');
let database: Database;

beforeAll(async () => {
  await withAdmin(async (client) => {
    await client.query(`create role ${role} login createrole password '${password}'`);
    await client.query(`create database ${name} owner ${role}`);
  });
  const url = new URL(adminUrl);
  url.username = role;
  url.password = password;
  url.pathname = `/${name}`;
  database = await openDatabase({ url: url.toString() });
});

afterAll(async () => {
  await database.close();
  await withAdmin(async (client) => {
    await client.query(`drop database if exists ${name} with (force)`);
    await client.query(`drop role if exists ${role}`);
  });
});

test('a non-superuser server role migrates, then may append and read the audit log but not change it', async () => {
  const db = database.db;
  expect(await migrateToLatest(db)).toContain('0015_audit_chain');
  const who = await sql<{ superuser: boolean; memberships: string[] }>`
    select (select rolsuper from pg_roles where rolname = current_user) as superuser,
      array(select pg_get_userbyid(m.roleid)::text from pg_auth_members m
        where m.member = (select oid from pg_roles where rolname = current_user) order by 1) as memberships`.execute(
    db,
  );
  expect(who.rows).toEqual([{ superuser: false, memberships: ['tenantry_audit_writer'] }]);

  await db.transaction().execute((tx) =>
    recordAudit(tx, systemContext('test'), {
      action: 'tenant.updated',
      targetType: 'tenant',
      targetId: 'ten_1',
      tenantId: 'ten_1',
    }),
  );
  expect(
    (await db.selectFrom('audit_events').select(['action', 'seq']).execute()).map((e) => e.action),
  ).toEqual(['tenant.updated']);
  for (const attack of [
    "update tenantry.audit_events set data = '{}'",
    'delete from tenantry.audit_events',
    'truncate tenantry.audit_events',
    'delete from tenantry.audit_chain_heads',
    'alter table tenantry.audit_events disable trigger user',
  ]) {
    await expect(sql.raw(attack).execute(db), attack).rejects.toThrow(/permission denied|must be owner/);
  }
  expect((await db.selectFrom('audit_events').select('id').execute()).length).toBe(1);
});
