import {
  type ConfigValue,
  configValue,
  type EntitlementSnapshot,
  hasFeature,
  type LimitEntitlement,
  limitOf,
  MAX_STREAM_TENANTS,
  meterUseRefusal,
} from '@tenantry/core';
import { type ControlPlaneClient, ControlPlaneError } from '../control-plane/index.ts';
import { EntitlementsStaleError, TenantNotLoadedError } from './entitlement-errors.ts';
import { type ConsumeResult, type LeaseOptions, QuotaLeases } from './quota-leases.ts';
import { ServerSentEventParser } from './server-sent-event-parser.ts';
import { type AcquireResult, type SlotOptions, Slots } from './slots.ts';

/** A tenant's entitlement snapshot as the control plane sends it: with its version (the ETag). */
export type VersionedSnapshot = EntitlementSnapshot & { readonly version: string };

/**
 * Where the SDK's snapshots stand:
 * - `idle`: nothing loaded yet, the stream not started;
 * - `connecting`: the stream has not answered yet;
 * - `live`: the stream is open and every held snapshot was confirmed since it opened;
 * - `stale`: the stream is lost; the last snapshots stay in force until `failsClosedAt`;
 * - `expired`: stale for longer than `maxStalenessMs`: local checks throw {@link EntitlementsStaleError};
 * - `closed`: {@link Entitlements.close} was called.
 */
export interface EntitlementsStatus {
  readonly state: 'idle' | 'connecting' | 'live' | 'stale' | 'expired' | 'closed';
  /** When the snapshots were last known to be current; null while live. */
  readonly staleSince: Date | null;
  /** When local checks start to fail closed unless the stream is back; null while live. */
  readonly failsClosedAt: Date | null;
  /** Why the stream is not live, when it is not. */
  readonly error: string | null;
}

/** A held tenant's snapshot changed (`snapshot` null: the tenant no longer exists). */
export interface SnapshotChange {
  readonly tenantId: string;
  readonly snapshot: VersionedSnapshot | null;
  readonly previous: VersionedSnapshot | null;
}

/** What {@link Entitlements.on} can listen to. */
export interface EntitlementsEvents {
  /** The status changed (see {@link EntitlementsStatus}). */
  status: (status: EntitlementsStatus) => void;
  /** A held snapshot changed, through the stream or a revalidation. */
  change: (change: SnapshotChange) => void;
  /**
   * The stream announced a change of any tenant, held or not: the hook for caches keyed by
   * tenant, such as placements, which may change without the snapshot changing. `snapshot` is the
   * new one for a tenant held when the stream connected, null when the tenant no longer exists,
   * undefined for a tenant whose change came as a notice (held ones are then revalidated).
   * Events missed while disconnected are not replayed: drop such caches when the status becomes
   * `live` again.
   */
  tenant: (tenantId: string, snapshot: VersionedSnapshot | null | undefined) => void;
}

/** Options of {@link Entitlements}. */
export interface EntitlementsOptions {
  /**
   * How long the last snapshots stay in force while the control plane cannot be reached; past it,
   * local checks throw {@link EntitlementsStaleError}. Default 5 minutes.
   */
  readonly maxStalenessMs?: number;
  /** Delays between reconnection attempts: doubling from `initialDelayMs` (250) up to `maxDelayMs` (30,000), with jitter. */
  readonly reconnect?: { readonly initialDelayMs?: number; readonly maxDelayMs?: number };
  /** A stream that sends nothing (not even a heartbeat) for this long is taken as lost; default 45 s. */
  readonly idleTimeoutMs?: number;
  /**
   * While live, every held snapshot is also revalidated this often (a change missed by the control
   * plane's feed, a billing period that rolled over); default 60 s.
   */
  readonly revalidateEveryMs?: number;
  /** How `consume()` leases units of limited meters. */
  readonly leases?: LeaseOptions;
  /** How `acquire()` holds slots of gauges. */
  readonly slots?: SlotOptions;
  /** Milliseconds since the epoch; replaces `Date.now` for staleness, for tests. */
  readonly now?: () => number;
}

/** Tenants per revalidation request (the control plane's limit). */
const REVALIDATE_BATCH = 1000;

const UNLIMITED: ConsumeResult = Object.freeze({ allowed: true, overage: false });

