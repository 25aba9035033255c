import pg from 'pg';
import { currentTenant } from '../context/index.ts';
import { byoiConfig } from './byoi-connection.ts';
import {
  type DataPlaneGuardOptions,
  DataPlaneGuards,
  DataPlaneNotConfiguredError,
} from './data-plane-guard.ts';
import {
  type DataConnection,
  type Placements,
  type UsablePlacement as TenantPlacement,
  UnsupportedPlacementError,
} from './placement-directory.ts';
import {
  type CheckOptions,
  checkRowLevelSecurity,
  type RowLevelSecurityReport,
} from './row-level-security.ts';
import {
  forgetStatements,
  ScopedStatement,
  type ScopedStatementOptions,
  SESSION_CLEAN,
} from './scoped-statement.ts';
import {
  BINDING_SETTING,
  BindingKeyError,
  byoiBindingKey,
  CURRENT_TENANT,
  parseBindingKey,
  TenantBinder,
} from './tenant-binding.ts';
import { TenantDatabasePools, type TenantDatabasePoolsOptions } from './tenant-database-pools.ts';

/** What a transaction's callback gets: pg's `query`, already scoped to the current tenant. */
export interface TenantClient {
  readonly query: pg.ClientBase['query'];
}

/** How a transaction runs. */
export interface TransactionOptions {
  readonly isolation?: 'read committed' | 'repeatable read' | 'serializable';
  readonly readOnly?: boolean;
}

/** Options of {@link TenantData}. */
export interface TenantDataOptions {
  /**
   * The app's one login role on the shared database, e.g. `postgres://minutes_app:…@db/minutes`:
   * the database the control plane provisions in (its DATABASE_URL's), holding the pool tables
   * and the schema tenants' schemas. Database tenants are reached on the same server with the
   * database name replaced. The role must be neither superuser, BYPASSRLS nor the owner of the
   * pool tables; it must hold DML on schema tenants' tables and CONNECT on database tenants'
   * databases with DML on their tables, never a tenant's role (the control plane's
   * TENANTRY_APP_ROLE does both).
   */
  readonly url: string;
  /**
   * The URL of the app's login role on each other vendor data plane its tenants may live on, by
   * id: `{ dpl_eu1: 'postgres://minutes_app:…@pg-eu-1/minutes' }` (`url` is `dpl_default`'s). Each
   * is to its data plane what `url` is to the default one: its pool tables, its schema tenants,
   * and its database tenants on the same server with the database name replaced, under the same
   * checks (run on the data plane's first use) and behind its own circuit breaker and bulkhead. A
   * tenant on a data plane missing here fails with {@link DataPlaneNotConfiguredError}.
   */
  readonly dataPlanes?: Readonly<Record<string, string>>;
  /**
   * The circuit breaker and bulkhead of each data plane other than `url`'s (vendor data planes in
   * `dataPlanes`, BYOI customers' databases), and its connect timeout; see {@link DataPlaneGuards}.
   */
  readonly guard?: DataPlaneGuardOptions;
  /**
   * Where each tenant lives: a {@link PlacementDirectory} on a control plane (its `invalidate` is
   * what the entitlement stream calls), or a {@link OneTenantPlacement} self-hosted on a license.
   */
  readonly placements: Placements;
  /** The schema of the pool tables; default `public` (the control plane's TENANTRY_POOL_SCHEMA). */
  readonly poolSchema?: string;
  /** Connections to the shared database; default 10. */
  readonly max?: number;
  /**
   * Also refuse to start while a pool table lacks row-level security (see
   * {@link checkRowLevelSecurity}); default true. The role is always checked.
   */
  readonly requireRowLevelSecurity?: boolean;
  /** Tables of the pool schema that hold no tenant's rows, for that check. */
  readonly sharedTables?: readonly string[];
  /**
   * The pools of `database` tenants (on every vendor data plane) and of BYOI customers' databases,
   * which share one connection budget: budget, pools kept, idle time.
   */
  readonly databases?: Omit<TenantDatabasePoolsOptions, 'config'>;
  /** The URL of a tenant database on `dpl_default`, when it is not `url` with the database name replaced. */
  readonly tenantDatabaseUrl?: (database: string) => string;
  /**
   * How many of {@link TenantData.query}'s statements each shared connection keeps prepared, by
   * text, the least recently used closed first; default 100. A statement run again is then
   * neither parsed nor planned by the server. 0 parses every statement anew. Behind a connection
   * pooler in transaction mode, the pooler must carry prepared statements (PgBouncer 1.21+ with
   * `max_prepared_statements`), as the tenant setting's own statement needs anyway.
   */
  readonly preparedStatements?: number;
  /**
   * The tenant binding key (64+ hex digits or base64 of 32+ bytes), the one `installTenantBinding()`
   * put in the database; default `TENANTRY_BINDING_KEY`. Without it nothing starts.
   */
  readonly bindingKey?: string;
  /**
   * When a connection is reset before it goes back to its pool (see {@link CONNECTION_RESET}):
   * `'after-other-statements'` (the default) after every transaction(), and after a query() whose
   * statement was not a plain SELECT, INSERT, UPDATE, DELETE or MERGE; or `'always'`, after every
   * query() too. A plain data statement cannot PREPARE, LISTEN, DECLARE a cursor or create
   * anything (the functions that run SQL, such as `query_to_xml`, run it read-only); what it can
   * leave behind (a setting changed with `set_config(…, false)`, the role, a session advisory
   * lock, the `lastval()` of an INSERT) is undone at the start of the next query() or
   * transaction(), in the round trip that starts it (`RESET ALL`, `DISCARD SEQUENCES`, the role,
   * `pg_advisory_unlock_all()`), before its binding is set. `'always'` costs a round trip
   * per query; BENCHMARKS.md shows how much.
   */
  readonly resetConnections?: 'always' | 'after-other-statements';
}

