import { hash } from 'node:crypto';
import { allowListMatcher, parseTenantKey, type RateLimitDefinition } from '@tenantry/core';
import type { ControlPlaneClient } from '../control-plane/index.ts';
import type { Entitlements, EntitlementsStatus } from '../entitlements/index.ts';

/** A key that works: whose it is and what it may do. */
export interface AcceptedApiKey {
  readonly ok: true;
  /** The tenant (`ten_…`) whose machine presented the key: the request runs as this tenant. */
  readonly tenantId: string;
  /** The key's id (`tak_…`), for the vendor's logs; never the key itself. */
  readonly keyId: string;
  /** The vendor's permissions the key carries (`meetings:write`), sorted. */
  readonly permissions: readonly string[];
  /**
   * The tenant's rate limits by name, from its plan and overrides (its entitlement snapshot,
   * held and kept current by the stream like the keys): what to count the key's requests
   * against with `tenantry.rateLimits.check(tenantId, name, { key: keyId })`. Empty when the
   * plan sets none; undefined when the snapshot could not be loaded (the key itself is good).
   */
  readonly rateLimits: Readonly<Record<string, RateLimitDefinition>> | undefined;
}

/**
 * Why a key is refused:
 * - `malformed`: not a tenant API key at all (wrong shape, or a checksum that does not hold: a
 *   typo, a truncated key, a forgery); refused without a lookup;
 * - `unknown_key`: well formed, but not a working key: never issued, revoked, rolled and past its
 *   overlap, or another vendor's;
 * - `expired`: its expiry (or the end of its roll's overlap) has passed;
 * - `tenant_inactive`: its tenant is suspended, cancelled or deleted;
 * - `ip_not_allowed`: its tenant's IP allow-list does not hold the address the key was presented
 *   from (or the address was not given, so it cannot be checked);
 * - `unavailable`: the keys could not be loaded from the control plane, or the entitlement stream
 *   has been lost for longer than its `maxStalenessMs`: keys fail closed.
 */
export type ApiKeyRefusal =
  | 'malformed'
  | 'unknown_key'
  | 'expired'
  | 'tenant_inactive'
  | 'ip_not_allowed'
  | 'unavailable';

/** What {@link TenantKeys.verify} knows of the request that presented the key. */
export interface VerifyApiKeyOptions {
  /**
   * The address the key was presented from (the client's, e.g. Fastify's `request.ip`), checked
   * against the tenant's IP allow-list. A key of a tenant with an allow-list is refused without it.
   */
  readonly ip?: string | undefined;
}

/** The answer of {@link TenantKeys.verify}. */
export type ApiKeyVerdict = AcceptedApiKey | { readonly ok: false; readonly reason: ApiKeyRefusal };

/** Options of {@link TenantKeys}. */
export interface TenantKeysOptions {
  /** Tenants the stream names within this window are asked about in one request; default 20 ms. */
  readonly batchMs?: number;
  /** How often the keys used are reported for their `last_used_at`; default 30 s. */
  readonly reportEveryMs?: number;
  /** Milliseconds since the epoch; replaces `Date.now` for expiry, for tests. */
  readonly now?: () => number;
  /**
   * Told of each background task that failed: a load of the key sets (tried again with backoff;
   * checks answer from the sets held until then) or a report of the keys used (sent with the next).
   */
  readonly onError?: (error: Error) => void;
}

/** A key as held: its answer made once, so that a check allocates nothing. */
interface HeldKey {
  readonly verdict: Omit<AcceptedApiKey, 'rateLimits'>;
  /** Milliseconds since the epoch; Infinity for a key that does not expire. */
  readonly expiresAt: number;
  readonly active: boolean;
  /** Whether the tenant's IP allow-list, shared by its keys, holds an address; null: no list, any address. */
  readonly ipAllowed: ((ip: string) => boolean) | null;
}

/** One tenant's key set as the control plane sends it. */
interface KeySet {
  readonly tenant_id: string;
  readonly version: string;
  readonly active: boolean;
  readonly ip_allow_list: readonly string[];
  readonly keys: readonly {
    readonly id: string;
    readonly hash: string;
    readonly permissions: readonly string[];
    readonly expires_at: string | null;
  }[];
}

/** A key's use is reported at most this often (the control plane keeps `last_used_at` to the minute). */
const USE_RESOLUTION_MS = 60_000;

/** Tenants per request, the control plane's limit. */
const BATCH = 1000;

