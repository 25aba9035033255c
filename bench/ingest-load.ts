/**
 * The client side of `npm run bench:ingest`, run as a child process (`fork('bench/ingest-load.ts')`)
 * so that it does not share an event loop with the server it measures. It does one job per message:
 *
 * - `ingest`: POSTs batches of events to `/v1/events` from a few concurrent clients (keep-alive
 *   connections), each batch with its own Idempotency-Key as `tenantry usage ingest` sends it. The
 *   request bodies are serialized before the clock starts.
 * - `http`: GETs paths one after another and times each answer.
 * - `sql`: runs lists of SQL statements one list after another over one connection and times each
 *   list: the raw-Postgres ceiling of `http`.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { batchAt, type EventSeries } from './ingest-events.ts';
import { type Summary, summarize } from './stats.ts';

export interface IngestSpec {
  readonly type: 'ingest';
  readonly origin: string;
  readonly token: string;
  readonly series: EventSeries;
  /** New events per batch. */
  readonly fresh: number;
  /** Events of `replays` sent again in every batch. */
  readonly replays?: { readonly series: EventSeries; readonly count: number };
  readonly batches: number;
  readonly concurrency: number;
  readonly idempotencyKeys: boolean;
}

export interface IngestLoadResult {
  readonly batches: number;
  readonly events: number;
  readonly accepted: number;
  readonly duplicates: number;
  readonly rejected: number;
  readonly failures: string[];
  readonly elapsedS: number;
  readonly eventsPerSec: number;
  /** Per batch, milliseconds. */
  readonly latencyMs: Summary;
  /** CPU of this process while sending (user + system), seconds. */
  readonly clientCpuS: number;
}

export interface HttpSpec {
  readonly type: 'http';
  readonly origin: string;
  readonly token: string;
  readonly paths: readonly string[];
  readonly warmup: number;
}

export interface SqlSpec {
  readonly type: 'sql';
  readonly url: string;
  /** One list of statements per timed request. */
  readonly requests: readonly (readonly { readonly text: string; readonly values: unknown[] }[])[];
  readonly warmup: number;
}

export interface TimedResult {
  readonly latencyMs: Summary;
  readonly failures: string[];
  /** What the first request answered, to check that it is what the bench expects. */
  readonly sample: unknown;
}

export type LoadJob = IngestSpec | HttpSpec | SqlSpec;

async function ingest(spec: IngestSpec): Promise<IngestLoadResult> {
  const bodies: string[] = [];
  for (let k = 0; k < spec.batches; k++)
    bodies.push(JSON.stringify(batchAt(spec.series, spec.fresh, k, spec.replays)));
  const perBatch = spec.fresh + (spec.replays?.count ?? 0);
  let accepted = 0;
  let duplicates = 0;
  let rejected = 0;
  const failures: string[] = [];
  const latencies: number[] = [];
  let next = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: spec.concurrency }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++] as string;
        const sent = performance.now();
        const response = await fetch(`${spec.origin}/v1/events`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${spec.token}`,
            'content-type': 'application/json',
            ...(spec.idempotencyKeys ? { 'idempotency-key': randomUUID() } : {}),
          },
          body,
        });
        const text = await response.text();
        latencies.push(performance.now() - sent);
        if (response.status !== 200) {
          if (failures.length < 5) failures.push(`${response.status} ${text.slice(0, 300)}`);
          continue;
        }
        const answer = JSON.parse(text) as { accepted: number; duplicates: number; rejected: unknown[] };
        accepted += answer.accepted;
        duplicates += answer.duplicates;
        rejected += answer.rejected.length;
      }
    }),
  );
  const elapsedS = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return {
    batches: spec.batches,
    events: spec.batches * perBatch,
    accepted,
    duplicates,
    rejected,
    failures,
    elapsedS: Math.round(elapsedS * 1000) / 1000,
    eventsPerSec: Math.round((spec.batches * perBatch) / elapsedS),
    latencyMs: summarize(latencies),
    clientCpuS: Math.round((used.user + used.system) / 10_000) / 100,
  };
}

async function timed(n: number, warmup: number, request: (i: number) => Promise<unknown>) {
  const latencies: number[] = [];
  const failures: string[] = [];
  let sample: unknown;
  for (let i = 0; i < warmup + n; i++) {
    const started = performance.now();
    try {
      const answer = await request(i);
      if (i === 0) sample = answer;
      if (i >= warmup) latencies.push(performance.now() - started);
    } catch (error) {
      if (failures.length < 5) failures.push(String(error));
    }
  }
  return { latencyMs: summarize(latencies), failures, sample } satisfies TimedResult;
}

async function http(spec: HttpSpec): Promise<TimedResult> {
  const n = spec.paths.length - spec.warmup;
  return timed(n, spec.warmup, async (i) => {
    const response = await fetch(spec.origin + spec.paths[i], {
      headers: { authorization: `Bearer ${spec.token}` },
    });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`${response.status} ${text.slice(0, 300)}`);
    return JSON.parse(text) as unknown;
  });
}

async function rawSql(spec: SqlSpec): Promise<TimedResult> {
  const client = new pg.Client({
    connectionString: spec.url,
    options: '-c search_path=tenantry,public -c TimeZone=UTC',
  });
  await client.connect();
  try {
    return await timed(spec.requests.length - spec.warmup, spec.warmup, async (i) => {
      const rows: unknown[] = [];
      for (const statement of spec.requests[i] ?? [])
        rows.push((await client.query(statement.text, statement.values)).rows);
      return rows;
    });
  } finally {
    await client.end();
  }
}

process.on('message', (message: { type: 'run'; job: LoadJob } | { type: 'exit' }) => {
  if (message.type === 'exit') {
    process.disconnect?.();
    return;
  }
  const { job } = message;
  const work: Promise<unknown> =
    job.type === 'ingest' ? ingest(job) : job.type === 'http' ? http(job) : rawSql(job);
  work.then(
    (result) => process.send?.({ type: 'result', result }),
    (error: unknown) => process.send?.({ type: 'error', message: String(error) }),
  );
});
