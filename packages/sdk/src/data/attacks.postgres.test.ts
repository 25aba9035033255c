import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  asSuperuser,
  byoiTenant,
  connectByoiTenant,
  dropTestDataPlanes,
  type TestDataPlane,
  testDataPlane,
} from '../../../server/test/data-plane-support.ts';
import { adminUrl, type TestApp } from '../../../server/test/harness.ts';
import { withAdmin } from '../../../server/test/postgres-admin.ts';
import { provisionedTenant } from '../../../server/test/tenant-support.ts';
import { startDataPlane } from '../../test/data-plane-support.ts';
import { runAsTenant } from '../context/index.ts';
import { ControlPlaneClient } from '../control-plane/index.ts';
import { PlacementDirectory } from './placement-directory.ts';
import { rowLevelSecuritySql } from './row-level-security.ts';
import { ScopedStatement } from './scoped-statement.ts';
import {
  BINDING_SETTING,
  byoiBindingKey,
  installTenantBinding,
  schemaTenantSql,
  TenantBinder,
} from './tenant-binding.ts';
import { TenantData } from './tenant-data.ts';

// SQL a tenant's request controls (injection, or careless SQL), run inside tenant A's scoped
// statement or transaction through the SDK, trying to read or write tenant B's rows or to change
// what the next checkout of the connection does. Every attempt runs on a pool of ONE connection,
// so the next checkout is the same session. After each: B's rows are unchanged, nothing of B's
// came back, and the next checkout (B's, then A's) sees exactly its own rows on a clean session.
// The tenants: pool A and B, schema and database tenants A and B, and BYOI tenants A and B, each
// in its customer's own database (a login role owning it, no CREATEROLE, a member of the binding's
// role as docs/byoi.md has the DBA make it), its table in the app's schema under the same policy
// as the pool's, bound with the tenant's own key.

const appRole = `tenantry_attack_app_${randomBytes(4).toString('hex')}`;
const bindingKey = randomBytes(32).toString('hex');
const SECRET = 'SECRET-OF-B';

let t: TestApp;
let controlPlaneUrl: string;
let dbUrl: string;
let admin: pg.Client;
/** The superuser on database tenant B's database. */
let adminDbB: pg.Client;
/** The superuser on BYOI tenant B's customer database. */
let adminByoiB: pg.Client;
let data: TenantData;
const ids = {} as Record<
  'A' | 'B' | 'schemaA' | 'schemaB' | 'databaseA' | 'databaseB' | 'byoiA' | 'byoiB',
  string
>;
/** The BYOI tenants' customers' databases. */
const customers = {} as Record<'byoiA' | 'byoiB', TestDataPlane>;
/** The app's schema in the BYOI customers' databases. */
const BYOI_SCHEMA = 'app';

function urlAs(user: string): string {
  const url = new URL(dbUrl);
  url.username = user;
  url.password = '';
  return url.toString();
}

/** One attempt: statements run in order as tenant A (each may fail; failures are the point). */
interface Attack {
  readonly name: string;
  /** `query`: each statement through data.query(); `transaction`: all in one data.transaction(). */
  readonly via: 'query' | 'transaction';
  readonly tenant?: 'A' | 'schemaA' | 'databaseA' | 'byoiA';
  readonly sql: readonly string[];
}

/** What tenant A's attempt returned (rows as JSON), errors included as text. */
async function runAttack(attack: Attack): Promise<string> {
  const tenantId = ids[attack.tenant ?? 'A'];
  const seen: unknown[] = [];
  await runAsTenant({ tenantId, subject: 'attacker', roles: [] }, async () => {
    if (attack.via === 'query') {
      for (const sql of fill(attack.sql))
        seen.push(
          await data.query(sql).then(
            (r) => r.rows,
            (e: Error) => e.message,
          ),
        );
    } else {
      await data
        .transaction(async (db) => {
          for (const sql of fill(attack.sql))
            seen.push(
              await db.query(sql).then(
                (r) => r.rows,
                (e: Error) => e.message,
              ),
            );
        })
        .catch((e: Error) => seen.push(e.message));
    }
  });
  return JSON.stringify(seen);
}

/** Put the tenants' ids and names into an attack's SQL. */
function fill(sql: readonly string[]): string[] {
  return sql.map((s) =>
    s
      .replaceAll('{B}', ids.B)
      .replaceAll('{A}', ids.A)
      .replaceAll('{schemaB}', ids.schemaB)
      .replaceAll('{roleB}', `tenantry_${ids.schemaB}`)
      .replaceAll('{dbB}', `tenantry_${ids.databaseB}`)
      .replaceAll('{roleDbB}', `tenantry_${ids.databaseB}`)
      .replaceAll('{app}', appRole)
      .replaceAll('{byoiB}', ids.byoiB)
      .replaceAll('{byoiDbB}', customers.byoiB.connection.database)
      .replaceAll('{byoiRoleB}', customers.byoiB.connection.user),
  );
}

/** B's pool rows and the schema and database tenants' rows, as the admin sees them. */
async function victims(): Promise<string> {
  const pool = await admin.query(
    `select tenant_id, id, body from public.notes where tenant_id <> $1 order by 1, 2`,
    [ids.A],
  );
  const schema = await admin.query(`select id, body from "${ids.schemaB}".notes order by 1`);
  return JSON.stringify([pool.rows, schema.rows, await databaseB(), await byoiB()]);
}

/** BYOI tenant B's customer database (its settings, by oid) and its rows, as the server's superuser sees them. */
async function byoiB(): Promise<unknown[]> {
  const { database, user } = customers.byoiB.connection;
  const settings = await admin.query(
    `select d.datname, d.datconnlimit, d.datallowconn, pg_get_userbyid(d.datdba) as owner, d.datacl::text as acl,
       (select s.setconfig::text from pg_db_role_setting s where s.setdatabase = d.oid and s.setrole = 0) as settings
     from pg_database d where d.datname = $1 or d.datname = 'stolen_byoi'`,
    [database],
  );
  const role = await admin.query(
    `select rolname, rolsuper, rolbypassrls, rolcreaterole from pg_roles where rolname = $1`,
    [user],
  );
  const rows = await adminByoiB.query(`select tenant_id, id, body from ${BYOI_SCHEMA}.notes order by 2`);
  return [settings.rows, role.rows, rows.rows];
}

