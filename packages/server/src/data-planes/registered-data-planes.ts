import {
  BrokenCircuitError,
  BulkheadRejectedError,
  bulkhead,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
  type IPolicy,
  IsolatedCircuitError,
  wrap,
} from 'cockatiel';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Schema } from '../db/index.ts';
import type { SecretBox } from '../secrets/index.ts';
import {
  type ConnectionDetails,
  type ConnectionTimeouts,
  clientConfig,
  DEFAULT_TIMEOUTS,
} from './connection.ts';
import { openConnection } from './connection-seal.ts';
import {
  type DataPlaneConnector,
  type DataPlaneDb,
  DataPlaneUnavailableError,
  DEFAULT_DATA_PLANE,
} from './data-plane-connector.ts';
import { redactPassword } from './inspect.ts';

/** How each registered data plane is guarded; every field has a default ({@link DEFAULT_GUARD}). */
export interface DataPlaneGuard {
  /** Consecutive outages (connection failures, timeouts) that open the data plane's breaker. */
  readonly failuresToOpen: number;
  /** How long an open breaker refuses calls before it lets one through to try the server again. */
  readonly halfOpenAfterMs: number;
  /** Calls running at once on one data plane (its bulkhead), which is also its pool's size. */
  readonly concurrency: number;
  /** Calls waiting for a place; more are refused at once. */
  readonly queue: number;
  /** A connection idle this long is closed, so a data plane no one uses holds none. */
  readonly idleMs: number;
  readonly timeouts: ConnectionTimeouts;
}

export const DEFAULT_GUARD: DataPlaneGuard = {
  failuresToOpen: 3,
  halfOpenAfterMs: 15_000,
  concurrency: 4,
  queue: 16,
  idleMs: 30_000,
  timeouts: DEFAULT_TIMEOUTS,
};

interface Plane {
  readonly kind: 'vendor' | 'customer';
  readonly details: ConnectionDetails;
  readonly pool: pg.Pool;
  readonly db: DataPlaneDb;
  readonly policy: IPolicy;
  readonly breaker: { readonly state: CircuitState };
}

/**
 * The {@link DataPlaneConnector} of every registered data plane: `dpl_default` is the control
 * plane's own server; each other data plane with connection details (a vendor's server, a BYOI
 * customer's database) gets, on first use, a small pool opened from its sealed details, behind a
 * bulkhead (at most `concurrency` calls at once, `queue` waiting) and a circuit breaker (open after
 * `failuresToOpen` consecutive outages). So a customer database that stops answering holds at
 * most its own few connections and callers, each for at most the connect timeout, and once its
 * breaker opens every call to it fails at once with {@link DataPlaneUnavailableError}, while
 * calls to every other data plane go on as before.
 */
export class RegisteredDataPlanes implements DataPlaneConnector {
  readonly #db: Kysely<Schema>;
  readonly #secrets: SecretBox;
  readonly #control: DataPlaneConnector;
  readonly #guard: DataPlaneGuard;
  readonly #planes = new Map<string, Promise<Plane>>();
  /** Kinds of the data planes this process has opened, for {@link hasDatabases}. */
  readonly #kinds = new Map<string, 'vendor' | 'customer'>();

  constructor(deps: {
    db: Kysely<Schema>;
    secrets: SecretBox;
    /** The control plane's own server (`ControlPlaneServer`), which answers for `dpl_default`. */
    control: DataPlaneConnector;
    guard?: Partial<DataPlaneGuard>;
  }) {
    this.#db = deps.db;
    this.#secrets = deps.secrets;
    this.#control = deps.control;
    this.#guard = { ...DEFAULT_GUARD, ...deps.guard };
  }

  async run<T>(dataPlane: string, fn: (db: DataPlaneDb) => Promise<T>): Promise<T> {
    if (dataPlane === DEFAULT_DATA_PLANE) return this.#control.run(dataPlane, fn);
    const plane = await this.#plane(dataPlane);
    return this.#guarded(dataPlane, plane, () => fn(plane.db));
  }

