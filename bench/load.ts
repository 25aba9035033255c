/**
 * The load generator, run as a child process of a benchmark (`fork('bench/load.ts')`) so that it
 * does not share an event loop with the server it measures, with `serialization: 'advanced'` (latency
 * samples travel as a Float64Array). It receives a {@link LoadSpec}, runs a warm-up then the
 * measured run, and sends back a {@link LoadResult}. Two kinds of load:
 *
 * - **As fast as the server answers** (no `rate`): autocannon, `connections` connections each
 *   sending its next request when the previous one is answered (closed loop). Latencies are taken
 *   from every response (autocannon's `response` event, sub-millisecond), not from autocannon's
 *   histogram, which keeps whole milliseconds only.
 * - **At a fixed rate** (`rate`): an open-loop generator written here. Request `i` is due at
 *   `start + i / rate`, whatever happened to the requests before it, and goes out on an idle
 *   keep-alive connection of a pool (or waits for one); its latency is taken from the time it was
 *   **due** until its response was read, so time spent waiting for a late timer or a free
 *   connection counts (no coordinated omission). autocannon's `overallRate` is not used for this:
 *   it lets each connection send back-to-back until it has sent its share of the current second,
 *   then idle until the next, so 2,000 req/s over 50 connections arrive as a burst at full speed
 *   at the start of each second, and what is measured is latency under that burst.
 */
import net from 'node:net';
import autocannon from 'autocannon';
import { type Summary, summarize } from './stats.ts';

export interface LoadSpec {
  /** Origin of the server, e.g. http://127.0.0.1:1234. */
  readonly origin: string;
  /** One is picked at random for every request. */
  readonly paths: readonly string[];
  readonly headers: Readonly<Record<string, string>>;
  /** Connections (as fast as possible), or the size of the connection pool (fixed rate). */
  readonly connections: number;
  readonly durationS: number;
  readonly warmupS: number;
  /** Requests per second, evenly spaced (open loop); absent: as fast as the server answers. */
  readonly rate?: number;
  /** Send back every latency sample of the measured run (to merge runs). */
  readonly returnSamples?: boolean;
}

export interface LoadResult {
  /** 2xx responses per second of the measured run. */
  readonly requestsPerSec: number;
  /**
   * Latency of 2xx responses, milliseconds: at a fixed rate from the time each request was due,
   * otherwise from the time it was written.
   */
  readonly latencyMs: Summary;
  readonly ok: number;
  /** 2xx responses of the warm-up. */
  readonly warmupOk: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly durationS: number;
  /** CPU time the load generator (this process) spent per response of the measured run. */
  readonly generatorCpuUsPerRequest: number;
  /** Fixed rate only: how the generator kept to its schedule. */
  readonly schedule?: {
    /** Latency from the time each request was actually written (the server's share). */
    readonly latencyFromWriteMs: Summary;
    /** How late each request was written after it was due (timer lateness, no free connection). */
    readonly sendLagMs: Summary;
    /** Most requests in flight at once (connections busy). */
    readonly maxInFlight: number;
  };
  /**
   * Every sample (ms) behind `latencyMs` (and, at a fixed rate, behind `schedule`'s latency from
   * write and send lag), when the spec asked for them.
   */
  readonly samples?: { latency: Float64Array; fromWrite?: Float64Array; sendLag?: Float64Array };
  /** What autocannon itself reports (whole-millisecond histogram), for comparison; max throughput only. */
  readonly autocannon?: { requestsPerSecAvg: number; p50: number; p99: number };
}

const round1 = (value: number) => Math.round(value * 10) / 10;

// ---------------------------------------------------------------------------------------------
// As fast as the server answers: autocannon

async function fire(spec: LoadSpec, durationS: number, latencies: number[] | null) {
  const { paths } = spec;
  let ok = 0;
  let bad = 0;
  const cpuBefore = process.cpuUsage();
  const instance = autocannon({
    url: spec.origin,
    connections: spec.connections,
    duration: durationS,
    timeout: 10,
    requests: [
      {
        method: 'GET',
        headers: { ...spec.headers },
        setupRequest: (request) => ({
          ...request,
          path: paths[Math.floor(Math.random() * paths.length)] as string,
        }),
      },
    ],
  });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, ms: number) => {
    if (statusCode >= 200 && statusCode < 300) {
      ok++;
      latencies?.push(ms);
    } else bad++;
  });
  const result = await instance;
  const cpu = process.cpuUsage(cpuBefore);
  return { result, ok, bad, cpuUs: cpu.user + cpu.system };
}

