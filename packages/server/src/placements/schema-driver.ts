import { sql } from 'kysely';
import type { DataPlaneConnector } from '../data-planes/index.ts';
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
  dropRole,
  ensureRole,
  type Failed,
  grantSchema,
  ownedCheck,
  roleExists,
  schemaOwner,
} from './vendor-sql.ts';

/** A refusal raised inside a transaction, so that what the step made before it is rolled back. */
class Refused extends Error {
  readonly outcome: Failed;
  constructor(outcome: Failed) {
    super(outcome.detail);
    this.outcome = outcome;
  }
}

/**
 * `schema`: a NOLOGIN role of the tenant's own and a schema it owns on a vendor data plane; the
 * role owns nothing else. Steps: `schema` (role and schema in one transaction: both exist
 * afterwards or neither does), `grants` (with TENANTRY_APP_ROLE: the app role's DML on the
 * tenant's tables, never its role), `app_migrations` (with TENANTRY_APP_MIGRATIONS).
 */
export class SchemaDriver implements PlacementDriver<'schema'> {
  readonly placement = 'schema';
  readonly steps: readonly ProvisionStep<'schema'>[];
  readonly #connector: DataPlaneConnector;
  readonly #appRole: string | undefined;

  constructor(connector: DataPlaneConnector, options: AppRoleOptions & { appMigrations?: AppMigrations }) {
    this.#connector = connector;
    this.#appRole = options.appRole;
    this.steps = [
      { name: 'schema', run: (tenant) => this.#schema(tenant) },
      ...(this.#appRole === undefined
        ? []
        : [{ name: 'grants', run: (t: PlacedTenant<'schema'>) => this.#grants(t) }]),
      ...(options.appMigrations === undefined ? [] : [options.appMigrations.step()]),
    ];
  }

  #schema({ resources: r }: PlacedTenant<'schema'>): Promise<StepOutcome<'schema'>> {
    const appRole = this.#appRole;
    return this.#connector.run(r.data_plane, (db) =>
      db
        .transaction()
        .execute(async (tx): Promise<StepOutcome<'schema'>> => {
          // No membership for the app: as a member it could act as the owner of the tenant's
          // tables from any tenant's SQL. The `grants` step gives it DML on them instead.
          if (appRole !== undefined && !(await roleExists(tx, appRole)))
            throw new Refused({
              status: 'failed',
              code: 'app_role_missing',
              detail: appRoleMissing(appRole),
            });
          await ensureRole(tx, r.role);
          const owner = await schemaOwner(tx, r.schema);
          if (owner === undefined) {
            await sql`create schema ${sql.id(r.schema)} authorization ${sql.id(r.role)}`.execute(tx);
          } else if (owner !== r.role) {
            throw new Refused(
              conflict(
                `schema "${r.schema}" already exists and belongs to "${owner}"; refusing to take it over`,
              ),
            );
          }
          return { status: 'done' };
        })
        .catch((error: unknown) => {
          if (error instanceof Refused) return error.outcome;
          throw error;
        }),
    );
  }

  #grants({ resources: r }: PlacedTenant<'schema'>): Promise<StepOutcome<'schema'>> {
    const appRole = this.#appRole as string;
    return this.#connector.run(r.data_plane, (db) =>
      db.transaction().execute(async (tx): Promise<StepOutcome<'schema'>> => {
        if (!(await roleExists(tx, appRole)))
          return { status: 'failed', code: 'app_role_missing', detail: appRoleMissing(appRole) };
        await grantSchema(tx, r.schema, r.role, appRole);
        return { status: 'done' };
      }),
    );
  }

  async check({ resources: r }: PlacedTenant<'schema'>): Promise<PlacementCheck> {
    const owner = await this.#connector.run(r.data_plane, (db) => schemaOwner(db, r.schema));
    return ownedCheck('schema', r.schema, r.role, owner);
  }

  /**
   * Drops the schema with everything in it, then the role. A schema of the tenant's name that its
   * role does not own was never the tenant's (provisioning refused to adopt it): it is left alone.
   */
  async deprovision({ resources: r }: PlacedTenant<'schema'>): Promise<void> {
    await this.#connector.run(r.data_plane, async (db) => {
      if ((await schemaOwner(db, r.schema)) === r.role)
        await sql`drop schema if exists ${sql.id(r.schema)} cascade`.execute(db);
      await dropRole(db, r.role);
    });
  }

  export(tenant: PlacedTenant<'schema'>): AsyncIterable<TableBatch> {
    return exportTables(this.#tables(tenant));
  }

  import(tenant: PlacedTenant<'schema'>, batches: AsyncIterable<TableBatch>): Promise<void> {
    return importTables(this.#tables(tenant), tenant.id, batches);
  }

  verify(tenant: PlacedTenant<'schema'>): Promise<readonly TableDigest[]> {
    return digestTables(this.#tables(tenant));
  }

  #tables({ resources: r }: PlacedTenant<'schema'>): TenantTables {
    return { use: (fn) => this.#connector.run(r.data_plane, fn), schema: r.schema };
  }
}