/**
 * What a connection runs before it goes back to its pool: everything SQL can leave on a session
 * for the next checkout (settings, role, cursors, LISTEN, advisory locks, temporary objects,
 * sequence state), short of the SDK's own prepared statements. Statements prepared by SQL
 * (`PREPARE`, never by the SDK, which prepares over the protocol) are counted: one may have taken
 * the name of one of the SDK's, so any at all deallocates everything and the SDK prepares its own
 * anew (pg's client would not notice a statement replaced under its name).
 */
export const CONNECTION_RESET =
  'reset all; reset role; reset session authorization; close all; unlisten *; select pg_catalog.pg_advisory_unlock_all(); discard temp; discard sequences; select pg_catalog.count(*)::int as prepared_by_sql from pg_catalog.pg_prepared_statements where from_sql';

/** The command tags of statements that cannot leave a prepared statement, LISTEN, cursor or SET behind. */
const DATA_COMMANDS: ReadonlySet<string> = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE']);

/** The data plane `url` reaches: the control plane's own server. */
const DEFAULT_DATA_PLANE = 'dpl_default';

/** The app's database role or pool tables would let one tenant's rows reach another. */
export class RowLevelSecurityError extends Error {
  readonly report: RowLevelSecurityReport;
  /** The data plane whose check failed: its tenants are refused, every other's go on. */
  readonly dataPlane: string;

  constructor(report: RowLevelSecurityReport, dataPlane = DEFAULT_DATA_PLANE) {
    super(
      `refusing to run tenant transactions on data plane ${dataPlane}: row-level security would not keep tenants apart in schema ${report.schema}:\n- ${report.problems.join('\n- ')}`,
    );
    this.name = 'RowLevelSecurityError';
    this.report = report;
    this.dataPlane = dataPlane;
  }
}

/** A statement of the transaction failed and Postgres rolled it back at COMMIT. */
export class TransactionRolledBackError extends Error {
  constructor() {
    super(
      'the transaction was rolled back: a statement in it failed (and its error was caught), so COMMIT could not keep anything',
    );
    this.name = 'TransactionRolledBackError';
  }
}

/** A statement run by {@link TenantData.query} opened a transaction (BEGIN); it was rolled back. */
export class TransactionLeftOpenError extends Error {
  constructor(text: string) {
    super(
      `data.query() ran a statement that left a transaction open (${JSON.stringify(text.slice(0, 60))}), so it was rolled back: use data.transaction() for several statements in one transaction`,
    );
    this.name = 'TransactionLeftOpenError';
  }
}

/** A vendor data plane the app has a URL for: its shared pool and whether its check passed. */
interface VendorPlane {
  readonly id: string;
  readonly url: string;
  readonly shared: pg.Pool;
  started: Promise<void> | undefined;
  ready: boolean;
}

/** What {@link TenantData.query}'s one-round-trip path checks a client out of: pg.Pool's callback connect. */
interface CallbackPool {
  connect(
    callback: (
      error: Error | undefined,
      client: pg.PoolClient | undefined,
      release: (error?: Error | boolean) => void,
    ) => void,
  ): void;
}

/** The connection a BYOI data plane's pool was opened with, and that pool's key. */
interface ByoiPool {
  readonly connection: DataConnection;
  readonly key: string;
  /** When a transaction last asked for it (ms since the epoch). */
  usedAt: number;
}

