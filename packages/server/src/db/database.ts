import { randomInt } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { PGliteDialect } from './pglite-dialect.ts';
import type { Schema } from './schema.ts';

/** PostgreSQL's type oids of `timestamptz` and `timestamp`. */
const TIMESTAMPTZ = 1184;
const TIMESTAMP = 1114;

/** The schema that holds the control plane's own tables, apart from the vendor's app tables. */
export const CONTROL_SCHEMA = 'tenantry';

/** Where the control plane keeps its data: a PostgreSQL server, or embedded PGlite on disk. */
export type DatabaseTarget = { readonly url: string } | { readonly dataDir: string };

/** An open control-plane database. */
export interface Database {
  readonly db: Kysely<Schema>;
  readonly backend: 'postgres' | 'pglite';
  /**
   * Calls `handler` with the payload of every `NOTIFY` on `channel`, from any process on the
   * same database, until the returned function is called. Notifications are sent on commit, so
   * a listener never hears of a change that rolled back.
   */
  listen(channel: string, handler: (payload: string) => void): Promise<() => Promise<void>>;
  /**
   * A number naming this open database among every process using it, for as long as it is open:
   * other processes can tell whether its holder is still alive with
   * `pg_try_advisory_xact_lock(namespace, key)`, which fails while it is. On PostgreSQL it is a
   * session-level advisory lock `(namespace, key)` held on a connection of its own: when the
   * process dies, even by SIGKILL, the server ends that session and frees the lock at once. On
   * PGlite there is no lock to hold: the database lives and dies with this one process, so a key
   * other than its own was left by an earlier life.
   */
  processLock(namespace: number): Promise<ProcessLock>;
  close(): Promise<void>;
}

/** See {@link Database.processLock}. */
export interface ProcessLock {
  readonly key: number;
  release(): Promise<void>;
}

/** A random key for a process lock: a positive 31-bit integer. */
function randomLockKey(): number {
  return randomInt(1, 2 ** 31);
}

const INT8_OID = 20;
const RECONNECT_MS = 1_000;

/**
 * Opens the control-plane database: PostgreSQL through `pg` when a URL is given, otherwise
 * embedded PGlite in `dataDir` (`memory://` keeps it in memory). Both return `bigint` columns as
 * numbers and timestamps as `Date`, and both run sessions in UTC (usage is bucketed by UTC hour
 * and day), so the code above cannot tell them apart.
 */
export async function openDatabase(target: DatabaseTarget): Promise<Database> {
  if ('url' in target) return openPostgres(target.url);
  const pglite = await PGlite.create({
    dataDir: target.dataDir,
    // node-postgres' parsers for timestamps, so that both backends read them alike: PGlite's own
    // read a timestamp of year 1 (`0001-01-01 00:00:00+00`) as 2001.
    parsers: {
      [TIMESTAMPTZ]: pg.types.getTypeParser(TIMESTAMPTZ),
      [TIMESTAMP]: pg.types.getTypeParser(TIMESTAMP),
    },
    // The tenant list's search is served by trigram indexes (migration 0040), as on PostgreSQL.
    extensions: { pg_trgm },
  });
  await pglite.exec(`SET search_path TO ${CONTROL_SCHEMA}, public; SET TimeZone TO 'UTC'`);
  const db = new Kysely<Schema>({ dialect: new PGliteDialect(pglite) });
  return {
    db,
    backend: 'pglite',
    listen: async (channel, handler) => {
      const unlisten = await pglite.listen(channel, handler);
      return async () => unlisten();
    },
    processLock: async () => ({ key: randomLockKey(), release: async () => {} }),
    close: async () => {
      await db.destroy();
      await pglite.close();
    },
  };
}

/**
 * Keeps the process alive when the server ends the pool's sessions (a restart, a terminated
 * backend). node-postgres reports the end as an 'error' event on the client, and an 'error'
 * event nobody hears throws: the pool listens only while a client is idle (and drops it), so a
 * client checked out by a transaction between two statements needs a listener of its own. The
 * event needs no handling beyond being heard: the transaction's next statement fails (an
 * unreachable database, answered 503), and the pool discards the broken client on release.
 */
function outliveEndedSessions(pool: pg.Pool): void {
  const heard = (): void => {};
  pool.on('error', heard);
  pool.on('connect', (client) => client.on('error', heard));
}

