import {
  type BucketSize,
  type BucketState,
  bucketSize,
  type RateLimitDefinition,
  rateLimitHeaders,
  takeTokens,
  tokensAt,
} from '@tenantry/core';

/** The answer of `rateLimit()`: allowed or not, what is left, and the headers to answer with. */
export interface RateLimitResult {
  readonly allowed: boolean;
  /** The tenant's rate limit of that name; `null` when its plan sets none (nothing is refused). */
  readonly limit: RateLimitDefinition | null;
  /** Whole requests left now in this instance's bucket. */
  readonly remaining: number;
  /** When refused: whole seconds to wait before trying again; 0 when allowed. */
  readonly retryAfterSeconds: number;
  /**
   * `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-10), and
   * `Retry-After` on a refusal: set them on the app's response (see {@link setRateLimitHeaders}).
   */
  readonly headers: Readonly<Record<string, string>>;
}

/** What {@link RateLimiter.check} takes besides the tenant and the limit's name. */
export interface RateLimitOptions {
  /**
   * Counts the request in a bucket of its own for this key (a tenant API key's id, a user, an
   * IP), sized like the tenant's: the plan's limit then holds per key. Left out: the tenant's bucket.
   */
  readonly key?: string;
  /** Tokens the request takes; default 1. */
  readonly cost?: number;
}

/** A share of a tenant's rate limit, as leased for this instance. */
export interface ShareLease {
  /** The fraction of the rate and burst this instance may allow, 0 to 1. */
  readonly share: number;
  /** When the share lapses unless renewed (ms since the epoch). */
  readonly expiresAt: number;
}

/**
 * Where this instance's shares of tenants' rate limits come from: the control plane's lease API
 * for an app that runs as many instances; none (the whole limit) for a self-hosted install.
 */
export interface RateLimitShares {
  /** Takes or renews the share; throws when it cannot be asked. */
  lease(tenantId: string, name: string): Promise<ShareLease>;
  /** Gives the share back, for the other instances to take at once. */
  release(tenantId: string, name: string): Promise<void>;
  /** How long a share lasts; it is renewed at a third of it. */
  readonly ttlMs: number;
}

interface Held {
  share: number;
  /** Renew once the clock passes this. */
  renewAt: number;
  renewing: Promise<void> | null;
}

/** After a share of 0 or a failed renewal, the control plane is asked again this soon. */
const RETRY_MS = 1000;

/** Buckets are swept of full ones (the same as no bucket) every this many checks. */
const SWEEP_EVERY = 4096;

/**
 * Rate limits of the tenants' plans in this instance: a token bucket per (tenant, limit, key)
 * in memory, sized by this instance's share of the limit, so that a check costs no call. The
 * share is leased from the control plane the first time a limit is used and renewed in the
 * background while it is; an instance that stops using a limit lets its share lapse, and the
 * others take it over as they renew.
 *
 * When the control plane cannot be reached, an instance keeps the share it had; one that never
 * had one counts against the whole limit alone until it can ask (a rate limit protects capacity,
 * so an outage of the control plane should not stop the app).
 */
export class RateLimiter {
  readonly #limitOf: (tenantId: string, name: string) => RateLimitDefinition | undefined;
  readonly #shares: RateLimitShares | null;
  readonly #now: () => number;
  readonly #held = new Map<string, Held>();
  readonly #buckets = new Map<string, { state: BucketState; size: BucketSize }>();
  #checks = 0;
  #closed = false;

  constructor(
    limitOf: (tenantId: string, name: string) => RateLimitDefinition | undefined,
    shares: RateLimitShares | null,
    now: () => number = Date.now,
  ) {
    this.#limitOf = limitOf;
    this.#shares = shares;
    this.#now = now;
  }