/** Database tenant B's database, its role, and its rows, as the admin sees them. */
async function databaseB(): Promise<unknown[]> {
  const role = `tenantry_${ids.databaseB}`;
  // By oid: a rename must show as a change, not as a missing row.
  const database = await admin.query(
    `select d.datname, d.datconnlimit, d.datallowconn, pg_get_userbyid(d.datdba) as owner, d.datacl::text as acl,
       shobj_description(d.oid, 'pg_database') as comment,
       (select s.setconfig::text from pg_db_role_setting s where s.setdatabase = d.oid and s.setrole = 0) as settings
     from pg_database d
     where d.oid = (select oid from pg_database where datname = $1 union select d2.oid from pg_database d2 where d2.datname = 'stolen')`,
    [role],
  );
  const roles = await admin.query(
    `select a.rolname, a.rolcanlogin, a.rolpassword is not null as password,
       array(select m.rolname::text from pg_auth_members x join pg_roles m on m.oid = x.member where x.roleid = a.oid order by 1) as members
     from pg_authid a where a.rolname = $1`,
    [role],
  );
  const rows = await adminDbB.query('select id, body from notes order by 1');
  return [database.rows, roles.rows, rows.rows];
}

/** The session state a later checkout must find as a fresh connection has it. */
const SESSION_PROBE = `select current_user as role, current_setting('search_path') as path,
   current_setting('statement_timeout') as timeout, current_setting('row_security') as rls,
   (select count(*)::int from pg_prepared_statements where from_sql) as prepared,
   (select count(*)::int from pg_listening_channels()) as listening,
   (select count(*)::int from pg_cursors where name <> '') as cursors,
   (select count(*)::int from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()) as locks`;

/**
 * What the next checkout of the one connection sees and runs as, through the SDK: the tenant's
 * rows, and the session as a query() and as a transaction() find it, the one named by `first`
 * taking the connection straight after whatever ran on it before.
 */
async function nextCheckout(tenantId: string, first: 'query' | 'transaction' = 'query'): Promise<unknown> {
  return runAsTenant({ tenantId, subject: 'victim', roles: [] }, async () => {
    const viaTransaction = () => data.transaction(async (db) => (await db.query(SESSION_PROBE)).rows[0]);
    const viaQuery = async () => (await data.query(SESSION_PROBE)).rows[0];
    const before = first === 'query' ? await viaQuery() : await viaTransaction();
    const rows = (await data.query<{ body: string }>('select body from notes order by id')).rows;
    const after = first === 'query' ? await viaTransaction() : await viaQuery();
    return { rows: rows.map((r) => r.body), sessions: [before, after] };
  });
}

const forgedValues: readonly [string, string][] = [
  ['the raw id of B', `'{B}'`],
  [
    'A’s own binding with B’s id in place of A’s',
    `replace(current_setting('tenantry.binding'), '{A}', '{B}')`,
  ],
  [
    'A’s binding with its MAC kept and its message rewritten for B',
    `left(current_setting('tenantry.binding'), 65) || pg_backend_pid() || '.9999999999.{B}'`,
  ],
  ['a binding for B with a MAC of zeros', `repeat('0', 64) || '.' || pg_backend_pid() || '.9999999999.{B}'`],
  [
    'a binding for B signed with a guessed key',
    `encode(sha256(convert_to(pg_backend_pid() || '.9999999999.{B}', 'UTF8')), 'hex') || '.' || pg_backend_pid() || '.9999999999.{B}'`,
  ],
  [
    'a binding for B with a MAC of 64 characters that are not hex',
    `repeat('g', 64) || '.' || pg_backend_pid() || '.9999999999.{B}'`,
  ],
  [
    'A’s binding with the dot after its MAC replaced, its fields shifted',
    `overlay(current_setting('tenantry.binding') placing '-' || pg_backend_pid() from 65 for 1)`,
  ],
  ['an empty value', `''`],
  ['a huge value', `repeat('x', 100000)`],
];

const forgeMethods: readonly [string, (value: string) => string[]][] = [
  [
    'set_config local, then read',
    (v) => [`select set_config('tenantry.binding', ${v}, true)`, 'select body from notes'],
  ],
  [
    'set_config session-wide, then read',
    (v) => [`select set_config('tenantry.binding', ${v}, false)`, 'select body from notes'],
  ],
  [
    'set_config inside the reading statement',
    (v) => [`select body from notes, (select set_config('tenantry.binding', ${v}, true)) s`],
  ],
  [
    'a DO block that sets it, then an update',
    (v) => [
      `do $$ begin perform set_config('tenantry.binding', ${v}, true); end $$`,
      `update notes set body = 'PWNED' returning body`,
    ],
  ],
  [
    'set_config, then insert a row for B',
    (v) => [
      `select set_config('tenantry.binding', ${v}, true)`,
      `insert into notes values ('{B}', 'x9', 'PWNED')`,
    ],
  ],
];

const attacks: Attack[] = [];
for (const [valueName, value] of forgedValues)
  for (const [methodName, method] of forgeMethods)
    for (const via of ['query', 'transaction'] as const)
      attacks.push({ name: `forge: ${valueName}, ${methodName}`, via, sql: method(value) });