async function runMax(spec: LoadSpec): Promise<LoadResult> {
  const warmupOk = spec.warmupS > 0 ? (await fire(spec, spec.warmupS, null)).ok : 0;
  const latencies: number[] = [];
  const { result, ok, bad, cpuUs } = await fire(spec, spec.durationS, latencies);
  const durationS = result.duration > 0 ? result.duration : spec.durationS;
  return {
    requestsPerSec: Math.round(ok / durationS),
    latencyMs: summarize(latencies),
    ok,
    warmupOk,
    non2xx: bad,
    errors: result.errors,
    timeouts: result.timeouts,
    durationS,
    generatorCpuUsPerRequest: round1(cpuUs / Math.max(1, ok + bad)),
    ...(spec.returnSamples ? { samples: { latency: Float64Array.from(latencies) } } : {}),
    autocannon: {
      requestsPerSecAvg: result.requests.average,
      p50: result.latency.p50,
      p99: result.latency.p99,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// At a fixed rate: open loop over a pool of keep-alive connections

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;
const CHUNKED = /\r\ntransfer-encoding:[ \t]*chunked/i;

/** One keep-alive HTTP/1.1 connection with at most one request in flight. */
class Connection {
  readonly socket: net.Socket;
  #buffer: Buffer = Buffer.alloc(0);
  /** Bytes still to read of the current response's body; -1 while its head is being read. */
  #bodyLeft = -1;
  #status = 0;
  #onResponse: ((status: number) => void) | null = null;
  readonly #onError: (error: Error) => void;

  constructor(host: string, port: number, onError: (error: Error) => void) {
    this.#onError = onError;
    this.socket = net.connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.#read(chunk));
    this.socket.on('error', onError);
    this.socket.on('close', () => {
      if (this.#onResponse) onError(new Error('the server closed a connection with a request in flight'));
    });
  }

  ready(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
  }

  send(request: Buffer, onResponse: (status: number) => void): void {
    this.#onResponse = onResponse;
    this.socket.write(request);
  }

  #read(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      if (this.#bodyLeft < 0) {
        const end = this.#buffer.indexOf(HEADER_END);
        if (end < 0) return;
        const head = this.#buffer.toString('latin1', 0, end);
        if (CHUNKED.test(head)) {
          this.#onError(new Error('chunked responses are not supported'));
          this.socket.destroy();
          return;
        }
        this.#status = Number(head.slice(9, 12));
        const length = CONTENT_LENGTH.exec(head)?.[1];
        this.#bodyLeft = length === undefined ? 0 : Number(length);
        this.#buffer = this.#buffer.subarray(end + HEADER_END.length);
      }
      if (this.#buffer.length < this.#bodyLeft) return;
      this.#buffer = this.#buffer.subarray(this.#bodyLeft);
      this.#bodyLeft = -1;
      const onResponse = this.#onResponse;
      this.#onResponse = null;
      onResponse?.(this.#status);
      if (this.#buffer.length === 0) return;
    }
  }
}

async function runFixedRate(spec: LoadSpec, rate: number): Promise<LoadResult> {
  const url = new URL(spec.origin);
  const headerLines = Object.entries(spec.headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  // Every request written ahead of time: building them is not part of what is measured.
  const requests = spec.paths.map((path) =>
    Buffer.from(`GET ${path} HTTP/1.1\r\nhost: ${url.host}\r\n${headerLines}\r\n`, 'latin1'),
  );
  let failure: Error | null = null;
  let abort: ((error: Error) => void) | null = null;
  const fail = (error: Error) => {
    failure ??= error;
    abort?.(error);
  };
  const pool = Array.from(
    { length: spec.connections },
    () => new Connection(url.hostname, Number(url.port), fail),
  );
  await Promise.all(pool.map((c) => c.ready()));
  try {
    const warmup = spec.warmupS > 0 ? await schedule(spec.warmupS, null) : null;
    const capacity = Math.ceil(rate * spec.durationS * 1.05) + 1000;
    const samples = {
      latency: new Float64Array(capacity),
      fromWrite: new Float64Array(capacity),
      lag: new Float64Array(capacity),
    };
    const cpuBefore = process.cpuUsage();
    const run = await schedule(spec.durationS, samples);
    const cpu = process.cpuUsage(cpuBefore);
    if (failure) throw failure;
    const n = run.ok;
    return {
      requestsPerSec: Math.round(n / run.elapsedS),
      latencyMs: summarize(samples.latency.subarray(0, n)),
      ok: n,
      warmupOk: warmup?.ok ?? 0,
      non2xx: run.bad,
      errors: 0,
      timeouts: 0,
      durationS: Math.round(run.elapsedS * 100) / 100,
      generatorCpuUsPerRequest: round1((cpu.user + cpu.system) / Math.max(1, n + run.bad)),
      schedule: {
        latencyFromWriteMs: summarize(samples.fromWrite.subarray(0, n)),
        sendLagMs: summarize(samples.lag.subarray(0, n)),
        maxInFlight: run.maxInFlight,
      },
      ...(spec.returnSamples
        ? {
            samples: {
              latency: samples.latency.slice(0, n),
              fromWrite: samples.fromWrite.slice(0, n),
              sendLag: samples.lag.slice(0, n),
            },
          }
        : {}),
    };
  } finally {
    for (const c of pool) c.socket.destroy();
  }

  /**
   * Sends `rate` requests a second for `durationS` seconds, each at its due time, and resolves when
   * the last has been answered. A timer wakes every millisecond or so and writes every request
   * that has fallen due since.
   */
  function schedule(
    durationS: number,
    samples: { latency: Float64Array; fromWrite: Float64Array; lag: Float64Array } | null,
  ): Promise<{ ok: number; bad: number; elapsedS: number; maxInFlight: number }> {
    return new Promise((resolve, reject) => {
      const total = Math.round(rate * durationS);
      const intervalMs = 1000 / rate;
      const idle = [...pool];
      const waiting: number[] = []; // due times of requests that found no idle connection
      let sent = 0;
      let answered = 0;
      let ok = 0;
      let bad = 0;
      let inFlight = 0;
      let maxInFlight = 0;
      const start = performance.now();
      let lastAnswer = start;
      // A response that never comes fails the run rather than hanging it.
      const watchdog = setInterval(() => {
        if (sent === total && performance.now() - lastAnswer > 10_000) {
          clearInterval(watchdog);
          reject(new Error(`${total - answered} requests unanswered after 10 s`));
        }
      }, 1000);
      abort = (error) => {
        clearInterval(watchdog);
        reject(error);
      };

      const write = (connection: Connection, due: number) => {
        const request = requests[Math.floor(Math.random() * requests.length)] as Buffer;
        const written = performance.now();
        inFlight++;
        if (inFlight > maxInFlight) maxInFlight = inFlight;
        connection.send(request, (status) => {
          const done = performance.now();
          inFlight--;
          answered++;
          if (status >= 200 && status < 300) {
            if (samples && ok < samples.latency.length) {
              samples.latency[ok] = done - due;
              samples.fromWrite[ok] = done - written;
              samples.lag[ok] = written - due;
            }
            ok++;
          } else bad++;
          const next = waiting.shift();
          if (next !== undefined) write(connection, next);
          else idle.push(connection);
          lastAnswer = done;
          if (answered === total) {
            clearInterval(watchdog);
            resolve({ ok, bad, elapsedS: (done - start) / 1000, maxInFlight });
          }
        });
      };

      const tick = () => {
        if (failure) {
          abort?.(failure);
          return;
        }
        const now = performance.now();
        while (sent < total && start + sent * intervalMs <= now) {
          const due = start + sent * intervalMs;
          sent++;
          const connection = idle.pop();
          if (connection) write(connection, due);
          else waiting.push(due);
        }
        if (sent < total) setTimeout(tick, Math.max(0, start + sent * intervalMs - performance.now()));
      };
      tick();
    });
  }
}

// ---------------------------------------------------------------------------------------------

function run(spec: LoadSpec): Promise<LoadResult> {
  return spec.rate === undefined ? runMax(spec) : runFixedRate(spec, spec.rate);
}

process.on('message', (message: { type: 'run'; job: LoadSpec } | { type: 'exit' }) => {
  if (message.type === 'exit') {
    process.disconnect?.();
    return;
  }
  run(message.job).then(
    (result) => process.send?.({ type: 'result', result }),
    (error: unknown) => process.send?.({ type: 'error', message: String(error) }),
  );
});
