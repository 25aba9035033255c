import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PlacementResources } from '@tenantry/core';
import {
  buildApp,
  type Clock,
  type Config,
  createServices,
  type Database,
  loadConfig,
  MASTER_KEY_BYTES,
  migrateToLatest,
  openDatabase,
  SecretBox,
  type ServiceSettings,
  type Services,
  systemClock,
} from '@tenantry/server';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { type Summary, summarize } from './stats.ts';

// What the benchmarks share: settings read from the environment, a throwaway control plane on
// the local PostgreSQL, the machine a run was made on, and the report (a table on stdout, JSON
// in bench/results). Each bench keeps what it measures to itself.

/** The PostgreSQL server the benches make their throwaway databases on, as a superuser. */
export const ADMIN_URL = process.env.BENCH_ADMIN_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

/** Which numbers a {@link setting} accepts. */
export type SettingKind = 'positive' | 'whole' | 'non-negative';

const SETTING_KINDS: Record<SettingKind, { accepts: (value: number) => boolean; what: string }> = {
  positive: { accepts: (v) => Number.isFinite(v) && v > 0, what: 'a positive number' },
  whole: { accepts: (v) => Number.isInteger(v) && v > 0, what: 'a positive whole number' },
  'non-negative': { accepts: (v) => Number.isFinite(v) && v >= 0, what: 'a number >= 0' },
};

/** The number in environment variable `name`, or `fallback` when it is unset or empty. */
export function setting(name: string, fallback: number, kind: SettingKind = 'positive'): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  const { accepts, what } = SETTING_KINDS[kind];
  if (!accepts(value)) throw new Error(`${name} must be ${what}, not "${raw}"`);
  return value;
}

/** `value` rounded to `digits` decimals. */
export const round = (value: number, digits = 2): number => Math.round(value * 10 ** digits) / 10 ** digits;

/** The machine's 1, 5 and 15 minute load averages, to two decimals. */
export const loadavg = (): [number, number, number] =>
  os.loadavg().map((v) => round(v)) as [number, number, number];

/** A logger that writes to stderr, prefixed `[bench:name]`, so stdout holds the report alone. */
export function logger(bench: string): (message: string) => void {
  return (message) => console.error(`[bench:${bench}] ${message}`);
}

/** Runs `fn` with a fresh client on `url` (default the admin connection), and closes it. */
export async function admin<T>(fn: (client: pg.Client) => Promise<T>, url = ADMIN_URL): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The URL of database `name` on the admin server, as the admin or as `user` (no password). */
export function databaseUrl(name: string, user?: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  if (user !== undefined) {
    url.username = user;
    url.password = '';
  }
  return url.toString();
}

/** Runs `fn` over `items` with at most `limit` at a time; the results keep the items' order. */
export async function inParallel<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i] as T);
      }
    }),
  );
  return results;
}

// ---------------------------------------------------------------------------------------------
// Timing

/** How long one awaited call of `fn` takes, in milliseconds. */
export async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** The {@link summarize} of each list of samples, under the same names. */
export function summarizeEach<K extends string>(
  samples: Readonly<Record<K, readonly number[]>>,
): Record<K, Summary> {
  return Object.fromEntries(
    Object.entries<readonly number[]>(samples).map(([kind, values]) => [kind, summarize(values)]),
  ) as Record<K, Summary>;
}

/** What {@link timeBatches} measured. */
export interface Batches {
  readonly callsPerSec: number;
  /** Per-call time of each batch, in nanoseconds. */
  readonly perCallNs: Summary;
  /** Truthy answers: kept so that the loop cannot be optimised away. */
  readonly sink: number;
}

/**
 * Awaits `call(0)`, `call(1)`, … for `seconds`, timed in batches of `batch` calls (one timer read
 * per batch instead of one per call, which would weigh on calls of a microsecond).
 */
export async function timeBatches(
  call: (i: number) => unknown,
  seconds: number,
  batch: number,
): Promise<Batches> {
  const samples: number[] = [];
  let sink = 0;
  let i = 0;
  const deadline = performance.now() + seconds * 1000;
  const start = process.hrtime.bigint();
  while (performance.now() < deadline) {
    const t0 = process.hrtime.bigint();
    for (let j = 0; j < batch; j++) if (await call(i++)) sink++;
    samples.push(Number(process.hrtime.bigint() - t0) / batch);
  }
  const elapsedNs = Number(process.hrtime.bigint() - start);
  return { callsPerSec: Math.round((i / elapsedNs) * 1e9), perCallNs: summarize(samples), sink };
}

