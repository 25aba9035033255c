/** Node's socket errors that mean the database server could not be reached or went away. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs of a server that is shutting down, restarting or not yet accepting connections
 * (class 08 is "connection exception"); 53300 is "too many connections".
 */
const SERVER_CODES = new Set(['57P01', '57P02', '57P03', '53300']);

/** What node-postgres throws, without a code, for a connection lost or never made. */
const LOST_CONNECTION =
  /^Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect/;

/**
 * Whether `error` says the database is unreachable right now (down, restarting, refusing
 * connections) rather than that the statement was wrong: the same request may succeed later.
 * (A connection lost during COMMIT leaves the outcome unknown; an Idempotency-Key makes the
 * retry safe either way.)
 */
export function isDatabaseUnreachable(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 3; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (
      typeof code === 'string' &&
      (SOCKET_CODES.has(code) || SERVER_CODES.has(code) || code.startsWith('08'))
    )
      return true;
    if (LOST_CONNECTION.test(e.message)) return true;
  }
  return false;
}
