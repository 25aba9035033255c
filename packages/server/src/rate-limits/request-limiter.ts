import {
  type BucketSize,
  type BucketState,
  bucketSize,
  type RateLimitDefinition,
  type RateLimitReport,
  rateLimitHeaders,
  takeTokens,
  tokensAt,
} from '@tenantry/core';
import type { RateLimitSettings } from './rate-limit-settings.ts';

/** A tenant as the limiter needs it: its id (a request may name it by slug) and its limit. */
export interface TenantRateLimit {
  readonly tenantId: string;
  /** The tenant's limit on the control plane's API; `null` = not limited. */
  readonly limit: RateLimitDefinition | null;
}

/** Finds a tenant by id or slug; undefined when there is none (the route then answers 404). */
export type TenantRateLimitLookup = (ref: string) => Promise<TenantRateLimit | undefined>;

/** Whether a request may go on, and the RateLimit headers its response carries either way. */
export interface LimitVerdict {
  readonly allowed: boolean;
  readonly headers: Readonly<Record<string, string>>;
  /** When refused: which bucket was empty (the key's first when both were) and how long to wait. */
  readonly refusal?: { readonly limitedBy: 'key' | 'tenant'; readonly retryAfterMs: number };
}

/** How long a tenant's limit is trusted; changes made in this process drop it at once ({@link forget}). */
const TENANT_TTL_MS = 5_000;

/** Tenants whose limit is kept at most; the oldest are dropped first. */
const TENANT_CACHE_LIMIT = 50_000;

/** Buckets are swept of full ones (which mean the same as no bucket) every this many checks. */
const SWEEP_EVERY = 4096;

const UNLIMITED: LimitVerdict = { allowed: true, headers: {} };

interface Counted {
  readonly name: 'key' | 'tenant';
  readonly bucket: string;
  readonly limit: RateLimitDefinition;
}

/**
 * Token buckets in this process's memory for the control plane's own API: one per API key, and
 * one per tenant a request concerns, sized by the tenant's plan. A request passes only when
 * every bucket it counts against holds a token, and then takes one from each; a refused request
 * takes nothing, so a client that waits as told is not pushed further back.
 *
 * Each process enforces `1 / settings.processes` of every limit (see docs/rate-limits.md). Time
 * is the process's monotonic clock, not the control plane's {@link Clock}: a test clock moves
 * billing periods, not the traffic of the moment.
 */
export class RequestLimiter {
  readonly #settings: RateLimitSettings | null;
  readonly #share: number;
  readonly #lookup: TenantRateLimitLookup;
  readonly #now: () => number;
  readonly #buckets = new Map<string, { readonly state: BucketState; readonly size: BucketSize }>();
  readonly #tenants = new Map<
    string,
    { readonly value: TenantRateLimit | undefined; readonly until: number }
  >();
  readonly #pending = new Map<string, Promise<TenantRateLimit | undefined>>();
  /** Bumped by every {@link forget}, so that a lookup that read a tenant before a change is not kept. */
  #generation = 0;
  #checks = 0;

  /** `settings` null: nothing is limited (the tests of other features, which count no requests). */
  constructor(
    settings: RateLimitSettings | null,
    lookup: TenantRateLimitLookup,
    now: () => number = performance.now.bind(performance),
  ) {
    this.#settings = settings;
    this.#share = 1 / (settings?.processes ?? 1);
    this.#lookup = lookup;
    this.#now = now;
  }

