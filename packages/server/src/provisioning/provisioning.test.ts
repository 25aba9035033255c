import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { withAdmin } from '../../test/postgres-admin.ts';
import {
  act,
  applyPlans,
  auditRows,
  blockSchema,
  createTenant,
  DAY_MS,
  getTenant,
  provisionedTenant,
  query,
  runWithRetries,
  tenantRow,
} from '../../test/tenant-support.ts';
import { ControlPlaneServer } from '../data-planes/index.ts';
import { DatabaseDriver, grantAppRoleToTenants, PoolDriver, SchemaDriver } from '../placements/index.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
});
/** Login roles made on the PostgreSQL server, dropped once `t`'s tenant databases (and the grants there) are gone. */
const serverRoles: string[] = [];
afterAll(async () => {
  await t.close();
  // Each PGlite is a server of its own, gone with its database.
  if ('url' in t.db.target)
    await withAdmin(async (client) => {
      for (const role of serverRoles) await client.query(`drop role if exists ${role}`);
    });
});

async function roleExists(role: string, app: TestApp = t): Promise<boolean> {
  return (await query(app, `select 1 from pg_roles where rolname = '${role}'`)).length > 0;
}

async function schemaOwner(schema: string): Promise<string | undefined> {
  const rows = await query<{ owner: string }>(
    t,
    `select pg_get_userbyid(nspowner) as owner from pg_namespace where nspname = '${schema}'`,
  );
  return rows[0]?.owner;
}

async function databaseOwner(database: string): Promise<string | undefined> {
  const rows = await query<{ owner: string }>(
    t,
    `select pg_get_userbyid(datdba) as owner from pg_database where datname = '${database}'`,
  );
  return rows[0]?.owner;
}

/** Everything `role` owns in this database and on the server, as readable names. */
async function ownedBy(role: string, app: TestApp = t): Promise<string[]> {
  const rows = await query<{ what: string }>(
    app,
    `select 'schema ' || nspname as what from pg_namespace where nspowner = (select oid from pg_roles where rolname = '${role}')
     union all
     select 'relation ' || relname from pg_class where relowner = (select oid from pg_roles where rolname = '${role}')
     union all
     select 'database ' || datname from pg_database where datdba = (select oid from pg_roles where rolname = '${role}')
     union all
     select 'function ' || proname from pg_proc where proowner = (select oid from pg_roles where rolname = '${role}')
     union all
     select 'type ' || typname from pg_type where typowner = (select oid from pg_roles where rolname = '${role}')`,
  );
  return rows.map((r) => r.what).sort();
}

/** The schema or database driver as services.ts builds it, on `app`'s server. */
function driverOf(placement: 'schema' | 'database', options: { appRole?: string } = {}, app: TestApp = t) {
  const connector = new ControlPlaneServer(
    app.services.database.db,
    'url' in app.db.target ? app.db.target.url : undefined,
  );
  return placement === 'schema'
    ? new SchemaDriver(connector, options)
    : new DatabaseDriver(connector, options);
}

/** Runs every step of a driver on a tenant (as the API shows it), as provisioning does; each must hold. */
async function runSteps(driver: SchemaDriver | DatabaseDriver, tenant: { id: string; resources: unknown }) {
  for (const step of driver.steps) {
    const outcome = await step.run(tenant as never);
    expect(outcome, step.name).toEqual({ status: 'done' });
  }
}

/** A tenant's provisioning run, through the API. */
async function provisioningOf(id: string): Promise<any> {
  const shown = await t.request({ method: 'GET', url: `/v1/tenants/${id}/provisioning` });
  expect(shown.status, JSON.stringify(shown.body)).toBe(200);
  return shown.body;
}

/** Walks a tenant to deleted through the API. */
async function deleteTenant(id: string): Promise<any> {
  expect((await act(t, id, 'cancel')).status).toBe(200);
  const deleted = await t.request({ method: 'DELETE', url: `/v1/tenants/${id}` });
  expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
  expect(deleted.body.state).toBe('deleted');
  return deleted.body;
}