/** A BYOI connection whose pool is gone and that nobody asked for this long is forgotten. */
const BYOI_KEEP_MS = 60_000;
/** BYOI tenants whose binders are kept (the ones used last); a binder made again costs one HMAC. */
const BYOI_BINDERS = 1_000;

/**
 * Tenant-scoped data, one call for every placement: {@link transaction} takes the tenant from the
 * tenant context, finds where its data lives, and hands the callback a client already scoped to
 * it, inside one transaction:
 *
 * - `pool`: the shared database as the app's role, with the tenant binding (`tenantry.binding`,
 *   signed with the binding key, see `tenant-binding.ts`) set for the transaction only
 *   (`set_config(…, true)`); row-level security, through `tenantry.current_tenant()`, does the rest.
 * - `schema`: the shared database as the app's role, `search_path` set to the tenant's schema and
 *   the binding set, for the transaction only; the app's role holds DML on schema tenants' tables
 *   through grants, and each table's policy admits only its tenant's binding.
 * - `database`: the tenant's own database, from a bounded LRU of pools, as the app's role, which
 *   holds CONNECT on it and DML on its tables through grants; the binding is set there too.
 * - `byoi`: the customer's own database, with the connection the control plane decrypts for the
 *   app (read through the directory, kept briefly), from the same LRU and connection budget;
 *   `search_path` set to the app's schema there and the binding set, for the transaction only.
 *
 * Pool, schema and database tenants may live on any vendor data plane the app has a URL for
 * (`dataPlanes`). Every data plane but `url`'s runs behind a circuit breaker and a bulkhead of its
 * own ({@link DataPlaneGuards}), so a dead one answers {@link DataPlaneUnavailableError} for its
 * tenants only, fast once its breaker has opened.
 *
 * Everything it sets is local to the transaction, and the connection is reset before it goes
 * back to its pool (see {@link CONNECTION_RESET}), so what SQL inside the callback leaves on the
 * session does not reach the next checkout. Each `db.query` call runs one statement (the
 * extended protocol refuses several in one text), as `query()` does.
 *
 * @example
 * ```ts
 * const data = new TenantData({ url: process.env.APP_DATABASE_URL!, placements });
 * await data.start(); // refuses a role or pool tables that would leak
 * // in a request handler, inside runAsTenant() (the Fastify and Express adapters do that):
 * const meetings = await data.transaction(async (db) => (await db.query('select * from meetings')).rows);
 * ```
 */
export class TenantData {
  readonly #placements: Placements;
  readonly #poolSchema: string;
  readonly #shared: pg.Pool;
  readonly #default: VendorPlane;
  /** The URLs of `dataPlanes`; a plane's pool is opened on its first use. */
  readonly #planeUrls: ReadonlyMap<string, string>;
  readonly #planes = new Map<string, VendorPlane>();
  readonly #max: number;
  readonly #guards: DataPlaneGuards;
  /** BYOI data planes' connections, by data plane: what their pools' config reads. */
  readonly #byoi = new Map<string, ByoiPool>();
  #byoiPruneAt = 100;
  readonly #databases: TenantDatabasePools;
  readonly #check: CheckOptions;
  readonly #requireTables: boolean;
  readonly #prepare: ScopedStatementOptions;
  readonly #binder: TenantBinder;
  readonly #bindingKey: Buffer;
  /** BYOI tenants' binders, each with its tenant's own key (see byoiBindingKey), by tenant id. */
  readonly #byoiBinders = new Map<string, TenantBinder>();
  readonly #resetAlways: boolean;
  /** The start-up check of `url`'s data plane passed: calls skip waiting for it. */
  #ready = false;

