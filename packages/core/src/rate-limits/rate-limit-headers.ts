import type { RateLimitDefinition } from './rate-limit-definition.ts';

/** One limit a request was counted against, as the response reports it. */
export interface RateLimitReport {
  /** The policy's name in the headers: `key`, `tenant`, or the plan's rate-limit name. */
  readonly name: string;
  readonly limit: RateLimitDefinition;
  readonly remaining: number;
  /** Milliseconds until the bucket is full again. */
  readonly fullInMs: number;
}

/**
 * The response headers of draft-ietf-httpapi-ratelimit-headers-10 (structured fields) for the
 * limits a request was counted against:
 * - `RateLimit-Policy: "tenant";q=100;w=1` — quota `q` requests per window of `w` seconds;
 * - `RateLimit: "tenant";r=42;t=1` — `r` requests left now, `t` seconds until the bucket is full;
 * - `Retry-After` (RFC 9110, whole seconds, at least 1) when `retryAfterMs` is given: a refusal.
 * Names are plan keys or fixed words, so they need no escaping inside the quoted strings.
 */
export function rateLimitHeaders(
  reports: readonly RateLimitReport[],
  retryAfterMs?: number,
): Record<string, string> {
  const headers: Record<string, string> = {
    'RateLimit-Policy': reports
      .map((r) => `"${r.name}";q=${r.limit.requests};w=${r.limit.per_seconds}`)
      .join(', '),
    RateLimit: reports
      .map((r) => `"${r.name}";r=${Math.max(0, r.remaining)};t=${Math.ceil(r.fullInMs / 1000)}`)
      .join(', '),
  };
  if (retryAfterMs !== undefined) headers['Retry-After'] = String(retryAfterSeconds(retryAfterMs));
  return headers;
}

/** A wait in whole seconds for `Retry-After`: rounded up, and at least 1. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
