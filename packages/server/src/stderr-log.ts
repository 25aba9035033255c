/** What a service logs to: pino's `(object, message)` shape, so the app's logger fits as it is. */
export interface ServiceLog {
  info(object: Record<string, unknown>, message: string): void;
  error(object: Record<string, unknown>, message: string): void;
}

/** One line on stderr in pino's shape, for a service given no logger (tests, tools). */
export const STDERR_LOG: ServiceLog = {
  info: (object, msg) => process.stderr.write(`${JSON.stringify({ level: 30, ...object, msg })}\n`),
  error: (object, msg) => process.stderr.write(`${JSON.stringify({ level: 50, ...object, msg })}\n`),
};
