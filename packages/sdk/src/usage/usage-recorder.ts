import { randomUUID } from 'node:crypto';
import { MAX_USAGE_BATCH } from '@tenantry/core';
import { ControlPlaneClient, type ControlPlaneOptions } from '../control-plane/index.ts';
import {
  DEFAULT_RETRY_POLICY,
  type RetryPolicy,
  sendUsageBatch,
  type UsageBatchOutcome,
} from './send-usage-batch.ts';
import { type UsageEvent, type UsageRecord, usageEventLine } from './usage-record.ts';
import { type SpooledBatch, UsageSpool } from './usage-spool.ts';

/** Timers the recorder schedules with; replaced in tests to fire them by hand. */
export interface Timers {
  /** Calls `callback` once after `ms`; returns a handle for `clearTimeout`. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a timer that has not fired; a handle that is undefined or done is ignored. */
  clearTimeout(handle: unknown): void;
}

/** An event the control plane rejected, and why. It is not sent again. */
export interface RejectedUsageEvent {
  /** The event as it was sent. */
  readonly event: UsageEvent;
  /** The control plane's reason, e.g. `unknown meter "meetngs"`. */
  readonly reason: string;
}

/** Counts since the recorder was opened, and what it holds now. */
export interface UsageRecorderStats {
  /** Records taken by `record()`. */
  readonly recorded: number;
  /** Events the control plane stored as new (from spool files of earlier processes too). */
  readonly sent: number;
  /**
   * Events the control plane already had: resent after an answer was lost, or recorded twice
   * with the same id. Counted once by the control plane.
   */
  readonly duplicates: number;
  /** Events the control plane rejected (reported through `onRejected`). */
  readonly rejected: number;
  /** Events written to the spool directory by this recorder. */
  readonly spooled: number;
  /** Events held in memory now, not yet acknowledged or spooled. */
  readonly buffered: number;
  /** Batches in the spool directory now, waiting to be sent. */
  readonly spooledBatches: number;
  /** False from a batch that could not be delivered until one is again. */
  readonly reachable: boolean;
}

/** How a {@link UsageRecorder} is set up. */
export interface UsageRecorderOptions {
  /** The control plane: a client, or where it is and the key to use. */
  readonly controlPlane: ControlPlaneClient | ControlPlaneOptions;
  /**
   * Where batches wait while the control plane cannot be reached, one file per batch. Keep it
   * across restarts (a new recorder sends what an earlier process left) and give each running
   * recorder its own.
   */
  readonly spoolDirectory: string;
  /** Events per request; default 1,000, at most 10,000. */
  readonly batchSize?: number;
  /** How long a record waits for its batch to fill before it is sent anyway; default 1,000 ms. */
  readonly maxDelayMs?: number;
  /**
   * Events held in memory before whole batches are moved to the spool instead; default
   * 100,000 (at least `batchSize`).
   */
  readonly maxBufferedEvents?: number;
  /** Retries of one batch; default {@link DEFAULT_RETRY_POLICY}. */
  readonly retry?: RetryPolicy;
  /** While the control plane is unreachable, how often to try the oldest batch again; default 5 s. */
  readonly reconnectIntervalMs?: number;
  /** Each batch's events the control plane rejected; they are not retried. */
  readonly onRejected?: (rejected: readonly RejectedUsageEvent[]) => void;
  /** A batch could not be delivered: from now on batches are spooled until one is. */
  readonly onUnreachable?: (error: Error) => void;
  /** A batch was delivered again after `onUnreachable`. */
  readonly onReachable?: () => void;
  /** A problem with the spool directory (a write that failed, a corrupt file). */
  readonly onError?: (error: Error) => void;
  /** The time of records without one; default the wall clock. */
  readonly clock?: { now(): Date };
  /** Default the global timers (the reconnect timer does not keep the process alive). */
  readonly timers?: Timers;
  /** In [0, 1), for the retry jitter; default `Math.random`. */
  readonly random?: () => number;
}