const MALFORMED = Object.freeze({ ok: false, reason: 'malformed' } as const);
const UNKNOWN = Object.freeze({ ok: false, reason: 'unknown_key' } as const);
const EXPIRED = Object.freeze({ ok: false, reason: 'expired' } as const);
const INACTIVE = Object.freeze({ ok: false, reason: 'tenant_inactive' } as const);
const IP_NOT_ALLOWED = Object.freeze({ ok: false, reason: 'ip_not_allowed' } as const);
const UNAVAILABLE = Object.freeze({ ok: false, reason: 'unavailable' } as const);
/** The rate limits of a tenant whose plan sets none. */
const NO_RATE_LIMITS: Readonly<Record<string, RateLimitDefinition>> = Object.freeze({});

/** Delays between attempts to load the keys again after a failure: doubling up to 30 s. */
const RETRY_MS = { initial: 500, max: 30_000 };

/**
 * Tenant API keys verified locally: {@link verify} checks a presented key's checksum, hashes it
 * (SHA-256) and looks the hash up in memory: no network call per request. The working keys of
 * every tenant (hashes, permissions, expiry, whether the tenant may use anything) are loaded from
 * the control plane the first time a key is verified, and kept current by the entitlement stream:
 * each tenant the stream names (any change of it: a key made, rolled or revoked, the tenant
 * suspended) has its key set revalidated by version, so a revoked key is refused within the
 * bound of a plan change. After the stream reconnects, every set is loaded again (what changed
 * while it was down is not replayed). When the stream has been lost for longer than the
 * entitlements' `maxStalenessMs`, keys fail closed (`unavailable`).
 *
 * The keys used are reported to the control plane in the background, each at most once a minute,
 * for their `last_used_at`.
 *
 * Needs an app key holding `tenant-keys:verify` (the `app` preset does).
 */
export class TenantKeys {
  readonly #client: ControlPlaneClient;
  readonly #entitlements: Entitlements;
  readonly #now: () => number;
  readonly #batchMs: number;
  readonly #reportEveryMs: number;
  readonly #onError: ((error: Error) => void) | undefined;
  readonly #byHash = new Map<string, HeldKey>();
  /** Each tenant's set version and its keys' hashes. */
  readonly #sets = new Map<string, { version: string; hashes: readonly string[] }>();
  #started = false;
  #loaded = false;
  #failClosed = false;
  #closed = false;
  #ready: Promise<void> | undefined;
  /** The latest full load. */
  #loading: Promise<void> | undefined;
  /** The one request at a time that changes the sets: a full load or a revalidation. */
  #queue: Promise<void> = Promise.resolve();
  /** Tenants the stream named since the last revalidation. */
  readonly #noticed = new Set<string>();
  #noticeTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryMs = RETRY_MS.initial;
  /** When each key's use was last noted for a report. */
  readonly #noted = new Map<string, number>();
  /** Uses not reported yet: key id → when. */
  #unreported = new Map<string, number>();
  #reportTimer: NodeJS.Timeout | undefined;
  #unsubscribe: Array<() => void> = [];

  constructor(client: ControlPlaneClient, entitlements: Entitlements, options: TenantKeysOptions = {}) {
    this.#client = client;
    this.#entitlements = entitlements;
    this.#now = options.now ?? Date.now;
    this.#batchMs = options.batchMs ?? 20;
    this.#reportEveryMs = options.reportEveryMs ?? 30_000;
    this.#onError = options.onError;
  }

