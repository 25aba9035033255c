import type { MigrationTarget, SqlSession, TargetResult } from '@tenantry/sdk';
import { CompiledQuery, type Kysely } from 'kysely';
import type { Schema } from '../db/index.ts';
import { inDatabase, Provisioner, type TenantResources } from './provisioner.ts';

/** The app's migrations could not be applied to a new tenant; provisioning fails with this reason. */
export class AppMigrationError extends Error {
  override name = 'AppMigrationError';
}

/** Where the app's migrations are and how to reach the tenants' databases. */
export interface AppMigrationsOptions {
  /** The folder named by TENANTRY_APP_MIGRATIONS (`NNNN_name.sql` files). */
  readonly dir: string;
  /** The control-plane database, which holds the `schema` tenants. */
  readonly db: Kysely<Schema>;
  /**
   * The control plane's PostgreSQL URL, to reach each `database` tenant's database on the same
   * server; undefined on embedded PGlite, which has no other database to connect to.
   */
  readonly databaseUrl: string | undefined;
}

/**
 * Applies the vendor app's SQL migrations to a new `schema` or `database` tenant, with the SDK's
 * runner (the same one `tenantry app migrate` uses): one transaction as the tenant's role, the
 * version recorded in the tenant's `tenantry_migrations` table. The folder is read on every
 * tenant, so migrations deployed beside a running control plane apply to the next tenant.
 */
export class AppMigrations {
  readonly #o: AppMigrationsOptions;

  constructor(options: AppMigrationsOptions) {
    this.#o = options;
  }

  /** Brings the tenant behind `resources` to the latest migration; pool tenants have nothing of their own. */
  async apply(resources: TenantResources): Promise<TargetResult | undefined> {
    const { role_name: role, schema_name: schema, database_name: database } = resources;
    if (role === null || (schema === null && database === null)) return undefined;
    // Loaded on first use: a control plane without TENANTRY_APP_MIGRATIONS never needs the SDK.
    const { migrateTarget, readMigrations } = await import('@tenantry/sdk');
    const migrations = await readMigrations(this.#o.dir).catch((error: unknown) => {
      throw new AppMigrationError(
        `app migrations (TENANTRY_APP_MIGRATIONS): ${error instanceof Error ? error.message : String(error)}`,
      );
    });
    const target: MigrationTarget = {
      placement: database !== null ? 'database' : 'schema',
      tenantId: null,
      slug: null,
      // A tenant database keeps the app's tables in `public`, which its owner (the tenant role) owns.
      schema: schema ?? 'public',
      role,
      database,
    };
    const result =
      database === null
        ? await this.#o.db
            .connection()
            .execute((conn) => migrateTarget(kyselySession(conn), target, migrations))
        : await this.#inDatabase(database, (session) => migrateTarget(session, target, migrations));
    if (result.status === 'failed') {
      throw new AppMigrationError(
        `app migration failed (TENANTRY_APP_MIGRATIONS), the tenant's schema is left as it was: ${result.error?.message}`,
      );
    }
    return result;
  }

  /** Runs `migrate` on a short-lived connection to a tenant's own database. */
  async #inDatabase(
    database: string,
    migrate: (session: SqlSession) => Promise<TargetResult>,
  ): Promise<TargetResult> {
    if (this.#o.databaseUrl === undefined) {
      throw new AppMigrationError(
        `app migrations (TENANTRY_APP_MIGRATIONS) cannot reach database "${database}": embedded PGlite has one database; run the control plane on PostgreSQL (DATABASE_URL) to migrate database tenants`,
      );
    }
    return inDatabase(this.#o.databaseUrl, database, (client) =>
      migrate({ query: (text, params) => client.query(text, params) }),
    );
  }
}

/**
 * A provisioner that also applies the app's migrations to each new `schema` or `database` tenant,
 * after its objects exist and before the tenant becomes active: a failure fails the provisioning
 * attempt (retried, then `provisioning_failed` with the reason), leaving the tenant's schema as it
 * was before the migrations.
 */
export class AppMigratingProvisioner extends Provisioner {
  readonly #migrations: AppMigrations;

  constructor(migrations: AppMigrations, ...args: ConstructorParameters<typeof Provisioner>) {
    super(...args);
    this.#migrations = migrations;
  }

  override async provision(resources: TenantResources): Promise<void> {
    await super.provision(resources);
    await this.#migrations.apply(resources);
  }
}

/** The runner's session over one Kysely connection (pg or PGlite): scripts without parameters run whole. */
function kyselySession(conn: Kysely<Schema>): SqlSession {
  return {
    query: async (text, params = []) => {
      const result = await conn.executeQuery(CompiledQuery.raw(text, params));
      return { rows: result.rows as Record<string, unknown>[] };
    },
  };
}
