import pg from 'pg';

/** Options of {@link TenantDatabasePools}. */
export interface TenantDatabasePoolsOptions {
  /**
   * How to reach one tenant database: the app's login role, on that database. The name is the key
   * the caller connects with: TenantData keys a database on another data plane, or a BYOI
   * customer's, by its data plane as well.
   */
  readonly config: (database: string) => pg.PoolConfig;
  /** Connections open at once across every tenant database, idle ones included; default 50. */
  readonly connectionBudget?: number;
  /** Tenant databases with a pool kept at once; the least recently used is evicted past it; default 20. */
  readonly maxPools?: number;
  /** Connections one tenant database may have; default 10 (never more than the budget). */
  readonly maxPerPool?: number;
  /** A pool unused this long is closed, and so is a connection idle this long; default 60 s. */
  readonly idleTimeoutMs?: number;
  /** How long a checkout waits for the budget before it fails; default 10 s. */
  readonly acquireTimeoutMs?: number;
  /**
   * How long opening one connection may take once it has its place in the budget (TLS and login
   * included); default none. Counted apart from the wait for the budget, so a dead server costs
   * each checkout at most this.
   */
  readonly connectTimeoutMs?: number;
  /** Milliseconds since the epoch; replaces `Date.now` for tests. */
  readonly now?: () => number;
}

/** What the pools hold now. */
export interface TenantDatabasePoolsStats {
  /** Pools kept (at most `maxPools`). */
  readonly pools: number;
  /** Evicted pools still waiting for their clients to be released. */
  readonly retiring: number;
  /** Connections open across all pools (at most `connectionBudget`). */
  readonly connections: number;
  /** Checkouts waiting for the budget. */
  readonly waiting: number;
  /** The kept pools' databases, least recently used first. */
  readonly databases: readonly string[];
}

/** Waiting for a connection took longer than `acquireTimeoutMs`. */
export class ConnectionBudgetTimeoutError extends Error {
  constructor(budget: number, timeoutMs: number) {
    super(
      `no tenant database connection came free within ${timeoutMs} ms: all ${budget} of the connection budget are in use (raise connectionBudget or hold transactions shorter)`,
    );
    this.name = 'ConnectionBudgetTimeoutError';
  }
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Counts open connections against a limit. A connection is counted from just before it is opened
 * until it has ended; a freed slot goes straight to the longest waiter.
 */
class ConnectionBudget {
  readonly limit: number;
  #open = 0;
  readonly #waiters: Waiter[] = [];

  constructor(limit: number) {
    this.limit = limit;
  }

  get open(): number {
    return this.#open;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  acquire(timeoutMs: number, onFull: () => void): Promise<void> {
    if (this.#open < this.limit) {
      this.#open += 1;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          reject(new ConnectionBudgetTimeoutError(this.limit, timeoutMs));
        }, timeoutMs),
      };
      this.#waiters.push(waiter);
      onFull();
    });
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next === undefined) {
      this.#open -= 1;
      return;
    }
    clearTimeout(next.timer);
    next.resolve();
  }

  rejectAll(error: Error): void {
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
  }
}

/** What a budgeted client tells its pool's entry: a connection counted, and uncounted. */
interface ConnectionEvents {
  readonly opened: () => void;
  readonly closed: () => void;
}

/**
 * A pg Client that takes a slot of the budget before it opens its connection and gives it back
 * once the connection has ended, however it ends (released for good, idle timeout, pool ended,
 * server gone).
 */
function budgetedClient(
  budget: ConnectionBudget,
  timeoutMs: number,
  onFull: () => void,
  events: ConnectionEvents,
  connectTimeoutMs: number | undefined,
): typeof pg.Client {
  return class BudgetedClient extends pg.Client {
    // The client's own timer starts at super.connect(), after the budget: the pool is given none,
    // since pg-pool's would count the wait for the budget too and end a client not yet connecting.
    constructor(config?: string | pg.ClientConfig) {
      super(
        connectTimeoutMs === undefined
          ? config
          : {
              ...(typeof config === 'string' ? { connectionString: config } : config),
              connectionTimeoutMillis: connectTimeoutMs,
            },
      );
    }

    override connect(): Promise<pg.Client>;
    override connect(callback: ((err: Error) => void) | ((err: null, c: pg.Client) => void)): void;
    override connect(
      callback?: ((err: Error) => void) | ((err: null, c: pg.Client) => void),
    ): Promise<pg.Client> | undefined {
      const connecting = this.#connect().then(() => this);
      if (callback === undefined) return connecting;
      // pg-pool calls connect(callback) and takes a null first argument as success.
      const done = callback as (err: Error | null, c?: pg.Client) => void;
      connecting.then((client) => done(null, client), done);
      return undefined;
    }

    async #connect(): Promise<void> {
      await budget.acquire(timeoutMs, onFull);
      events.opened();
      let held = true;
      const free = () => {
        if (!held) return;
        held = false;
        budget.release();
        events.closed();
      };
      this.once('end', free);
      try {
        await super.connect();
      } catch (error) {
        free();
        throw error;
      }
    }
  };
}