  constructor(options: TenantDataOptions) {
    this.#placements = options.placements;
    this.#poolSchema = options.poolSchema ?? 'public';
    this.#max = options.max ?? 10;
    this.#shared = new pg.Pool({ connectionString: options.url, max: this.#max });
    // An idle connection ended by the server is reported here and dropped by pg; unheard, the
    // event would crash the process.
    this.#shared.on('error', () => {});
    this.#default = {
      id: DEFAULT_DATA_PLANE,
      url: options.url,
      shared: this.#shared,
      started: undefined,
      ready: false,
    };
    const planeUrls = new Map<string, string>();
    for (const [id, url] of Object.entries(options.dataPlanes ?? {})) {
      if (id === DEFAULT_DATA_PLANE)
        throw new RangeError(`dataPlanes.${id}: the url option is the URL of ${DEFAULT_DATA_PLANE}`);
      if (typeof url !== 'string' || url === '')
        throw new TypeError(`dataPlanes.${id} must be a PostgreSQL URL`);
      planeUrls.set(id, url);
    }
    this.#planeUrls = planeUrls;
    this.#guards = new DataPlaneGuards(options.guard);
    const databaseUrl =
      options.tenantDatabaseUrl ?? ((database: string) => withDatabase(options.url, database));
    this.#databases = new TenantDatabasePools({
      connectTimeoutMs: this.#guards.connectTimeoutMs,
      ...options.databases,
      config: (key) => this.#databaseConfig(key, databaseUrl),
    });
    this.#check = {
      schema: this.#poolSchema,
      ...(options.sharedTables !== undefined ? { shared: options.sharedTables } : {}),
    };
    this.#requireTables = options.requireRowLevelSecurity ?? true;
    const prepare = options.preparedStatements ?? 100;
    if (!Number.isSafeInteger(prepare) || prepare < 0)
      throw new RangeError(`preparedStatements must be a whole number of 0 or more, not ${String(prepare)}`);
    // Every pool statement starts from a clean session, in its own round trip.
    this.#prepare = { prepare, clean: true };
    this.#bindingKey = parseBindingKey(options.bindingKey ?? process.env.TENANTRY_BINDING_KEY);
    this.#binder = new TenantBinder(this.#bindingKey);
    this.#resetAlways = (options.resetConnections ?? 'after-other-statements') === 'always';
  }

  /**
   * Checks, once, that the app's role cannot bypass row-level security (not a superuser, not
   * BYPASSRLS, owner of no pool table) and, unless told otherwise, that every pool table has it;
   * throws {@link RowLevelSecurityError} otherwise. The first transaction calls it when the app
   * did not; a failed check fails every transaction.
   */
  start(): Promise<void> {
    return this.#startPlane(this.#default).then(() => {
      this.#ready = true;
    });
  }

  /**
   * The check of {@link start} on one vendor data plane, once. `url`'s is checked at start; each
   * of `dataPlanes` on its first use, inside its guard: a data plane down when the app starts must
   * not keep it from serving every other one, and its tenants are refused until it has passed.
   */
  #startPlane(plane: VendorPlane): Promise<void> {
    plane.started ??= checkRowLevelSecurity(plane.shared, this.#check).then(async (report) => {
      const unsafe = this.#requireTables ? !report.ok : report.role.problems.length > 0;
      if (unsafe) throw new RowLevelSecurityError(report, plane.id);
      await this.#checkKey(plane.shared);
      plane.ready = true;
    });
    // A failure to reach the database is not a verdict: the next call checks again.
    plane.started.catch((error: unknown) => {
      if (!(error instanceof RowLevelSecurityError)) plane.started = undefined;
    });
    return plane.started;
  }

  /** Throws {@link BindingKeyError} unless a binding made with this key verifies in the database. */
  async #checkKey(pool: pg.Pool): Promise<void> {
    const client = await pool.connect();
    try {
      const probe = 'tenantry_key_probe';
      await client.query('begin');
      await client.query('select pg_catalog.set_config($1, $2, true)', [
        BINDING_SETTING,
        this.#binder.bind(probe, processId(client)),
      ]);
      const found = await client.query<{ tenant: string | null }>(`select ${CURRENT_TENANT} as tenant`);
      await client.query('rollback');
      if (found.rows[0]?.tenant !== probe)
        throw new BindingKeyError(
          'the tenant binding key does not match the one installed in the database: a binding made with it does not verify',
        );
    } finally {
      client.release();
    }
  }

  /**
   * Runs the catalog check of the pool schema as the app's role, on the shared database of
   * `dataPlane` (`url`'s by default, or one of `dataPlanes`).
   */
  checkRowLevelSecurity(dataPlane = DEFAULT_DATA_PLANE): Promise<RowLevelSecurityReport> {
    if (dataPlane !== DEFAULT_DATA_PLANE && !this.#planeUrls.has(dataPlane))
      return Promise.reject(new RangeError(`no URL for data plane ${dataPlane} in the dataPlanes option`));
    return checkRowLevelSecurity(this.#plane('', dataPlane).shared, this.#check);
  }

  /** The vendor data plane `dataPlane`, its pool opened on first use; throws when the app has no URL for it. */
  #plane(tenantId: string, dataPlane: string): VendorPlane {
    if (dataPlane === DEFAULT_DATA_PLANE) return this.#default;
    const found = this.#planes.get(dataPlane);
    if (found !== undefined) return found;
    const url = this.#planeUrls.get(dataPlane);
    if (url === undefined) throw new DataPlaneNotConfiguredError(tenantId, dataPlane);
    const shared = new pg.Pool({
      connectionString: url,
      max: this.#max,
      connectionTimeoutMillis: this.#guards.connectTimeoutMs,
    });
    // An idle connection the server closes is dropped by the pool; unheard, its error would end
    // the process (the next checkout opens another, or fails through the plane's guard).
    shared.on('error', () => {});
    const plane: VendorPlane = { id: dataPlane, url, shared, started: undefined, ready: false };
    this.#planes.set(dataPlane, plane);
    return plane;
  }

  /**
   * How a pool of {@link TenantDatabasePools} connects, by its key: a database on `dpl_default`
   * by its name, one on another vendor data plane as `<data plane>/<database>`, a BYOI customer's
   * as `<data plane>/<database>` of its connection.
   */
  #databaseConfig(key: string, defaultUrl: (database: string) => string): pg.PoolConfig {
    const slash = key.indexOf('/');
    if (slash < 0) return { connectionString: defaultUrl(key) };
    const dataPlane = key.slice(0, slash);
    const byoi = this.#byoi.get(dataPlane);
    if (byoi !== undefined && byoi.key === key) return byoiConfig(byoi.connection);
    return { connectionString: withDatabase(this.#plane('', dataPlane).url, key.slice(slash + 1)) };
  }

  /**
   * What signs `where`'s bindings: the vendor's key, or a BYOI tenant's own (see byoiBindingKey).
   * The BYOI tenants' binders are kept for the {@link BYOI_BINDERS} used last: one made again
   * costs an HMAC, and each keeps bindings of its own.
   */
  #binderOf(where: TenantPlacement): TenantBinder {
    if (where.placement !== 'byoi') return this.#binder;
    let binder = this.#byoiBinders.get(where.tenantId);
    if (binder === undefined) {
      binder = new TenantBinder(byoiBindingKey(this.#bindingKey, where.tenantId));
      if (this.#byoiBinders.size >= BYOI_BINDERS) {
        const oldest = this.#byoiBinders.keys().next().value;
        if (oldest !== undefined) this.#byoiBinders.delete(oldest);
      }
    } else {
      // Moved to the end: the Map's order is the order of last use.
      this.#byoiBinders.delete(where.tenantId);
    }
    this.#byoiBinders.set(where.tenantId, binder);
    return binder;
  }

  /**
   * The key of a BYOI tenant's pool, its connection read through the directory (kept there
   * briefly, and dropped when the tenant is invalidated). A connection that changed (a password
   * rotated) retires the pool opened with the old one.
   */
  async #byoiPool(where: TenantPlacement): Promise<string> {
    if (this.#placements.dataConnection === undefined)
      throw new UnsupportedPlacementError(
        where.tenantId,
        'byoi',
        'these placements read no data connections',
      );
    const connection = await this.#placements.dataConnection(where.tenantId);
    // An answer for another data plane (a connection replaced meanwhile) waits for the directory.
    if (connection.data_plane_id !== where.dataPlane)
      throw new UnsupportedPlacementError(
        where.tenantId,
        'byoi',
        `its data connection is for data plane ${connection.data_plane_id}, not ${where.dataPlane}`,
      );
    const now = Date.now();
    const held = this.#byoi.get(where.dataPlane);
    if (held !== undefined && sameConnection(held.connection, connection)) {
      held.usedAt = now;
      return held.key;
    }
    if (held !== undefined) this.#databases.forget(held.key);
    this.#pruneByoi(now);
    const key = `${where.dataPlane}/${connection.database}`;
    this.#byoi.set(where.dataPlane, { connection, key, usedAt: now });
    return key;
  }

  /**
   * Forgets the connections (passwords included) of BYOI data planes whose pool the LRU has
   * closed and that no transaction asked for lately, so that they are not kept in memory for
   * ever; one asked for again is read again through the directory.
   */
  #pruneByoi(now: number): void {
    if (this.#byoi.size < this.#byoiPruneAt) return;
    const kept = new Set(this.#databases.stats().databases);
    for (const [dataPlane, held] of this.#byoi)
      if (!kept.has(held.key) && now - held.usedAt > BYOI_KEEP_MS) this.#byoi.delete(dataPlane);
    this.#byoiPruneAt = Math.max(100, this.#byoi.size * 2);
  }

  /**
   * Runs `fn` in one transaction on the current tenant's data and commits when it resolves (rolls
   * back when it throws). Throws {@link NoTenantContextError} outside a tenant context,
   * {@link TenantUnavailableError} when the tenant's state closes its data,
   * {@link RowLevelSecurityError} when the start-up check failed, and
   * {@link TransactionRolledBackError} when a statement failed but `fn` caught the error.
   */
  async transaction<T>(fn: (db: TenantClient) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const { tenantId } = currentTenant('data.transaction()');
    if (!this.#ready) await this.start();
    return this.#transactionAt(await this.#placements.usable(tenantId), fn, options);
  }

  /**
   * {@link transaction} where the tenant's placement is known: on `url`'s data plane directly, on
   * any other behind its guards, after its check.
   */
  async #transactionAt<T>(
    where: TenantPlacement,
    fn: (db: TenantClient) => Promise<T>,
    options: TransactionOptions,
  ): Promise<T> {
    if (where.placement === 'byoi') {
      // Read before the guard: a control plane that does not answer says nothing of this data plane.
      const key = await this.#byoiPool(where);
      return this.#guards.run(where.tenantId, where.dataPlane, () =>
        this.#transactionWith(where, () => this.#databases.connect(key), fn, options),
      );
    }
    const plane = this.#plane(where.tenantId, where.dataPlane);
    const checkout =
      where.placement === 'database'
        ? () =>
            this.#databases.connect(
              plane === this.#default
                ? (where.database as string)
                : `${plane.id}/${where.database as string}`,
            )
        : () => plane.shared.connect();
    if (plane === this.#default) return this.#transactionWith(where, checkout, fn, options);
    return this.#guards.run(where.tenantId, plane.id, async () => {
      if (!plane.ready) await this.#startPlane(plane);
      return this.#transactionWith(where, checkout, fn, options);
    });
  }

  /** Runs `fn` in one transaction as the tenant, on a client from `checkout`. */
  #transactionWith<T>(
    where: TenantPlacement,
    checkout: () => Promise<pg.PoolClient>,
    fn: (db: TenantClient) => Promise<T>,
    options: TransactionOptions,
  ): Promise<T> {
    return this.#withClient(checkout, async (client) => {
      // One round trip: the simple query protocol runs the statements in one message. They carry
      // nothing secret; the binding goes as a parameter of the next, never in SQL text, which
      // pg_stat_activity shows to every session of the same role.
      await client.query(beginStatements(where, options));
      const binding = this.#binderOf(where).bind(where.tenantId, processId(client));
      // A schema tenant is reached through grants on its schema, not its role: its tables'
      // policies admit only its binding. A BYOI tenant's tables are in the app's schema of the
      // customer's database.
      if (where.placement === 'schema' || where.placement === 'byoi')
        await client.query(
          'select pg_catalog.set_config($1, $2, true), pg_catalog.set_config($3, $4, true)',
          [BINDING_SETTING, binding, 'search_path', pg.escapeIdentifier(where.schema as string)],
        );
      else await client.query('select pg_catalog.set_config($1, $2, true)', [BINDING_SETTING, binding]);
      let open = true;
      const query = ((...args: unknown[]) => {
        if (!open)
          throw new Error(
            `a tenant client was used after its transaction ended (tenant ${where.tenantId}); use it only inside the callback`,
          );
        return (client.query as (...a: unknown[]) => unknown)(...oneStatement(args));
      }) as pg.ClientBase['query'];
      let result: T;
      try {
        result = await fn({ query });
      } finally {
        open = false;
      }
      await commit(client);
      return result;
    });
  }

  /**
   * One statement in its own transaction as the current tenant, like
   * `transaction((db) => db.query(text, values))`. For a pool tenant it takes one round trip and
   * two statements, without BEGIN or COMMIT: the tenant setting and the statement are sent before
   * one Sync, which PostgreSQL runs as one implicit transaction (see {@link ScopedStatement}). So
   * the setting holds for the statement and for nothing after it, and had it failed, the server
   * would have skipped the statement. The statement may not open a transaction (BEGIN): that
   * throws {@link TransactionLeftOpenError}, after rolling it back.
   */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    let where: TenantPlacement | undefined;
    try {
      const { tenantId } = currentTenant('data.query()');
      // Started and the placement in memory, as for nearly every call: no promise but the
      // statement's own, since this path is what a request pays on every query.
      where = this.#ready ? this.#placements.usableNow(tenantId) : undefined;
      if (where === undefined) return this.#queryAfterLookup<R>(tenantId, text, values);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#queryAt<R>(where, text, values);
  }

  async #queryAfterLookup<R extends pg.QueryResultRow>(
    tenantId: string,
    text: string,
    values: unknown[] | undefined,
  ): Promise<pg.QueryResult<R>> {
    if (!this.#ready) await this.start();
    return this.#queryAt<R>(await this.#placements.usable(tenantId), text, values);
  }

  #queryAt<R extends pg.QueryResultRow>(
    where: TenantPlacement,
    text: string,
    values: unknown[] | undefined,
  ): Promise<pg.QueryResult<R>> {
    if (where.placement === 'byoi') return this.#byoiQuery<R>(where, text, values);
    if (where.placement !== 'pool') return this.#transactionAt(where, (db) => db.query<R>(text, values), {});
    if (where.dataPlane === DEFAULT_DATA_PLANE)
      return this.#scopedQuery<R>(this.#shared, where, text, values);
    let plane: VendorPlane;
    try {
      plane = this.#plane(where.tenantId, where.dataPlane);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#guards.run(where.tenantId, plane.id, async () => {
      if (!plane.ready) await this.#startPlane(plane);
      return this.#scopedQuery<R>(plane.shared, where, text, values);
    });
  }

  /**
   * A BYOI tenant's statement, in one round trip as a pool tenant's: its pool's connections start
   * with `search_path` set to the app's schema (a startup option, so the clean-session reset
   * keeps it), and the customer's database holds that one tenant.
   */
  async #byoiQuery<R extends pg.QueryResultRow>(
    where: TenantPlacement,
    text: string,
    values: unknown[] | undefined,
  ): Promise<pg.QueryResult<R>> {
    const key = await this.#byoiPool(where);
    const pool: CallbackPool = {
      connect: (callback) => {
        this.#databases.connect(key).then(
          (client) => callback(undefined, client, (error) => client.release(error)),
          (error: Error) => callback(error, undefined, () => {}),
        );
      },
    };
    return this.#guards.run(where.tenantId, where.dataPlane, () =>
      this.#scopedQuery<R>(pool, where, text, values),
    );
  }

  /** A tenant's statement on `pool`, with its binding, in one round trip (see {@link query}). */
  #scopedQuery<R extends pg.QueryResultRow>(
    pool: CallbackPool,
    where: TenantPlacement,
    text: string,
    values: unknown[] | undefined,
  ): Promise<pg.QueryResult<R>> {
    return new Promise((resolve, reject) => {
      pool.connect((connectError, client, release) => {
        // pg-pool passes undefined on success; null would be no error either.
        if (connectError || client === undefined) {
          reject(connectError ?? new Error('the pool answered no client'));
          return;
        }
        let broken: Error | undefined;
        // As in #withClient: a connection lost mid-statement is an event on the client.
        const lost = (error: Error) => {
          broken = error;
        };
        client.on('error', lost);
        const done = (error: Error | null, result?: pg.QueryResult<R>) => {
          client.off('error', lost);
          // The caller has its answer at once; the connection goes back once it is clean.
          if (broken !== undefined) release(broken);
          else if (this.#resetAlways || result === undefined || !DATA_COMMANDS.has(result.command))
            resetConnection(client).then(
              () => release(),
              (resetError: Error) => release(resetError),
            );
          else release();
          if (error !== null) reject(error);
          else resolve(result as pg.QueryResult<R>);
        };
        ScopedStatement.send<R>(
          client,
          BINDING_SETTING,
          this.#binderOf(where).bind(where.tenantId, processId(client)),
          text,
          values,
          this.#prepare,
          (error, result) => {
            // A failed statement ended its implicit transaction at the Sync: nothing to roll back.
            if (error !== null) return done(error);
            // The connection goes back to the pool only as it came: with no transaction, so no setting.
            if (client.getTransactionStatus() === 'I') return done(null, result);
            client.query('rollback', (rollbackError: Error | null) => {
              // The connection is unusable (gone, or mid-protocol): close it rather than pool it.
              if (rollbackError !== null) broken = rollbackError;
              done(new TransactionLeftOpenError(text));
            });
          },
        );
      });
    });
  }

  /**
   * Checks out a client, runs `fn` with it, and gives it back: rolled back if `fn` failed, closed
   * if even that failed.
   */
  async #withClient<T>(
    checkout: () => Promise<pg.PoolClient>,
    fn: (client: pg.PoolClient) => Promise<T>,
  ): Promise<T> {
    const client = await checkout();
    let broken: Error | undefined;
    // A connection lost between two statements is reported as an event on the client; unheard,
    // it would crash the process. The statement that follows fails, and the client is closed.
    const lost = (error: Error) => {
      broken = error;
    };
    client.on('error', lost);
    try {
      return await fn(client);
    } catch (error) {
      try {
        await client.query('rollback');
      } catch (rollbackError) {
        // The connection is unusable (gone, or mid-protocol): close it rather than pool it.
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      }
      throw error;
    } finally {
      client.off('error', lost);
      // A transaction's callback may have run anything: the connection is always reset.
      if (broken === undefined)
        await resetConnection(client).catch((resetError: Error) => {
          broken = resetError;
        });
      client.release(broken);
    }
  }

  /** What the pools of `database` tenants and BYOI customers' databases hold now. */
  databaseStats() {
    return this.#databases.stats();
  }

  /** Closes every connection, once the transactions under way have released theirs. */
  async close(): Promise<void> {
    await Promise.all([
      this.#databases.end(),
      this.#shared.end(),
      ...[...this.#planes.values()].map((plane) => plane.shared.end()),
    ]);
  }
}

