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
  // Built by hand rather than with map and join: this runs on every request the control plane counts.
  let policy = '';
  let state = '';
  for (let i = 0; i < reports.length; i++) {
    const r = reports[i] as RateLimitReport;
    const separator = i === 0 ? '' : ', ';
    policy += separator + policyMember(r.name, r.limit);
    state += `${separator}"${r.name}";r=${Math.max(r.remaining, 0)};t=${Math.ceil(r.fullInMs / 1000)}`;
  }
  const headers: Record<string, string> = { 'RateLimit-Policy': policy, RateLimit: state };
  if (retryAfterMs !== undefined) headers['Retry-After'] = String(retryAfterSeconds(retryAfterMs));
  return headers;
}

// A limit's policy member depends on the limit alone, and the same limit objects are counted
// against again and again: each is written once.
const policyMembers = new WeakMap<RateLimitDefinition, Map<string, string>>();

function policyMember(name: string, limit: RateLimitDefinition): string {
  let byName = policyMembers.get(limit);
  if (byName === undefined) {
    byName = new Map();
    policyMembers.set(limit, byName);
  }
  let member = byName.get(name);
  if (member === undefined) {
    member = `"${name}";q=${limit.requests};w=${limit.per_seconds}`;
    byName.set(name, member);
  }
  return member;
}

/** A wait in whole seconds for `Retry-After`: rounded up, and at least 1. */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