interface PoolEntry {
  readonly database: string;
  readonly pool: pg.Pool;
  /** Clients checked out, or being checked out: a pool with any is never ended. */
  active: number;
  /** Connections counted against the budget, open or opening. */
  connections: number;
  /** pg has ended the pool; its connections may still be closing. */
  poolEnded: boolean;
  lastUsed: number;
  retiring: boolean;
  ending: boolean;
  /** Settles when the pool has ended. */
  readonly ended: Promise<void>;
  readonly finish: () => void;
}

/**
 * One pg pool per tenant database, in a bounded LRU: at most `maxPools` pools and
 * `connectionBudget` connections across them, whatever the number of tenants.
 *
 * - Past `maxPools`, the least recently used pool (an unused one first) is evicted: it takes no
 *   more checkouts and is ended once its last client is released.
 * - When the budget is spent, a checkout waits (up to `acquireTimeoutMs`): an unused pool is
 *   ended to free its idle connections, and while anyone waits a released connection is closed
 *   rather than kept idle, so its slot passes to the waiter.
 * - Pools unused for `idleTimeoutMs` are closed by {@link closeIdle}, which a timer runs.
 */
export class TenantDatabasePools {
  readonly #config: (database: string) => pg.PoolConfig;
  readonly #budget: ConnectionBudget;
  readonly #maxPools: number;
  readonly #maxPerPool: number;
  readonly #idleTimeoutMs: number;
  readonly #now: () => number;
  readonly #acquireTimeoutMs: number;
  readonly #connectTimeoutMs: number | undefined;
  /** Kept pools; a Map iterates in insertion order, and a used pool is moved to the end: LRU first. */
  readonly #pools = new Map<string, PoolEntry>();
  readonly #retiring = new Set<PoolEntry>();
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  constructor(options: TenantDatabasePoolsOptions) {
    const budget = options.connectionBudget ?? 50;
    const maxPools = options.maxPools ?? 20;
    if (!Number.isInteger(budget) || budget < 1)
      throw new RangeError(`connectionBudget must be a whole number of at least 1, not ${budget}`);
    if (!Number.isInteger(maxPools) || maxPools < 1)
      throw new RangeError(`maxPools must be a whole number of at least 1, not ${maxPools}`);
    this.#config = options.config;
    this.#budget = new ConnectionBudget(budget);
    this.#maxPools = maxPools;
    this.#maxPerPool = Math.min(options.maxPerPool ?? 10, budget);
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.#now = options.now ?? Date.now;
    this.#acquireTimeoutMs = options.acquireTimeoutMs ?? 10_000;
    this.#connectTimeoutMs = options.connectTimeoutMs;
    this.#timer = setInterval(() => void this.closeIdle(), Math.max(1_000, this.#idleTimeoutMs / 2));
    this.#timer.unref();
  }

