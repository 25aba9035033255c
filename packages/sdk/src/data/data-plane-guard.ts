import {
  BrokenCircuitError,
  BulkheadRejectedError,
  bulkhead,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
  type IPolicy,
  IsolatedCircuitError,
  wrap,
} from 'cockatiel';

/**
 * The tenant's data plane does not answer (its breaker is open after failures in a row, its
 * bulkhead is full, or its server failed now): only the tenants on that data plane get it, and the
 * message names no host, user or password.
 */
export class DataPlaneUnavailableError extends Error {
  readonly tenantId: string;
  readonly dataPlane: string;

  constructor(tenantId: string, dataPlane: string, detail: string) {
    super(`data plane ${dataPlane} of tenant ${tenantId} is unavailable: ${detail}`);
    this.name = 'DataPlaneUnavailableError';
    this.tenantId = tenantId;
    this.dataPlane = dataPlane;
  }
}

/** The tenant lives on a vendor data plane the app was given no URL for. */
export class DataPlaneNotConfiguredError extends Error {
  readonly tenantId: string;
  readonly dataPlane: string;

  constructor(tenantId: string, dataPlane: string) {
    super(
      `tenant ${tenantId} lives on data plane ${dataPlane}, which this app has no URL for: add the URL of the app's login role there to TenantData's dataPlanes option (dataPlanes: { ${dataPlane}: 'postgres://…' })`,
    );
    this.name = 'DataPlaneNotConfiguredError';
    this.tenantId = tenantId;
    this.dataPlane = dataPlane;
  }
}

/** How each data plane other than `url`'s is guarded; every field has a default. */
export interface DataPlaneGuardOptions {
  /** Consecutive outages (connection failures, timeouts, server gone) that open a data plane's breaker; default 3. */
  readonly failuresToOpen?: number;
  /** How long an open breaker refuses calls before it lets one through to try again; default 15 s. */
  readonly halfOpenAfterMs?: number;
  /** Transactions and queries running at once on one data plane (its bulkhead); default 10. */
  readonly concurrency?: number;
  /** Calls waiting for a place in the bulkhead; more are refused at once; default 100. */
  readonly queue?: number;
  /** How long opening one connection to the data plane may take, TLS and login included; default 5 s. */
  readonly connectTimeoutMs?: number;
}

const SQLSTATE = /^[0-9A-Z]{5}$/;
/** SQLSTATE classes that say the server, not the statement, failed: connection, auth, resources, operator intervention. */
const OUTAGE_CLASSES = new Set(['08', '28', '53', '57']);

/**
 * Whether `error` says the data plane's server is out (what its breaker counts) rather than that
 * a statement was wrong (a constraint, a syntax error, a row-level security refusal), which says
 * nothing of the server's health. As the control plane's connector judges it.
 */
export function isOutage(error: unknown): boolean {
  if (error instanceof BulkheadRejectedError) return false;
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && SQLSTATE.test(code)) return OUTAGE_CLASSES.has(code.slice(0, 2));
  if (typeof code === 'string' && code.startsWith('E')) return true;
  // pg reports a lost or timed-out connection as a plain Error; the SDK's own errors (a failed
  // row-level security check, whose text may well say "connection") are verdicts, never outages.
  if (Object.getPrototypeOf(error) !== Error.prototype) return false;
  return /timeout|timed out|terminated|connect|socket|does not support SSL/i.test((error as Error).message);
}

/**
 * A circuit breaker and a bulkhead per data plane (cockatiel), so that one dead database, a BYOI
 * customer's above all, holds at most `concurrency` of the app's calls and `queue` waiting, each
 * for at most the connect timeout, and once its breaker opens none: every call for its tenants
 * fails at once with {@link DataPlaneUnavailableError} without touching the network, while every
 * other data plane's tenants go on as before. After `halfOpenAfterMs` one call is let through; its
 * success closes the breaker.
 */
export class DataPlaneGuards {
  readonly #failuresToOpen: number;
  readonly #halfOpenAfterMs: number;
  readonly #concurrency: number;
  readonly #queue: number;
  readonly connectTimeoutMs: number;
  readonly #policies = new Map<string, IPolicy>();

  constructor(options: DataPlaneGuardOptions = {}) {
    this.#failuresToOpen = options.failuresToOpen ?? 3;
    this.#halfOpenAfterMs = options.halfOpenAfterMs ?? 15_000;
    this.#concurrency = options.concurrency ?? 10;
    this.#queue = options.queue ?? 100;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
  }

  /** Runs `fn` for `tenantId` behind the guards of `dataPlane`. */
  async run<T>(tenantId: string, dataPlane: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await this.#policy(dataPlane).execute(fn);
    } catch (error) {
      if (error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError)
        throw new DataPlaneUnavailableError(
          tenantId,
          dataPlane,
          `its circuit breaker is open after ${this.#failuresToOpen} failures in a row; it is tried again ${this.#halfOpenAfterMs} ms after it opened`,
        );
      if (error instanceof BulkheadRejectedError)
        throw new DataPlaneUnavailableError(
          tenantId,
          dataPlane,
          `${this.#concurrency} calls are running on it and ${this.#queue} waiting; try again later`,
        );
      // Only the kind of failure is said, and the original is not kept as the cause: a logger that
      // prints causes would show the server's own words (a user, a host) for a customer's database.
      if (isOutage(error))
        throw new DataPlaneUnavailableError(tenantId, dataPlane, `its server failed (${outageKind(error)})`);
      throw error;
    }
  }

  #policy(dataPlane: string): IPolicy {
    let policy = this.#policies.get(dataPlane);
    if (policy === undefined) {
      const breaker = circuitBreaker(handleWhen(isOutage), {
        halfOpenAfter: this.#halfOpenAfterMs,
        breaker: new ConsecutiveBreaker(this.#failuresToOpen),
      });
      // The breaker outside: once open it refuses calls before they take a place in the bulkhead.
      policy = wrap(breaker, bulkhead(this.#concurrency, this.#queue));
      this.#policies.set(dataPlane, policy);
    }
    return policy;
  }
}

/** A word for the failure that names nothing of the connection: a SQLSTATE or a Node error code. */
function outageKind(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /^[0-9A-Z_]{1,32}$/.test(code)) return code;
  const message = error instanceof Error ? error.message : '';
  return /timeout|timed out/i.test(message) ? 'timeout' : 'connection lost';
}
