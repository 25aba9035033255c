import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { CONTROL_SCHEMA, type Schema } from '../db/index.ts';

/** Where a tenant's data lives in the vendor's Postgres. */
export type Placement = 'pool' | 'schema' | 'database';

/** The database objects made for a tenant; null where its placement needs none. */
export interface TenantResources {
  schema_name: string | null;
  role_name: string | null;
  database_name: string | null;
}

/**
 * The names of a tenant's objects, derived from its id (lowercase letters, digits and `_` only),
 * so provisioning again finds what an earlier attempt made.
 */
export function resourcesFor(tenantId: string, placement: Placement): TenantResources {
  switch (placement) {
    case 'pool':
      return { schema_name: null, role_name: null, database_name: null };
    case 'schema':
      return { schema_name: tenantId, role_name: `tenantry_${tenantId}`, database_name: null };
    case 'database':
      return { schema_name: null, role_name: `tenantry_${tenantId}`, database_name: `tenantry_${tenantId}` };
  }
}

/** A provisioning step that found something it must not take over. */
export class ProvisioningConflict extends Error {
  override name = 'ProvisioningConflict';
}

/** The app role named by `TENANTRY_APP_ROLE` cannot be given access to tenants: it does not exist. */
export class AppRoleError extends Error {
  override name = 'AppRoleError';
}

/** How the provisioner treats the vendor's app. */
export interface ProvisionerOptions {
  /**
   * The login role the app connects with. It gets DML on each `schema` tenant's tables and
   * CONNECT on each `database` tenant's database with DML on the tables there, never a tenant's
   * role: a member could act as that tenant's owner (SET ROLE) from any tenant's SQL.
   */
  readonly appRole?: string | undefined;
  /**
   * The control plane's PostgreSQL URL, to reach each `database` tenant's database on the same
   * server (default privileges live in each database); undefined on embedded PGlite, which has no
   * other database anyone could connect to, so only the CONNECT grant is made there.
   */
  readonly databaseUrl?: string | undefined;
}

/**
 * Makes and removes the database objects behind each placement, on the Postgres server the
 * control plane runs on:
 * - `pool`: nothing to make; the tenant's rows live in the shared tables, keyed by `tenant_id`.
 * - `schema`: a NOLOGIN role and a schema it owns; the role owns nothing else.
 * - `database`: a NOLOGIN role and a database it owns, closed to PUBLIC.
 *
 * Each tenant role is granted to the control plane's own user. When an app role is configured, it
 * gets DML on a `schema` tenant's tables, and CONNECT on a `database` tenant's database with DML
 * on the tables of its `public` schema; never a tenant's role.
 *
 * Every step is idempotent (a retry finds and keeps what an earlier attempt made) and refuses to
 * adopt an object of the same name that belongs to someone else.
 */
export class Provisioner {
  readonly #db: Kysely<Schema>;
  /** The tables of the vendor's app that hold pool tenants' rows. */
  readonly #poolSchema: string;
  readonly #appRole: string | undefined;
  readonly #databaseUrl: string | undefined;

  constructor(db: Kysely<Schema>, poolSchema: string, options: ProvisionerOptions = {}) {
    // Purging a pool tenant deletes its rows from every table of the pool schema with a
    // `tenant_id` column; pointed at the control plane's own schema, that would erase the
    // tenant's audit trail.
    if (poolSchema === CONTROL_SCHEMA)
      throw new Error(`the pool schema cannot be "${CONTROL_SCHEMA}", the control plane's own schema`);
    this.#db = db;
    this.#poolSchema = poolSchema;
    this.#appRole = options.appRole;
    this.#databaseUrl = options.databaseUrl;
  }