/**
 * The worse of two runs of the same thing (interleaved halves of a measurement): the higher of
 * each percentile and of the maximum, the mean of the means, the counts added.
 */
export function worseOf(a: Summary, b: Summary): Summary {
  return {
    p50: Math.max(a.p50, b.p50),
    p90: Math.max(a.p90, b.p90),
    p99: Math.max(a.p99, b.p99),
    p999: Math.max(a.p999, b.p999),
    max: Math.max(a.max, b.max),
    mean: round((a.mean + b.mean) / 2),
    count: a.count + b.count,
  };
}

// ---------------------------------------------------------------------------------------------
// A control plane on a throwaway database

/** A JSON answer of the control plane's API; null when it had no body. */
export interface ApiAnswer {
  readonly status: number;
  readonly body: Record<string, unknown> | null;
}

/** A control plane running in this process, on a database of its own, with an operator key. */
export interface ControlPlane {
  /** Its database's name. */
  readonly name: string;
  /** Its database's URL, as the admin. */
  readonly url: string;
  readonly database: Database;
  readonly services: Services;
  readonly config: Config;
  readonly app: FastifyInstance;
  /** Where it listens, e.g. `http://127.0.0.1:40123`. */
  readonly origin: string;
  /** An operator API key. */
  readonly token: string;
  /** Sends a request with the operator key and answers its status and parsed body. */
  api(method: string, path: string, body?: unknown): Promise<ApiAnswer>;
  /** Like {@link api}, but throws unless the answer is 2xx; answers the body. */
  call(method: string, path: string, body?: unknown): Promise<Record<string, unknown>>;
}

/** Options of {@link startControlPlane}. */
export interface ControlPlaneOptions {
  /**
   * Environment for loadConfig besides DATABASE_URL; default the production defaults, but for
   * the API's rate limits, which are off so that each bench measures its own feature at full
   * speed (bench/rate-limits.ts measures the limiter) unless the bench sets them.
   */
  readonly env?: Readonly<Record<string, string>>;
  /** Called once the app is built and before it listens, e.g. to start a background worker. */
  readonly beforeListen?: (app: FastifyInstance, services: Services, config: Config) => void;
  /** The control plane's clock; default the system's. A bench that lives through billing periods moves its own. */
  readonly clock?: Clock;
  /** Failed password sign-ins allowed; default the production limits. */
  readonly signInLimits?: ServiceSettings['signInLimits'];
  /** The port to listen on; default a free one. A bench that signs in sets TENANTRY_PUBLIC_URL to match. */
  readonly port?: number;
}

/**
 * Creates a database named `tenantry_bench_<random>` on the admin server, migrates it, and
 * serves the control plane on it in this process on a free port of 127.0.0.1.
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const name = `tenantry_bench_${randomBytes(6).toString('hex')}`;
  await admin((client) => client.query(`create database ${name}`));
  const url = databaseUrl(name);
  const database = await openDatabase({ url });
  await migrateToLatest(database.db);
  const config = loadConfig({
    DATABASE_URL: url,
    TENANTRY_RATE_LIMIT_KEY: 'off',
    TENANTRY_RATE_LIMIT_TENANT: 'off',
    ...options.env,
  });
  if (!config.ok) throw new Error(config.error);
  const services = createServices(
    database,
    {
      ...config.value,
      secrets: new SecretBox([randomBytes(MASTER_KEY_BYTES)]),
      signInLimits: options.signInLimits,
    },
    options.clock ?? systemClock,
  );
  const { secret } = await services.apiKeys.create(
    { actor: { type: 'system', id: 'bench' }, requestId: null, sourceIp: null },
    { name: 'bench' },
  );
  const app = await buildApp(services, { logger: false });
  options.beforeListen?.(app, services, config.value);
  const origin = await app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  const api = async (method: string, path: string, body?: unknown): Promise<ApiAnswer> => {
    const response = await fetch(origin + path, {
      method,
      headers: {
        authorization: `Bearer ${secret}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return {
      status: response.status,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : null,
    };
  };
  return {
    name,
    url,
    database,
    services,
    config: config.value,
    app,
    origin,
    token: secret,
    api,
    async call(method, path, body) {
      const answer = await api(method, path, body);
      if (answer.status < 200 || answer.status > 299)
        throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
      return answer.body ?? {};
    },
  };
}

/** Stops serving and closes the control plane's connections, leaving its database in place. */
export async function closeControlPlane(cp: ControlPlane): Promise<void> {
  await cp.app.close();
  await cp.database.close();
}