for (const [name, sql] of [
  [
    'SET LOCAL the legacy tenantry.tenant_id to B',
    [`set local tenantry.tenant_id = '{B}'`, 'select body from notes'],
  ],
  ['SET the binding to B', [`set tenantry.binding = '{B}'`, 'select body from notes']],
  ['RESET the binding', ['reset tenantry.binding', 'select body from notes']],
  ['RESET ALL', ['reset all', 'select body from notes']],
  ['DISCARD ALL', ['discard all', 'select body from notes']],
  [
    'read another backend’s binding from pg_stat_activity',
    [`select query from pg_stat_activity where query like '%{B}%'`],
  ],
  ['read the key table', ['select * from tenantry_private.binding_key']],
  ['list the key schema', [`select * from pg_tables where schemaname = 'tenantry_private'`]],
  ['call the functions that answer the key', ['select tenantry_private.ikey(), tenantry_private.okey()']],
  [
    'read the key functions’ source in the catalog',
    [`select prosrc from pg_proc where pronamespace = 'tenantry_private'::regnamespace`],
  ],
  [
    'call the binder function with a crafted setting',
    [`select tenantry.current_tenant() from (select set_config('tenantry.binding', '{B}', true)) s`],
  ],
  [
    'replace the binder function',
    [
      'create or replace function tenantry.current_tenant() returns text language sql as $$ select null::text $$',
    ],
  ],
  [
    'a function of the same name in public',
    ['create function public.current_tenant() returns text language sql as $$ select 1::text $$'],
  ],
  ['alter the binder function', ['alter function tenantry.current_tenant() security invoker']],
  ['drop the policy', ['drop policy tenantry_tenant_isolation on notes', 'select body from notes']],
  [
    'alter the policy to true',
    ['alter policy tenantry_tenant_isolation on notes using (true)', 'select body from notes'],
  ],
  ['create a permissive policy', ['create policy widen on notes using (true)', 'select body from notes']],
  ['disable row level security', ['alter table notes disable row level security', 'select body from notes']],
  [
    'no force row level security',
    ['alter table notes no force row level security', 'select body from notes'],
  ],
  ['row_security off', ['set row_security = off', 'select body from notes']],
  ['SET ROLE to the binder', ['set role tenantry_binder', 'select * from tenantry_private.binding_key']],
  [
    'SET LOCAL ROLE to a schema tenant’s role, then read the pool',
    ['set local role {roleB}', `select body from notes`],
  ],
  ['SET SESSION AUTHORIZATION postgres', ['set session authorization postgres', 'select body from notes']],
  ['SET ROLE postgres', ['set role postgres', 'select body from notes']],
  ['set_config role postgres', [`select set_config('role', 'postgres', false)`, 'select body from notes']],
  ['a temporary table shadowing notes', [`create temp table notes (tenant_id text, id text, body text)`]],
  ['a temporary view shadowing notes', [`create temp view notes as select 1`]],
  ['a temporary function', ['create function pg_temp.f() returns int language sql as $$ select 1 $$']],
  [
    'pg_temp first in search_path, then a temp table',
    [`set search_path = pg_temp, public`, `create table pg_temp.notes (body text)`],
  ],
  ['a security-definer view (no CREATE)', ['create view public.leak as select * from notes']],
  ['a security_invoker view', ['create view public.leak2 with (security_invoker) as select * from notes']],
  ['a materialized view', ['create materialized view public.leak3 as select * from notes']],
  [
    'a SECURITY DEFINER function',
    [
      'create function public.leak4() returns setof text language sql security definer as $$ select body from notes $$',
    ],
  ],
  ['COPY notes to stdout', ['copy notes to stdout']],
  ['COPY a query to stdout', ['copy (select body from notes) to stdout']],
  ['COPY to a server file', [`copy notes to '/tmp/tenantry-leak'`]],
  ['COPY from a program', [`copy notes from program 'cat /etc/passwd'`]],
  ['pg_read_file', [`select pg_read_file('/etc/passwd')`]],
  ['pg_read_binary_file of the data directory', [`select pg_read_binary_file('global/pg_control')`]],
  ['pg_ls_dir', [`select pg_ls_dir('.')`]],
  ['lo_import a server file', [`select lo_import('/etc/passwd')`]],
  [
    'dblink to the same database',
    [`select * from dblink('dbname=postgres', 'select body from public.notes') as t(body text)`],
  ],
  ['create extension dblink', ['create extension dblink']],
  ['create extension postgres_fdw', ['create extension postgres_fdw']],
  ['a foreign server', [`create server leak foreign data wrapper postgres_fdw`]],
  ['cursor WITH HOLD left open', ['declare c cursor with hold for select body from notes']],
  ['LISTEN left behind', ['listen tenantry_leak']],
  ['NOTIFY with B’s data', [`select pg_notify('leak', body) from notes`]],
  ['session advisory lock left behind', ['select pg_advisory_lock(42)']],
  ['statement_timeout for the next checkout', ['set statement_timeout = 1']],
  [
    'set_config statement_timeout session-wide in a SELECT',
    [`select set_config('statement_timeout', '1', false)`],
  ],
  ['search_path to another schema for the next checkout', [`set search_path = "{schemaB}", public`]],
  ['set_config search_path in a SELECT', [`select set_config('search_path', '"{schemaB}", public', false)`]],
  ['row_security off for the next checkout', [`select set_config('row_security', 'off', false)`]],
  ['default_transaction_read_only for the next checkout', ['set default_transaction_read_only = on']],
  [
    'replace the SDK’s setting statement',
    [
      'deallocate tenantry_scoped_setting',
      `prepare tenantry_scoped_setting(text, text) as select where set_config('tenantry.binding', '{B}', true) is null`,
    ],
  ],
  [
    'replace the SDK’s setting statement with A’s own binding',
    [
      'deallocate tenantry_scoped_setting',
      `select set_config('attack.b', current_setting('tenantry.binding'), false)`,
    ],
  ],
  [
    'replace the SDK’s prepared read',
    [
      'deallocate tenantry_scoped_0',
      `prepare tenantry_scoped_0 as select pg_notify('leak', body) as body from notes`,
    ],
  ],
  ['DEALLOCATE ALL', ['deallocate all']],
  [
    'PREPARE in a DO block',
    [
      `do $$ begin execute 'deallocate all'; execute 'prepare tenantry_scoped_setting(text, text) as select where true'; end $$`,
    ],
  ],
  [
    'PREPARE through query_to_xml',
    [`select query_to_xml('prepare tenantry_scoped_setting(text, text) as select', true, false, '')`],
  ],
  [
    'multi-statement text: set the binding and read',
    [`select set_config('tenantry.binding', '{B}', true); select body from notes`],
  ],
  [
    'multi-statement text: DEALLOCATE and PREPARE',
    [`deallocate tenantry_scoped_setting; prepare tenantry_scoped_setting(text, text) as select where true`],
  ],
  ['commit mid-transaction, then read', ['commit', 'select body from notes']],
  ['rollback mid-transaction, then read', ['rollback', 'select body from notes']],
  ['begin a transaction that stays open', ['begin', `select set_config('tenantry.binding', '{B}', false)`]],
  ['an error, then read', ['select 1/0', 'select body from notes']],
  [
    'a savepoint rolled back past the binding',
    [
      'savepoint s',
      `select set_config('tenantry.binding', '{B}', true)`,
      'rollback to savepoint s',
      'select body from notes',
    ],
  ],
  [
    'release a savepoint after forging',
    [
      'savepoint s',
      `select set_config('tenantry.binding', '{B}', true)`,
      'release savepoint s',
      'select body from notes',
    ],
  ],
  ['read B’s rows by naming them', [`select body from notes where tenant_id = '{B}'`]],
  [
    'update B’s rows by naming them',
    [`update notes set body = 'PWNED' where tenant_id = '{B}' returning body`],
  ],
  ['delete B’s rows by naming them', [`delete from notes where tenant_id = '{B}' returning body`]],
  ['move A’s row to B', [`update notes set tenant_id = '{B}' returning body`]],
  ['insert a row for B', [`insert into notes values ('{B}', 'x1', 'PWNED') returning body`]],
  [
    'upsert into B’s row',
    [
      `insert into notes values ('{B}', 'b1', 'PWNED') on conflict (tenant_id, id) do update set body = 'PWNED' returning body`,
    ],
  ],
  [
    'pg_stat_user_tables of B’s schema',
    [`select n_live_tup from pg_stat_user_tables where schemaname = '{schemaB}'`],
  ],
  ['connect to B’s database with dblink_connect', [`select dblink_connect('dbname={dbB}')`]],
  ['drop B’s database', ['drop database {dbB}']],
  ['rename B’s database', ['alter database {dbB} rename to stolen']],
  [
    'terminate other backends',
    [
      `select pg_terminate_backend(pid) from pg_stat_activity where pid <> pg_backend_pid() and usename = current_user`,
    ],
  ],
  ['pg_stat_statements text', ['select query from pg_stat_statements']],
  ['large objects of other tenants', ['select lo_get(oid) from pg_largeobject_metadata']],
  ['grant the table to public', ['grant select on notes to public']],
  ['create a schema', ['create schema leak']],
  ['create a role', ['create role leak']],
  ['alter the app role bypassrls', ['alter role current_user bypassrls']],
  ['lock B out with an explicit table lock left open', ['lock table notes in access exclusive mode']],
  [
    'a recursive CTE forging per row',
    [
      `with recursive r as (select set_config('tenantry.binding', '{B}', true) as s) select body from notes, r`,
    ],
  ],
  [
    'set_config in a lateral join',
    [`select body from (select 1) x, lateral (select set_config('tenantry.binding', '{B}', true)) y, notes`],
  ],
  [
    'set_config in a WHERE before the scan',
    [`select body from notes where set_config('tenantry.binding', '{B}', true) is not null`],
  ],
  [
    'set_config in an ORDER BY',
    [`select body from notes order by set_config('tenantry.binding', '{B}', true)`],
  ],
  [
    'set_config in a VALUES list joined',
    [`select body from (values (set_config('tenantry.binding', '{B}', true))) v(x), notes`],
  ],
  ['EXPLAIN ANALYZE of a read', ['explain analyze select body from notes']],
  ['PREPARE and EXECUTE its own read', ['prepare mine as select body from notes', 'execute mine']],
  ['a cursor declared then fetched', ['declare c2 cursor for select body from notes', 'fetch all from c2']],
  ['vacuum the table', ['vacuum notes']],
  ['truncate the table', ['truncate notes']],
] as const)
  for (const via of ['query', 'transaction'] as const) attacks.push({ name, via, sql });