  async runIn<T>(dataPlane: string, database: string, fn: (db: DataPlaneDb) => Promise<T>): Promise<T> {
    if (dataPlane === DEFAULT_DATA_PLANE) return this.#control.runIn(dataPlane, database, fn);
    const plane = await this.#plane(dataPlane);
    if (plane.kind !== 'vendor')
      throw new DataPlaneUnavailableError(
        dataPlane,
        'a customer data plane is one database; no other is reached',
      );
    return this.#guarded(dataPlane, plane, async () => {
      const pool = new pg.Pool({ ...clientConfig(plane.details, this.#guard.timeouts, database), max: 1 });
      // A connection lost while idle is reported as an event; the next statement fails instead.
      pool.on('error', () => {});
      const db = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool }) });
      try {
        return await fn(db);
      } finally {
        await db.destroy();
      }
    });
  }

  hasDatabases(dataPlane: string): boolean {
    if (dataPlane === DEFAULT_DATA_PLANE) return this.#control.hasDatabases(dataPlane);
    return this.#kinds.get(dataPlane) === 'vendor';
  }

  /**
   * Learns the kind of every live data plane, which {@link hasDatabases} answers from without a
   * query: run at start (a data plane registered later is told by {@link know}, or learnt on first use).
   */
  async refresh(): Promise<void> {
    const rows = await this.#db
      .selectFrom('data_planes')
      .select(['id', 'kind'])
      .where('retired_at', 'is', null)
      .where('connection_sealed', 'is not', null)
      .execute();
    for (const row of rows) if (row.kind !== 'agent') this.#kinds.set(row.id, row.kind);
  }

  /** Tells the connector a data plane's kind before first use, so that {@link hasDatabases} knows it. */
  know(dataPlane: string, kind: 'vendor' | 'customer'): void {
    this.#kinds.set(dataPlane, kind);
  }

  /**
   * The state of a data plane's breaker here (`closed`, `open`, `half_open`), or null when this
   * process has not opened it.
   */
  async breakerState(dataPlane: string): Promise<'closed' | 'open' | 'half_open' | null> {
    const opening = this.#planes.get(dataPlane);
    if (opening === undefined) return null;
    // A data plane that failed to open has no breaker; its caller saw why.
    const plane = await opening.catch(() => undefined);
    if (plane === undefined) return null;
    const state = plane.breaker.state;
    return state === CircuitState.Closed ? 'closed' : state === CircuitState.HalfOpen ? 'half_open' : 'open';
  }

  /**
   * Closes a data plane's pool and forgets its details and breaker: after its connection changed
   * (the next call opens the new one) or it was retired (the next call finds it retired).
   */
  async forget(dataPlane: string): Promise<void> {
    const opening = this.#planes.get(dataPlane);
    this.#planes.delete(dataPlane);
    this.#kinds.delete(dataPlane);
    // A pool that failed to open holds nothing, and the failure was its caller's to see.
    const plane = await opening?.catch(() => undefined);
    // The pool is dropped either way: a connection that errs while closing (its server gone, the
    // reason to forget it) leaves nothing open behind.
    await plane?.pool.end().catch(() => {});
  }

  /** Closes every pool: on shutdown. */
  async close(): Promise<void> {
    await Promise.all([...this.#planes.keys()].map((id) => this.forget(id)));
  }

  #plane(dataPlane: string): Promise<Plane> {
    let opening = this.#planes.get(dataPlane);
    if (opening === undefined) {
      opening = this.#open(dataPlane);
      this.#planes.set(dataPlane, opening);
      // A data plane that could not be opened is looked up again by the next call.
      opening.catch(() => {
        if (this.#planes.get(dataPlane) === opening) this.#planes.delete(dataPlane);
      });
    }
    return opening;
  }

  async #open(dataPlane: string): Promise<Plane> {
    const row = await this.#db
      .selectFrom('data_planes')
      .select(['id', 'kind', 'tenant_id', 'connection_sealed', 'retired_at'])
      .where('id', '=', dataPlane)
      .executeTakeFirst();
    if (row === undefined) throw new DataPlaneUnavailableError(dataPlane, 'no such data plane is registered');
    if (row.retired_at !== null) throw new DataPlaneUnavailableError(dataPlane, 'it is retired');
    if (row.kind === 'agent')
      throw new DataPlaneUnavailableError(dataPlane, 'it is reached only through its agent');
    const details = await openConnection(this.#db, this.#secrets, row);
    if (!details.ok)
      throw new DataPlaneUnavailableError(
        dataPlane,
        `its connection details cannot be opened: ${details.error}`,
      );
    const guard = this.#guard;
    const pool = new pg.Pool({
      ...clientConfig(details.value, guard.timeouts),
      max: guard.concurrency,
      idleTimeoutMillis: guard.idleMs,
    });
    // A connection lost while idle is reported as an event; the next call fails instead.
    pool.on('error', () => {});
    const breaker = circuitBreaker(handleWhen(isOutage), {
      halfOpenAfter: guard.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(guard.failuresToOpen),
    });
    this.#kinds.set(dataPlane, row.kind);
    return {
      kind: row.kind,
      details: details.value,
      pool,
      db: new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool }) }),
      // The breaker outside: once open it refuses calls before they take a place in the bulkhead.
      // A call the bulkhead refuses is not an outage (isOutage), so it never opens the breaker.
      policy: wrap(breaker, bulkhead(guard.concurrency, guard.queue)),
      breaker,
    };
  }

  async #guarded<T>(dataPlane: string, plane: Plane, fn: () => Promise<T>): Promise<T> {
    try {
      return await plane.policy.execute(fn);
    } catch (error) {
      if (error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError)
        throw new DataPlaneUnavailableError(
          dataPlane,
          `its circuit breaker is open after ${this.#guard.failuresToOpen} failed calls in a row; it is tried again after ${this.#guard.halfOpenAfterMs} ms`,
        );
      if (error instanceof BulkheadRejectedError)
        throw new DataPlaneUnavailableError(
          dataPlane,
          `${this.#guard.concurrency} calls are running on it and ${this.#guard.queue} waiting; try again later`,
        );
      if (isOutage(error)) {
        const message = error instanceof Error ? error.message : String(error);
        throw new DataPlaneUnavailableError(
          dataPlane,
          `its server failed: ${redactPassword(message, plane.details.password)}`,
          { cause: error },
        );
      }
      throw error;
    }
  }
}

const SQLSTATE = /^[0-9A-Z]{5}$/;
/** SQLSTATE classes that say the server, not the statement, failed: connection, auth, resources, operator intervention. */
const OUTAGE_CLASSES = new Set(['08', '28', '53', '57']);

/**
 * Whether `error` says the data plane's server is out (what its breaker counts) rather than that
 * a statement was wrong (a constraint, a syntax error), which says nothing of the server's health.
 */
export function isOutage(error: unknown): boolean {
  if (error instanceof DataPlaneUnavailableError) return true;
  if (error instanceof BulkheadRejectedError) return false;
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && SQLSTATE.test(code)) return OUTAGE_CLASSES.has(code.slice(0, 2));
  if (typeof code === 'string' && code.startsWith('E')) return true;
  const message = error instanceof Error ? error.message : '';
  return /timeout|timed out|terminated|connect|socket|does not support SSL/i.test(message);
}