/** What {@link dropControlPlane} found the control plane had made. */
export interface Dropped {
  readonly tenants: number;
  /** Tenant databases dropped (besides the bench's own). */
  readonly tenantDatabases: number;
  /** Tenant roles dropped (besides the bench's own). */
  readonly tenantRoles: number;
}

/**
 * Closes the control plane and drops its database, then every tenant database and tenant role it
 * made, and the `extra` databases and roles the bench made beside them.
 */
export async function dropControlPlane(
  cp: ControlPlane,
  extra: { readonly databases?: readonly string[]; readonly roles?: readonly string[] } = {},
): Promise<Dropped> {
  const made = (await cp.database.db.selectFrom('tenants').select('resources').execute()).map(
    (r) => r.resources as PlacementResources,
  );
  await closeControlPlane(cp);
  const tenantDatabases = made.flatMap((r) => (r.placement === 'database' ? [r.database] : []));
  const tenantRoles = made.flatMap((r) =>
    r.placement === 'schema' || r.placement === 'database' ? [r.role] : [],
  );
  await admin(async (client) => {
    // The control plane's database first: schema tenants' roles own schemas in it.
    await client.query(`drop database if exists ${cp.name} with (force)`);
    for (const name of [...tenantDatabases, ...(extra.databases ?? [])])
      await client.query(`drop database if exists ${name} with (force)`);
    for (const role of [...tenantRoles, ...(extra.roles ?? [])])
      await client.query(`drop role if exists ${role}`);
  });
  return { tenants: made.length, tenantDatabases: tenantDatabases.length, tenantRoles: tenantRoles.length };
}

/**
 * The rollups of `meters` as ingestion keeps them, recomputed from the raw events: the
 * expressions of UsageIngest's fold (sum, count, max, latest by time then id) per tenant, meter,
 * UTC hour and subject. Run it in a session whose TimeZone is UTC (rollups are UTC hours). Used to
 * check ingestion and to build the rollups of events a bench writes straight into usage_events.
 */
export function recomputeRollupsSql(meters: string | readonly string[]): string {
  const list = (typeof meters === 'string' ? [meters] : meters).map((m) => `'${m.replaceAll("'", "''")}'`);
  return `select tenant_id, meter, date_trunc('hour', time) as hour, subject, sum(value) as sum, count(*) as count,
         max(value) as max, (array_agg(time order by time desc, id desc))[1] as latest_time,
         (array_agg(id order by time desc, id desc))[1] as latest_id,
         (array_agg(value order by time desc, id desc))[1] as latest_value
    from usage_events where meter in (${list.join(', ')}) and voided_at is null
    group by tenant_id, meter, date_trunc('hour', time), subject`;
}

/** The plans of the server's test fixtures (starter, pro, …), as YAML. */
export function fixturePlans(): string {
  return readFileSync(
    fileURLToPath(new URL('../packages/server/test/fixtures/plans.yaml', import.meta.url)),
    'utf8',
  );
}

/** Applies a plan file (default {@link fixturePlans}) through the API. */
export async function applyPlans(cp: ControlPlane, source = fixturePlans()): Promise<void> {
  await cp.call('POST', '/v1/plans/apply', { source });
}

/** Creates a tenant through the API (`POST /v1/tenants` with `body`) and answers its id. */
export async function createTenant(cp: ControlPlane, body: Record<string, unknown>): Promise<string> {
  const created = await cp.call('POST', '/v1/tenants', body);
  return String(created.id);
}

/** Creates an app key (the SDK's preset) through the API and answers its secret. */
export async function createAppKey(cp: ControlPlane, name = 'app'): Promise<string> {
  const created = await cp.call('POST', '/v1/api-keys', { name, preset: 'app' });
  return String(created.secret);
}

// ---------------------------------------------------------------------------------------------
// The machine and the report

/** The machine a run was made on, and how busy it was at the start and at the end. */
export interface Machine {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGb: number;
  readonly platform: string;
  readonly node: string;
  readonly postgres: string;
  readonly loadavgStart: [number, number, number];
  readonly loadavgEnd: [number, number, number];
}

/** The admin server's PostgreSQL version, e.g. `15.8`. */
export async function postgresVersion(): Promise<string> {
  const result = await admin((c) => c.query<{ server_version: string }>('show server_version'));
  return result.rows[0]?.server_version ?? 'unknown';
}