  /**
   * Counts a request of the tenant against its plan's rate limit `name`. Answers without a call
   * while this instance holds a share; the first use of a limit waits for one.
   */
  async check(tenantId: string, name: string, options: RateLimitOptions = {}): Promise<RateLimitResult> {
    const cost = options.cost ?? 1;
    if (!Number.isInteger(cost) || cost < 1)
      throw new RangeError(`cost must be a whole number of at least 1, not ${cost}`);
    const limit = this.#limitOf(tenantId, name);
    if (limit === undefined)
      return { allowed: true, limit: null, remaining: 0, retryAfterSeconds: 0, headers: {} };
    const share = await this.#share(tenantId, name);
    const now = this.#now();
    const bucket = `${tenantId}\n${name}\n${options.key ?? ''}`;
    const held = this.#buckets.get(bucket)?.state;
    if (++this.#checks % SWEEP_EVERY === 0) this.#sweep(now);
    if (share === 0) {
      // The other instances hold the whole limit until they renew: wait for this one's next ask.
      const waitMs = Math.max(RETRY_MS, (this.#held.get(`${tenantId}\n${name}`)?.renewAt ?? now) - now);
      return this.#answer(name, limit, false, 0, waitMs, waitMs);
    }
    const size = bucketSize(limit, share);
    const decision = takeTokens(held, size, now, cost);
    if (decision.allowed) this.#buckets.set(bucket, { state: decision.state, size });
    const remaining = decision.allowed ? decision.remaining : Math.floor(tokensAt(held, size, now));
    return this.#answer(name, limit, decision.allowed, remaining, decision.retryAfterMs, decision.fullInMs);
  }

  #answer(
    name: string,
    limit: RateLimitDefinition,
    allowed: boolean,
    remaining: number,
    retryAfterMs: number,
    fullInMs: number,
  ): RateLimitResult {
    const report = [{ name, limit, remaining, fullInMs }];
    const headers = allowed ? rateLimitHeaders(report) : rateLimitHeaders(report, retryAfterMs);
    return {
      allowed,
      limit,
      remaining,
      retryAfterSeconds: allowed ? 0 : Number(headers['Retry-After']),
      headers,
    };
  }

  /** This instance's share of the tenant's limit: 1 without shares; leased, then renewed in the background. */
  async #share(tenantId: string, name: string): Promise<number> {
    if (this.#shares === null) return 1;
    const id = `${tenantId}\n${name}`;
    let held = this.#held.get(id);
    if (held === undefined) {
      held = { share: 1, renewAt: 0, renewing: null };
      this.#held.set(id, held);
      await this.#renew(tenantId, name, held);
      return held.share;
    }
    // renewAt 0: the first lease is under way, and the share is not known yet.
    if (held.renewing !== null && held.renewAt === 0) await held.renewing;
    else if (held.renewing === null && this.#now() >= held.renewAt) void this.#renew(tenantId, name, held);
    return held.share;
  }

  // Never rejects: a share that cannot be renewed is kept (see the class's comment) and asked
  // for again soon.
  #renew(tenantId: string, name: string, held: Held): Promise<void> {
    const shares = this.#shares;
    if (shares === null || this.#closed) return Promise.resolve();
    const renewing = shares.lease(tenantId, name).then(
      (lease) => {
        held.share = lease.share;
        held.renewAt = this.#now() + (lease.share === 0 ? RETRY_MS : shares.ttlMs / 3);
      },
      () => {
        held.renewAt = this.#now() + RETRY_MS;
      },
    );
    held.renewing = renewing.finally(() => {
      held.renewing = null;
    });
    return held.renewing;
  }

  // A full bucket means the same as no bucket: memory follows the tenants and keys in use.
  #sweep(now: number): void {
    for (const [bucket, { state, size }] of this.#buckets) {
      if (tokensAt(state, size, now) >= size.capacity) this.#buckets.delete(bucket);
    }
  }

  /**
   * Gives every share back, so that the other instances take them at their next renewal rather
   * than when they lapse; a share that cannot be given back lapses by itself.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const shares = this.#shares;
    if (shares === null) return;
    const held = [...this.#held.entries()];
    this.#held.clear();
    await Promise.all(held.map(([, h]) => h.renewing));
    await Promise.all(
      held.map(([id]) => {
        const [tenantId = '', name = ''] = id.split('\n');
        return shares.release(tenantId, name);
      }),
    );
  }
}