/** Commits; Postgres answers ROLLBACK instead when a statement of the transaction had failed. */
async function commit(client: pg.PoolClient): Promise<void> {
  const committed = await client.query('commit');
  if (committed.command === 'ROLLBACK') throw new TransactionRolledBackError();
}

/** {@link SESSION_CLEAN} as a transaction runs it after its BEGIN: the statements, then one SELECT of the calls. */
const TRANSACTION_CLEAN = [...SESSION_CLEAN.statements, `select ${SESSION_CLEAN.calls.join(', ')}`];

/**
 * The statements that open a tenant's transaction. Everything is LOCAL, so it ends with the
 * transaction. The values are quoted here because the simple query protocol that runs them in
 * one round trip takes no parameters.
 */
function beginStatements(where: TenantPlacement, options: TransactionOptions): string {
  let begin = 'begin';
  if (options.isolation !== undefined) {
    // Spelled into SQL, so only the three levels pass, whatever a JavaScript caller sends.
    if (!ISOLATION_LEVELS.includes(options.isolation))
      throw new TypeError(
        `isolation must be one of ${ISOLATION_LEVELS.join(', ')}, not ${String(options.isolation)}`,
      );
    begin += ` isolation level ${options.isolation}`;
  }
  if (options.readOnly === true) begin += ' read only';
  // What a plain data statement of an earlier query() may have left on the session goes first, as
  // query() does (see ScopedStatementOptions.clean): the transaction starts from a clean session.
  // After BEGIN, whose isolation level must come before any statement of the transaction; RESET
  // ALL leaves the transaction's own isolation and read-only as they are.
  const statements = [begin, ...TRANSACTION_CLEAN];
  if (where.placement === 'database') {
    // The app's tables in a tenant database live in its public schema, owned by the tenant role;
    // the app's role reaches them through grants, as itself (never the owner role, which it
    // cannot become).
    statements.push('set local search_path to public');
  }
  return statements.join('; ');
}

