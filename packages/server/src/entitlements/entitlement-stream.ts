import { randomBytes } from 'node:crypto';
import { followTenantChanges } from '../changes/index.ts';
import type { Database } from '../db/index.ts';
import type { EntitlementService } from './entitlement-service.ts';

/** Where a subscriber's events go: an open Server-Sent Events response. */
export interface StreamSink {
  /** Writes `chunk`; false once the sink's buffer is past its high-water mark. */
  write(chunk: string): boolean;
  /** Bytes written but not yet sent: a reader that stops reading is let go past a bound. */
  readonly buffered: number;
  /** Ends the response. */
  end(): void;
  /** Whether the caller may still read the stream (its key is not revoked); asked on every heartbeat. */
  allowed(): Promise<boolean>;
  /**
   * The tenants whose snapshots the caller holds: their changes come as snapshots, any other
   * tenant's as a `changed` notice naming it. Undefined: every tenant's snapshot.
   */
  readonly tenants?: ReadonlySet<string> | undefined;
}

/** Timing of the stream. */
export interface EntitlementStreamOptions {
  /** A tenant changed many times within this window is sent once; default 100 ms. */
  readonly coalesceMs?: number;
  /** A comment line this often keeps proxies from closing an idle stream; default 15 s. */
  readonly heartbeatMs?: number;
  /** A subscriber with more than this many bytes not yet sent is dropped (it reconnects and revalidates); default 8 MiB. */
  readonly maxBufferedBytes?: number;
}

/** Snapshots rebuilt at once while a burst of changes is sent. */
const FLUSH_CONCURRENCY = 8;

/**
 * The push side of local entitlements: every tenant change any control-plane process announces
 * ({@link followTenantChanges}) is sent to every subscriber, in Server-Sent Events: as the
 * tenant's new snapshot to a subscriber that holds it (or holds every tenant), as a `changed`
 * notice naming the tenant to the others, so that an app instance is sent the snapshots it uses
 * and not those of the whole fleet. A snapshot no subscriber wants is not built. Bursts are
 * coalesced (usage ingestion announces the same tenants many times a second): a tenant is sent at
 * most once per `coalesceMs`. A tenant that no longer exists is sent as `removed`. The stream does
 * not replay what a subscriber missed while disconnected; it revalidates its snapshots by ETag
 * instead (`POST /v1/entitlements/revalidate`).
 *
 * The change feed is listened to from the first subscriber until {@link close}, which ends every
 * stream; a later subscriber starts it again.
 */
export class EntitlementStream {
  readonly #database: Database;
  readonly #entitlements: EntitlementService;
  readonly #coalesceMs: number;
  readonly #heartbeatMs: number;
  readonly #maxBuffered: number;
  readonly #sinks = new Set<StreamSink>();
  /** Tells events of this process's stream apart from another's (or a restarted one's). */
  readonly #epoch = randomBytes(4).toString('hex');
  #sequence = 0;
  #pending = new Set<string>();
  #flushTimer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #listening: Promise<() => Promise<void>> | undefined;

  constructor(database: Database, entitlements: EntitlementService, options: EntitlementStreamOptions = {}) {
    this.#database = database;
    this.#entitlements = entitlements;
    this.#coalesceMs = options.coalesceMs ?? 100;
    this.#heartbeatMs = options.heartbeatMs ?? 15_000;
    this.#maxBuffered = options.maxBufferedBytes ?? 8 * 1024 * 1024;
  }

  /** Open streams. */
  get size(): number {
    return this.#sinks.size;
  }

