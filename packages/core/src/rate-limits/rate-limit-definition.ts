import { z } from 'zod';

/**
 * A rate limit as a plan defines it, read as a token bucket: `requests` tokens flow in every
 * `per_seconds`, the bucket holds at most `burst`, and each request takes one. A tenant idle for
 * a while may so send `burst` requests at once, then `requests` per `per_seconds` on average.
 */
export interface RateLimitDefinition {
  readonly requests: number;
  readonly per_seconds: number;
  /** The bucket's size: the most requests that pass at once; `requests` when the plan sets none. */
  readonly burst: number;
}

/** The longest window a rate limit may have: one day (longer quotas are metered limits). */
export const MAX_RATE_WINDOW_SECONDS = 86_400;

/** The most requests or burst a rate limit may name; far past any one tenant's API traffic. */
export const MAX_RATE_REQUESTS = 1_000_000_000;

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86_400 } as const;

const DURATION = /^([1-9][0-9]{0,5})(s|m|h|d)$/;

/**
 * The seconds a window written as `1s`, `10s`, `1m`, `1h` or `1d` (or a whole number of
 * seconds) lasts, or undefined when it is written any other way.
 */
export function windowSeconds(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 1 ? value : undefined;
  const match = DURATION.exec(value);
  if (!match) return undefined;
  return Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS];
}

const WINDOW_RULE = 'must be a window such as 1s, 10s, 1m, 1h or 1d, or a whole number of seconds';

/** A window as written in a plan file (`per: 1s`), checked and turned into seconds. */
const RateWindowSchema = z.union([z.string(), z.number()], { error: WINDOW_RULE }).transform((value, ctx) => {
  const seconds = windowSeconds(value);
  if (seconds === undefined) {
    ctx.addIssue({ code: 'custom', input: value, message: `per ${WINDOW_RULE}` });
    return z.NEVER;
  }
  if (seconds > MAX_RATE_WINDOW_SECONDS) {
    ctx.addIssue({
      code: 'custom',
      input: value,
      message: `per must be at most 1d (${MAX_RATE_WINDOW_SECONDS} seconds): a longer quota is a metered limit`,
    });
    return z.NEVER;
  }
  return seconds;
});

const Count = z.int({ error: 'must be a whole number of at least 1' }).min(1).max(MAX_RATE_REQUESTS);

/** A rate limit as a plan file writes it: `{ requests: 100, per: 1s, burst: 200 }`. */
export const RateLimitSchema = z.strictObject({
  requests: Count,
  per: RateWindowSchema,
  burst: Count.optional(),
});

/** A rate limit of a plan file, resolved: the window in seconds, the burst filled in. */
export function resolveRateLimit(limit: z.output<typeof RateLimitSchema>): RateLimitDefinition {
  return { requests: limit.requests, per_seconds: limit.per, burst: limit.burst ?? limit.requests };
}

/**
 * Changes to one rate limit for one tenant (a custom deal); absent fields keep the plan's. `per`
 * is stored in seconds, a form {@link RateLimitOverrideSchema} reads back unchanged, because
 * stored overrides are checked again when the tenant moves to another plan version.
 */
export interface RateLimitOverride {
  requests?: number;
  /** The window in seconds. */
  per?: number;
  burst?: number;
}

/** A rate-limit override as the API takes it: the plan file's fields, each optional. */
export const RateLimitOverrideSchema = z
  .strictObject({ requests: Count.optional(), per: RateWindowSchema.optional(), burst: Count.optional() })
  .transform(
    (limit): RateLimitOverride => ({
      ...(limit.requests === undefined ? {} : { requests: limit.requests }),
      ...(limit.per === undefined ? {} : { per: limit.per }),
      ...(limit.burst === undefined ? {} : { burst: limit.burst }),
    }),
  );

/**
 * `base` changed by `override`, or undefined when there is no base and the override lacks
 * `requests` or the window. A burst is carried over only when the plan set one apart from its
 * rate: raising `requests` on a plan that wrote no burst raises the burst with it.
 */
export function overrideRateLimit(
  base: RateLimitDefinition | undefined,
  override: RateLimitOverride,
): RateLimitDefinition | undefined {
  const requests = override.requests ?? base?.requests;
  const perSeconds = override.per ?? base?.per_seconds;
  if (requests === undefined || perSeconds === undefined) return undefined;
  const baseBurst = base === undefined || base.burst === base.requests ? undefined : base.burst;
  return { requests, per_seconds: perSeconds, burst: override.burst ?? baseBurst ?? requests };
}

/**
 * Rate limits by name, each copied: a snapshot, a license or overrides get objects of their own,
 * never shared with the plan they came from (a cached snapshot is handed to callers).
 */
export function copyRateLimits<T extends object>(limits: Readonly<Record<string, T>>): Record<string, T> {
  return Object.fromEntries(Object.entries(limits).map(([name, limit]) => [name, { ...limit }]));
}
