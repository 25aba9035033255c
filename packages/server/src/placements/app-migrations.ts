import type { DatabaseResources, SchemaResources } from '@tenantry/core';
import type { MigrationTarget, SqlSession, TargetResult } from '@tenantry/sdk';
import { CompiledQuery } from 'kysely';
import type { DataPlaneConnector, DataPlaneDb } from '../data-planes/index.ts';
import type { StepOutcome } from './placement-driver.ts';

/** A schema or database tenant, as the migrations see it. */
interface MigratedTenant {
  readonly id: string;
  readonly resources: SchemaResources | DatabaseResources;
}

/**
 * Applies the vendor app's SQL migrations (the folder TENANTRY_APP_MIGRATIONS names) to a new
 * `schema` or `database` tenant, with the SDK's runner (the same one `tenantry app migrate`
 * uses): one transaction as the tenant's role, the version recorded in the tenant's
 * `tenantry_migrations` table. The folder is read on every tenant, so migrations deployed beside
 * a running control plane apply to the next tenant. A failure is thrown, so the workflow retries
 * it and then fails the tenant with the reason, its schema left as it was before the migrations.
 */
export class AppMigrations {
  readonly #dir: string;
  readonly #connector: DataPlaneConnector;
  /** '' for none (see the constructor). */
  readonly #bindingKey: string;

  /**
   * @param bindingKey TENANTRY_BINDING_KEY as loadConfig read it; the runner installs the tenant
   * binding with it, and without it installs none (it never reads the environment itself).
   */
  constructor(dir: string, connector: DataPlaneConnector, bindingKey?: string | undefined) {
    this.#dir = dir;
    this.#connector = connector;
    this.#bindingKey = bindingKey ?? '';
  }

  /** The `app_migrations` step of the schema and database placements. */
  step(): { readonly name: string; run(tenant: MigratedTenant): Promise<StepOutcome<never>> } {
    return {
      name: 'app_migrations',
      run: async (tenant: MigratedTenant) => {
        await this.apply(tenant);
        return { status: 'done' } as const;
      },
    };
  }

  /** Brings the tenant to the latest migration. */
  async apply(tenant: MigratedTenant): Promise<TargetResult> {
    const r = tenant.resources;
    // Loaded on first use: a control plane without TENANTRY_APP_MIGRATIONS never needs the SDK.
    const { migrateTarget, readMigrations } = await import('@tenantry/sdk');
    const migrations = await readMigrations(this.#dir).catch((error: unknown) => {
      throw new Error(
        `app migrations (TENANTRY_APP_MIGRATIONS): ${error instanceof Error ? error.message : String(error)}`,
      );
    });
    const target: MigrationTarget =
      r.placement === 'schema'
        ? { placement: 'schema', tenantId: null, slug: null, schema: r.schema, role: r.role, database: null }
        : // A tenant database keeps the app's tables in `public`, which its owner (the tenant role) owns.
          {
            placement: 'database',
            tenantId: null,
            slug: null,
            schema: 'public',
            role: r.role,
            database: r.database,
          };
    const migrate = (db: DataPlaneDb) =>
      db
        .connection()
        .execute((conn) =>
          migrateTarget(kyselySession(conn), target, migrations, { bindingKey: this.#bindingKey }),
        );
    const result =
      r.placement === 'schema'
        ? await this.#connector.run(r.data_plane, migrate)
        : await this.#connector.runIn(r.data_plane, r.database, migrate).catch((error: unknown) => {
            throw new Error(
              `app migrations (TENANTRY_APP_MIGRATIONS) cannot reach database "${r.database}": ${error instanceof Error ? error.message : String(error)}`,
            );
          });
    if (result.status === 'failed') {
      throw new Error(
        `app migration failed (TENANTRY_APP_MIGRATIONS), the tenant's schema is left as it was: ${result.error?.message}`,
      );
    }
    return result;
  }
}

/** The runner's session over one Kysely connection (pg or PGlite): scripts without parameters run whole. */
function kyselySession(conn: DataPlaneDb): SqlSession {
  return {
    query: async (text, params = []) => {
      const result = await conn.executeQuery(CompiledQuery.raw(text, params));
      return { rows: result.rows as Record<string, unknown>[] };
    },
  };
}