describe('schema placement', () => {
  it('creates schema <tenant id> owned by role tenantry_<tenant id>, which owns nothing else', async () => {
    const created = await createTenant(t, { placement: 'schema' });
    const role = `tenantry_${created.id}`;
    expect(created.resources).toEqual({
      placement: 'schema',
      data_plane: 'dpl_default',
      schema: created.id,
      role,
    });
    expect(created.provisioning).toEqual({ state: 'running', step: 'schema', error: null });
    expect(await schemaOwner(created.id)).toBeUndefined();
    expect(await roleExists(role)).toBe(false);

    await t.services.jobs.runDue();
    const tenant = await getTenant(t, created.id);
    expect(tenant.state).toBe('active');
    expect(await schemaOwner(created.id)).toBe(role);
    expect(await ownedBy(role)).toEqual([`schema ${created.id}`]);
    const [attributes] = await query<Record<string, boolean>>(
      t,
      `select rolcanlogin, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb from pg_roles where rolname = '${role}'`,
    );
    expect(tenant.provisioning).toEqual({ state: 'succeeded', step: null, error: null });
    expect((await provisioningOf(created.id)).steps).toMatchObject([
      { name: 'schema', status: 'succeeded', attempts: 1 },
    ]);
    expect(attributes).toEqual({
      rolcanlogin: false,
      rolsuper: false,
      rolbypassrls: false,
      rolcreaterole: false,
      rolcreatedb: false,
    });
    const audit = (await auditRows(t, created.id)).map((r) => r.action);
    expect(audit).toEqual(['tenant.created', 'tenant.provisioned']);
  });

  it('is idempotent: provisioning again keeps what exists', async () => {
    const tenant = await provisionedTenant(t, { placement: 'schema' });
    const role = `tenantry_${tenant.id}`;
    await query(t, `create table "${tenant.id}".notes (id text primary key)`);
    await query(t, `alter table "${tenant.id}".notes owner to "${role}"`);
    await query(t, `insert into "${tenant.id}".notes values ('kept')`);
    await runSteps(driverOf('schema'), tenant);
    await runSteps(driverOf('schema'), tenant);
    expect(await schemaOwner(tenant.id)).toBe(role);
    expect(await query(t, `select id from "${tenant.id}".notes`)).toEqual([{ id: 'kept' }]);
  });

  it('fails at once, without retrying, when a schema of its name belongs to someone else, leaving no role', async () => {
    const created = await createTenant(t, { placement: 'schema' });
    const role = `tenantry_${created.id}`;
    await blockSchema(t, created.id);

    // Retrying cannot help until someone removes the schema: the run stops at the first attempt.
    await t.services.jobs.runDue();
    const failed = await getTenant(t, created.id);
    expect(failed.state).toBe('provisioning_failed');
    expect(failed.state_reason).toContain(`schema "${created.id}" already exists`);
    expect(failed.state_reason).toContain('pg_database_owner');
    expect(failed.provisioning).toEqual({ state: 'failed', step: 'schema', error: failed.state_reason });
    const run = await provisioningOf(created.id);
    expect(run.steps).toMatchObject([
      { name: 'schema', status: 'failed', attempts: 1, last_error: failed.state_reason },
    ]);
    expect(await roleExists(role)).toBe(false);
    expect(await schemaOwner(created.id)).toBe('pg_database_owner');
    const audit = (await auditRows(t, created.id)).map((r) => r.action);
    expect(audit).toEqual(['tenant.created', 'tenant.provisioning_failed']);
    const ent = await t.request({ method: 'GET', url: `/v1/tenants/${created.id}/entitlements` });
    expect(ent.body).toMatchObject({ active: false, reason: 'tenant_provisioning_failed', features: {} });

    // Still refused while the conflict stands…
    expect((await act(t, created.id, 'retry-provisioning')).body.state).toBe('provisioning');
    await t.services.jobs.runDue();
    expect((await getTenant(t, created.id)).state).toBe('provisioning_failed');
    expect((await provisioningOf(created.id)).steps).toMatchObject([
      { name: 'schema', status: 'failed', attempts: 2 },
    ]);
    expect(await roleExists(role)).toBe(false);

    // …and provisioned once it is gone.
    await query(t, `drop schema "${created.id}"`);
    const retried = await act(t, created.id, 'retry-provisioning', { reason: 'conflict removed' });
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    expect(retried.body).toMatchObject({ state: 'provisioning', state_reason: 'conflict removed' });
    await t.services.jobs.runDue();
    const active = await getTenant(t, created.id);
    expect(active).toMatchObject({ state: 'active', state_reason: null });
    expect((await auditRows(t, created.id)).map((r) => `${r.actor_type}:${r.action}`)).toEqual([
      'api_key:tenant.created',
      'system:tenant.provisioning_failed',
      'api_key:tenant.provisioning_retried',
      'system:tenant.provisioning_failed',
      'api_key:tenant.provisioning_retried',
      'system:tenant.provisioned',
    ]);
    expect(await schemaOwner(created.id)).toBe(role);
    expect(await ownedBy(role)).toEqual([`schema ${created.id}`]);
  });
});