/** `record()` was called after `close()`. */
export class UsageRecorderClosedError extends Error {
  constructor() {
    super('the usage recorder is closed: record() after close() would lose the record');
    this.name = 'UsageRecorderClosedError';
  }
}

/** A batch in memory: sent, or spooled if it cannot be, and then `settled`. */
interface MemoryBatch {
  key: string;
  readonly lines: string[];
  readonly settled: PromiseWithResolvers<void>;
}

/** A batch on disk; `settled` once acknowledged. */
interface DiskBatch extends SpooledBatch {
  readonly settled: PromiseWithResolvers<void>;
}

const systemTimers: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Records usage for the control plane without losing it or counting it twice. `record()` only
 * checks the record and buffers it; batches go out when full or after `maxDelayMs`, one request
 * at a time, retried with backoff. A batch that cannot be delivered is written to the spool
 * directory (fsynced first), and so is every batch after it until the control plane answers
 * again; spooled batches are then sent oldest first and deleted once acknowledged, and a new
 * recorder over the same directory sends what an earlier process left there. Every event keeps
 * its id through all of this, so the control plane, which stores `(tenant, id)` once, never
 * counts a retried event twice.
 *
 * Records are safe once spooled or acknowledged; call {@link UsageRecorder.close} before the
 * process exits so that the buffer is too.
 *
 * @example
 * ```ts
 * const usage = await UsageRecorder.open({
 *   controlPlane: { url: process.env.TENANTRY_URL ?? '', token: process.env.TENANTRY_TOKEN ?? '' },
 *   spoolDirectory: '/var/lib/minutes/usage-spool',
 *   onRejected: (events) => log.warn({ events }, 'usage rejected'),
 * });
 * usage.record({ tenant: 'acme', meter: 'meetings', value: 1, subject: 'user_42' });
 * process.on('SIGTERM', () => void usage.close());
 * ```
 */
export class UsageRecorder {
  readonly #client: ControlPlaneClient;
  readonly #spool: UsageSpool;
  readonly #batchSize: number;
  readonly #maxDelayMs: number;
  readonly #maxBuffered: number;
  readonly #retry: RetryPolicy;
  readonly #reconnectMs: number;
  readonly #now: () => Date;
  readonly #timers: Timers;
  readonly #random: () => number;
  readonly #options: UsageRecorderOptions;

  #buffer: string[] = [];
  #batchTimer: unknown;
  /** Sealed batches waiting in memory, oldest first. */
  readonly #queue: MemoryBatch[] = [];
  /** Spooled batches waiting, oldest first. */
  #disk: DiskBatch[] = [];
  /** Writes to the spool under way. */
  readonly #writes = new Set<Promise<void>>();
  /** What the sender is delivering now. */
  #current: { readonly settled: Promise<void>; readonly memory: boolean } | null = null;
  #sending: Promise<void> | null = null;
  #down = false;
  /** Resolved (and renewed) whenever a delivery fails, so waits for spooled batches can end. */
  #deliveryFailed = Promise.withResolvers<void>();
  #reconnectTimer: unknown;
  #closing = false;
  #closed: Promise<void> | null = null;
  #stats = { recorded: 0, sent: 0, duplicates: 0, rejected: 0, spooled: 0 };
  /** Events of the memory batch being sent, and of batches being written to the spool. */
  #inFlightMemory = 0;
  #writingEvents = 0;