  /**
   * Counts a request of the key `keyId`, about the tenant `tenantRef` (an id or slug) when it
   * concerns one. Synchronous while the tenant's limit is in memory; a promise when it must be
   * looked up first.
   */
  check(keyId: string, tenantRef: string | undefined): LimitVerdict | Promise<LimitVerdict> {
    if (this.#settings === null) return UNLIMITED;
    // One reading of the clock per check: it is a good part of a check's cost.
    const now = this.#now();
    if (tenantRef === undefined) return this.#decide(keyId, undefined, now);
    const cached = this.#tenants.get(tenantRef);
    if (cached !== undefined && cached.until > now) return this.#decide(keyId, cached.value, now);
    return this.#resolve(tenantRef).then((tenant) => this.#decide(keyId, tenant, this.#now()));
  }

  /** Forgets the tenant's limit, after a change of its plan or overrides made in this process. */
  forget(tenantId: string): void {
    this.#tenants.delete(tenantId);
    this.#generation++;
  }

  #resolve(ref: string): Promise<TenantRateLimit | undefined> {
    const pending = this.#pending.get(ref);
    if (pending) return pending;
    const generation = this.#generation;
    const lookup = this.#lookup(ref)
      .then((tenant) => {
        // A change forgotten meanwhile may be one this lookup read before: answer, but do not keep.
        if (generation !== this.#generation) return tenant;
        if (this.#tenants.size >= TENANT_CACHE_LIMIT) {
          this.#tenants.delete(this.#tenants.keys().next().value as string);
        }
        this.#tenants.set(ref, { value: tenant, until: this.#now() + TENANT_TTL_MS });
        return tenant;
      })
      .finally(() => this.#pending.delete(ref));
    this.#pending.set(ref, lookup);
    return lookup;
  }

  #decide(keyId: string, tenant: TenantRateLimit | undefined, now: number): LimitVerdict {
    const counted: Counted[] = [];
    const keyLimit = this.#settings?.key;
    if (keyLimit) counted.push({ name: 'key', bucket: `k:${keyId}`, limit: keyLimit });
    if (tenant !== undefined && tenant.limit !== null) {
      counted.push({ name: 'tenant', bucket: `t:${tenant.tenantId}`, limit: tenant.limit });
    }
    if (counted.length === 0) return UNLIMITED;
    const sizes = counted.map((c) => bucketSize(c.limit, this.#share));
    const held = counted.map((c) => this.#buckets.get(c.bucket)?.state);
    const decisions = counted.map((_, i) => takeTokens(held[i], sizes[i] as BucketSize, now));
    const allowed = decisions.every((d) => d.allowed);
    const reports: RateLimitReport[] = [];
    let refusal: LimitVerdict['refusal'];
    counted.forEach((c, i) => {
      const decision = decisions[i];
      const size = sizes[i];
      if (decision === undefined || size === undefined) return;
      if (allowed) {
        this.#buckets.set(c.bucket, { state: decision.state, size });
        reports.push({
          name: c.name,
          limit: c.limit,
          remaining: decision.remaining,
          fullInMs: decision.fullInMs,
        });
        return;
      }
      // Refused: no bucket is taken from, so each reports what it holds.
      const tokens = tokensAt(held[i], size, now);
      reports.push({
        name: c.name,
        limit: c.limit,
        remaining: Math.floor(tokens),
        fullInMs: Math.ceil((size.capacity - tokens) * size.msPerToken),
      });
      if (!decision.allowed && (refusal === undefined || decision.retryAfterMs > refusal.retryAfterMs)) {
        refusal = { limitedBy: c.name, retryAfterMs: decision.retryAfterMs };
      }
    });
    if (++this.#checks % SWEEP_EVERY === 0) this.#sweep(now);
    if (refusal === undefined) return { allowed: true, headers: rateLimitHeaders(reports) };
    return { allowed: false, headers: rateLimitHeaders(reports, refusal.retryAfterMs), refusal };
  }

  // A full bucket means the same as no bucket, so dropping full ones bounds memory by the keys
  // and tenants active within one refill time, whatever has been seen since start.
  #sweep(now: number): void {
    for (const [bucket, { state, size }] of this.#buckets) {
      if (tokensAt(state, size, now) >= size.capacity) this.#buckets.delete(bucket);
    }
  }

  /** Buckets held now: the keys and tenants that are not back to a full bucket. */
  get bucketCount(): number {
    return this.#buckets.size;
  }
}