const ISOLATION_LEVELS: readonly string[] = ['read committed', 'repeatable read', 'serializable'];

/** The backend pid of `client`'s connection, which pg reads from the server's BackendKeyData. */
function processId(client: pg.ClientBase): number {
  return (client as unknown as { processID: number }).processID;
}

/**
 * `client.query`'s arguments, made to go through the extended protocol (`queryMode: 'extended'`),
 * which runs one statement per call: a text of several (`…; DEALLOCATE …; PREPARE …`) is refused
 * by the server, on every path as in {@link TenantData.query}. A submittable (a cursor, a stream)
 * uses the extended protocol already.
 */
function oneStatement(args: unknown[]): unknown[] {
  const [first, second, ...rest] = args;
  if (typeof first === 'string') {
    const values = Array.isArray(second) ? second : undefined;
    const callback = typeof second === 'function' ? [second] : rest;
    return [{ text: first, ...(values ? { values } : {}), queryMode: 'extended' }, ...callback];
  }
  if (
    typeof first === 'object' &&
    first !== null &&
    typeof (first as { submit?: unknown }).submit !== 'function'
  )
    return [{ ...first, queryMode: 'extended' }, second, ...rest].slice(0, args.length);
  return args;
}

/** Runs {@link CONNECTION_RESET}; deallocates everything when SQL prepared a statement. */
async function resetConnection(client: pg.ClientBase): Promise<void> {
  const results = (await client.query(CONNECTION_RESET)) as unknown as pg.QueryResult[];
  const counted = results[results.length - 1]?.rows[0] as { prepared_by_sql: number } | undefined;
  if (counted === undefined || counted.prepared_by_sql > 0) {
    await client.query('deallocate all');
    forgetStatements(client);
  }
}

function sameConnection(a: DataConnection, b: DataConnection): boolean {
  return (
    a.updated_at === b.updated_at &&
    a.host === b.host &&
    a.port === b.port &&
    a.database === b.database &&
    a.user === b.user &&
    a.password === b.password &&
    a.sslmode === b.sslmode &&
    a.ca === b.ca &&
    a.schema === b.schema
  );
}

/** `url` with its database replaced. */
function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}