  /**
   * Starts following the change feed (once; later calls share it). Once it resolves, every change
   * committed afterwards reaches the sinks {@link add}ed: a client that subscribes and then
   * revalidates what it holds misses nothing.
   */
  async start(): Promise<void> {
    this.#listening ??= followTenantChanges(this.#database, (tenantId) => this.changed(tenantId));
    try {
      await this.#listening;
    } catch (error) {
      this.#listening = undefined;
      throw error;
    }
    this.#heartbeat ??= setInterval(() => {
      this.heartbeat().catch(() => {});
    }, this.#heartbeatMs).unref();
  }

  /** Sends every change to `sink` from now on ({@link start} first); returns the function that stops it. */
  add(sink: StreamSink): () => void {
    this.#sinks.add(sink);
    return () => {
      this.#sinks.delete(sink);
    };
  }

  /**
   * Notes that a tenant changed; its snapshot goes out with the next flush. Called by the change
   * feed for changes of every process, this one included.
   */
  changed(tenantId: string): void {
    // The feed may run ahead of this process's own invalidation (and it is the only news of
    // another process's change when nothing else follows the feed here).
    this.#entitlements.invalidate(tenantId);
    if (this.#sinks.size === 0) return;
    this.#pending.add(tenantId);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#flushTimer !== undefined || this.#flushing !== undefined) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      this.#flushing = this.#flush().finally(() => {
        this.#flushing = undefined;
        // Changes that arrived while this flush ran go out one window later.
        if (this.#pending.size > 0) this.#schedule();
      });
    }, this.#coalesceMs);
  }

  async #flush(): Promise<void> {
    const ids = [...this.#pending];
    this.#pending = new Set();
    let next = 0;
    const work = async () => {
      while (next < ids.length) {
        const id = ids[next++] as string;
        const holds = (sink: StreamSink) => sink.tenants === undefined || sink.tenants.has(id);
        this.#broadcast('changed', { tenant_id: id }, (sink) => !holds(sink));
        if (![...this.#sinks].some(holds)) continue;
        const result = await this.#entitlements.get(id).catch(() => undefined);
        // A failed rebuild (the database is down) is tried again with the next change; clients
        // that care revalidate.
        if (result === undefined) continue;
        if (result.ok) this.#broadcast('entitlements', result.value.snapshot, holds);
        else if (result.error.code === 'tenant_not_found')
          this.#broadcast('removed', { tenant_id: id }, holds);
      }
    };
    await Promise.all(Array.from({ length: Math.min(FLUSH_CONCURRENCY, ids.length) }, work));
  }

  /** Sends one event to the sinks `to` picks. */
  #broadcast(event: string, data: unknown, to: (sink: StreamSink) => boolean): void {
    if (![...this.#sinks].some(to)) return;
    this.#sequence += 1;
    this.#send(
      `event: ${event}\nid: ${this.#epoch}-${this.#sequence}\ndata: ${JSON.stringify(data)}\n\n`,
      to,
    );
  }

  #send(chunk: string, to: (sink: StreamSink) => boolean = () => true): void {
    for (const sink of this.#sinks) {
      if (!to(sink)) continue;
      if (sink.buffered > this.#maxBuffered) {
        this.#drop(sink);
        continue;
      }
      sink.write(chunk);
    }
  }

  #drop(sink: StreamSink): void {
    this.#sinks.delete(sink);
    sink.end();
  }

  /**
   * Sends a heartbeat comment to every stream and ends those whose caller may no longer read it
   * (its key was revoked). Runs every `heartbeatMs`; exposed so tests need not wait.
   */
  async heartbeat(): Promise<void> {
    const sinks = [...this.#sinks];
    const allowed = await Promise.all(sinks.map((sink) => sink.allowed().catch(() => true)));
    sinks.forEach((sink, i) => {
      if (!allowed[i] && this.#sinks.has(sink)) this.#drop(sink);
    });
    this.#send(': heartbeat\n\n');
  }

  /** Ends every stream and stops following changes (until the next subscriber). */
  async close(): Promise<void> {
    for (const sink of [...this.#sinks]) this.#drop(sink);
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.#pending.clear();
    await this.#flushing;
    const listening = this.#listening;
    this.#listening = undefined;
    if (listening) await (await listening.catch(() => async () => {}))();
  }
}
