import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Schema } from '../db/index.ts';

/**
 * A data plane's database as drivers use it: raw SQL (`sql\`…\`.execute(db)`) and transactions;
 * it holds the vendor's or the customer's tables, which no type here describes.
 */
export type DataPlaneDb = Kysely<Record<string, never>>;

/** The id of the data plane that is the control plane's own server (migration 0030). */
export const DEFAULT_DATA_PLANE = 'dpl_default';

/**
 * How drivers reach a data plane's PostgreSQL server as its admin role: the vendor's shared
 * cluster, a dedicated server, or a customer's database. Each call is one unit of work on one
 * connection, so that the data plane's circuit breaker and bulkhead can wrap it.
 */
export interface DataPlaneConnector {
  /** Runs `fn` with the data plane's own database (the one its connection details name). */
  run<T>(dataPlane: string, fn: (db: DataPlaneDb) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` on a short-lived connection to another database of the same server, as the same
   * user: how a `database` tenant's own database is reached. Refused where there is no other
   * database to reach (embedded PGlite).
   */
  runIn<T>(dataPlane: string, database: string, fn: (db: DataPlaneDb) => Promise<T>): Promise<T>;
  /** Whether {@link runIn} can reach other databases on this data plane. */
  hasDatabases(dataPlane: string): boolean;
}

/** A data plane the connector does not know, or cannot reach this way. */
export class DataPlaneUnavailableError extends Error {
  override name = 'DataPlaneUnavailableError';
  readonly dataPlane: string;

  constructor(dataPlane: string, detail: string, options?: ErrorOptions) {
    super(`data plane ${dataPlane} is unavailable: ${detail}`, options);
    this.dataPlane = dataPlane;
  }
}

/**
 * The control plane's own server as the one data plane `dpl_default`: its database is the
 * control plane's (PostgreSQL or embedded PGlite), and other databases on it are reached through
 * `databaseUrl` (undefined on PGlite, which has no other database).
 */
export class ControlPlaneServer implements DataPlaneConnector {
  readonly #db: DataPlaneDb;
  readonly #databaseUrl: string | undefined;

  constructor(db: Kysely<Schema>, databaseUrl: string | undefined) {
    // The same connections, used for the vendor's tables, which the control plane's schema does not describe.
    this.#db = db as unknown as DataPlaneDb;
    this.#databaseUrl = databaseUrl;
  }

  run<T>(dataPlane: string, fn: (db: DataPlaneDb) => Promise<T>): Promise<T> {
    if (dataPlane !== DEFAULT_DATA_PLANE)
      return Promise.reject(new DataPlaneUnavailableError(dataPlane, 'no such data plane is registered'));
    return fn(this.#db);
  }

  async runIn<T>(dataPlane: string, database: string, fn: (db: DataPlaneDb) => Promise<T>): Promise<T> {
    if (dataPlane !== DEFAULT_DATA_PLANE)
      throw new DataPlaneUnavailableError(dataPlane, 'no such data plane is registered');
    if (this.#databaseUrl === undefined)
      throw new DataPlaneUnavailableError(
        dataPlane,
        `embedded PGlite has one database, so database "${database}" cannot be reached; run the control plane on PostgreSQL (DATABASE_URL)`,
      );
    const db = kyselyIn(this.#databaseUrl, database);
    try {
      return await fn(db);
    } finally {
      await db.destroy();
    }
  }

  hasDatabases(dataPlane: string): boolean {
    return dataPlane === DEFAULT_DATA_PLANE && this.#databaseUrl !== undefined;
  }
}

/**
 * A Kysely on one connection to `database` on the server `url` names, as the same user; destroy
 * it when done.
 */
export function kyselyIn(url: string, database: string): DataPlaneDb {
  const target = new URL(url);
  target.pathname = `/${encodeURIComponent(database)}`;
  const pool = new pg.Pool({ connectionString: target.toString(), max: 1 });
  // A connection lost while idle is reported as an event; the next statement fails instead.
  pool.on('error', () => {});
  return new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool }) });
}