// The schema, database and BYOI placements: forging and reaching the pool or another tenant from there.
for (const tenant of ['schemaA', 'databaseA', 'byoiA'] as const)
  for (const [name, sql] of [
    [
      'forge B’s binding, then read the pool table',
      [`select set_config('tenantry.binding', '{B}', true)`, 'select body from public.notes'],
    ],
    ['read the pool table by name', ['select body from public.notes']],
    ['read B’s schema by name', [`select * from "{schemaB}".notes`]],
    ['RESET ROLE, then read B’s schema', ['reset role', `select * from "{schemaB}".notes`]],
    [
      'SET LOCAL ROLE to B’s role, then read B’s schema',
      ['set local role {roleB}', `select * from "{schemaB}".notes`],
    ],
    [
      'SET ROLE to B’s role, then drop its policy',
      ['set role {roleB}', `drop policy tenantry_tenant_isolation on "{schemaB}".notes`],
    ],
    ['set search_path to B’s schema', [`set search_path = "{schemaB}"`, 'select * from notes']],
    ['a temporary table shadowing notes', ['create temp table notes (id text, body text)']],
    [
      'dblink to B’s database',
      [`select * from dblink('dbname={dbB}', 'select body from notes') as t(body text)`],
    ],
    [
      'replace the SDK’s setting statement',
      [
        'deallocate tenantry_scoped_setting',
        `prepare tenantry_scoped_setting(text, text) as select where true`,
      ],
    ],
    ['LISTEN left behind', ['listen leak']],
  ] as const)
    attacks.push({ name: `${tenant}: ${name}`, via: 'transaction', tenant, sql });

// BYOI tenant B's rows are in its customer's database: from every placement (the vendor's pool,
// a schema or database tenant, another customer's database), forging its binding, becoming its
// customer's role or reaching its database reaches nothing of it.
for (const tenant of ['A', 'schemaA', 'databaseA', 'byoiA'] as const)
  for (const [name, sql] of [
    [
      'forge BYOI B’s binding, then read',
      [`select set_config('tenantry.binding', '{byoiB}', true)`, 'select body from notes'],
    ],
    [
      'A’s binding rewritten for BYOI B, then read the app schema',
      [
        `select set_config('tenantry.binding', left(current_setting('tenantry.binding'), 65) || pg_backend_pid() || '.9999999999.{byoiB}', true)`,
        `select body from ${BYOI_SCHEMA}.notes`,
      ],
    ],
    ['read BYOI B’s table by name', [`select body from ${BYOI_SCHEMA}.notes where tenant_id = '{byoiB}'`]],
    ['SET ROLE to BYOI B’s customer role', ['set role {byoiRoleB}', `select body from ${BYOI_SCHEMA}.notes`]],
    [
      'SET SESSION AUTHORIZATION to BYOI B’s customer role',
      ['set session authorization {byoiRoleB}', 'select body from notes'],
    ],
    ['grant BYOI B’s customer role to the current user', ['grant {byoiRoleB} to current_user']],
    ['give BYOI B’s customer role a password', [`alter role {byoiRoleB} password 'stolen'`]],
    [
      'dblink to BYOI B’s database',
      [`select * from dblink('dbname={byoiDbB}', 'select body from ${BYOI_SCHEMA}.notes') as t(body text)`],
    ],
    ['rename BYOI B’s database', ['alter database {byoiDbB} rename to stolen_byoi']],
    ['BYOI B’s database refuses connections', ['alter database {byoiDbB} allow_connections false']],
    ['drop BYOI B’s database', ['drop database {byoiDbB}']],
    [
      'insert a row for BYOI B',
      [`insert into notes (tenant_id, id, body) values ('{byoiB}', 'x7', 'PWNED')`],
    ],
  ] as const)
    for (const via of ['query', 'transaction'] as const)
      attacks.push({ name: `${tenant}: BYOI tenant B: ${name}`, via, tenant, sql });