describe('database placement', () => {
  it('creates database tenantry_<id> owned by role tenantry_<id>, closed to PUBLIC', async () => {
    const created = await createTenant(t, { placement: 'database' });
    const name = `tenantry_${created.id}`;
    expect(created.resources).toEqual({
      placement: 'database',
      data_plane: 'dpl_default',
      database: name,
      role: name,
    });
    await t.services.jobs.runDue();
    expect((await getTenant(t, created.id)).state).toBe('active');
    expect(await databaseOwner(name)).toBe(name);
    expect(await ownedBy(name)).toEqual([`database ${name}`]);
    const [acl] = await query<{ public_connect: boolean }>(
      t,
      `select has_database_privilege('public', '${name}', 'CONNECT') as public_connect`,
    );
    expect(acl?.public_connect).toBe(false);
    expect(await schemaOwner(created.id)).toBeUndefined();
  });

  it('is idempotent', async () => {
    const tenant = await provisionedTenant(t, { placement: 'database' });
    await runSteps(driverOf('database'), tenant);
    await runSteps(driverOf('database'), tenant);
    expect(await databaseOwner(`tenantry_${tenant.id}`)).toBe(`tenantry_${tenant.id}`);
  });

  it('fails when a database of its name belongs to someone else, leaving no role behind', async () => {
    const created = await createTenant(t, { placement: 'database' });
    const name = `tenantry_${created.id}`;
    await query(t, `create database "${name}"`);
    const owner = await databaseOwner(name);
    await t.services.jobs.runDue();
    const failed = await getTenant(t, created.id);
    expect(failed.state).toBe('provisioning_failed');
    expect(failed.state_reason).toContain(`database "${name}" already exists`);
    expect(await roleExists(name)).toBe(false);
    expect(await databaseOwner(name)).toBe(owner);

    await query(t, `drop database "${name}"`);
    expect((await act(t, created.id, 'retry-provisioning')).status).toBe(200);
    await t.services.jobs.runDue();
    expect((await getTenant(t, created.id)).state).toBe('active');
    expect(await databaseOwner(name)).toBe(name);
  });
});

describe('pool placement', () => {
  it('creates no schema, role or database', async () => {
    const schemasBefore = await query(t, 'select nspname from pg_namespace order by nspname');
    const tenant = await provisionedTenant(t, { placement: 'pool', plan: 'pro' });
    expect(tenant.state).toBe('active');
    expect(tenant.resources).toEqual({ placement: 'pool', data_plane: 'dpl_default' });
    // Schemas are this test's database's own; roles and databases are the server's, which other
    // test files change meanwhile: none of those is named for this tenant.
    expect(await query(t, 'select nspname from pg_namespace order by nspname')).toEqual(schemasBefore);
    const named = `%${tenant.id.toLowerCase()}%`;
    expect(await query(t, `select rolname from pg_roles where rolname like '${named}'`)).toEqual([]);
    expect(await query(t, `select datname from pg_database where datname like '${named}'`)).toEqual([]);
  });
});