/**
 * Each active tenant's entitlements, held in memory and checked locally: {@link can},
 * {@link limit} and {@link config} are synchronous and make no network call. Snapshots are
 * loaded on first use ({@link load}) and kept current by the control plane's push stream
 * (`POST /v1/entitlements/stream`, naming the tenants held), which is followed with reconnection
 * (backoff with jitter); after each reconnection every held snapshot is revalidated by its ETag.
 * The stream sends the snapshots of the tenants held when it connected, and a notice of any other
 * tenant's change: a tenant loaded since is revalidated on its notice, so an instance is sent the
 * snapshots it uses rather than the whole fleet's.
 *
 * When the control plane cannot be reached, the last snapshots stay in force for
 * `maxStalenessMs`, and the app is told ({@link on} `status`, {@link status}); past it, local
 * checks fail closed with {@link EntitlementsStaleError} until the stream is back.
 *
 * @example
 * ```ts
 * const entitlements = new Entitlements(client);
 * await entitlements.load(tenantId); // once per request is cheap: held snapshots resolve at once
 * if (!entitlements.can(tenantId, 'sso')) throw forbidden();
 * const retention = entitlements.config(tenantId, 'retention_days');
 * const answer = await entitlements.consume(tenantId, 'meetings', 1);
 * if (!answer.allowed) throw tooManyMeetings(answer.detail);
 * ```
 */