// A database tenant's role owns its database. The app's role is granted CONNECT and DML there,
// never that role: from any tenant's SQL, becoming it (or acting as it) would ALTER, rename, hand
// over or lock B's database. Tried from each placement, as one statement per query() (each
// starting from a clean session) and as one transaction.
for (const tenant of ['A', 'schemaA', 'databaseA', 'byoiA'] as const)
  for (const [name, sql] of [
    [
      'SET ROLE to a database tenant’s role, then set its connection limit to 0',
      ['set role {roleDbB}', 'alter database {dbB} connection limit 0'],
    ],
    [
      'SET LOCAL ROLE to it, then give its database a default setting',
      ['set local role {roleDbB}', 'alter database {dbB} set statement_timeout = 1'],
    ],
    [
      'set_config(role) session-wide, then rename its database',
      [`select set_config('role', '{roleDbB}', false)`, 'alter database {dbB} rename to stolen'],
    ],
    [
      'set_config(role) local, then hand its database to the app',
      [`select set_config('role', '{roleDbB}', true)`, 'alter database {dbB} owner to {app}'],
    ],
    [
      'a DO block that sets the role and alters the database',
      [`do $$ begin execute 'set role {roleDbB}'; execute 'alter database {dbB} connection limit 0'; end $$`],
    ],
    [
      'SET SESSION AUTHORIZATION to it, then alter its database',
      ['set session authorization {roleDbB}', 'alter database {dbB} connection limit 0'],
    ],
    ['ALTER DATABASE without a role change', ['alter database {dbB} connection limit 0']],
    [
      'make its database read-only by default',
      ['alter database {dbB} set default_transaction_read_only = on'],
    ],
    [
      'SET ROLE to it, then refuse connections to its database',
      ['set role {roleDbB}', 'alter database {dbB} allow_connections false'],
    ],
    ['comment on its database', [`comment on database {dbB} is 'PWNED'`]],
    [
      'SET ROLE to it, then revoke the app’s CONNECT',
      ['set role {roleDbB}', 'revoke connect on database {dbB} from {app}'],
    ],
    ['give its role a login', [`alter role {roleDbB} login password 'stolen'`]],
    ['grant its role to the app', ['grant {roleDbB} to {app}']],
    ['REASSIGN OWNED BY its role to the app', ['reassign owned by {roleDbB} to {app}']],
    ['DROP OWNED BY its role', ['drop owned by {roleDbB}']],
  ] as const)
    for (const via of ['query', 'transaction'] as const)
      attacks.push({ name: `${tenant}: database tenant B: ${name}`, via, tenant, sql });

beforeAll(async () => {
  ({ t, dbUrl, admin, controlPlaneUrl } = await startDataPlane(appRole, bindingKey));

  for (const [key, placement] of [
    ['A', 'pool'],
    ['B', 'pool'],
    ['schemaA', 'schema'],
    ['schemaB', 'schema'],
    ['databaseA', 'database'],
    ['databaseB', 'database'],
  ] as const)
    ids[key] = (await provisionedTenant(t, { placement })).id;
  await admin.query(`insert into public.notes values ($1, 'a1', 'mine'), ($2, 'b1', $3)`, [
    ids.A,
    ids.B,
    SECRET,
  ]);
  for (const key of ['schemaA', 'schemaB'] as const) {
    await admin.query(`set role "tenantry_${ids[key]}"`);
    await admin.query(`create table "${ids[key]}".notes (id text primary key, body text)`);
    await admin.query(`insert into "${ids[key]}".notes values ('s1', $1)`, [
      key === 'schemaB' ? SECRET : 'mine',
    ]);
    // As the fleet migrations put it on every table of a schema tenant.
    await admin.query(schemaTenantSql(ids[key], 'notes', ids[key]));
    await admin.query('reset role');
  }
  {
    const url = new URL(dbUrl);
    url.pathname = `/tenantry_${ids.databaseB}`;
    adminDbB = new pg.Client({ connectionString: url.toString() });
    await adminDbB.connect();
  }
  for (const key of ['databaseA', 'databaseB'] as const) {
    const url = new URL(dbUrl);
    url.pathname = `/tenantry_${ids[key]}`;
    const tenantDb = new pg.Client({ connectionString: url.toString() });
    await tenantDb.connect();
    await tenantDb.query(`set role "tenantry_${ids[key]}"`);
    await tenantDb.query('create table notes (id text primary key, body text)');
    await tenantDb.query('insert into notes values ($1, $2)', ['d1', key === 'databaseB' ? SECRET : 'mine']);
    await tenantDb.end();
  }
  for (const key of ['byoiA', 'byoiB'] as const) {
    const tenant = await byoiTenant(t, BYOI_SCHEMA);
    const customer = await testDataPlane('customer');
    // The customer's DBA: the binding's role, so the role may install the binding without CREATEROLE.
    await withAdmin((client) => client.query(`grant tenantry_binder to ${customer.connection.user}`));
    await connectByoiTenant(t, tenant.id, customer);
    ids[key] = tenant.id;
    customers[key] = customer;
    // What the byoi driver's migrations make there, as the customer's role: the binding with the
    // tenant's own key, and the app's table under the pool's policy.
    const { host, port, database, user, password } = customer.connection;
    const owner = new pg.Client({ host, port, database, user, password });
    await owner.connect();
    await installTenantBinding(owner, byoiBindingKey(Buffer.from(bindingKey, 'hex'), tenant.id));
    await owner.query(`create table ${BYOI_SCHEMA}.notes (tenant_id text not null default tenantry.current_tenant(),
      id text not null, body text, primary key (tenant_id, id));
      ${rowLevelSecuritySql('notes', { schema: BYOI_SCHEMA })}`);
    await owner.end();
    await asSuperuser(
      database,
      `insert into ${BYOI_SCHEMA}.notes values ('${tenant.id}', 'y1', '${key === 'byoiB' ? SECRET : 'mine'}')`,
    );
  }
  {
    const url = new URL(dbUrl);
    url.pathname = `/${customers.byoiB.connection.database}`;
    adminByoiB = new pg.Client({ connectionString: url.toString() });
    await adminByoiB.connect();
  }
  const placements = new PlacementDirectory({
    controlPlane: new ControlPlaneClient({ url: controlPlaneUrl, token: t.token }),
  });
  data = new TenantData({
    url: urlAs(appRole),
    placements,
    max: 1,
    databases: { maxPerPool: 1 },
    bindingKey,
  });
  await data.start();
}, 120_000);