  async provision(resources: TenantResources): Promise<void> {
    const { role_name: role, schema_name: schema, database_name: database } = resources;
    if (!role) return;
    if (schema) {
      // Role and schema in one transaction: either both exist afterwards or neither does.
      await this.#db.transaction().execute(async (tx) => {
        // No membership for the app: as a member it could act as the owner of the tenant's tables
        // from any tenant's SQL. It gets DML on them instead, and their policies admit only this
        // tenant's binding (the SDK's fleet migrations put them there).
        if (this.#appRole !== undefined) await checkAppRole(tx, this.#appRole);
        await ensureRole(tx, role);
        const existing = await this.#schemaOwner(schema, tx);
        if (existing === undefined) {
          await sql`create schema ${sql.id(schema)} authorization ${sql.id(role)}`.execute(tx);
        } else if (existing !== role) {
          throw new ProvisioningConflict(
            `schema "${schema}" already exists and belongs to "${existing}"; refusing to take it over`,
          );
        }
        if (this.#appRole !== undefined) await grantSchema(tx, schema, role, this.#appRole);
      });
      return;
    }
    if (database) {
      // CREATE DATABASE cannot run in a transaction, so undo the role by hand if it fails.
      const madeRole = await this.#db.transaction().execute(async (tx) => {
        if (this.#appRole !== undefined) await checkAppRole(tx, this.#appRole);
        return ensureRole(tx, role);
      });
      try {
        const existing = await this.#databaseOwner(database);
        if (existing === undefined) {
          await sql`create database ${sql.id(database)} owner ${sql.id(role)}`.execute(this.#db);
          await sql`revoke all on database ${sql.id(database)} from public`.execute(this.#db);
        } else if (existing !== role) {
          throw new ProvisioningConflict(
            `database "${database}" already exists and belongs to "${existing}"; refusing to take it over`,
          );
        }
      } catch (error) {
        if (madeRole) await sql`drop role if exists ${sql.id(role)}`.execute(this.#db);
        throw error;
      }
      if (this.#appRole !== undefined) await this.#grantDatabase(database, role, this.#appRole);
    }
  }

  /**
   * Gives the app role CONNECT on a database tenant's database (not TEMP) and DML on the tables
   * and sequences of its `public` schema, those there now and those the tenant's role creates
   * later (default privileges, kept in that database, hence the connection to it); then takes
   * back a membership of the tenant's role that an older version granted. In that order, so an
   * app upgraded while running never loses its access in between.
   */
  async #grantDatabase(
    database: string,
    role: string,
    appRole: string,
    db: Kysely<Schema> = this.#db,
  ): Promise<void> {
    if (this.#databaseUrl !== undefined)
      await inDatabase(this.#databaseUrl, database, async (client) => {
        const [s, r, app] = ['public', role, appRole].map((name) => pg.escapeIdentifier(name));
        // Before PostgreSQL 15, PUBLIC may create in `public`: the app must not.
        await client.query(`begin;
          revoke create on schema ${s} from public;
          grant usage on schema ${s} to ${app};
          alter default privileges for role ${r} in schema ${s} grant select, insert, update, delete on tables to ${app};
          alter default privileges for role ${r} in schema ${s} grant usage, select on sequences to ${app};
          grant select, insert, update, delete on all tables in schema ${s} to ${app};
          grant usage, select on all sequences in schema ${s} to ${app};
          commit`);
      });
    await sql`grant connect on database ${sql.id(database)} to ${sql.id(appRole)}`.execute(db);
    await revokeMembership(db, role, appRole);
  }

  /**
   * Brings the app role's access up to date for tenants provisioned before TENANTRY_APP_ROLE was
   * set, while it named another role, or by a version that granted tenants' roles: DML on each
   * `schema` tenant's tables, CONNECT on each `database` tenant's database and DML on its tables,
   * and no membership of any tenant's role; and revokes TEMP on the control plane's database from
   * PUBLIC. The server runs it at start; answers the tenant roles it acted on. Throws {@link AppRoleError} when the app role is unfit.
   */
  async grantAppRoleToTenants(): Promise<string[]> {
    const appRole = this.#appRole;
    if (appRole === undefined) return [];
    return this.#db.transaction().execute(async (tx) => {
      await checkAppRole(tx, appRole);
      // A temporary table shadows a table for later statements on the same pooled connection.
      await sql`revoke temporary on database ${sql.id(await currentDatabase(tx))} from public`.execute(tx);
      const schemas = await sql<{ role: string; schema: string }>`
        select r.rolname as role, t.schema_name as schema from ${sql.table('tenants')} t
        join pg_roles r on r.rolname = t.role_name
        join pg_namespace n on n.nspname = t.schema_name and n.nspowner = r.oid
        where t.purged_at is null and t.database_name is null
          and (not has_schema_privilege(${appRole}, n.oid, 'USAGE')
               or pg_has_role(${appRole}, r.oid, 'MEMBER'))
        order by r.rolname`.execute(tx);
      for (const { role, schema } of schemas.rows) await grantSchema(tx, schema, role, appRole);
      // The CONNECT looked for is the app's own grant: as a member it holds the owner's.
      const databases = await sql<{ role: string; database: string }>`
        select r.rolname as role, d.datname as database from ${sql.table('tenants')} t
        join pg_roles r on r.rolname = t.role_name
        join pg_database d on d.datname = t.database_name and d.datdba = r.oid
        where t.purged_at is null and t.database_name is not null
          and (pg_has_role(${appRole}, r.oid, 'MEMBER')
               or not exists (
                 select 1 from aclexplode(d.datacl) a
                 where a.grantee = (select oid from pg_roles where rolname = ${appRole}) and a.privilege_type = 'CONNECT'))
        order by r.rolname`.execute(tx);
      for (const { role, database } of databases.rows) await this.#grantDatabase(database, role, appRole, tx);
      return [...schemas.rows.map((r) => r.role), ...databases.rows.map((r) => r.role)];
    });
  }

