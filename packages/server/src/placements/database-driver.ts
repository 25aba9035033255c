import { sql } from 'kysely';
import type { DataPlaneConnector, DataPlaneDb } from '../data-planes/index.ts';
import type { AppMigrations } from './app-migrations.ts';
import type {
  PlacedTenant,
  PlacementCheck,
  PlacementDriver,
  ProvisionStep,
  StepOutcome,
  TableBatch,
  TableDigest,
} from './placement-driver.ts';
import { digestTables, exportTables, importTables, type TenantTables } from './table-data.ts';
import {
  type AppRoleOptions,
  appRoleMissing,
  conflict,
  databaseOwner,
  dropRole,
  ensureRole,
  ownedCheck,
  revokeMembership,
  roleExists,
} from './vendor-sql.ts';

/**
 * `database`: a NOLOGIN role of the tenant's own and a database it owns on a vendor data plane,
 * closed to PUBLIC. Steps: `database` (the role, then the database; CREATE DATABASE cannot run in
 * a transaction, so a role made by a failed attempt is dropped by hand), `grants` (with
 * TENANTRY_APP_ROLE: CONNECT and DML on the tables of its `public` schema, never its role),
 * `app_migrations` (with TENANTRY_APP_MIGRATIONS).
 */
export class DatabaseDriver implements PlacementDriver<'database'> {
  readonly placement = 'database';
  readonly steps: readonly ProvisionStep<'database'>[];
  readonly #connector: DataPlaneConnector;
  readonly #appRole: string | undefined;

  constructor(connector: DataPlaneConnector, options: AppRoleOptions & { appMigrations?: AppMigrations }) {
    this.#connector = connector;
    this.#appRole = options.appRole;
    this.steps = [
      { name: 'database', run: (tenant) => this.#database(tenant) },
      ...(this.#appRole === undefined
        ? []
        : [{ name: 'grants', run: (t: PlacedTenant<'database'>) => this.#grants(t) }]),
      ...(options.appMigrations === undefined ? [] : [options.appMigrations.step()]),
    ];
  }

  #database({ resources: r }: PlacedTenant<'database'>): Promise<StepOutcome<'database'>> {
    const appRole = this.#appRole;
    return this.#connector.run(r.data_plane, async (db): Promise<StepOutcome<'database'>> => {
      if (appRole !== undefined && !(await roleExists(db, appRole)))
        return { status: 'failed', code: 'app_role_missing', detail: appRoleMissing(appRole) };
      const madeRole = await db.transaction().execute((tx) => ensureRole(tx, r.role));
      try {
        const owner = await databaseOwner(db, r.database);
        if (owner === undefined) {
          await sql`create database ${sql.id(r.database)} owner ${sql.id(r.role)}`.execute(db);
          await sql`revoke all on database ${sql.id(r.database)} from public`.execute(db);
        } else if (owner !== r.role) {
          if (madeRole) await sql`drop role if exists ${sql.id(r.role)}`.execute(db);
          return conflict(
            `database "${r.database}" already exists and belongs to "${owner}"; refusing to take it over`,
          );
        }
      } catch (error) {
        if (madeRole) await sql`drop role if exists ${sql.id(r.role)}`.execute(db);
        throw error;
      }
      return { status: 'done' };
    });
  }

  async #grants({ resources: r }: PlacedTenant<'database'>): Promise<StepOutcome<'database'>> {
    const appRole = this.#appRole as string;
    const missing = await this.#connector.run(r.data_plane, async (db) => !(await roleExists(db, appRole)));
    if (missing) return { status: 'failed', code: 'app_role_missing', detail: appRoleMissing(appRole) };
    await grantDatabase(this.#connector, r, appRole);
    return { status: 'done' };
  }

  async check({ resources: r }: PlacedTenant<'database'>): Promise<PlacementCheck> {
    const owner = await this.#connector.run(r.data_plane, (db) => databaseOwner(db, r.database));
    return ownedCheck('database', r.database, r.role, owner);
  }

  /**
   * Drops the database, then the role. A database of the tenant's name that its role does not own
   * was never the tenant's (provisioning refused to adopt it): it is left alone.
   */
  async deprovision({ resources: r }: PlacedTenant<'database'>): Promise<void> {
    await this.#connector.run(r.data_plane, async (db) => {
      if ((await databaseOwner(db, r.database)) === r.role)
        await sql`drop database if exists ${sql.id(r.database)} with (force)`.execute(db);
      await dropRole(db, r.role);
    });
  }

  export(tenant: PlacedTenant<'database'>): AsyncIterable<TableBatch> {
    return exportTables(this.#tables(tenant));
  }

  import(tenant: PlacedTenant<'database'>, batches: AsyncIterable<TableBatch>): Promise<void> {
    return importTables(this.#tables(tenant), tenant.id, batches);
  }

  verify(tenant: PlacedTenant<'database'>): Promise<readonly TableDigest[]> {
    return digestTables(this.#tables(tenant));
  }

  /** The app's tables live in the `public` schema of the tenant's database. */
  #tables({ resources: r }: PlacedTenant<'database'>): TenantTables {
    return { use: (fn) => this.#connector.runIn(r.data_plane, r.database, fn), schema: 'public' };
  }
}

/**
 * Gives the app role CONNECT on a database tenant's database (not TEMP) and DML on the tables and
 * sequences of its `public` schema, those there now and those the tenant's role creates later
 * (default privileges, kept in that database, hence the connection to it; skipped where the data
 * plane has no other database to reach, embedded PGlite); then takes back a membership of the
 * tenant's role that an older version granted. In that order, so an app upgraded while running
 * never loses its access in between.
 */
export async function grantDatabase(
  connector: DataPlaneConnector,
  r: { readonly data_plane: string; readonly database: string; readonly role: string },
  appRole: string,
  db?: DataPlaneDb,
): Promise<void> {
  if (connector.hasDatabases(r.data_plane))
    await connector.runIn(r.data_plane, r.database, (inDb) =>
      inDb.transaction().execute(async (tx) => {
        const [s, role, app] = [sql.id('public'), sql.id(r.role), sql.id(appRole)];
        // Before PostgreSQL 15, PUBLIC may create in `public`: the app must not.
        await sql`revoke create on schema ${s} from public`.execute(tx);
        await sql`grant usage on schema ${s} to ${app}`.execute(tx);
        await sql`alter default privileges for role ${role} in schema ${s} grant select, insert, update, delete on tables to ${app}`.execute(
          tx,
        );
        await sql`alter default privileges for role ${role} in schema ${s} grant usage, select on sequences to ${app}`.execute(
          tx,
        );
        await sql`grant select, insert, update, delete on all tables in schema ${s} to ${app}`.execute(tx);
        await sql`grant usage, select on all sequences in schema ${s} to ${app}`.execute(tx);
      }),
    );
  const onPlane = async (planeDb: DataPlaneDb) => {
    await sql`grant connect on database ${sql.id(r.database)} to ${sql.id(appRole)}`.execute(planeDb);
    await revokeMembership(planeDb, r.role, appRole);
  };
  if (db !== undefined) await onPlane(db);
  else await connector.run(r.data_plane, onPlane);
}
