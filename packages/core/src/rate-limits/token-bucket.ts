import type { RateLimitDefinition } from './rate-limit-definition.ts';

/** A bucket's tokens as of `at` (milliseconds on the caller's clock); tokens flow in between reads. */
export interface BucketState {
  readonly tokens: number;
  readonly at: number;
}

/** How big one bucket is and how fast it fills: a rate limit, or a share of one. */
export interface BucketSize {
  readonly capacity: number;
  /** Milliseconds for one token to flow in (kept rather than its inverse, which rounds: 1/1h). */
  readonly msPerToken: number;
}

/** What one attempt to take from a bucket found. */
export interface BucketDecision {
  readonly allowed: boolean;
  /** The bucket after the attempt: keep it for the next one. */
  readonly state: BucketState;
  /** Whole requests left in the bucket after this one. */
  readonly remaining: number;
  /** When refused: milliseconds until the request could pass; 0 when allowed. */
  readonly retryAfterMs: number;
  /** Milliseconds until the bucket is full again. */
  readonly fullInMs: number;
}

/**
 * The bucket for `share` (0 < share ≤ 1) of `limit`: the part of a tenant's rate one process or
 * app instance holds. It always holds at least one request, so a small share still lets requests
 * through one by one (the cost, documented: each holder may pass one request beyond its share).
 */
export function bucketSize(limit: RateLimitDefinition, share = 1): BucketSize {
  return {
    capacity: Math.max(1, limit.burst * share),
    msPerToken: (limit.per_seconds * 1000) / (limit.requests * share),
  };
}

/** The tokens of `state` at `now`; a bucket never seen is full. A clock that steps back adds none. */
export function tokensAt(state: BucketState | undefined, size: BucketSize, now: number): number {
  if (state === undefined) return size.capacity;
  const elapsed = Math.max(0, now - state.at);
  return Math.min(size.capacity, state.tokens + elapsed / size.msPerToken);
}

/**
 * Takes `cost` tokens from the bucket at `now` if it holds them; refuses otherwise, taking
 * nothing, and says how long until it would hold them. A cost above the bucket's capacity can
 * never pass; its wait is the time to fill the bucket, after which it is refused again.
 */
export function takeTokens(
  state: BucketState | undefined,
  size: BucketSize,
  now: number,
  cost = 1,
): BucketDecision {
  const tokens = tokensAt(state, size, now);
  const allowed = tokens >= cost;
  const left = allowed ? tokens - cost : tokens;
  const missing = Math.min(cost, size.capacity) - left;
  return {
    allowed,
    state: { tokens: left, at: Math.max(now, state?.at ?? now) },
    remaining: Math.floor(left),
    retryAfterMs: allowed ? 0 : Math.ceil(missing * size.msPerToken),
    fullInMs: Math.ceil((size.capacity - left) * size.msPerToken),
  };
}
