import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { PGliteDialect } from './pglite-dialect.ts';
import type { Schema } from './schema.ts';

/** The schema that holds the control plane's own tables, apart from the vendor's app tables. */
export const CONTROL_SCHEMA = 'tenantry';

/** Where the control plane keeps its data: a PostgreSQL server, or embedded PGlite on disk. */
export type DatabaseTarget = { readonly url: string } | { readonly dataDir: string };

/** An open control-plane database. */
export interface Database {
  readonly db: Kysely<Schema>;
  readonly backend: 'postgres' | 'pglite';
  close(): Promise<void>;
}

const INT8_OID = 20;

/**
 * Opens the control-plane database: PostgreSQL through `pg` when a URL is given, otherwise
 * embedded PGlite in `dataDir` (`memory://` keeps it in memory). Both return `bigint` columns as
 * numbers and timestamps as `Date`, so the code above cannot tell them apart.
 */
export async function openDatabase(target: DatabaseTarget): Promise<Database> {
  if ('url' in target) {
    const pool = new pg.Pool({
      connectionString: target.url,
      max: 20,
      options: `-c search_path=${CONTROL_SCHEMA},public`,
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === INT8_OID
            ? Number
            : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
      },
    });
    const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
    return { db, backend: 'postgres', close: () => db.destroy() };
  }
  const pglite = await PGlite.create(target.dataDir);
  await pglite.exec(`SET search_path TO ${CONTROL_SCHEMA}, public`);
  const db = new Kysely<Schema>({ dialect: new PGliteDialect(pglite) });
  return {
    db,
    backend: 'pglite',
    close: async () => {
      await db.destroy();
      await pglite.close();
    },
  };
}