afterAll(async () => {
  await data?.close();
  await adminDbB?.end();
  await adminByoiB?.end();
  await admin?.end();
  await withAdmin(async (client) => {
    for (const { connection } of Object.values(customers))
      await client.query(`revoke tenantry_binder from ${connection.user}`);
  });
  await dropTestDataPlanes();
  await t?.close();
  const server = new pg.Client({ connectionString: adminUrl });
  await server.connect();
  await server.query(`drop role if exists ${appRole}`);
  await server.end();
});

describe('the attack suite', () => {
  it('has at least 150 distinct attempts', () => {
    expect(new Set(attacks.map((a) => `${a.via}: ${a.name}`)).size).toBe(attacks.length);
    expect(attacks.length).toBeGreaterThanOrEqual(150);
  });

  // The first checkout after an attack is a query() for half of them and a transaction() for the
  // other half, so that each path is shown to start from a clean session.
  it.each(
    attacks.map(
      (a, i) => [`${a.via}: ${a.name}`, a, Math.floor(i / 2) % 2 === 0 ? 'query' : 'transaction'] as const,
    ),
  )('%s: reaches nothing', async (_, attack, first) => {
    const before = await victims();
    const seen = await runAttack(attack);
    expect(seen).not.toContain(SECRET);
    expect(await victims()).toBe(before);
    const clean = {
      role: appRole,
      path: '"$user", public',
      timeout: '0',
      rls: 'on',
      prepared: 0,
      listening: 0,
      cursors: 0,
      locks: 0,
    };
    expect(await nextCheckout(ids.B, first)).toEqual({ rows: [SECRET], sessions: [clean, clean] });
    // A may change its own rows; what it sees next is what the admin sees of A.
    const own = await admin.query<{ body: string }>(
      'select body from public.notes where tenant_id = $1 order by id',
      [ids.A],
    );
    expect(await nextCheckout(ids.A)).toEqual({
      rows: own.rows.map((r) => r.body),
      sessions: [clean, clean],
    });
    // A tenant database has a pool of its own (of one connection): its next checkout is clean too,
    // as the app's role (not the tenant's), with search_path `public` as the SDK sets it there.
    if (attack.tenant === 'databaseA')
      expect(await nextCheckout(ids.databaseA, first)).toEqual({
        rows: ['mine'],
        sessions: [
          { ...clean, path: 'public' },
          { ...clean, path: 'public' },
        ],
      });
    // A BYOI tenant's pool is its customer's database, as the customer's role, with search_path its
    // schema (the connection's default): its next checkout is clean and sees its own row only.
    if (attack.tenant === 'byoiA') {
      const byoiClean = { ...clean, role: customers.byoiA.connection.user, path: `"${BYOI_SCHEMA}"` };
      expect(await nextCheckout(ids.byoiA, first)).toEqual({
        rows: ['mine'],
        sessions: [byoiClean, byoiClean],
      });
    }
    expect(await nextCheckout(ids.byoiB, first)).toMatchObject({ rows: [SECRET] });
    await admin.query(`delete from public.notes where tenant_id = $1; `, [ids.A]);
    await admin.query(`insert into public.notes values ($1, 'a1', 'mine')`, [ids.A]);
  });

  it('two tenants at once on the one connection each see only their own rows', async () => {
    const reads = Array.from({ length: 40 }, (_, i) => nextCheckout(i % 2 === 0 ? ids.A : ids.B));
    const seen = (await Promise.all(reads)) as { rows: string[] }[];
    expect(seen.map((s) => s.rows)).toEqual(seen.map((_, i) => [i % 2 === 0 ? 'mine' : SECRET]));
  });
});

/** A pool table whose ids come from a sequence, under the standard policy: made for one test, dropped after. */
async function withTickets(body: (table: string) => Promise<void>): Promise<void> {
  const table = `tickets_${randomBytes(3).toString('hex')}`;
  await admin.query(`create table public.${table} (id bigserial primary key,
      tenant_id text not null default tenantry.current_tenant(), body text);
    ${rowLevelSecuritySql(table)}
    grant select, insert on public.${table} to ${appRole};
    grant usage on sequence public.${table}_id_seq to ${appRole}`);
  try {
    await body(table);
  } finally {
    await admin.query(`drop table public.${table}`);
  }
}

describe('what a tenant’s insert leaves in the session’s sequence state', () => {
  /** B's insert through `via`, on the pool's one connection: the id B's new row got. */
  async function insertAsB(table: string, via: 'query' | 'transaction'): Promise<string> {
    const sql = `insert into ${table} (body) values ('b') returning id::text`;
    const made = await runAsTenant({ tenantId: ids.B, subject: 'victim', roles: [] }, () =>
      via === 'query'
        ? data.query<{ id: string }>(sql)
        : data.transaction((db) => db.query<{ id: string }>(sql)),
    );
    const id = made.rows[0]?.id;
    if (id === undefined) throw new Error('B’s insert returns its id');
    return id;
  }

  it.each([
    ['query', 'query'],
    ['query', 'transaction'],
    ['transaction', 'query'],
    ['transaction', 'transaction'],
  ] as const)(
    'after B’s insert through %s(), A’s next %s() on the connection cannot read B’s new id with lastval() or currval()',
    async (via, attackerVia) => {
      await withTickets(async (table) => {
        const probes = [
          ['select lastval()::text as v', 'lastval is not yet defined in this session'],
          [
            `select currval('public.${table}_id_seq')::text as v`,
            `currval of sequence "${table}_id_seq" is not yet defined in this session`,
          ],
        ] as const;
        for (const [sql, refusal] of probes) {
          const id = await insertAsB(table, via);
          const seen = await runAttack({ name: 'sequence state', via: attackerVia, sql: [sql] });
          expect(seen).not.toContain(`"v":"${id}"`);
          expect(JSON.parse(seen)[0]).toBe(refusal);
        }
      });
    },
  );
});

