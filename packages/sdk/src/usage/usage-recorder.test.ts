import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../../server/test/harness.ts';
import { applyUsageMeters, countRows, meteredTenant, usage } from '../../../server/test/usage-support.ts';
import type { Timers } from './usage-recorder.ts';
import {
  type RejectedUsageEvent,
  UsageRecorder,
  UsageRecorderClosedError,
  type UsageRecorderOptions,
} from './usage-recorder.ts';

let t: TestApp;
/** The control plane, listening on a real port. */
let url: string;
/** A port nothing listens on: connections to it are refused. */
let closedUrl: string;
const directories: string[] = [];
const recorders: UsageRecorder[] = [];

beforeAll(async () => {
  t = await startTestApp();
  await applyUsageMeters(t);
  url = await t.app.listen({ port: 0, host: '127.0.0.1' });
  closedUrl = `http://127.0.0.1:${await freePort()}`;
});
afterAll(() => t.close());
afterEach(async () => {
  await Promise.all(recorders.splice(0).map((r) => r.close()));
  await Promise.all(directories.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return address.port;
}

async function spoolDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'tenantry-usage-spool-'));
  directories.push(directory);
  return directory;
}

/** Timers a test fires by hand; those `auto` picks fire at once (after the current tick). */
class TestTimers implements Timers {
  /** Every delay asked for, in order. */
  readonly delays: number[] = [];
  readonly #pending = new Map<number, () => void>();
  readonly #auto: (ms: number) => boolean;
  #next = 0;

