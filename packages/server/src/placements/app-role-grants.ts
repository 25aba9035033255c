import type { PlacementResources } from '@tenantry/core';
import { type Kysely, sql } from 'kysely';
import { type DataPlaneConnector, type DataPlaneDb, DEFAULT_DATA_PLANE } from '../data-planes/index.ts';
import type { Schema } from '../db/index.ts';
import { grantDatabase } from './database-driver.ts';
import { appRoleMissing, grantSchema, roleExists } from './vendor-sql.ts';

/**
 * Brings the app role's access up to date for tenants provisioned before TENANTRY_APP_ROLE was
 * set, while it named another role, or by a version that granted tenants' roles: DML on each
 * `schema` tenant's tables, CONNECT on each `database` tenant's database and DML on its tables,
 * and no membership of any tenant's role; and revokes TEMP on each vendor data plane's database
 * from PUBLIC (a temporary table shadows a table for later statements on the same pooled
 * connection). The server runs it at start; answers the tenant roles it acted on. Throws when the
 * app role does not exist on a data plane.
 */
export async function grantAppRoleToTenants(
  db: Kysely<Schema>,
  connector: DataPlaneConnector,
  appRole: string | undefined,
): Promise<string[]> {
  if (appRole === undefined) return [];
  const tenants = await db
    .selectFrom('tenants')
    .select(['data_plane_id', 'resources'])
    .where('purged_at', 'is', null)
    .where('placement', 'in', ['schema', 'database'])
    .execute();
  // The control plane's own server, where the app's pool tables are too, and each data plane
  // holding tenants the app reaches.
  const planes = [...new Set([DEFAULT_DATA_PLANE, ...tenants.map((t) => t.data_plane_id)])].sort();
  const acted: string[] = [];
  for (const plane of planes) {
    const here = tenants
      .filter((t) => t.data_plane_id === plane)
      .map((t) => t.resources as PlacementResources);
    const schemas = here.flatMap((r) => (r.placement === 'schema' ? [r] : []));
    const databases = here.flatMap((r) => (r.placement === 'database' ? [r] : []));
    await connector.run(plane, (planeDb) =>
      planeDb.transaction().execute(async (tx) => {
        if (!(await roleExists(tx, appRole))) throw new Error(appRoleMissing(appRole));
        await sql`revoke temporary on database ${sql.id(await currentDatabase(tx))} from public`.execute(tx);
        if (schemas.length > 0) {
          const pairs = sql.join(schemas.map((r) => sql`(${r.role}, ${r.schema})`));
          const due = await sql<{ role: string; schema: string }>`
            select r.rolname as role, n.nspname as schema from (values ${pairs}) as t(role, schema)
            join pg_roles r on r.rolname = t.role
            join pg_namespace n on n.nspname = t.schema and n.nspowner = r.oid
            where not has_schema_privilege(${appRole}, n.oid, 'USAGE') or pg_has_role(${appRole}, r.oid, 'MEMBER')
            order by r.rolname`.execute(tx);
          for (const { role, schema } of due.rows) await grantSchema(tx, schema, role, appRole);
          acted.push(...due.rows.map((r) => r.role));
        }
        if (databases.length > 0) {
          // The CONNECT looked for is the app's own grant: as a member it holds the owner's.
          const pairs = sql.join(databases.map((r) => sql`(${r.role}, ${r.database})`));
          const due = await sql<{ role: string; database: string }>`
            select r.rolname as role, d.datname as database from (values ${pairs}) as t(role, database)
            join pg_roles r on r.rolname = t.role
            join pg_database d on d.datname = t.database and d.datdba = r.oid
            where pg_has_role(${appRole}, r.oid, 'MEMBER')
              or not exists (
                select 1 from aclexplode(d.datacl) a
                where a.grantee = (select oid from pg_roles where rolname = ${appRole}) and a.privilege_type = 'CONNECT')
            order by r.rolname`.execute(tx);
          for (const { role, database } of due.rows)
            await grantDatabase(connector, { data_plane: plane, database, role }, appRole, tx);
          acted.push(...due.rows.map((r) => r.role));
        }
      }),
    );
  }
  return acted;
}

/** The name of the database `db` is connected to. */
async function currentDatabase(db: DataPlaneDb): Promise<string> {
  const found = await sql<{ name: string }>`select current_database() as name`.execute(db);
  return (found.rows[0] as { name: string }).name;
}