describe('each protection is necessary: with it removed, its attack succeeds', () => {
  it('a policy comparing the raw setting: set_config forges the tenant', async () => {
    const scratch = `scratch_${randomBytes(3).toString('hex')}`;
    await admin.query(`create table public.${scratch} as select * from public.notes;
      alter table public.${scratch} enable row level security; alter table public.${scratch} force row level security;
      create policy raw on public.${scratch} using (tenant_id = current_setting('tenantry.binding', true));
      grant select on public.${scratch} to ${appRole}`);
    try {
      const seen = await runAttack({
        name: 'raw',
        via: 'transaction',
        sql: [`select set_config('tenantry.binding', '{B}', true)`, `select body from public.${scratch}`],
      });
      expect(seen).toContain(SECRET);
    } finally {
      await admin.query(`drop table public.${scratch}`);
    }
  });

  it('the app role a member of a schema tenant’s role: SET ROLE makes it the owner, which drops the policy', async () => {
    const roleB = `tenantry_${ids.schemaB}`;
    await admin.query(`grant "${roleB}" to ${appRole}`);
    try {
      const seen = await runAttack({
        name: 'membership',
        via: 'transaction',
        sql: [
          'set local role {roleB}',
          `alter table "{schemaB}".notes disable row level security`,
          `select body from "{schemaB}".notes`,
        ],
      });
      expect(seen).toContain(SECRET);
      expect((await data.checkRowLevelSecurity()).problems.join('\n')).toContain(
        `role ${appRole} is a member of the tenant role(s) ${roleB}, so`,
      );
    } finally {
      await admin.query(`alter table "${ids.schemaB}".notes enable row level security`);
      await admin.query(`revoke "${roleB}" from ${appRole}`);
    }
  });

  it('the app role a member of a database tenant’s role: SET ROLE makes it the owner, which alters the database; the catalog check names it', async () => {
    const roleB = `tenantry_${ids.databaseB}`;
    await admin.query(`grant "${roleB}" to ${appRole}`);
    try {
      const before = await victims();
      const seen = await runAttack({
        name: 'membership',
        via: 'transaction',
        sql: ['set local role {roleDbB}', 'alter database {dbB} connection limit 0'],
      });
      expect(seen).toBe('[[],[]]');
      expect(await victims()).not.toBe(before);
      const [database] = (await databaseB()) as [{ datconnlimit: number }[]];
      expect(database[0]?.datconnlimit).toBe(0);
      expect((await data.checkRowLevelSecurity()).problems).toContain(
        `role ${appRole} is a member of the tenant role(s) ${roleB}, so any tenant's SQL can SET ROLE to them and act as that tenant's owner (drop its policies, ALTER or DROP its database): reach tenants through grants (the control plane's TENANTRY_APP_ROLE does that), not membership`,
      );
    } finally {
      await admin.query(`alter database "${roleB}" connection limit -1`);
      await admin.query(`revoke "${roleB}" from ${appRole}`);
    }
    expect((await data.checkRowLevelSecurity()).ok).toBe(true);
  });

  it('no reset before a statement: a setting a data statement left session-wide holds for the next tenant', async () => {
    const app = new pg.Client({ connectionString: urlAs(appRole) });
    await app.connect();
    try {
      const binder = new TenantBinder(Buffer.from(bindingKey, 'hex'));
      const timeoutOf = async (clean: boolean) => {
        // A's plain SELECT leaves a setting and the role behind.
        await app.query(
          `select set_config('statement_timeout', '1234', false), set_config('search_path', 'pg_catalog', false)`,
        );
        const seen = await ScopedStatement.run<{ timeout: string; path: string }>(
          app,
          BINDING_SETTING,
          binder.bind(ids.B, pidOf(app)),
          `select current_setting('statement_timeout') as timeout, current_setting('search_path') as path`,
          [],
          { clean },
        );
        return seen.rows[0];
      };
      expect(await timeoutOf(false)).toEqual({ timeout: '1234ms', path: 'pg_catalog' });
      expect(await timeoutOf(true)).toEqual({ timeout: '0', path: '"$user", public' });
    } finally {
      await app.end();
    }
  });

  it('the binding without its pid check: a binding of B seen on another backend replays', async () => {
    const binder = new TenantBinder(Buffer.from(bindingKey, 'hex'));
    const app = new pg.Client({ connectionString: urlAs(appRole) });
    await app.connect();
    try {
      await app.query('begin');
      await app.query(`select set_config('tenantry.binding', $1, true)`, [binder.bind(ids.B, 1)]);
      expect((await app.query('select body from notes')).rows).toEqual([]);
      await app.query('rollback');
      await app.query('begin');
      await app.query(`select set_config('tenantry.binding', $1, true)`, [binder.bind(ids.B, pidOf(app))]);
      expect((await app.query('select body from notes')).rows).toEqual([{ body: SECRET }]);
      await app.query('rollback');
    } finally {
      await app.end();
    }
  });

  it('TEMP granted: a temporary table shadows notes for the next statement parsed on the connection', async () => {
    const database = new URL(dbUrl).pathname.slice(1);
    await admin.query(`grant temporary on database "${database}" to ${appRole}`);
    const app = new pg.Client({ connectionString: urlAs(appRole) });
    await app.connect();
    try {
      await app.query(`create temp table notes (tenant_id text, id text, body text)`);
      await app.query(`insert into notes values ('x', 'x', 'PLANTED')`);
      expect((await app.query('select body from notes')).rows).toEqual([{ body: 'PLANTED' }]);
    } finally {
      await app.end();
      await admin.query(`revoke temporary on database "${database}" from ${appRole}`);
    }
  });

  it('the clean without DISCARD SEQUENCES: lastval() in the next checkout reads the id B’s insert got', async () => {
    await withTickets(async (table) => {
      const app = new pg.Client({ connectionString: urlAs(appRole) });
      await app.connect();
      try {
        const binder = new TenantBinder(Buffer.from(bindingKey, 'hex'));
        const made = await ScopedStatement.run<{ id: string }>(
          app,
          'tenantry.binding',
          binder.bind(ids.B, pidOf(app)),
          `insert into ${table} (body) values ('b') returning id::text`,
        );
        // What the clean did before: settings, role and advisory locks, but not the sequence state.
        await app.query(
          `reset all; select pg_catalog.pg_advisory_unlock_all(), pg_catalog.set_config('role', 'none', false)`,
        );
        expect((await app.query('select lastval()::text as v')).rows).toEqual([{ v: made.rows[0]?.id }]);
      } finally {
        await app.end();
      }
    });
  });

  it('no reset on release: a replaced setting statement runs the next tenant as the attacker’s choice', async () => {
    const app = new pg.Client({ connectionString: urlAs(appRole) });
    await app.connect();
    try {
      const binder = new TenantBinder(Buffer.from(bindingKey, 'hex'));
      const aBinding = binder.bind(ids.A, pidOf(app));
      // A's SQL, left on the session: the name a client trusts now sets A's binding whatever it is given.
      await app.query(
        `prepare tenantry_scoped_setting(text, text) as select where set_config('tenantry.binding', ${pg.escapeLiteral(aBinding)}, true) is null`,
      );
      // The next checkout (B's code, correct) binds the trusted name with B's binding: it runs as A.
      await app.query('begin');
      await app.query(
        `execute tenantry_scoped_setting('tenantry.binding', ${pg.escapeLiteral(binder.bind(ids.B, pidOf(app)))})`,
      );
      expect((await app.query('select body from notes')).rows).toEqual([{ body: 'mine' }]);
      await app.query('rollback');
    } finally {
      await app.end();
    }
  });

  it('a key written into the table alone: a session’s plans keep the old pads, so the old key still verifies there until installTenantBinding replaces the function', async () => {
    const key = Buffer.from(bindingKey, 'hex');
    const other = randomBytes(32);
    const app = new pg.Client({ connectionString: urlAs(appRole) });
    await app.connect();
    const seenWith = async (signer: Buffer) => {
      await app.query('begin');
      await app.query(`select set_config('tenantry.binding', $1, true)`, [
        new TenantBinder(signer).bind(ids.B, pidOf(app)),
      ]);
      const rows = (await app.query<{ body: string }>('select body from notes')).rows.map((r) => r.body);
      await app.query('rollback');
      return rows;
    };
    try {
      expect(await seenWith(key)).toEqual([SECRET]);
      const { ikey, okey } = padsOf(other);
      await admin.query('update tenantry_private.binding_key set ikey = $1, okey = $2', [ikey, okey]);
      // The session verified with the old key before: its plan holds the old pads.
      expect(await seenWith(key)).toEqual([SECRET]);
      expect(await seenWith(other)).toEqual([]);
      await installTenantBinding(admin, other);
      expect(await seenWith(key)).toEqual([]);
      expect(await seenWith(other)).toEqual([SECRET]);
    } finally {
      await installTenantBinding(admin, key);
      await app.end();
    }
  });

  it('a binder function with a mutable search_path and unqualified names: a shadowing function forges', async () => {
    const scratch = `scratch_${randomBytes(3).toString('hex')}`;
    await admin.query(`create schema ${scratch}; grant usage, create on schema ${scratch} to ${appRole};
      create function ${scratch}.current_tenant_loose() returns text language sql stable security definer
        as $$ select current_setting('tenantry.binding', true) $$;
      create table ${scratch}.notes as select * from public.notes;
      alter table ${scratch}.notes enable row level security; alter table ${scratch}.notes force row level security;
      create policy loose on ${scratch}.notes using (tenant_id = (select ${scratch}.current_tenant_loose()));
      grant select on ${scratch}.notes to ${appRole}`);
    try {
      const seen = await runAttack({
        name: 'loose',
        via: 'transaction',
        sql: [`select set_config('tenantry.binding', '{B}', true)`, `select body from ${scratch}.notes`],
      });
      expect(seen).toContain(SECRET);
    } finally {
      await admin.query(`drop schema ${scratch} cascade`);
    }
  });
});