  /**
   * A client connected to `database`, for one transaction; `release()` it when done (an error
   * passed to it closes the connection).
   */
  async connect(database: string): Promise<pg.PoolClient> {
    if (this.#closed) throw new Error('the tenant database pools are closed');
    const entry = this.#entry(database);
    entry.active += 1;
    entry.lastUsed = this.#now();
    let client: pg.PoolClient;
    try {
      client = await entry.pool.connect();
    } catch (error) {
      this.#done(entry);
      throw error;
    }
    const release = client.release;
    client.release = (error?: Error | boolean) => {
      // While a checkout waits for the budget, a connection kept idle here would hold its slot.
      release(error ?? (this.#budget.waiting > 0 ? true : undefined));
      this.#done(entry);
    };
    return client;
  }

  /**
   * Takes `database`'s pool out of use, e.g. when the details it was opened with changed (a BYOI
   * password rotated): later checkouts open a new pool; this one ends once its clients are back.
   */
  forget(database: string): void {
    const entry = this.#pools.get(database);
    if (entry !== undefined) void this.#retire(entry);
  }

  /** Ends the pools unused for `idleTimeoutMs`; the timer calls it, and tests may too. */
  closeIdle(): Promise<void> {
    const now = this.#now();
    const ending: Promise<void>[] = [];
    for (const entry of [...this.#pools.values()])
      if (entry.active === 0 && now - entry.lastUsed >= this.#idleTimeoutMs) ending.push(this.#retire(entry));
    return Promise.all(ending).then(() => undefined);
  }

  stats(): TenantDatabasePoolsStats {
    return {
      pools: this.#pools.size,
      retiring: this.#retiring.size,
      connections: this.#budget.open,
      waiting: this.#budget.waiting,
      databases: [...this.#pools.keys()],
    };
  }

  /** Settles when every evicted pool has ended, its connections closed. */
  async retired(): Promise<void> {
    await Promise.all([...this.#retiring].map((entry) => entry.ended));
  }

  /** Ends every pool once its clients are released; later checkouts fail. */
  async end(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#budget.rejectAll(new Error('the tenant database pools were closed'));
    for (const entry of [...this.#pools.values()]) void this.#retire(entry);
    await Promise.all([...this.#retiring].map((entry) => entry.ended));
  }

  #entry(database: string): PoolEntry {
    const found = this.#pools.get(database);
    if (found !== undefined) {
      this.#pools.delete(database);
      this.#pools.set(database, found);
      return found;
    }
    if (this.#pools.size >= this.#maxPools) {
      const entries = [...this.#pools.values()];
      const victim = entries.find((e) => e.active === 0) ?? entries[0];
      if (victim !== undefined) void this.#retire(victim);
    }
    const { promise: ended, resolve: finish } = Promise.withResolvers<void>();
    const events: ConnectionEvents = {
      opened: () => {
        entry.connections += 1;
      },
      closed: () => {
        entry.connections -= 1;
        this.#settleEnd(entry);
      },
    };
    const Client = budgetedClient(
      this.#budget,
      this.#acquireTimeoutMs,
      () => this.#freeBudget(),
      events,
      this.#connectTimeoutMs,
    );
    const pool = new pg.Pool({
      ...this.#config(database),
      max: this.#maxPerPool,
      idleTimeoutMillis: this.#idleTimeoutMs,
      Client: Client as unknown as new () => pg.ClientBase,
    });
    // An idle connection the server ends (a tenant database dropped with FORCE, a restart) is
    // reported here; pg removes it from the pool, and without a listener the process would crash.
    pool.on('error', () => {});
    const entry: PoolEntry = {
      database,
      pool,
      active: 0,
      connections: 0,
      poolEnded: false,
      lastUsed: this.#now(),
      retiring: false,
      ending: false,
      ended,
      finish,
    };
    this.#pools.set(database, entry);
    return entry;
  }

  #done(entry: PoolEntry): void {
    entry.active -= 1;
    entry.lastUsed = this.#now();
    if (entry.retiring && entry.active === 0) void this.#endPool(entry);
  }

  /** Takes the pool out of the LRU; it is ended when its last client is released. */
  #retire(entry: PoolEntry): Promise<void> {
    if (!entry.retiring) {
      entry.retiring = true;
      if (this.#pools.get(entry.database) === entry) this.#pools.delete(entry.database);
      this.#retiring.add(entry);
    }
    return entry.active === 0 ? this.#endPool(entry) : Promise.resolve();
  }

  /** Ends a retired pool that nobody uses: pg would strand a checkout still queued in an ended pool. */
  #endPool(entry: PoolEntry): Promise<void> {
    if (!entry.ending) {
      entry.ending = true;
      const poolEnded = () => {
        entry.poolEnded = true;
        this.#settleEnd(entry);
      };
      entry.pool.end().then(poolEnded, poolEnded);
    }
    return entry.ended;
  }

  /** pg ends a pool before its connections have closed; the pool counts as ended once they have. */
  #settleEnd(entry: PoolEntry): void {
    if (!entry.poolEnded || entry.connections > 0) return;
    this.#retiring.delete(entry);
    entry.finish();
  }

  /** The budget is spent: end the least recently used pool that nobody is using, if any holds connections. */
  #freeBudget(): void {
    for (const entry of this.#pools.values()) {
      if (entry.active === 0 && entry.pool.totalCount > 0) {
        void this.#retire(entry);
        return;
      }
    }
  }
}