/** This machine, with the load average now as the run's end. */
export function describeMachine(postgres: string, loadavgStart: [number, number, number]): Machine {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
    memoryGb: round(os.totalmem() / 2 ** 30, 1),
    platform: `${os.platform()} ${os.release()}`,
    node: process.version,
    postgres,
    loadavgStart,
    loadavgEnd: loadavg(),
  };
}

/** Prints a blank line, the bench's name with the machine, and the load averages. */
export function printHeader(bench: string, machine: Machine): void {
  console.log('');
  console.log(
    `bench:${bench} — ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}, PostgreSQL ${machine.postgres}`,
  );
  console.log(
    `load average (1/5/15 min): start ${machine.loadavgStart.join(' ')}, end ${machine.loadavgEnd.join(' ')}`,
  );
}

/** A row of a bench's report: a figure, its value, the target, the same run's ceiling. */
export interface Row {
  figure: string;
  value: string;
  target: string;
  ceiling: string;
  /** Whether the target is met; null for a figure given for information. */
  pass: boolean | null;
}

/** Prints the rows as a table: figure | value | target | ceiling (same run) | result. */
export function printTable(table: readonly Row[]): void {
  const header = ['figure', 'value', 'target', 'ceiling (same run)', 'result'];
  const cells = table.map((r) => [
    r.figure,
    r.value,
    r.target,
    r.ceiling,
    r.pass === null ? '' : r.pass ? 'PASS' : 'FAIL',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] as string).length)));
  const line = (c: string[]) => c.map((v, i) => v.padEnd(widths[i] as number)).join(' | ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const c of cells) console.log(line(c));
}

/** JSON as the repository's formatter (Biome) writes it: arrays of numbers or strings on one line. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    /\[\n\s*([^[\]{}]*?)\n\s*\]/g,
    (_, items: string) => `[${items.split(/,\n\s*/).join(', ')}]`,
  );
}

/** What every bench's JSON starts with. */
export interface ResultsHead {
  readonly startedAt: Date;
  readonly machine: Machine;
  /** The bench's settings; `out` is where the JSON goes, and is left out of it. */
  readonly settings: { readonly out: string; readonly [setting: string]: unknown };
  readonly targets: unknown;
}

/**
 * Writes `{startedAt, finishedAt, machine, settings, targets, ...results}` as JSON to
 * `head.settings.out` (making its folder), and says where on stdout.
 */
export function writeResults(head: ResultsHead, results: Record<string, unknown>): void {
  const { out } = head.settings;
  const json = {
    startedAt: head.startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: head.machine,
    settings: { ...head.settings, out: undefined },
    targets: head.targets,
    ...results,
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${toJson(json)}\n`);
  console.log('');
  console.log(`results written to ${out}`);
}

/** When a run started, how busy the machine was then, and the PostgreSQL it measures. */
export interface RunStart {
  readonly startedAt: Date;
  readonly loadavgStart: [number, number, number];
  /** The admin server's version, or `not used` for a bench without PostgreSQL. */
  readonly postgres: string;
}

/** Notes a run's start; `postgres: false` for a bench that does not use PostgreSQL. */
export async function startRun(options: { readonly postgres?: boolean } = {}): Promise<RunStart> {
  const startedAt = new Date();
  const loadavgStart = loadavg();
  const postgres = options.postgres === false ? 'not used' : await postgresVersion();
  return { startedAt, loadavgStart, postgres };
}

/** What a run reports: see {@link report}. */
export interface Report {
  readonly settings: ResultsHead['settings'];
  readonly targets: unknown;
  readonly table: readonly Row[];
  /** How the figures were measured, a line each, printed between the header and the table. */
  readonly notes?: readonly string[];
  /** The JSON's figures, after its head. */
  readonly results: Record<string, unknown>;
}

/**
 * Ends a run: the header with the machine (the load average now as the end), the notes and a
 * blank line when there are notes, the table, and the JSON results.
 */
export function report(
  bench: string,
  run: RunStart,
  { settings, targets, table, notes = [], results }: Report,
): void {
  const machine = describeMachine(run.postgres, run.loadavgStart);
  printHeader(bench, machine);
  for (const note of notes) console.log(note);
  if (notes.length > 0) console.log('');
  printTable(table);
  writeResults({ startedAt: run.startedAt, machine, settings, targets }, results);
}

/** Runs a bench's `main`; a failure is printed on stderr and sets the exit code to 1. */
export function runBench(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