describe('a BYOI customer’s database holds its tenant’s own key', () => {
  /** A binding of `tenantId` for backend `pid`, signed with the pads a database holds (see tenantBindingSql). */
  function forge(pads: { ikey: string; okey: string }, pid: number, tenantId: string): string {
    const signed = `${pid}.9999999999.${tenantId}`;
    const inner = createHash('sha256')
      .update(Buffer.concat([Buffer.from(pads.ikey, 'hex'), Buffer.from(signed)]))
      .digest();
    const mac = createHash('sha256')
      .update(Buffer.concat([Buffer.from(pads.okey, 'hex'), inner]))
      .digest('hex');
    return `${mac}.${signed}`;
  }
  const keyQuery = `select encode(ikey, 'hex') as ikey, encode(okey, 'hex') as okey from tenantry_private.binding_key`;

  it('the key BYOI A’s SQL reads in its database forges no pool tenant’s binding; the vendor’s key there would', async () => {
    // BYOI A's SQL reads the key in its customer's database: its role is the binding's member there
    // (and the customer's DBA could read it anyway).
    const stolen = await runAsTenant({ tenantId: ids.byoiA, subject: 'attacker', roles: [] }, () =>
      data.query<{ ikey: string; okey: string }>(keyQuery),
    );
    const byoiPads = stolen.rows[0];
    if (byoiPads === undefined) throw new Error('the key is in the customer’s database');
    // What a customer database holding the vendor's key would have given away.
    const vendorPads = (await admin.query<{ ikey: string; okey: string }>(keyQuery)).rows[0];
    if (vendorPads === undefined) throw new Error('the key is in the vendor’s database');
    expect(byoiPads).not.toEqual(vendorPads);
    const app = new pg.Client({ connectionString: urlAs(appRole) });
    await app.connect();
    try {
      const readAsB = async (pads: { ikey: string; okey: string }) => {
        await app.query('begin');
        await app.query(`select set_config('tenantry.binding', $1, true)`, [forge(pads, pidOf(app), ids.B)]);
        const rows = (await app.query('select body from notes')).rows;
        await app.query('rollback');
        return rows;
      };
      expect(await readAsB(byoiPads)).toEqual([]);
      expect(await readAsB(vendorPads)).toEqual([{ body: SECRET }]);
    } finally {
      await app.end();
    }
  });
});

/** The backend pid pg read from the server (not in pg's typings). */
function pidOf(client: pg.Client): number {
  return (client as unknown as { processID: number }).processID;
}

/** HMAC's inner and outer pads of `key`, as tenantBindingSql keeps them in the key table. */
function padsOf(key: Buffer): { ikey: Buffer; okey: Buffer } {
  const block = Buffer.alloc(64);
  key.copy(block);
  return { ikey: Buffer.from(block.map((b) => b ^ 0x36)), okey: Buffer.from(block.map((b) => b ^ 0x5c)) };
}