  /** Tells `onError` of a background task that failed; the task itself says how it goes on. */
  readonly #report = (error: unknown): void => {
    this.#onError?.(error instanceof Error ? error : new Error(String(error)));
  };

  /**
   * Whether `presentedKey` is a working tenant API key, and if so whose and with what
   * permissions; presented from `options.ip`, which the tenant's IP allow-list must hold when it
   * has one. Local: the first call waits for the keys to load; later ones make no network call.
   * Never throws for a bad key: the answer says why it is refused.
   */
  async verify(presentedKey: string, options?: VerifyApiKeyOptions): Promise<ApiKeyVerdict> {
    // Not a key at all: known without the keys, so refused even before they are loaded.
    if (typeof presentedKey !== 'string' || parseTenantKey(presentedKey) === null) return MALFORMED;
    if (!this.#loaded) {
      try {
        await this.ready();
      } catch {
        return UNAVAILABLE;
      }
    }
    const verdict = this.#lookup(presentedKey, options?.ip);
    if (!verdict.ok) return verdict;
    return { ...verdict, rateLimits: await this.#rateLimitsOf(verdict.tenantId) };
  }

  /**
   * The tenant's rate limits from its snapshot: held after the first key of the tenant (one
   * fetch), then kept current by the entitlement stream, as every snapshot the SDK holds is.
   */
  async #rateLimitsOf(tenantId: string): Promise<AcceptedApiKey['rateLimits']> {
    try {
      const snapshot = await this.#entitlements.load(tenantId);
      return snapshot.rate_limits ?? NO_RATE_LIMITS;
    } catch (error) {
      // The key is good whatever the snapshot's fate: the answer says its limits are unknown.
      if (error instanceof Error) return undefined;
      throw error;
    }
  }

  /** The answer for a key in the format whose checksum holds. */
  #lookup(
    presentedKey: string,
    ip: string | undefined,
  ): Omit<AcceptedApiKey, 'rateLimits'> | Exclude<ApiKeyVerdict, AcceptedApiKey> {
    if (this.#failClosed || this.#closed) return UNAVAILABLE;
    const held = this.#byHash.get(hash('sha256', presentedKey));
    if (held === undefined) return UNKNOWN;
    const now = this.#now();
    if (now >= held.expiresAt) return EXPIRED;
    if (!held.active) return INACTIVE;
    // An allow-list fails closed: a key of a tenant that set one works only from an address seen.
    if (held.ipAllowed !== null && (ip === undefined || !held.ipAllowed(ip))) return IP_NOT_ALLOWED;
    const keyId = held.verdict.keyId;
    if (now - (this.#noted.get(keyId) ?? Number.NEGATIVE_INFINITY) >= USE_RESOLUTION_MS) {
      this.#noted.set(keyId, now);
      this.#unreported.set(keyId, now);
    }
    return held.verdict;
  }

  /**
   * Resolves once every tenant's keys are loaded (the first time: follows the entitlement stream
   * and loads them). Rejects when they cannot be: the stream cannot connect, or the sets cannot be
   * read; the next call tries again. It never waits for a control plane that does not answer, so
   * that a request to the vendor's API is refused (`unavailable`) rather than held.
   */
  ready(): Promise<void> {
    this.#start();
    this.#ready ??= (async () => {
      await this.#live();
      // Loaded when the stream went live (the status listener), or now if it was live already.
      if (!this.#loaded) await (this.#loading ?? this.#reload());
    })().catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  /** Resolves once the stream is live; rejects as soon as it is known not to be. */
  #live(): Promise<void> {
    const live = this.#entitlements.whenLive();
    return new Promise<void>((resolve, reject) => {
      const settle = (status: EntitlementsStatus) => {
        if (status.state === 'live') {
          stop();
          resolve();
        } else if (status.state === 'stale' || status.state === 'expired' || status.state === 'closed') {
          stop();
          reject(new Error(`the entitlement stream is not live (${status.error ?? status.state})`));
        }
      };
      const stop = this.#entitlements.on('status', settle);
      live.then(() => settle(this.#entitlements.status()), reject);
      settle(this.#entitlements.status());
    });
  }

  #start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#unsubscribe = [
      this.#entitlements.on('tenant', (tenantId) => this.#notice(tenantId)),
      this.#entitlements.on('status', (status) => {
        // Past the staleness bound the keys fail closed, as entitlement checks do; and once the
        // stream is closed for good, nothing keeps them current.
        this.#failClosed = status.state === 'expired' || status.state === 'closed';
        // Changes made while the stream was down are not replayed: load every set again.
        if (status.state === 'live') this.#reload().catch(this.#report);
      }),
    ];
    this.#reportTimer = setInterval(() => this.reportUse().catch(this.#report), this.#reportEveryMs).unref();
  }

  /** Runs `task` after the one under way: responses are applied in the order they were asked. */
  #enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(task);
    this.#queue = run.catch(() => {
      // The caller of this task gets its error through `run`; the next task runs regardless.
    });
    return run;
  }

  /**
   * Loads every set again; on failure, tries again with backoff until it succeeds or
   * {@link close}. Resolves (or rejects) with this attempt.
   */
  #reload(): Promise<void> {
    clearTimeout(this.#retryTimer);
    const loading = this.#enqueue(() => this.#load());
    this.#loading = loading;
    loading.then(
      () => {
        this.#retryMs = RETRY_MS.initial;
      },
      () => {
        if (this.#closed) return;
        this.#retryTimer = setTimeout(() => this.#reload().catch(this.#report), this.#retryMs).unref();
        this.#retryMs = Math.min(RETRY_MS.max, this.#retryMs * 2);
      },
    );
    return loading;
  }

  /** Every tenant's key set, page by page, replacing what is held once all have come. */
  async #load(): Promise<void> {
    const sets: KeySet[] = [];
    let cursor: string | undefined;
    do {
      const { body } = await this.#client.get('/v1/tenant-keys/sets', {
        query: { limit: BATCH, ...(cursor === undefined ? {} : { cursor }) },
      });
      sets.push(...body.data);
      cursor = body.next_cursor ?? undefined;
    } while (cursor !== undefined);
    this.#byHash.clear();
    this.#sets.clear();
    for (const set of sets) this.#apply(set);
    this.#loaded = true;
  }

  /** Holds `set` in place of the tenant's previous one. */
  #apply(set: KeySet): void {
    const previous = this.#sets.get(set.tenant_id);
    for (const old of previous?.hashes ?? []) this.#byHash.delete(old);
    if (set.keys.length === 0) {
      this.#sets.delete(set.tenant_id);
      return;
    }
    // Parsed once per set, not per check.
    const ipAllowed = set.ip_allow_list.length === 0 ? null : allowListMatcher(set.ip_allow_list);
    for (const key of set.keys) {
      this.#byHash.set(key.hash, {
        verdict: Object.freeze({
          ok: true,
          tenantId: set.tenant_id,
          keyId: key.id,
          permissions: Object.freeze([...key.permissions]),
        }),
        expiresAt: key.expires_at === null ? Number.POSITIVE_INFINITY : Date.parse(key.expires_at),
        active: set.active,
        ipAllowed,
      });
    }
    this.#sets.set(set.tenant_id, { version: set.version, hashes: set.keys.map((key) => key.hash) });
  }

  /** The stream named a tenant: its set is revalidated with the others named within `batchMs`. */
  #notice(tenantId: string): void {
    if (!this.#loaded && this.#ready === undefined) return;
    this.#noticed.add(tenantId);
    this.#noticeTimer ??= setTimeout(() => {
      this.#noticeTimer = undefined;
      const tenants = [...this.#noticed];
      this.#noticed.clear();
      this.#enqueue(() => this.#revalidate(tenants)).catch((error: unknown) => {
        this.#report(error);
        // What these tenants' sets are now is unknown: load every set again, with backoff.
        if (!this.#closed) this.#reload().catch(this.#report);
      });
    }, this.#batchMs);
  }

  async #revalidate(tenantIds: readonly string[]): Promise<void> {
    for (let i = 0; i < tenantIds.length; i += BATCH) {
      const tenants: Record<string, string> = {};
      for (const id of tenantIds.slice(i, i + BATCH)) tenants[id] = this.#sets.get(id)?.version ?? '';
      const { body } = await this.#client.post('/v1/tenant-keys/sets/revalidate', { body: { tenants } });
      for (const set of body.changed) this.#apply(set);
    }
  }

  /**
   * Sends the uses noted since the last report (each key at most once a minute), for the keys'
   * `last_used_at`. Runs every `reportEveryMs` on its own; uses that fail to send go with the next.
   */
  async reportUse(): Promise<void> {
    if (this.#unreported.size === 0) return;
    const uses = this.#unreported;
    this.#unreported = new Map();
    const keys = [...uses].map(([id, at]) => ({ id, used_at: new Date(at).toISOString() }));
    try {
      for (let i = 0; i < keys.length; i += BATCH) {
        await this.#client.post('/v1/tenant-keys/used', { body: { keys: keys.slice(i, i + BATCH) } });
      }
    } catch (error) {
      for (const [id, at] of uses) if (!this.#unreported.has(id)) this.#unreported.set(id, at);
      throw error;
    }
  }

  /** Stops following the stream and reports the last uses; keys are refused (`unavailable`) from now on. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    clearTimeout(this.#noticeTimer);
    clearTimeout(this.#retryTimer);
    clearInterval(this.#reportTimer);
    await this.#queue;
    // Failing, the last minute's uses are not reported: `last_used_at` is left a little behind.
    await this.reportUse().catch(this.#report);
  }
}