  #schemaOwner(schema: string, db: Kysely<Schema> = this.#db): Promise<string | undefined> {
    return schemaOwnerIn(db, schema);
  }

  async #databaseOwner(database: string): Promise<string | undefined> {
    const owner = await sql<{ owner: string }>`
      select pg_get_userbyid(datdba) as owner from pg_database where datname = ${database}`.execute(this.#db);
    return owner.rows[0]?.owner;
  }

  /**
   * Removes everything a tenant had: its database, or its schema and every object in it, or its
   * rows in every pool table that has a `tenant_id` column; then its role. Safe to run again.
   * A schema or database of the tenant's name that its role does not own was never the tenant's
   * (provisioning refused to adopt it), so it is left alone.
   */
  async deprovision(tenantId: string, resources: TenantResources): Promise<void> {
    const { role_name: role, schema_name: schema, database_name: database } = resources;
    if (database && role && (await this.#databaseOwner(database)) === role)
      await sql`drop database if exists ${sql.id(database)} with (force)`.execute(this.#db);
    if (schema && role && (await this.#schemaOwner(schema)) === role)
      await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(this.#db);
    if (role) {
      const exists = await sql`select 1 from pg_roles where rolname = ${role}`.execute(this.#db);
      if (exists.rows.length > 0) {
        await sql`drop owned by ${sql.id(role)}`.execute(this.#db);
        await sql`drop role ${sql.id(role)}`.execute(this.#db);
      }
    }
    if (!schema && !database) {
      // Tables only: a view over them has no rows of its own, and most views cannot be deleted from.
      const tables = await sql<{ table_name: string }>`
        select c.relname as table_name from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped
        where n.nspname = ${this.#poolSchema} and c.relkind in ('r', 'p') and not c.relispartition`.execute(
        this.#db,
      );
      for (const { table_name } of tables.rows) {
        await sql`delete from ${sql.id(this.#poolSchema, table_name)} where tenant_id = ${tenantId}`.execute(
          this.#db,
        );
      }
    }
  }
}

/**
 * Runs `fn` on a short-lived connection to `database` on the server `databaseUrl` names, as the
 * same user: how the control plane reaches a tenant's own database.
 */
export async function inDatabase<T>(
  databaseUrl: string,
  database: string,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const url = new URL(databaseUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  const client = new pg.Client({ connectionString: url.toString() });
  // A connection lost while idle is reported as an event; the next statement fails instead.
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The name of the database `db` is connected to. */
async function currentDatabase(db: Kysely<Schema>): Promise<string> {
  const found = await sql<{ name: string }>`select current_database() as name`.execute(db);
  return (found.rows[0] as { name: string }).name;
}

/**
 * Gives the app role DML on a schema tenant's tables and sequences, those there now and those its
 * role creates later (default privileges), and takes back a membership of the tenant's role that
 * an older version granted.
 */
async function grantSchema(db: Kysely<Schema>, schema: string, role: string, appRole: string): Promise<void> {
  const [s, r, app] = [sql.id(schema), sql.id(role), sql.id(appRole)];
  await sql`grant usage on schema ${s} to ${app}`.execute(db);
  await sql`alter default privileges for role ${r} in schema ${s} grant select, insert, update, delete on tables to ${app}`.execute(
    db,
  );
  await sql`alter default privileges for role ${r} in schema ${s} grant usage, select on sequences to ${app}`.execute(
    db,
  );
  await sql`grant select, insert, update, delete on all tables in schema ${s} to ${app}`.execute(db);
  await sql`grant usage, select on all sequences in schema ${s} to ${app}`.execute(db);
  await revokeMembership(db, role, appRole);
}

/** Takes back the app role's membership of a tenant's role, which an older version granted. */
async function revokeMembership(db: Kysely<Schema>, role: string, appRole: string): Promise<void> {
  const member = await sql`
    select 1 from pg_auth_members m
    where m.roleid = (select oid from pg_roles where rolname = ${role})
      and m.member = (select oid from pg_roles where rolname = ${appRole})`.execute(db);
  if (member.rows.length > 0) await sql`revoke ${sql.id(role)} from ${sql.id(appRole)}`.execute(db);
}

/** The owner of a schema in the control-plane database, or undefined when there is none. */
async function schemaOwnerIn(db: Kysely<Schema>, schema: string): Promise<string | undefined> {
  const owner = await sql<{ owner: string }>`
    select pg_get_userbyid(nspowner) as owner from pg_namespace where nspname = ${schema}`.execute(db);
  return owner.rows[0]?.owner;
}

/** Throws {@link AppRoleError} unless the app role exists. */
async function checkAppRole(db: Kysely<Schema>, appRole: string): Promise<void> {
  const app = await sql`select 1 from pg_roles where rolname = ${appRole}`.execute(db);
  if (app.rows.length === 0)
    throw new AppRoleError(
      `the app role "${appRole}" (TENANTRY_APP_ROLE) does not exist on the server; create it (create role ${appRole} login) or unset TENANTRY_APP_ROLE`,
    );
}

/** Creates the role unless it exists; returns whether it made it. */
async function ensureRole(db: Kysely<Schema>, role: string): Promise<boolean> {
  const exists = await sql`select 1 from pg_roles where rolname = ${role}`.execute(db);
  if (exists.rows.length > 0) return false;
  await sql`create role ${sql.id(role)} nologin`.execute(db);
  // Membership lets the control plane act as the tenant with SET ROLE.
  await sql`grant ${sql.id(role)} to current_user`.execute(db);
  return true;
}