function openPostgres(url: string): Database {
  const config = {
    connectionString: url,
    options: `-c search_path=${CONTROL_SCHEMA},public -c TimeZone=UTC`,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID
          ? Number
          : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
    },
  };
  const pool = new pg.Pool({ ...config, max: 20 });
  outliveEndedSessions(pool);
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
  const dedicated = new Set<{ stop(): Promise<void> }>();
  return {
    db,
    backend: 'postgres',
    listen: async (channel, handler) => {
      const listener = listenOn(config, channel, handler);
      dedicated.add(listener);
      await listener.ready;
      return async () => {
        dedicated.delete(listener);
        await listener.stop();
      };
    },
    processLock: async (namespace) => {
      const lock = holdProcessLock(config, namespace);
      dedicated.add(lock);
      await lock.ready;
      return {
        key: lock.key,
        release: async () => {
          dedicated.delete(lock);
          await lock.stop();
        },
      };
    },
    close: async () => {
      await Promise.all([...dedicated].map((l) => l.stop()));
      await db.destroy();
    },
  };
}

/**
 * A dedicated connection kept open until `stop`: `setUp` runs on each new connection, and a lost
 * connection, or one whose set-up failed, is replaced after {@link RECONNECT_MS}, again and again.
 * Failures after the first connection are reported as process warnings: the database layer has
 * no logger, and a dedicated connection that stayed down in silence would stop notifications (or
 * release the process lock) without a trace. The first connection's failure rejects `ready`.
 */
function dedicatedConnection(config: pg.ClientConfig, setUp: (client: pg.Client) => Promise<void>) {
  let client: pg.Client | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  const warn = (what: string, error: unknown) =>
    process.emitWarning(
      `${what}: ${error instanceof Error ? error.message : String(error)}`,
      'TenantryDatabase',
    );
  const open = async (): Promise<void> => {
    const next = new pg.Client(config);
    next.on('error', (error) => {
      // Errors while setting up reject open() instead; a client already replaced is no concern.
      if (client !== next) return;
      client = undefined;
      warn('a dedicated database connection was lost; reconnecting', error);
      // The connection is already broken: ending it only frees its socket, and any error of that
      // says nothing the one above did not.
      next.end().catch(() => {});
      reopenLater();
    });
    try {
      await next.connect();
      await setUp(next);
    } catch (error) {
      // As above: the error that matters is the one thrown on.
      await next.end().catch(() => {});
      throw error;
    }
    client = next;
  };
  const reopenLater = () => {
    if (stopped) return;
    retry = setTimeout(() => {
      open().catch((error: unknown) => {
        warn('reopening a dedicated database connection failed; trying again', error);
        reopenLater();
      });
    }, RECONNECT_MS);
  };
  return {
    ready: open(),
    stop: async () => {
      stopped = true;
      clearTimeout(retry);
      const last = client;
      client = undefined;
      await last?.end();
    },
  };
}

/** A dedicated connection that LISTENs on `channel`, reconnecting when it is lost. */
function listenOn(config: pg.ClientConfig, channel: string, handler: (payload: string) => void) {
  return dedicatedConnection(config, async (client) => {
    client.on('notification', (message) => {
      if (message.channel === channel) handler(message.payload ?? '');
    });
    await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
  });
}

/**
 * A dedicated connection holding the session-level advisory lock `(namespace, key)`, with a key
 * no other live process holds. TCP keepalives on the server's side end the session within about
 * 25 s if this host vanishes without closing the connection (a process that dies on a live host
 * has its connection closed by the kernel, and the lock freed, at once). A lost connection is
 * reopened and the same key taken again.
 */
function holdProcessLock(config: pg.ClientConfig, namespace: number) {
  const lockConfig = {
    ...config,
    keepAlive: true,
    options: `${config.options ?? ''} -c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3`,
  };
  let key = randomLockKey();
  let held = false;
  const connection = dedicatedConnection(lockConfig, async (client) => {
    for (;;) {
      const taken = await client.query<{ taken: boolean }>('select pg_try_advisory_lock($1, $2) as taken', [
        namespace,
        key,
      ]);
      if (taken.rows[0]?.taken) break;
      // Another live process holds this key: at start, draw another. On a reconnect the key is
      // already written on this process's claims and must stay; its holder is then this
      // process's lost session, which the server has not ended yet, so try again later.
      if (held) throw new Error(`the process lock (${namespace}, ${key}) is still held by the lost session`);
      key = randomLockKey();
    }
    held = true;
  });
  return {
    ready: connection.ready,
    get key() {
      return key;
    },
    stop: connection.stop,
  };
}