describe('deletion and retention', () => {
  it("refuses to treat the control plane's own schema as the pool schema", () => {
    const connector = new ControlPlaneServer(t.services.database.db, undefined);
    expect(() => new PoolDriver(connector, 'tenantry')).toThrow(/pool schema/);
  });

  it('keeps a deleted schema tenant’s schema for the retention period, then removes schema and role', async () => {
    const tenant = await provisionedTenant(t, { placement: 'schema' });
    const role = `tenantry_${tenant.id}`;
    await query(t, `create table "${tenant.id}".notes (id text primary key)`);
    const deleted = await deleteTenant(tenant.id);
    await t.services.jobs.runDue();
    expect(await schemaOwner(tenant.id)).toBe(role);

    t.clock.advance(Date.parse(deleted.deleted_at) + 30 * DAY_MS - t.clock.now().getTime() - 60_000);
    await t.services.jobs.runDue();
    expect(await schemaOwner(tenant.id)).toBe(role);
    expect((await tenantRow(t, tenant.id)).purged_at).toBeNull();

    t.clock.advance(2 * 60_000);
    await t.services.jobs.runDue();
    expect(await schemaOwner(tenant.id)).toBeUndefined();
    expect(await roleExists(role)).toBe(false);
    const row = await tenantRow(t, tenant.id);
    expect(row.state).toBe('deleted');
    expect(row.purged_at).not.toBeNull();
    const last = (await auditRows(t, tenant.id)).at(-1);
    expect(last).toMatchObject({ action: 'tenant.purged', actor_type: 'system', target_id: tenant.id });
    // The record stays readable for the audit trail.
    expect((await getTenant(t, tenant.id)).state).toBe('deleted');
  });

  it('removes a deleted database tenant’s database and role after the retention period', async () => {
    const tenant = await provisionedTenant(t, { placement: 'database' });
    const name = `tenantry_${tenant.id}`;
    await deleteTenant(tenant.id);
    await t.services.jobs.runDue();
    expect(await databaseOwner(name)).toBe(name);
    t.clock.advance(30 * DAY_MS + 60_000);
    await t.services.jobs.runDue();
    expect(await databaseOwner(name)).toBeUndefined();
    expect(await roleExists(name)).toBe(false);
  });

  it('removes only the deleted pool tenant’s rows', async () => {
    const gone = await provisionedTenant(t, { placement: 'pool' });
    const kept = await provisionedTenant(t, { placement: 'pool' });
    const table = `app_items_${randomBytes(4).toString('hex')}`;
    await query(t, `create table public.${table} (tenant_id text, id text, primary key (tenant_id, id))`);
    await query(
      t,
      `insert into public.${table} values ('${gone.id}', 'a'), ('${gone.id}', 'b'), ('${kept.id}', 'a'), ('${kept.id}', 'c')`,
    );
    // Views over the pool table hold no rows of their own; the purge must neither need nor trip on them.
    await query(
      t,
      `create view public.${table}_counts as select tenant_id, count(*) as n from public.${table} group by tenant_id`,
    );
    await query(
      t,
      `create table public."${table}_Mixed" (tenant_id text, id text, primary key (tenant_id, id))`,
    );
    await query(t, `insert into public."${table}_Mixed" values ('${gone.id}', 'x'), ('${kept.id}', 'y')`);
    await deleteTenant(gone.id);
    t.clock.advance(29 * DAY_MS);
    await t.services.jobs.runDue();
    expect(await query(t, `select count(*)::int as n from public.${table}`)).toEqual([{ n: 4 }]);
    t.clock.advance(DAY_MS + 60_000);
    await t.services.jobs.runDue();
    expect(await query(t, `select tenant_id, id from public.${table} order by tenant_id, id`)).toEqual([
      { tenant_id: kept.id, id: 'a' },
      { tenant_id: kept.id, id: 'c' },
    ]);
    expect(await query(t, `select tenant_id, id from public."${table}_Mixed"`)).toEqual([
      { tenant_id: kept.id, id: 'y' },
    ]);
    expect((await tenantRow(t, gone.id)).purged_at).not.toBeNull();
    expect((await tenantRow(t, kept.id)).purged_at).toBeNull();
  });

  it('deletes a tenant whose provisioning failed, and purges without touching the blocking schema', async () => {
    const created = await createTenant(t, { placement: 'schema' });
    await blockSchema(t, created.id);
    await runWithRetries(t, 2);
    expect((await getTenant(t, created.id)).state).toBe('provisioning_failed');
    const deleted = await t.request({ method: 'DELETE', url: `/v1/tenants/${created.id}` });
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
    t.clock.advance(30 * DAY_MS + 60_000);
    await t.services.jobs.runDue();
    expect((await tenantRow(t, created.id)).purged_at).not.toBeNull();
    // The schema was never the tenant's: someone else owns it, so the purge must leave it.
    expect(await schemaOwner(created.id)).toBe('pg_database_owner');
    await query(t, `drop schema "${created.id}"`);
  });

  it('purges a database tenant whose provisioning failed without dropping the database in the way', async () => {
    const created = await createTenant(t, { placement: 'database' });
    const name = `tenantry_${created.id}`;
    await query(t, `create database "${name}"`);
    const owner = await databaseOwner(name);
    await runWithRetries(t, 2);
    expect((await getTenant(t, created.id)).state).toBe('provisioning_failed');
    expect((await t.request({ method: 'DELETE', url: `/v1/tenants/${created.id}` })).status).toBe(200);
    t.clock.advance(30 * DAY_MS + 60_000);
    await t.services.jobs.runDue();
    expect((await tenantRow(t, created.id)).purged_at).not.toBeNull();
    expect(await databaseOwner(name)).toBe(owner);
    await query(t, `drop database "${name}"`);
  });
});