export class Entitlements {
  readonly #client: ControlPlaneClient;
  readonly #now: () => number;
  readonly #maxStalenessMs: number;
  readonly #initialDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #idleTimeoutMs: number;
  readonly #revalidateEveryMs: number;
  readonly #leases: QuotaLeases;
  readonly #slots: Slots;
  readonly #snapshots = new Map<string, VersionedSnapshot>();
  readonly #loading = new Map<string, Promise<VersionedSnapshot>>();
  /** Stream snapshots of tenants whose load was under way: newer than what the load may answer. */
  readonly #early = new Map<string, VersionedSnapshot>();
  /** The stream's last word on each tenant, by a counter: a revalidation sent before it does not override it. */
  readonly #streamed = new Map<string, number>();
  #streamCount = 0;
  /** Tenants the stream announced by a notice, to revalidate once held (or once their load ends). */
  readonly #noticed = new Set<string>();
  #noticeTimer: NodeJS.Timeout | undefined;
  /** Stream connections made, so a load that spans one knows to revalidate. */
  #connections = 0;
  readonly #listeners: { [E in keyof EntitlementsEvents]: Set<EntitlementsEvents[E]> } = {
    status: new Set(),
    change: new Set(),
    tenant: new Set(),
  };
  #state: EntitlementsStatus['state'] = 'idle';
  #staleSince: number | null = null;
  /** `staleSince + maxStalenessMs`, or Infinity while live: the one comparison a check makes. */
  #failAt = Number.POSITIVE_INFINITY;
  #error: string | null = null;
  #running: Promise<void> | undefined;
  #abort: AbortController | undefined;
  #wake: (() => void) | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(client: ControlPlaneClient, options: EntitlementsOptions = {}) {
    this.#client = client;
    this.#now = options.now ?? Date.now;
    this.#maxStalenessMs = options.maxStalenessMs ?? 5 * 60_000;
    this.#initialDelayMs = options.reconnect?.initialDelayMs ?? 250;
    this.#maxDelayMs = options.reconnect?.maxDelayMs ?? 30_000;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 45_000;
    this.#revalidateEveryMs = options.revalidateEveryMs ?? 60_000;
    this.#leases = new QuotaLeases(client, options.leases);
    this.#slots = new Slots(client, options.slots);
  }

  // -------------------------------------------------------------------------------------------
  // Local checks: a map lookup and a property read, nothing else on the way while live.

  /**
   * Whether the tenant may use `feature` now: false for a feature its plan lacks and for an
   * inactive (suspended, cancelled, deleted) tenant. No network call.
   *
   * @throws {TenantNotLoadedError} the tenant's snapshot is not loaded ({@link load} it first).
   * @throws {EntitlementsStaleError} the control plane has been unreachable for longer than
   *   `maxStalenessMs`: checks fail closed.
   */
  can(tenantId: string, feature: string): boolean {
    return hasFeature(this.#held(tenantId), feature);
  }

  /**
   * The tenant's limit named `key` (its value, `used`, `remaining` and enforcement as of the
   * snapshot), or undefined when the plan sets none. An inactive tenant has no limits: check
   * {@link can} or {@link snapshot}`.active` first. To spend a limited meter across instances,
   * use {@link consume}. No network call.
   *
   * @throws {TenantNotLoadedError} the tenant's snapshot is not loaded.
   * @throws {EntitlementsStaleError} stale for longer than `maxStalenessMs`: checks fail closed.
   */
  limit(tenantId: string, key: string): LimitEntitlement | undefined {
    return limitOf(this.#held(tenantId), key);
  }

  /**
   * The tenant's value of config key `key`, or undefined when its plan has none (or it is
   * inactive). No network call.
   *
   * @throws {TenantNotLoadedError} the tenant's snapshot is not loaded.
   * @throws {EntitlementsStaleError} stale for longer than `maxStalenessMs`: checks fail closed.
   */
  config(tenantId: string, key: string): ConfigValue | undefined {
    return configValue(this.#held(tenantId), key);
  }

  /**
   * The tenant's whole snapshot as held. No network call.
   *
   * @throws {TenantNotLoadedError} the tenant's snapshot is not loaded.
   * @throws {EntitlementsStaleError} stale for longer than `maxStalenessMs`: checks fail closed.
   */
  snapshot(tenantId: string): VersionedSnapshot {
    return this.#held(tenantId);
  }

  #held(tenantId: string): VersionedSnapshot {
    const snapshot = this.#snapshots.get(tenantId);
    if (snapshot === undefined) throw new TenantNotLoadedError(tenantId);
    if (this.#failAt !== Number.POSITIVE_INFINITY && this.#now() >= this.#failAt) throw this.#expired();
    return snapshot;
  }

  #expired(): EntitlementsStaleError {
    const since = this.#staleSince ?? this.#now();
    if (this.#state === 'stale') this.#setState('expired');
    return new EntitlementsStaleError(new Date(since), this.#maxStalenessMs, this.#error);
  }

  // -------------------------------------------------------------------------------------------
  // Loading

  /**
   * The tenant's snapshot, fetched from the control plane the first time (concurrent callers
   * share one fetch) and held from then on; also starts following the stream. Resolves at once
   * for a held tenant.
   *
   * @param tenantId the tenant's id (`ten_…`), as its access token names it.
   * @throws {ControlPlaneError} `tenant_not_found` for an unknown tenant.
   * @throws {ControlPlaneUnreachableError} the control plane cannot be reached.
   */
  load(tenantId: string): Promise<VersionedSnapshot> {
    const held = this.#snapshots.get(tenantId);
    if (held !== undefined) return Promise.resolve(held);
    let loading = this.#loading.get(tenantId);
    if (loading === undefined) {
      loading = this.#fetch(tenantId).finally(() => {
        this.#loading.delete(tenantId);
        this.#early.delete(tenantId);
        this.#noticed.delete(tenantId);
      });
      this.#loading.set(tenantId, loading);
      // After the tenant is known to be loading: a stream started now names it as held.
      this.#start();
    }
    return loading;
  }

  async #fetch(tenantId: string): Promise<VersionedSnapshot> {
    const connections = this.#connections;
    const { body } = await this.#client.get('/v1/tenants/{id}/entitlements', { path: { id: tenantId } });
    if (body.tenant_id !== tenantId) {
      throw new TypeError(
        `load() takes a tenant's id, not its slug: "${tenantId}" is tenant ${body.tenant_id}`,
      );
    }
    // A change the stream sent while the fetch was under way is at least as new as the fetch.
    const snapshot = this.#early.get(tenantId) ?? body;
    this.#apply(snapshot);
    // The stream (re)connected during the fetch: a change between the fetch's read and the
    // stream's start may have been missed, and the reconnection's revalidation did not know this
    // tenant yet.
    // Likewise when a notice of the tenant came while the fetch was under way.
    if (this.#noticed.delete(tenantId) || this.#connections !== connections)
      this.#revalidate([tenantId]).catch(() => {});
    return snapshot;
  }

  /** Holds `snapshot` (if its version is new) and tells the listeners. */
  #apply(snapshot: VersionedSnapshot): void {
    const tenantId = snapshot.tenant_id;
    const previous = this.#snapshots.get(tenantId) ?? null;
    if (previous?.version === snapshot.version) return;
    this.#snapshots.set(tenantId, snapshot);
    this.#leases.changed(tenantId);
    this.#emit('change', { tenantId, snapshot, previous });
  }

  #remove(tenantId: string): void {
    const previous = this.#snapshots.get(tenantId);
    if (previous === undefined) return;
    this.#snapshots.delete(tenantId);
    this.#emit('change', { tenantId, snapshot: null, previous });
  }

  /** Asks the control plane which held snapshots changed, and applies the answer. */
  async #revalidate(tenantIds: readonly string[]): Promise<void> {
    for (let i = 0; i < tenantIds.length; i += REVALIDATE_BATCH) {
      const batch = tenantIds.slice(i, i + REVALIDATE_BATCH);
      const tenants: Record<string, string> = {};
      for (const id of batch) tenants[id] = this.#snapshots.get(id)?.version ?? '';
      const asked = this.#streamCount;
      const { body } = await this.#client.post('/v1/entitlements/revalidate', { body: { tenants } });
      // What the stream said after this was asked is at least as new.
      const newer = (id: string) => (this.#streamed.get(id) ?? 0) > asked;
      for (const snapshot of body.changed) {
        if (this.#snapshots.has(snapshot.tenant_id) && !newer(snapshot.tenant_id)) this.#apply(snapshot);
      }
      for (const id of body.missing) if (!newer(id)) this.#remove(id);
    }
  }

  // -------------------------------------------------------------------------------------------
  // The stream

  #start(): void {
    if (this.#running !== undefined || this.#closed) return;
    this.#setState('connecting');
    this.#running = this.#follow();
  }

  /**
   * Resolves once the stream is live (connected, and every held snapshot revalidated); starts it
   * if needed. Rejects when {@link close} is called first.
   */
  whenLive(): Promise<void> {
    this.#start();
    return new Promise((resolve, reject) => {
      const check = (status: EntitlementsStatus) => {
        if (status.state === 'live') {
          stop();
          resolve();
        } else if (status.state === 'closed') {
          stop();
          reject(new Error('the entitlements were closed before the stream was live'));
        }
      };
      const stop = this.on('status', check);
      check(this.status());
    });
  }

  async #follow(): Promise<void> {
    let attempt = 0;
    while (!this.#closed) {
      const abort = new AbortController();
      this.#abort = abort;
      let lastData = this.#now();
      let connected = false;
      try {
        const held = [...new Set([...this.#snapshots.keys(), ...this.#loading.keys()])];
        const named = held.length <= MAX_STREAM_TENANTS;
        const response = await this.#client.raw(named ? 'POST' : 'GET', '/v1/entitlements/stream', {
          headers: { accept: 'text/event-stream' },
          signal: abort.signal,
          ...(named ? { body: { tenants: held } } : {}),
        });
        if (!response.ok || response.body === null) throw await problemOf(response);
        // The control plane follows changes for this stream from here on: revalidating now
        // catches whatever changed before, and the stream brings the rest.
        connected = true;
        this.#connections += 1;
        const reading = this.#read(response.body, abort, () => {
          lastData = this.#now();
        });
        reading.catch(() => {});
        await this.#revalidate([...this.#snapshots.keys()]);
        attempt = 0;
        this.#error = null;
        this.#setState('live');
        const revalidating = setInterval(() => {
          this.#revalidate([...this.#snapshots.keys()]).catch(() => {});
        }, this.#revalidateEveryMs);
        try {
          await reading;
        } finally {
          clearInterval(revalidating);
        }
        this.#lost('the control plane ended the stream', lastData);
      } catch (error) {
        abort.abort();
        if (this.#closed) break;
        this.#lost(error instanceof Error ? error.message : String(error), connected ? lastData : null);
      }
      if (this.#closed) break;
      const delay = Math.min(this.#maxDelayMs, this.#initialDelayMs * 2 ** attempt);
      attempt += 1;
      // Jitter, so instances that lost the same control plane do not all come back at once.
      await this.#sleep(delay / 2 + (Math.random() * delay) / 2);
    }
  }

  async #read(body: ReadableStream<Uint8Array>, abort: AbortController, onData: () => void): Promise<void> {
    const parser = new ServerSentEventParser();
    const decoder = new TextDecoder();
    let idle = setTimeout(() => abort.abort(new Error('the stream went silent')), this.#idleTimeoutMs);
    try {
      for await (const chunk of body) {
        clearTimeout(idle);
        idle = setTimeout(() => abort.abort(new Error('the stream went silent')), this.#idleTimeoutMs);
        onData();
        for (const event of parser.push(decoder.decode(chunk, { stream: true })))
          this.#onEvent(event.event, event.data);
      }
    } finally {
      clearTimeout(idle);
    }
  }

  #onEvent(event: string, data: string): void {
    if (event === 'entitlements') {
      const snapshot = JSON.parse(data) as VersionedSnapshot;
      const id = snapshot.tenant_id;
      this.#emit('tenant', id, snapshot);
      if (this.#snapshots.has(id)) {
        this.#streamed.set(id, ++this.#streamCount);
        this.#apply(snapshot);
      } else if (this.#loading.has(id)) {
        this.#early.set(id, snapshot);
      }
    } else if (event === 'changed') {
      const { tenant_id: id } = JSON.parse(data) as { tenant_id: string };
      this.#emit('tenant', id, undefined);
      if (this.#snapshots.has(id) || this.#loading.has(id)) this.#notice(id);
    } else if (event === 'removed') {
      const { tenant_id: id } = JSON.parse(data) as { tenant_id: string };
      this.#emit('tenant', id, null);
      if (this.#snapshots.has(id)) {
        this.#streamed.set(id, ++this.#streamCount);
        this.#remove(id);
      }
    }
  }

  /**
   * Revalidates a held tenant the stream announced by a notice, with the others of the same
   * moment in one request; a tenant still loading is left to its load, which revalidates it.
   */
  #notice(tenantId: string): void {
    this.#noticed.add(tenantId);
    this.#noticeTimer ??= setTimeout(() => {
      this.#noticeTimer = undefined;
      const held = [...this.#noticed].filter((id) => this.#snapshots.has(id));
      for (const id of held) this.#noticed.delete(id);
      if (held.length > 0) this.#revalidate(held).catch(() => {});
    }, 0);
  }

  /** The stream is lost: the snapshots are stale from `since` (the last word heard), or from now. */
  #lost(error: string, since: number | null): void {
    this.#error = error;
    if (this.#state === 'stale' || this.#state === 'expired') return;
    this.#staleSince = Math.min(since ?? this.#now(), this.#now());
    this.#failAt = this.#staleSince + this.#maxStalenessMs;
    this.#setState('stale');
    clearTimeout(this.#expiryTimer);
    // Tells the app when checks start failing, even if none is made then.
    this.#expiryTimer = setTimeout(
      () => {
        if (this.#state === 'stale' && this.#now() >= this.#failAt) this.#setState('expired');
      },
      Math.max(0, this.#failAt - this.#now()),
    ).unref();
  }

  #setState(state: EntitlementsStatus['state']): void {
    if (state === 'live') {
      this.#staleSince = null;
      this.#failAt = Number.POSITIVE_INFINITY;
      clearTimeout(this.#expiryTimer);
    }
    if (state === this.#state) return;
    this.#state = state;
    this.#emit('status', this.status());
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  /** Where the snapshots stand: live, or stale since when, and when checks fail closed. */
  status(): EntitlementsStatus {
    let state = this.#state;
    if (state === 'stale' && this.#now() >= this.#failAt) state = 'expired';
    const stale = this.#staleSince !== null && state !== 'live';
    return {
      state,
      staleSince: stale && this.#staleSince !== null ? new Date(this.#staleSince) : null,
      failsClosedAt: stale ? new Date(this.#failAt) : null,
      error: state === 'live' ? null : this.#error,
    };
  }

  /** Calls `listener` on each `event` until the returned function is called. */
  on<E extends keyof EntitlementsEvents>(event: E, listener: EntitlementsEvents[E]): () => void {
    const listeners = this.#listeners[event] as Set<EntitlementsEvents[E]>;
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
    };
  }

  #emit<E extends keyof EntitlementsEvents>(event: E, ...args: Parameters<EntitlementsEvents[E]>): void {
    for (const listener of this.#listeners[event]) {
      try {
        (listener as (...a: Parameters<EntitlementsEvents[E]>) => void)(...args);
      } catch (error) {
        // A listener's bug is the app's, as with an EventEmitter: it surfaces as an uncaught
        // exception, and the stream carries on.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Quotas

  /**
   * Spends `units` of `meter` for the tenant. A limited meter is spent from a block leased from
   * the control plane (`POST /v1/tenants/{id}/leases`), renewed in the background before it runs
   * out, so most calls make no network call; an unlimited meter needs no lease. Answers:
   * - `{ allowed: true, overage: false }`;
   * - `{ allowed: true, overage: true }`: past a soft limit;
   * - `{ allowed: false, reason, detail }`: a hard limit is exhausted (`limit_exhausted`), the
   *   tenant is not active (`tenant_inactive`), or the block is spent and the control plane cannot
   *   be reached (`control_plane_unreachable`): a hard limit fails closed.
   *
   * Record the usage of what is consumed (e.g. with the usage recorder) and pass its flush as
   * `leases.flushUsage`: consumed units are reported to the control plane only after it.
   *
   * @throws {ControlPlaneError} `tenant_not_found` when the tenant is not loaded and unknown.
   * @throws {EntitlementsStaleError} stale for longer than `maxStalenessMs`.
   */
  async consume(tenantId: string, meter: string, units = 1): Promise<ConsumeResult> {
    if (!Number.isFinite(units) || units <= 0) {
      throw new RangeError(`consume() takes a positive number of units, not ${units}`);
    }
    const usable = await this.#usable(tenantId, meter);
    if (!usable.ok) return usable.refusal;
    const limit = limitOf(usable.snapshot, meter);
    if (limit?.kind === 'gauge') {
      throw new TypeError(
        `"${meter}" is a gauge: hold it with acquire(), which a release gives back, not consume()`,
      );
    }
    if (limit === undefined || limit.limit === null) return UNLIMITED;
    return this.#leases.consume(
      tenantId,
      meter,
      units,
      limit.enforcement === 'soft' ? limit.remaining : null,
    );
  }

  /**
   * The tenant's snapshot (loaded if needed), or the refusal of any use of `meter`: the tenant is
   * inactive, or the meter's feature is off.
   */
  async #usable(
    tenantId: string,
    meter: string,
  ): Promise<
    | { ok: true; snapshot: VersionedSnapshot }
    | {
        ok: false;
        refusal: { allowed: false; reason: 'tenant_inactive' | 'feature_disabled'; detail: string };
      }
  > {
    const snapshot = this.#snapshots.has(tenantId) ? this.#held(tenantId) : await this.load(tenantId);
    const refusal = meterUseRefusal(snapshot, meter);
    if (refusal === null) return { ok: true, snapshot };
    const reason = refusal.code === 'feature_disabled' ? 'feature_disabled' : 'tenant_inactive';
    return { ok: false, refusal: { allowed: false, reason, detail: refusal.detail } };
  }

  /**
   * Opens a slot of the tenant's gauge `meter` (a session, a connected device) for as long as the
   * app holds it: `{ allowed: true, slot }` until `slot.release()`, or a refusal. The control plane
   * counts every instance's slots against the tenant's limit and, when the plan caps each subject
   * (`per_subject`), against the subject's cap — which then needs `subject`. This instance's slots
   * are kept by heartbeats (`slots.ttlSeconds`, 30 s); if the instance dies they stop counting
   * once that runs out. Refusals:
   * - `limit_exhausted`: the tenant's pool (`scope: 'tenant'`) or the subject's cap
   *   (`scope: 'subject'`) is full;
   * - `feature_disabled`: the plan ties the meter to a feature the tenant does not have;
   * - `tenant_inactive`; `control_plane_unreachable`: a slot cannot be counted, so it fails closed.
   *
   * @throws {ControlPlaneError} `validation_failed` for a meter that is not a gauge of the plan or
   *   a bad subject; `tenant_not_found` for an unknown tenant.
   * @throws {EntitlementsStaleError} stale for longer than `maxStalenessMs`.
   */
  async acquire(
    tenantId: string,
    meter: string,
    options: { readonly subject?: string } = {},
  ): Promise<AcquireResult> {
    const usable = await this.#usable(tenantId, meter);
    if (!usable.ok) return usable.refusal;
    return this.#slots.acquire(tenantId, meter, options.subject ?? null);
  }

  /**
   * Stops following the stream, releases every lease (the units not consumed go back to the
   * tenant's limits) and every slot. The snapshots held stay readable, stale from now.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort?.abort();
    this.#wake?.();
    await this.#running;
    clearTimeout(this.#expiryTimer);
    clearTimeout(this.#noticeTimer);
    await Promise.all([this.#leases.close(), this.#slots.close()]);
    if (this.#staleSince === null) {
      this.#staleSince = this.#now();
      this.#failAt = this.#staleSince + this.#maxStalenessMs;
    }
    this.#setState('closed');
  }
}

/** The error of a stream request the control plane refused. */
async function problemOf(response: Response): Promise<Error> {
  const text = await response.text().catch(() => '');
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // Not a problem document: the status says enough.
  }
  return ControlPlaneError.fromAnswer(response.status, body, response.headers);
}