  constructor(auto: (ms: number) => boolean = () => false) {
    this.#auto = auto;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    this.delays.push(ms);
    const id = ++this.#next;
    if (this.#auto(ms)) setImmediate(callback);
    else this.#pending.set(id, callback);
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#pending.delete(handle as number);
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** Fires every pending timer. */
  fire(): void {
    const due = [...this.#pending.values()];
    this.#pending.clear();
    for (const callback of due) callback();
  }
}

/** Retry sleeps fire at once; the reconnect timer (an hour) waits for the test. */
function quickRetries(): Pick<UsageRecorderOptions, 'timers' | 'retry' | 'reconnectIntervalMs'> {
  return {
    timers: new TestTimers((ms) => ms < 3_600_000),
    retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 10_000 },
    reconnectIntervalMs: 3_600_000,
  };
}

interface SeenRequest {
  readonly key: string;
  readonly events: { id: string; value?: number; meter: string }[];
}

/**
 * A `fetch` that notes every `POST /v1/events` (idempotency key and events) before handing it to
 * `handle` (default: the real fetch, to wherever `target()` points).
 */
class Wire {
  readonly requests: SeenRequest[] = [];
  target: string;
  readonly #waiters: { n: number; resolve: () => void }[] = [];
  readonly #handle: (input: string, init: RequestInit, n: number) => Promise<Response>;

  constructor(
    target: string,
    handle: (input: string, init: RequestInit, n: number) => Promise<Response> = (input, init) =>
      fetch(input, init),
  ) {
    this.target = target;
    this.#handle = handle;
  }

  readonly fetch = (async (input: string | URL | Request, init: RequestInit = {}) => {
    const path = new URL(String(input)).pathname;
    const real = `${this.target}${path}`;
    if (init.method === 'POST' && path === '/v1/events') {
      const headers = new Headers(init.headers);
      this.requests.push({
        key: headers.get('idempotency-key') ?? '',
        events: JSON.parse(String(init.body)),
      });
      for (const waiter of this.#waiters.filter((w) => this.requests.length >= w.n)) waiter.resolve();
      return this.#handle(real, init, this.requests.length);
    }
    return fetch(real, init);
  }) as typeof fetch;

  /** Resolves once `n` batches were sent. */
  waitFor(n: number): Promise<void> {
    if (this.requests.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }

  sizes(): number[] {
    return this.requests.map((r) => r.events.length);
  }
}

async function open(options: Partial<UsageRecorderOptions> & { wire: Wire; spoolDirectory?: string }) {
  const { wire, ...rest } = options;
  const recorder = await UsageRecorder.open({
    controlPlane: { url: 'http://control-plane.invalid', token: t.token, fetch: wire.fetch },
    spoolDirectory: options.spoolDirectory ?? (await spoolDirectory()),
    clock: t.clock,
    ...rest,
  });
  recorders.push(recorder);
  return recorder;
}

/** Records `n` api_calls of values 1..n; returns their sum. */
function recordCalls(recorder: UsageRecorder, tenant: string, n: number, from = 1): number {
  let sum = 0;
  for (let value = from; value < from + n; value++) {
    recorder.record({ tenant, meter: 'api_calls', value, subject: 'alice' });
    sum += value;
  }
  return sum;
}

async function totalCalls(tenantId: string): Promise<number> {
  return (await usage(t, tenantId, { meter: 'api_calls' })).total;
}

async function spoolFiles(directory: string): Promise<string[]> {
  return (await readdir(directory)).filter((name) => name.endsWith('.jsonl')).sort();
}

describe('UsageRecorder: batching', () => {
  it('sends a batch as soon as it is full, and a partial one when its timer fires', async () => {
    const tenant = await meteredTenant(t);
    const timers = new TestTimers();
    const wire = new Wire(url);
    const recorder = await open({ wire, timers, batchSize: 3, maxDelayMs: 750 });

    const sum = recordCalls(recorder, tenant.id, 7);
    await wire.waitFor(2);
    expect(wire.sizes()).toEqual([3, 3]);
    // The seventh waits for its batch timer: one timer, of maxDelayMs.
    expect(timers.pending).toBe(1);
    expect(timers.delays.at(-1)).toBe(750);
    expect(wire.requests).toHaveLength(2);

    timers.fire();
    await wire.waitFor(3);
    expect(wire.sizes()).toEqual([3, 3, 1]);
    await recorder.flush();
    expect(await totalCalls(tenant.id)).toBe(sum);
    expect(recorder.stats).toMatchObject({ recorded: 7, sent: 7, duplicates: 0, rejected: 0, spooled: 0 });
    expect(recorder.stats.buffered).toBe(0);
  });

  it('sends nothing before the timer or a flush, then one batch with everything', async () => {
    const tenant = await meteredTenant(t);
    const timers = new TestTimers();
    const wire = new Wire(url);
    const recorder = await open({ wire, timers });

    const ids = [
      recorder.record({ tenant: tenant.slug, meter: 'meetings' }),
      recorder.record({ tenant: tenant.slug, meter: 'meetings', id: 'meeting-1' }),
    ];
    expect(ids[1]).toBe('meeting-1');
    expect(ids[0]).toMatch(/^[0-9a-f-]{36}$/);
    await new Promise((resolve) => setImmediate(resolve));
    expect(wire.requests).toHaveLength(0);
    expect(recorder.stats.buffered).toBe(2);

    await recorder.flush();
    expect(wire.sizes()).toEqual([2]);
    expect(wire.requests[0]?.events.map((e) => e.id)).toEqual(ids);
    expect((await usage(t, tenant.id, { meter: 'meetings' })).total).toBe(2);
    expect(timers.pending).toBe(0);
  });

  it('close() drains the buffer, and refuses records after it', async () => {
    const tenant = await meteredTenant(t);
    const wire = new Wire(url);
    const directory = await spoolDirectory();
    const recorder = await open({ wire, timers: new TestTimers(), spoolDirectory: directory });
    const sum = recordCalls(recorder, tenant.id, 5);

    await recorder.close();
    expect(wire.sizes()).toEqual([5]);
    expect(await totalCalls(tenant.id)).toBe(sum);
    expect(await spoolFiles(directory)).toEqual([]);
    expect(() => recordCalls(recorder, tenant.id, 1)).toThrow(UsageRecorderClosedError);
    expect(recorder.stats).toMatchObject({ recorded: 5, sent: 5, buffered: 0 });
  });

  it('close() waits for the batch in flight, and sends what was buffered behind it', async () => {
    const tenant = await meteredTenant(t);
    const release = Promise.withResolvers<void>();
    const wire = new Wire(url, async (input, init, n) => {
      if (n === 1) await release.promise;
      return fetch(input, init);
    });
    const recorder = await open({ wire, timers: new TestTimers(), batchSize: 3 });
    const sum = recordCalls(recorder, tenant.id, 5);
    await wire.waitFor(1);
    let closed = false;
    const closing = recorder.close().then(() => {
      closed = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    release.resolve();
    await closing;
    expect(wire.sizes()).toEqual([3, 2]);
    expect(await totalCalls(tenant.id)).toBe(sum);
    expect(recorder.stats).toMatchObject({ sent: 5, buffered: 0, spooled: 0 });
  });
});

describe('UsageRecorder: the control plane down', () => {
  it('spools to disk, and a new recorder over the same directory sends it exactly once', async () => {
    const tenant = await meteredTenant(t);
    const directory = await spoolDirectory();
    const unreachable: Error[] = [];
    const down = await open({
      wire: new Wire(closedUrl),
      spoolDirectory: directory,
      batchSize: 10,
      onUnreachable: (error) => unreachable.push(error),
      ...quickRetries(),
    });
    const sum = recordCalls(down, tenant.id, 25);
    await down.flush();
    expect(unreachable).toHaveLength(1);
    expect(unreachable[0]?.message).toContain('cannot reach the Tenantry control plane');
    expect(down.stats).toMatchObject({ recorded: 25, sent: 0, spooled: 25, buffered: 0, reachable: false });
    await down.close();

    // On disk: one file per batch, one event per line, with the ids the events were recorded with.
    const files = await spoolFiles(directory);
    expect(files).toHaveLength(3);
    const lines = (await Promise.all(files.map((f) => readFile(join(directory, f), 'utf8'))))
      .flatMap((text) => text.split('\n').filter(Boolean))
      .map((line) => JSON.parse(line));
    expect(lines.map((e) => e.value).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 25 }, (_, i) => i + 1),
    );

    // A recorder that still cannot reach the control plane keeps every file.
    const stillDown = await open({ wire: new Wire(closedUrl), spoolDirectory: directory, ...quickRetries() });
    await stillDown.flush();
    await stillDown.close();
    expect(await spoolFiles(directory)).toEqual(files);
    expect(await countRows(t, 'usage_events', tenant.id)).toBe(0);

    const wire = new Wire(url);
    const up = await open({ wire, spoolDirectory: directory });
    await up.flush();
    expect(wire.sizes().sort((a, b) => a - b)).toEqual([5, 10, 10]);
    expect(await totalCalls(tenant.id)).toBe(sum);
    expect(await countRows(t, 'usage_events', tenant.id)).toBe(25);
    expect(up.stats).toMatchObject({ recorded: 0, sent: 25, duplicates: 0, spooledBatches: 0 });
    expect(await spoolFiles(directory)).toEqual([]);
  });

  it('tells when the control plane goes away and comes back, and sends the spool oldest first', async () => {
    const tenant = await meteredTenant(t);
    const directory = await spoolDirectory();
    const events: string[] = [];
    const wire = new Wire(closedUrl);
    const recorder = await open({
      wire,
      spoolDirectory: directory,
      batchSize: 4,
      onUnreachable: () => events.push('unreachable'),
      onReachable: () => events.push('reachable'),
      ...quickRetries(),
    });
    let sum = recordCalls(recorder, tenant.id, 4, 1);
    await recorder.flush();
    sum += recordCalls(recorder, tenant.id, 4, 5);
    await recorder.flush();
    expect(events).toEqual(['unreachable']);
    expect(await spoolFiles(directory)).toHaveLength(2);
    const attemptsWhileDown = wire.requests.length;

    wire.target = url;
    await recorder.flush();
    expect(events).toEqual(['unreachable', 'reachable']);
    // The first batch (values 1–4) before the second (5–8).
    const delivered = wire.requests.slice(attemptsWhileDown).map((r) => r.events.map((e) => e.value));
    expect(delivered).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
    ]);
    expect(await totalCalls(tenant.id)).toBe(sum);
    expect(await spoolFiles(directory)).toEqual([]);
    expect(recorder.stats).toMatchObject({ sent: 8, spooled: 8, reachable: true });
  });

  it('keeps memory bounded: when full, whole batches go to the spool', async () => {
    const tenant = await meteredTenant(t);
    const directory = await spoolDirectory();
    const release = Promise.withResolvers<void>();
    // The first request is held, so the next batches pile up behind it.
    const wire = new Wire(url, async (input, init, n) => {
      if (n === 1) await release.promise;
      return fetch(input, init);
    });
    const recorder = await open({ wire, spoolDirectory: directory, batchSize: 10, maxBufferedEvents: 20 });
    let most = 0;
    let sum = 0;
    try {
      for (let value = 1; value <= 45; value++) {
        sum += recordCalls(recorder, tenant.id, 1, value);
        most = Math.max(most, recorder.stats.buffered);
      }
      await wire.waitFor(1);
      // Batch 1 in flight; 2 and 3 went past the limit, so to disk: never more than limit + a batch.
      expect(most).toBeLessThanOrEqual(20 + 10);
      expect(recorder.stats).toMatchObject({ buffered: 25, spooled: 20, spooledBatches: 2 });
      expect(await spoolFiles(directory)).toHaveLength(2);
    } finally {
      release.resolve();
    }
    // Batch 1 answered, the spool's oldest (batch 2) goes next.
    await wire.waitFor(2);
    expect(wire.requests[1]?.events[0]?.value).toBe(11);
    await recorder.flush();
    expect(recorder.stats).toMatchObject({
      recorded: 45,
      sent: 45,
      spooled: 20,
      buffered: 0,
      spooledBatches: 0,
    });
    expect(await totalCalls(tenant.id)).toBe(sum);
    expect(await spoolFiles(directory)).toEqual([]);
  });
});

describe('UsageRecorder: retries', () => {
  it('resends a batch whose answer was lost under the same key, and it counts once', async () => {
    const tenant = await meteredTenant(t);
    // The control plane stores the batch, then the answer is lost on the way back.
    const wire = new Wire(url, async (input, init, n) => {
      const response = await fetch(input, init);
      if (n === 1) {
        await response.text();
        throw new TypeError('fetch failed: socket hang up');
      }
      return response;
    });
    const recorder = await open({ wire, batchSize: 10, ...quickRetries() });
    const sum = recordCalls(recorder, tenant.id, 10);
    await recorder.flush();

    expect(wire.sizes()).toEqual([10, 10]);
    expect(wire.requests[1]?.key).toBe(wire.requests[0]?.key);
    expect(await totalCalls(tenant.id)).toBe(sum);
    expect(await countRows(t, 'usage_events', tenant.id)).toBe(10);
    // The resend got the first answer back: 10 accepted, not 10 duplicates.
    expect(recorder.stats).toMatchObject({ sent: 10, duplicates: 0 });
  });

  it('a batch spooled after a lost answer is sent by the next recorder, and still counts once', async () => {
    const tenant = await meteredTenant(t);
    const directory = await spoolDirectory();
    const lossy = new Wire(url, async (input, init) => {
      await (await fetch(input, init)).text();
      throw new TypeError('fetch failed: connection reset');
    });
    const first = await open({
      wire: lossy,
      spoolDirectory: directory,
      ...quickRetries(),
      retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    });
    const sum = recordCalls(first, tenant.id, 6);
    await first.close();
    expect(first.stats).toMatchObject({ sent: 0, spooled: 6 });
    // Stored once already, though the recorder could not know.
    expect(await countRows(t, 'usage_events', tenant.id)).toBe(6);

    const wire = new Wire(url);
    const second = await open({ wire, spoolDirectory: directory });
    await second.flush();
    expect(wire.requests[0]?.key).toBe(lossy.requests[0]?.key);
    expect(await totalCalls(tenant.id)).toBe(sum);
    expect(await countRows(t, 'usage_events', tenant.id)).toBe(6);
    expect(second.stats).toMatchObject({ sent: 6, duplicates: 0 });
    expect(await spoolFiles(directory)).toEqual([]);
  });

  it('retries 5xx and 429 with jittered backoff, honouring Retry-After', async () => {
    const tenant = await meteredTenant(t);
    const answers = [
      new Response(JSON.stringify({ code: 'rate_limited', detail: 'slow down' }), {
        status: 429,
        headers: { 'retry-after': '7', 'content-type': 'application/problem+json' },
      }),
      new Response(JSON.stringify({ code: 'internal_error', detail: 'boom' }), {
        status: 500,
        headers: { 'content-type': 'application/problem+json' },
      }),
    ];
    const wire = new Wire(url, async (input, init, n) => answers[n - 1] ?? fetch(input, init));
    const timers = new TestTimers((ms) => ms < 3_600_000);
    const recorder = await open({
      wire,
      timers,
      random: () => 0.5,
      retry: { attempts: 5, baseDelayMs: 100, maxDelayMs: 10_000 },
      reconnectIntervalMs: 3_600_000,
    });
    const sum = recordCalls(recorder, tenant.id, 3);
    await recorder.flush();

    expect(wire.sizes()).toEqual([3, 3, 3]);
    // The batch timer, then 7 s as asked, then half (the jitter) of 100 ms × 2.
    expect(timers.delays.slice(1)).toEqual([7_000, 100]);
    expect(await totalCalls(tenant.id)).toBe(sum);
    expect(recorder.stats).toMatchObject({ sent: 3, reachable: true, spooled: 0 });
  });

  it('spools at once when Retry-After is longer than it would wait, and tries again no sooner', async () => {
    const tenant = await meteredTenant(t);
    const wire = new Wire(url, (input, init, n) =>
      n === 1
        ? Promise.resolve(new Response('', { status: 503, headers: { 'retry-after': '120' } }))
        : fetch(input, init),
    );
    const timers = new TestTimers((ms) => ms < 60_000);
    const recorder = await open({
      wire,
      timers,
      retry: { attempts: 5, baseDelayMs: 100, maxDelayMs: 10_000 },
      reconnectIntervalMs: 1_000,
    });
    const sum = recordCalls(recorder, tenant.id, 2);
    await recorder.flush();
    expect(wire.requests).toHaveLength(1);
    expect(recorder.stats).toMatchObject({ spooled: 2, reachable: false });
    expect(timers.delays.at(-1)).toBe(120_000);

    timers.fire();
    await wire.waitFor(2);
    await recorder.flush();
    expect(await totalCalls(tenant.id)).toBe(sum);
    expect(recorder.stats).toMatchObject({ sent: 2, reachable: true, spooledBatches: 0 });
  });

  it('splits a batch the control plane finds too large', async () => {
    const tenant = await meteredTenant(t);
    const tooLarge = () =>
      new Response(JSON.stringify({ code: 'payload_too_large', detail: 'too large' }), {
        status: 413,
        headers: { 'content-type': 'application/problem+json' },
      });
    const wire = new Wire(url, (input, init) =>
      JSON.parse(String(init.body)).length > 4 ? Promise.resolve(tooLarge()) : fetch(input, init),
    );
    const rejected: RejectedUsageEvent[] = [];
    const recorder = await open({ wire, onRejected: (r) => rejected.push(...r) });
    let sum = recordCalls(recorder, tenant.id, 7);
    recorder.record({ tenant: tenant.id, meter: 'no_such_meter', value: 1, id: 'bad-one' });
    sum += recordCalls(recorder, tenant.id, 2, 8);
    await recorder.flush();

    expect(wire.sizes()).toEqual([10, 5, 3, 2, 5, 3, 2]);
    expect(await totalCalls(tenant.id)).toBe(sum);
    expect(rejected.map((r) => [r.event.id, r.reason])).toEqual([
      ['bad-one', 'unknown meter "no_such_meter"'],
    ]);
    expect(recorder.stats).toMatchObject({ sent: 9, rejected: 1 });
  });
});

describe('UsageRecorder: rejected events', () => {
  it('reports the events the control plane rejects, keeps the rest, and retries none', async () => {
    const tenant = await meteredTenant(t);
    const rejected: RejectedUsageEvent[] = [];
    const directory = await spoolDirectory();
    const wire = new Wire(url);
    const recorder = await open({ wire, spoolDirectory: directory, onRejected: (r) => rejected.push(...r) });
    recorder.record({ tenant: tenant.id, meter: 'api_calls', value: 4 });
    recorder.record({ tenant: tenant.id, meter: 'meetngs', id: 'typo' });
    recorder.record({ tenant: 'no-such-tenant', meter: 'api_calls', value: 1, id: 'stranger' });
    await recorder.flush();

    expect(wire.requests).toHaveLength(1);
    expect(rejected.map((r) => [r.event.id, r.event.meter, r.reason])).toEqual([
      ['typo', 'meetngs', 'unknown meter "meetngs"'],
      ['stranger', 'api_calls', 'unknown tenant "no-such-tenant"'],
    ]);
    expect(await totalCalls(tenant.id)).toBe(4);
    expect(recorder.stats).toMatchObject({ sent: 1, rejected: 2, spooled: 0 });

    // A batch of nothing but bad events is answered 400; that is an answer too.
    recorder.record({ tenant: tenant.id, meter: 'meetngs', id: 'typo-2' });
    await recorder.flush();
    expect(wire.requests).toHaveLength(2);
    expect(rejected.map((r) => r.event.id)).toEqual(['typo', 'stranger', 'typo-2']);
    expect(recorder.stats).toMatchObject({ rejected: 3, spooled: 0, reachable: true });
    expect(await spoolFiles(directory)).toEqual([]);
  });

  it('a refused API key is not a reason to drop events: they are spooled', async () => {
    const tenant = await meteredTenant(t);
    const directory = await spoolDirectory();
    const unreachable: Error[] = [];
    const wire = new Wire(url);
    const recorder = await UsageRecorder.open({
      controlPlane: { url, token: 'tnt_op_wrong', fetch: wire.fetch },
      spoolDirectory: directory,
      clock: t.clock,
      onUnreachable: (error) => unreachable.push(error),
      ...quickRetries(),
    });
    recorders.push(recorder);
    recordCalls(recorder, tenant.id, 2);
    await recorder.flush();
    expect(wire.requests).toHaveLength(1);
    expect(unreachable[0]?.message).toContain('invalid_api_key');
    expect(recorder.stats).toMatchObject({ rejected: 0, spooled: 2 });
    expect(await spoolFiles(directory)).toHaveLength(1);
  });
});

describe('UsageRecorder: setup and spool files', () => {
  it('refuses options out of range, naming them', async () => {
    await expect(
      UsageRecorder.open({
        controlPlane: { url, token: t.token },
        spoolDirectory: await spoolDirectory(),
        batchSize: 10_001,
      }),
    ).rejects.toThrow('UsageRecorder option batchSize must be a whole number from 1 to 10000, not 10001');
  });

  it('reports a corrupt spool file, keeps it aside, and sends the other batches', async () => {
    const tenant = await meteredTenant(t);
    const directory = await spoolDirectory();
    const down = await open({
      wire: new Wire(closedUrl),
      spoolDirectory: directory,
      batchSize: 2,
      ...quickRetries(),
    });
    const sum = recordCalls(down, tenant.id, 4);
    await down.close();
    const [damaged] = await spoolFiles(directory);
    await writeFile(join(directory, damaged ?? ''), 'not json\n');

    const errors: Error[] = [];
    const up = await open({ wire: new Wire(url), spoolDirectory: directory, onError: (e) => errors.push(e) });
    await up.flush();
    expect(errors.map((e) => e.name)).toEqual(['CorruptSpoolFileError']);
    expect(await readdir(directory)).toEqual([`${damaged}.corrupt`]);
    // The damaged batch held 1 and 2.
    expect(await totalCalls(tenant.id)).toBe(sum - 3);
  });
});
