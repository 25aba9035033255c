import { sql } from 'kysely';
import type { DataPlaneDb } from '../data-planes/index.ts';
import type { PlacementCheck, StepOutcome } from './placement-driver.ts';

/**
 * What the vendor placements (schema, database) do on a data plane's server, shared by their
 * drivers: roles, ownership checks and the app role's grants.
 */

/** How the drivers treat the vendor's app. */
export interface AppRoleOptions {
  /**
   * The login role the app connects with (TENANTRY_APP_ROLE). It gets DML on each `schema`
   * tenant's tables and CONNECT on each `database` tenant's database with DML on the tables
   * there, never a tenant's role: a member could act as that tenant's owner (SET ROLE) from any
   * tenant's SQL.
   */
  readonly appRole?: string | undefined;
}

/** A step's answer that retrying cannot mend, whatever the placement. */
export type Failed = Extract<StepOutcome<never>, { status: 'failed' }>;

/** A step's answer when it found an object of the tenant's name that someone else owns. */
export function conflict(detail: string): Failed {
  return { status: 'failed', code: 'placement_conflict', detail };
}

/** The app role is unfit: it does not exist on the data plane's server. */
export function appRoleMissing(appRole: string): string {
  return `the app role "${appRole}" (TENANTRY_APP_ROLE) does not exist on the server; create it (create role ${appRole} login) or unset TENANTRY_APP_ROLE`;
}

export async function roleExists(db: DataPlaneDb, role: string): Promise<boolean> {
  const found = await sql`select 1 from pg_roles where rolname = ${role}`.execute(db);
  return found.rows.length > 0;
}

/** Creates the NOLOGIN role unless it exists; returns whether it made it. */
export async function ensureRole(db: DataPlaneDb, role: string): Promise<boolean> {
  if (await roleExists(db, role)) return false;
  await sql`create role ${sql.id(role)} nologin`.execute(db);
  // Membership lets the control plane act as the tenant with SET ROLE.
  await sql`grant ${sql.id(role)} to current_user`.execute(db);
  return true;
}

/** Drops the role and what it owns in the database `db` is connected to; safe to run again. */
export async function dropRole(db: DataPlaneDb, role: string): Promise<void> {
  if (!(await roleExists(db, role))) return;
  await sql`drop owned by ${sql.id(role)}`.execute(db);
  await sql`drop role ${sql.id(role)}`.execute(db);
}

/** The owner of a schema in the database `db` is connected to, or undefined when there is none. */
export async function schemaOwner(db: DataPlaneDb, schema: string): Promise<string | undefined> {
  const owner = await sql<{ owner: string }>`
    select pg_get_userbyid(nspowner) as owner from pg_namespace where nspname = ${schema}`.execute(db);
  return owner.rows[0]?.owner;
}

/** The owner of a database on the server, or undefined when there is none. */
export async function databaseOwner(db: DataPlaneDb, database: string): Promise<string | undefined> {
  const owner = await sql<{ owner: string }>`
    select pg_get_userbyid(datdba) as owner from pg_database where datname = ${database}`.execute(db);
  return owner.rows[0]?.owner;
}

/**
 * Gives the app role DML on a schema's tables and sequences, those there now and those `role`
 * creates later (default privileges), and takes back a membership of the tenant's role that an
 * older version granted.
 */
export async function grantSchema(
  db: DataPlaneDb,
  schema: string,
  role: string,
  appRole: string,
): Promise<void> {
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
export async function revokeMembership(db: DataPlaneDb, role: string, appRole: string): Promise<void> {
  const member = await sql`
    select 1 from pg_auth_members m
    where m.roleid = (select oid from pg_roles where rolname = ${role})
      and m.member = (select oid from pg_roles where rolname = ${appRole})`.execute(db);
  if (member.rows.length > 0) await sql`revoke ${sql.id(role)} from ${sql.id(appRole)}`.execute(db);
}

/** A check of a tenant's schema or database: it exists and its role owns it. */
export function ownedCheck(
  kind: 'schema' | 'database',
  name: string,
  role: string,
  owner: string | undefined,
): PlacementCheck {
  if (owner === role) return { ok: true, problems: [] };
  const problem =
    owner === undefined ? `${kind} "${name}" does not exist` : `${kind} "${name}" belongs to "${owner}"`;
  return { ok: false, problems: [problem] };
}