describe('the app role (TENANTRY_APP_ROLE)', () => {
  const appRole = `tenantry_test_app_${randomBytes(4).toString('hex')}`;
  let withApp: TestApp;
  // Roles belong to the whole PostgreSQL server, but each PGlite is a server of its own.
  const createAppRole = (app: TestApp) =>
    query(
      app,
      `do $$ begin if not exists (select from pg_roles where rolname = '${appRole}') then create role ${appRole} login; end if; end $$`,
    );
  beforeAll(async () => {
    withApp = await startTestApp({ appRole });
    await createAppRole(withApp);
    await createAppRole(t);
    await applyPlans(withApp);
  });
  afterAll(async () => {
    await withApp?.close();
    // Its grants on schema tenants (and their default privileges) go with t's database; those
    // in t's tenant databases with those databases.
    serverRoles.push(appRole);
  });

  async function isMember(role: string, app: TestApp = withApp): Promise<boolean> {
    const rows = await query(
      app,
      `select 1 from pg_auth_members where roleid = (select oid from pg_roles where rolname = '${role}')
         and member = (select oid from pg_roles where rolname = '${appRole}')`,
    );
    return rows.length > 0;
  }

  /** The app role's rights on a tenant database (CONNECT alone), and whether PUBLIC may connect. */
  async function databaseAccess(database: string, app: TestApp = withApp) {
    const [access] = await query<{ connect: boolean; temp: boolean; create: boolean; public: boolean }>(
      app,
      `select has_database_privilege('${appRole}', '${database}', 'CONNECT') as connect,
              has_database_privilege('${appRole}', '${database}', 'TEMP') as temp,
              has_database_privilege('${appRole}', '${database}', 'CREATE') as create,
              has_database_privilege('public', '${database}', 'CONNECT') as public`,
    );
    return access;
  }

  /** Whether the app role may use the schema and write its tables: DML granted, nothing more. */
  async function schemaAccess(schema: string, app: TestApp = withApp) {
    const [access] = await query<{ usage: boolean; create: boolean }>(
      app,
      `select has_schema_privilege('${appRole}', '${schema}', 'USAGE') as usage,
              has_schema_privilege('${appRole}', '${schema}', 'CREATE') as create`,
    );
    return access;
  }

  it('gets DML on a schema tenant’s tables, never its role, and owns nothing of the tenant’s', async () => {
    const tenant = await provisionedTenant(withApp, { placement: 'schema' });
    const role = `tenantry_${tenant.id}`;
    expect(tenant.state).toBe('active');
    // A member could act as the owner of the tenant's tables from any tenant's SQL.
    expect(await isMember(role)).toBe(false);
    expect(await schemaAccess(tenant.id)).toEqual({ usage: true, create: false });
    expect(await ownedBy(appRole, withApp)).toEqual([]);
    expect(await ownedBy(role, withApp)).toEqual([`schema ${tenant.id}`]);
    // A table the tenant's role makes later (the fleet migrations) is writable by the app at once.
    await query(withApp, `set role "${role}"; create table "${tenant.id}".later (id int); reset role`);
    const [privileges] = await query<{ dml: boolean; owner: boolean }>(
      withApp,
      `select has_table_privilege('${appRole}', '"${tenant.id}".later', 'SELECT, INSERT, UPDATE, DELETE') as dml,
              has_table_privilege('${appRole}', '"${tenant.id}".later', 'TRUNCATE') as owner`,
    );
    expect(privileges).toEqual({ dml: true, owner: false });
    await query(withApp, `drop table "${tenant.id}".later`);
  });

  it('gets CONNECT on a database tenant’s database, never its role', async () => {
    const tenant = await provisionedTenant(withApp, { placement: 'database' });
    const database = `tenantry_${tenant.id}`;
    // A member could SET ROLE to the owner from any tenant's SQL and ALTER or DROP the database.
    expect(await isMember(database)).toBe(false);
    expect(await databaseAccess(database)).toEqual({
      connect: true,
      temp: false,
      create: false,
      public: false,
    });
  });

  it('gets its access to an existing tenant when provisioning runs again', async () => {
    const tenant = await provisionedTenant(t, { placement: 'schema' });
    expect(await schemaAccess(tenant.id, t)).toEqual({ usage: false, create: false });
    await runSteps(driverOf('schema', { appRole }), tenant);
    expect(await schemaAccess(tenant.id, t)).toEqual({ usage: true, create: false });
    expect(await isMember(`tenantry_${tenant.id}`, t)).toBe(false);
  });

  it('is given, once, its access to tenants provisioned before it was set, as the server does at start', async () => {
    const tenants = [
      await provisionedTenant(t, { placement: 'schema' }),
      await provisionedTenant(t, { placement: 'database' }),
    ];
    const roles = tenants.map((tenant) => `tenantry_${tenant.id}`);
    const [schemaRole, databaseRole] = roles as [string, string];
    // An older version granted tenants' roles: the start takes that back.
    await query(t, `grant "${schemaRole}" to ${appRole}`);
    await query(t, `grant "${databaseRole}" to ${appRole}`);
    const connector = new ControlPlaneServer(
      t.services.database.db,
      'url' in t.db.target ? t.db.target.url : undefined,
    );
    const grant = (role: string) => grantAppRoleToTenants(t.services.database.db, connector, role);
    expect(await grant(appRole)).toEqual(expect.arrayContaining(roles));
    expect(await isMember(schemaRole, t)).toBe(false);
    expect(await schemaAccess(tenants[0].id, t)).toEqual({ usage: true, create: false });
    expect(await isMember(databaseRole, t)).toBe(false);
    expect(await databaseAccess(databaseRole, t)).toEqual({
      connect: true,
      temp: false,
      create: false,
      public: false,
    });
    expect(await grant(appRole)).toEqual([]);
    await expect(grant('tenantry_test_no_such_app')).rejects.toThrow(
      'the app role "tenantry_test_no_such_app" (TENANTRY_APP_ROLE) does not exist on the server',
    );
  });

  it('loses its grants, and nothing else, when a tenant is purged', async () => {
    const tenant = await provisionedTenant(withApp, { placement: 'database' });
    const role = `tenantry_${tenant.id}`;
    expect(await databaseAccess(role)).toMatchObject({ connect: true });
    expect((await act(withApp, tenant.id, 'cancel')).status).toBe(200);
    expect((await withApp.request({ method: 'DELETE', url: `/v1/tenants/${tenant.id}` })).status).toBe(200);
    withApp.clock.advance(30 * DAY_MS + 60_000);
    await withApp.services.jobs.runDue();
    expect((await tenantRow(withApp, tenant.id)).purged_at).not.toBeNull();
    expect(await roleExists(role, withApp)).toBe(false);
    expect(await roleExists(appRole, withApp)).toBe(true);
  });

  it('fails provisioning, leaving no role, when the app role does not exist', async () => {
    const missing = `tenantry_test_missing_${randomBytes(4).toString('hex')}`;
    const other = await startTestApp({ appRole: missing });
    try {
      await applyPlans(other);
      for (const placement of ['schema', 'database']) {
        const created = await createTenant(other, { placement });
        await other.services.jobs.runDue();
        const failed = await getTenant(other, created.id);
        expect(failed.state).toBe('provisioning_failed');
        expect(failed.state_reason).toContain(`the app role "${missing}" (TENANTRY_APP_ROLE) does not exist`);
        expect(await roleExists(`tenantry_${created.id}`, other)).toBe(false);
      }
    } finally {
      await other.close();
    }
  });

  it('takes a NOINHERIT app role: it is granted rights, never roles, so it inherits nothing', async () => {
    const noInherit = `tenantry_test_noinherit_${randomBytes(4).toString('hex')}`;
    await query(t, `create role ${noInherit} login noinherit`);
    const created = await createTenant(t, { placement: 'database' });
    const database = `tenantry_${created.id}`;
    try {
      // Without the server's URL, as on PGlite: only the CONNECT grant, whose removal below is all the cleanup.
      const connector = new ControlPlaneServer(t.services.database.db, undefined);
      await runSteps(new DatabaseDriver(connector, { appRole: noInherit }), created);
      const [access] = await query<{ connect: boolean }>(
        t,
        `select has_database_privilege('${noInherit}', '${database}', 'CONNECT') as connect`,
      );
      expect(access).toEqual({ connect: true });
    } finally {
      await query(t, `revoke connect on database "${database}" from ${noInherit}`);
      await query(t, `drop role if exists ${noInherit}`);
    }
  });
});