  private constructor(options: UsageRecorderOptions) {
    this.#options = options;
    this.#client =
      options.controlPlane instanceof ControlPlaneClient
        ? options.controlPlane
        : new ControlPlaneClient(options.controlPlane);
    this.#spool = new UsageSpool(options.spoolDirectory);
    this.#batchSize = whole('batchSize', options.batchSize ?? 1_000, 1, MAX_USAGE_BATCH);
    this.#maxDelayMs = whole('maxDelayMs', options.maxDelayMs ?? 1_000, 0, 2 ** 31 - 1);
    this.#maxBuffered = whole(
      'maxBufferedEvents',
      options.maxBufferedEvents ?? Math.max(100_000, this.#batchSize),
      this.#batchSize,
      Number.MAX_SAFE_INTEGER,
    );
    this.#retry = options.retry ?? DEFAULT_RETRY_POLICY;
    whole('retry.attempts', this.#retry.attempts, 1, 1_000);
    this.#reconnectMs = whole('reconnectIntervalMs', options.reconnectIntervalMs ?? 5_000, 1, 2 ** 31 - 1);
    const clock = options.clock;
    this.#now = clock ? () => clock.now() : () => new Date();
    this.#timers = options.timers ?? systemTimers;
    this.#random = options.random ?? Math.random;
  }

  /**
   * Opens a recorder: creates the spool directory if needed and starts sending the batches an
   * earlier process left in it.
   */
  static async open(options: UsageRecorderOptions): Promise<UsageRecorder> {
    const recorder = new UsageRecorder(options);
    const left = await recorder.#spool.open();
    recorder.#disk = left.map((batch) => ({ ...batch, settled: Promise.withResolvers<void>() }));
    recorder.#send();
    return recorder;
  }

  /**
   * Buffers a record and returns its event id (generated when not given), e.g. to void it later.
   * Makes no network call and does not wait.
   *
   * @throws InvalidUsageRecordError naming the wrong field.
   * @throws UsageRecorderClosedError after `close()`.
   */
  record(record: UsageRecord): string {
    if (this.#closing) throw new UsageRecorderClosedError();
    const { id, line } = usageEventLine(record, this.#now);
    this.#buffer.push(line);
    this.#stats.recorded++;
    if (this.#buffer.length >= this.#batchSize) this.#seal();
    else if (this.#buffer.length === 1)
      this.#batchTimer = this.#timers.setTimeout(() => this.#seal(), this.#maxDelayMs);
    return id;
  }

  /**
   * Sends everything buffered now and the spooled batches. Resolves when each was acknowledged,
   * or, when the control plane cannot be reached, is safe in the spool.
   */
  async flush(): Promise<void> {
    await this.#drain(true);
  }

  /**
   * Graceful shutdown: no more records; sends what is buffered, waits for the batch being sent,
   * and spools what could not be sent. Batches already in the spool stay there for the next
   * recorder over the same directory. Safe to call more than once.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing = true;
      await this.#drain(false);
      this.#timers.clearTimeout(this.#reconnectTimer);
      this.#reconnectTimer = undefined;
    })();
    return this.#closed;
  }

  /** Counts so far and what is held now. */
  get stats(): UsageRecorderStats {
    let buffered = this.#buffer.length;
    for (const batch of this.#queue) buffered += batch.lines.length;
    return {
      ...this.#stats,
      buffered: buffered + this.#inFlightMemory + this.#writingEvents,
      spooledBatches: this.#disk.length,
      reachable: !this.#down,
    };
  }

  async #drain(includeSpool: boolean): Promise<void> {
    this.#seal();
    if (this.#down) {
      // The buffer just went to the spool; once it is there, try the control plane once.
      await Promise.all(this.#writes);
      await this.#reconnect();
    }
    const waits: Promise<unknown>[] = [...this.#writes, ...this.#queue.map((batch) => batch.settled.promise)];
    if (this.#current)
      waits.push(this.#current.memory ? this.#current.settled : this.#untilDown(this.#current.settled));
    if (includeSpool && !this.#down)
      waits.push(...this.#disk.map((batch) => this.#untilDown(batch.settled.promise)));
    this.#send();
    await Promise.all(waits);
    // A batch that failed while this waited was spooled by a write this did not see yet.
    await Promise.all(this.#writes);
  }

  #untilDown(promise: Promise<void>): Promise<void> {
    return Promise.race([promise, this.#deliveryFailed.promise]);
  }

  /** Closes the open batch: sent next, or spooled while the control plane is unreachable. */
  #seal(): void {
    this.#timers.clearTimeout(this.#batchTimer);
    this.#batchTimer = undefined;
    if (this.#buffer.length === 0) return;
    const batch: MemoryBatch = {
      key: randomUUID(),
      lines: this.#buffer,
      settled: Promise.withResolvers<void>(),
    };
    this.#buffer = [];
    this.#queue.push(batch);
    if (this.stats.buffered > this.#maxBuffered) this.#spillQueueNow();
    else if (this.#down) this.#spillQueue();
    else this.#send();
  }

  /** Moves every batch waiting in memory to the spool. */
  #spillQueue(): void {
    for (const batch of this.#queue.splice(0)) this.#spill(batch);
  }

  /**
   * Memory is full: writes the waiting batches to the spool before `record()` returns. Slower
   * for the caller, but what the recorder holds stays bounded, however fast records come.
   */
  #spillQueueNow(): void {
    for (const batch of this.#queue.splice(0)) {
      try {
        this.#insertDisk(this.#spool.writeSync(batch.key, batch.lines));
        this.#stats.spooled += batch.lines.length;
        batch.settled.resolve();
      } catch (error) {
        this.#queue.push(batch);
        this.#report((o) => o.onError?.(asError(error)));
      }
    }
    this.#send();
  }

  #spill(batch: MemoryBatch): void {
    this.#writingEvents += batch.lines.length;
    const write = this.#spool
      .write(batch.key, batch.lines)
      .then(
        (spooled) => {
          this.#insertDisk(spooled);
          this.#stats.spooled += batch.lines.length;
          // Up and sending: spooled batches go out in turn.
          this.#send();
        },
        (error: unknown) => {
          // Nowhere safe to put it: keep it in memory and try again with the next batch.
          this.#queue.unshift({ ...batch, settled: Promise.withResolvers<void>() });
          this.#report((o) => o.onError?.(asError(error)));
          this.#send();
        },
      )
      .finally(() => {
        this.#writingEvents -= batch.lines.length;
        this.#writes.delete(write);
        batch.settled.resolve();
      });
    this.#writes.add(write);
  }

  #insertDisk(spooled: SpooledBatch): void {
    const batch: DiskBatch = { ...spooled, settled: Promise.withResolvers<void>() };
    const at = this.#disk.findIndex((other) => other.name > batch.name);
    if (at === -1) this.#disk.push(batch);
    else this.#disk.splice(at, 0, batch);
  }

  /** Starts the sender unless it runs, or the control plane is unreachable. */
  #send(): void {
    if (this.#sending || this.#down) return;
    this.#sending = this.#sendAll().finally(() => {
      this.#sending = null;
    });
  }

  /** Delivers batches one at a time, spooled ones (the oldest) first, until none is left. */
  async #sendAll(): Promise<void> {
    while (!this.#down) {
      // While closing, the spool waits for the next recorder: shutdown should not take a backlog's time.
      const disk = this.#closing ? undefined : this.#disk[0];
      if (disk) {
        await this.#deliverDisk(disk, this.#retry);
        continue;
      }
      const batch = this.#queue.shift();
      if (!batch) return;
      await this.#deliverMemory(batch, this.#retry);
    }
  }

  async #deliverMemory(batch: MemoryBatch, retry: RetryPolicy): Promise<boolean> {
    this.#current = { settled: batch.settled.promise, memory: true };
    this.#inFlightMemory = batch.lines.length;
    try {
      const outcome = await this.#attempt(batch.key, batch.lines, retry);
      if (outcome.kind === 'answered') {
        this.#apply(batch.lines, outcome);
        batch.settled.resolve();
        return true;
      }
      batch.key = outcome.key;
      // The batch goes to the spool first, so it is safe before anything else happens.
      this.#queue.unshift(batch);
      this.#goDown(outcome);
      return false;
    } finally {
      this.#inFlightMemory = 0;
      this.#current = null;
    }
  }

  async #deliverDisk(batch: DiskBatch, retry: RetryPolicy): Promise<boolean> {
    this.#current = { settled: batch.settled.promise, memory: false };
    try {
      let lines: string[] | null;
      try {
        lines = await this.#spool.read(batch);
      } catch (error) {
        this.#forget(batch);
        this.#report((o) => o.onError?.(asError(error)));
        return true;
      }
      if (lines === null) {
        // Another process sent it and removed it.
        this.#forget(batch);
        return true;
      }
      const outcome = await this.#attempt(batch.key, lines, retry);
      if (outcome.kind === 'failed') {
        this.#goDown(outcome);
        return false;
      }
      this.#apply(lines, outcome);
      // Only now may it go: a crash before this line sends it again, which the ids make harmless.
      await this.#spool.remove(batch).catch((error: unknown) => {
        this.#report((o) => o.onError?.(asError(error)));
      });
      this.#forget(batch);
      return true;
    } finally {
      this.#current = null;
    }
  }

  #forget(batch: DiskBatch): void {
    this.#disk = this.#disk.filter((other) => other !== batch);
    batch.settled.resolve();
  }

  #attempt(key: string, lines: readonly string[], retry: RetryPolicy): Promise<UsageBatchOutcome> {
    return sendUsageBatch(this.#client, lines, {
      key,
      retry,
      random: this.#random,
      sleep: (ms) =>
        new Promise<void>((resolve) => {
          this.#timers.setTimeout(resolve, ms);
        }),
    });
  }

  #apply(lines: readonly string[], outcome: Extract<UsageBatchOutcome, { kind: 'answered' }>): void {
    const { accepted, duplicates, rejected } = outcome.result;
    this.#stats.sent += accepted;
    this.#stats.duplicates += duplicates;
    this.#stats.rejected += rejected.length;
    if (this.#down) {
      this.#down = false;
      this.#report((o) => o.onReachable?.());
    }
    if (rejected.length > 0 && this.#options.onRejected) {
      const events = rejected.map((r) => ({ event: parseLine(lines[r.index]), reason: r.reason }));
      this.#report((o) => o.onRejected?.(events));
    }
  }

  #goDown(outcome: Extract<UsageBatchOutcome, { kind: 'failed' }>): void {
    this.#deliveryFailed.resolve();
    this.#deliveryFailed = Promise.withResolvers<void>();
    if (!this.#down) {
      this.#down = true;
      this.#report((o) => o.onUnreachable?.(outcome.error));
    }
    this.#spillQueue();
    if (!this.#closing) this.#scheduleReconnect(Math.max(this.#reconnectMs, outcome.retryAfterMs ?? 0));
  }

  /**
   * While unreachable: tries the oldest batch once. Delivered → reachable again, and the rest
   * follows; not delivered → tried again after the reconnect interval.
   */
  async #reconnect(): Promise<void> {
    if (!this.#down || this.#sending) return;
    const once: RetryPolicy = { ...this.#retry, attempts: 1 };
    const disk = this.#closing ? undefined : this.#disk[0];
    const memory = disk ? undefined : this.#queue.shift();
    if (!disk && !memory) {
      if (!this.#closing) this.#scheduleReconnect(this.#reconnectMs);
      return;
    }
    const probe = disk ? this.#deliverDisk(disk, once) : this.#deliverMemory(memory as MemoryBatch, once);
    // Holds the sender off while the probe runs.
    this.#sending = probe.then(() => undefined);
    const delivered = await probe;
    this.#sending = null;
    if (delivered) this.#send();
  }

  #scheduleReconnect(delay: number): void {
    this.#timers.clearTimeout(this.#reconnectTimer);
    const timer = this.#timers.setTimeout(() => void this.#reconnect(), delay);
    // Waiting for the control plane must not keep an otherwise finished process alive.
    (timer as { unref?: () => void } | undefined)?.unref?.();
    this.#reconnectTimer = timer;
  }

  /** Calls one of the app's callbacks; its failure must not stop the recorder. */
  #report(call: (options: UsageRecorderOptions) => void): void {
    try {
      call(this.#options);
    } catch {
      // Ignored: the recorder's own state is already up to date.
    }
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function parseLine(line: string | undefined): UsageEvent {
  return JSON.parse(line ?? '{}') as UsageEvent;
}

function whole(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max)
    throw new RangeError(
      `UsageRecorder option ${name} must be a whole number from ${min} to ${max}, not ${value}`,
    );
  return value;
}
