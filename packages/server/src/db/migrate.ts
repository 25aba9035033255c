import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type Kysely, sql } from 'kysely';
import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration';
import { CONTROL_SCHEMA } from './database.ts';
import type { Schema } from './schema.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
const MIGRATION_TABLE = 'schema_migrations';
const LOCK_TABLE = 'schema_migrations_lock';

async function readMigrations(): Promise<Record<string, Migration>> {
  const files = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort();
  const migrations: Record<string, Migration> = {};
  for (const file of files) {
    const text = await readFile(MIGRATIONS_DIR + file, 'utf8');
    migrations[file.replace(/\.sql$/, '')] = {
      up: (db) =>
        sql
          .raw(text)
          .execute(db)
          .then(() => undefined),
    };
  }
  return migrations;
}

/**
 * The migrations shipped with this build, read once: they cannot change while the process runs,
 * and `/readyz` asks for them on every probe. A failed read is not remembered, so it is retried.
 */
let shipped: Promise<Record<string, Migration>> | undefined;
function shippedMigrations(): Promise<Record<string, Migration>> {
  if (!shipped) {
    shipped = readMigrations();
    shipped.catch(() => {
      shipped = undefined;
    });
  }
  return shipped;
}

/** Reads the SQL migrations shipped with the server; one file is one migration, run in a transaction. */
class SqlFileMigrationProvider implements MigrationProvider {
  getMigrations(): Promise<Record<string, Migration>> {
    return shippedMigrations();
  }
}

function migrator(db: Kysely<Schema>): Migrator {
  return new Migrator({
    db,
    provider: new SqlFileMigrationProvider(),
    migrationTableSchema: CONTROL_SCHEMA,
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: LOCK_TABLE,
  });
}

/** Where the database's schema stands against the migrations this build knows. */
export interface MigrationStatus {
  readonly applied: readonly string[];
  readonly pending: readonly string[];
  /** Migrations the database has that this build does not know: a newer Tenantry migrated it. */
  readonly unknown: readonly string[];
}

/** Reads the migration status without changing anything. */
export async function migrationStatus(db: Kysely<Schema>): Promise<MigrationStatus> {
  const known = Object.keys(await shippedMigrations());
  const exists = await sql<{ present: boolean }>`
    select to_regclass(${`${CONTROL_SCHEMA}.${MIGRATION_TABLE}`}) is not null as present`.execute(db);
  const applied = exists.rows[0]?.present
    ? (
        await sql<{
          name: string;
        }>`select name from ${sql.table(`${CONTROL_SCHEMA}.${MIGRATION_TABLE}`)} order by name`.execute(db)
      ).rows.map((r) => r.name)
    : [];
  return {
    applied,
    pending: known.filter((name) => !applied.includes(name)),
    unknown: applied.filter((name) => !known.includes(name)),
  };
}

/** Raised when the database was migrated by a newer Tenantry than the one running. */
export class SchemaTooNewError extends Error {
  readonly unknown: readonly string[];

  constructor(unknown: readonly string[]) {
    super(
      `the database schema is newer than this Tenantry knows (unknown migrations: ${unknown.join(', ')}); ` +
        'upgrade Tenantry or point it at another database',
    );
    this.name = 'SchemaTooNewError';
    this.unknown = unknown;
  }
}

/**
 * Applies every pending migration, each in its own transaction, under Kysely's migration lock so
 * that several control-plane processes starting at once migrate exactly once. Refuses a database
 * whose schema is newer than this build. Returns the names it applied.
 */
export async function migrateToLatest(db: Kysely<Schema>): Promise<string[]> {
  const status = await migrationStatus(db);
  if (status.unknown.length > 0) throw new SchemaTooNewError(status.unknown);
  // Up to date, as at nearly every start: the migrator would still take its lock and check its
  // tables, a dozen statements (60-90 ms on PGlite) for nothing to do.
  if (status.pending.length === 0) return [];
  const { error, results } = await migrator(db).migrateToLatest();
  if (error) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
