import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import type pg from 'pg';
import {
  ADMIN_URL,
  admin,
  applyPlans,
  type ControlPlane,
  createTenant as create,
  describeMachine,
  dropControlPlane,
  inParallel,
  loadavg,
  logger,
  postgresVersion,
  printHeader,
  printTable,
  type Row,
  round,
  runBench,
  setting,
  startControlPlane,
  writeResults,
} from './bench-support.ts';
import { ChildRunner } from './child-runner.ts';
import type { LoadResult, LoadSpec } from './load.ts';
import { type Summary, summarize } from './stats.ts';

type Placement = 'pool' | 'schema' | 'database';
const PLACEMENTS: readonly Placement[] = ['pool', 'schema', 'database'];

const settings = {
  adminUrl: ADMIN_URL,
  tenants: setting('BENCH_TENANTS', 1000),
  connections: setting('BENCH_CONNECTIONS', 50),
  durationS: setting('BENCH_DURATION_S', 10),
  warmupS: setting('BENCH_WARMUP_S', 3),
  rate: setting('BENCH_RATE', 2000),
  rateConnections: setting('BENCH_RATE_CONNECTIONS', 16),
  rounds: setting('BENCH_ROUNDS', 5),
  provisionN: setting('BENCH_PROVISION_N', 100),
  rawN: setting('BENCH_RAW_N', 50),
  only: process.env.BENCH_ONLY || 'all',
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/api.json', import.meta.url)),
};

const targets = {
  readRatio: 0.5,
  readP99AtRateMs: 10,
  provisionMs: { pool: 20, schema: 300, database: 1500 } satisfies Record<Placement, number>,
};

const log = logger('api');

// ---------------------------------------------------------------------------------------------
// The load generator (a child process)

// ---------------------------------------------------------------------------------------------
// The control plane under test

type Tenantry = ControlPlane;

function createTenant(t: Tenantry, placement: Placement, slug: string): Promise<string> {
  return create(t, { slug, name: slug, plan: 'pro', placement });
}

// ---------------------------------------------------------------------------------------------
// 1. Entitlement reads

/** The ceiling: Fastify with no plugins and one route returning a small JSON object. */
async function startBare(): Promise<{ app: FastifyInstance; origin: string }> {
  const app = Fastify({ logger: false });
  app.get<{ Params: { id: string } }>('/v1/tenants/:id/entitlements', async (request) => ({
    tenant_id: request.params.id,
    active: true,
  }));
  const origin = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, origin };
}

/**
 * Load runs of one server merged: requests and time summed, latency samples pooled, plus the CPU
 * time this process (the server) spent per 2xx response of the measured runs. Server CPU per
 * request is less sensitive than throughput to other processes on the machine.
 */
type Measured = Omit<LoadResult, 'samples' | 'autocannon'> & {
  serverCpuUsPerRequest: number;
  /** Requests per second of each measured segment, in the order they ran. */
  segmentsPerSec: number[];
};

/**
 * Measures the bare route and Tenantry under the same load, interleaved: a warm-up of each, then
 * `rounds` segments of each in turn (bare first in even rounds, Tenantry first in odd ones), each
 * `durationS / rounds` long. Both are thereby exposed to whatever else the machine does at the
 * time, rather than one getting a quiet ten seconds and the other a busy one.
 */
async function measurePair(
  load: ChildRunner<LoadSpec>,
  spec: Omit<LoadSpec, 'origin'>,
  origins: { bare: string; tenantry: string },
): Promise<{ bare: Measured; tenantry: Measured }> {
  const rounds = Math.max(1, Math.round(settings.rounds));
  const kinds = ['bare', 'tenantry'] as const;
  const runs = { bare: [] as LoadResult[], tenantry: [] as LoadResult[] };
  const cpuUs = { bare: 0, tenantry: 0 };
  const warmups = { bare: 0, tenantry: 0 };
  for (const kind of kinds) {
    if (spec.warmupS <= 0) break;
    const warm = await load.run<LoadResult>({
      ...spec,
      origin: origins[kind],
      durationS: spec.warmupS,
      warmupS: 0,
    });
    warmups[kind] = warm.ok;
  }
  for (let round = 0; round < rounds; round++) {
    for (const kind of round % 2 === 0 ? kinds : [...kinds].reverse()) {
      const before = process.cpuUsage();
      const result = await load.run<LoadResult>({
        ...spec,
        origin: origins[kind],
        durationS: spec.durationS / rounds,
        warmupS: 0,
        returnSamples: true,
      });
      const cpu = process.cpuUsage(before);
      cpuUs[kind] += cpu.user + cpu.system;
      runs[kind].push(result);
    }
  }
  const merge = (kind: (typeof kinds)[number]): Measured => {
    const all = runs[kind];
    const sum = (f: (r: LoadResult) => number) => all.reduce((total, r) => total + f(r), 0);
    const ok = sum((r) => r.ok);
    const durationS = sum((r) => r.durationS);
    const pool = (f: (r: LoadResult) => Float64Array | undefined) => {
      const pooled = new Float64Array(sum((r) => f(r)?.length ?? 0));
      let at = 0;
      for (const r of all) {
        const samples = f(r) ?? new Float64Array(0);
        pooled.set(samples, at);
        at += samples.length;
      }
      return summarize(pooled);
    };
    const first = all[0] as LoadResult;
    return {
      requestsPerSec: Math.round(ok / durationS),
      latencyMs: pool((r) => r.samples?.latency),
      ok,
      warmupOk: warmups[kind],
      non2xx: sum((r) => r.non2xx),
      errors: sum((r) => r.errors),
      timeouts: sum((r) => r.timeouts),
      durationS: round(durationS),
      generatorCpuUsPerRequest: round(sum((r) => r.generatorCpuUsPerRequest * r.ok) / Math.max(1, ok), 1),
      ...(first.schedule
        ? {
            schedule: {
              latencyFromWriteMs: pool((r) => r.samples?.fromWrite),
              sendLagMs: pool((r) => r.samples?.sendLag),
              maxInFlight: Math.max(...all.map((r) => r.schedule?.maxInFlight ?? 0)),
            },
          }
        : {}),
      serverCpuUsPerRequest: round(cpuUs[kind] / Math.max(1, ok), 1),
      segmentsPerSec: all.map((r) => r.requestsPerSec),
    };
  };
  return { bare: merge('bare'), tenantry: merge('tenantry') };
}

interface ReadResults {
  tenants: number;
  entitlementMaxAgeMs: number;
  loadavgBefore: [number, number, number];
  max: { tenantry: Measured; bare: Measured; ratio: number };
  fixedRate: { rate: number; tenantry: Measured; bare: Measured };
}

async function benchReads(t: Tenantry, load: ChildRunner<LoadSpec>): Promise<ReadResults> {
  log(`creating ${settings.tenants} pool tenants over the API`);
  const slugs = Array.from({ length: settings.tenants }, (_, i) => `read-${i}`);
  const ids = await inParallel(slugs, 8, (slug) => createTenant(t, 'pool', slug));
  const ran = await t.services.jobs.runDue();
  log(`provisioned: ${ran} jobs ran`);
  const sample = await t.api('GET', `/v1/tenants/${ids[0]}/entitlements`);
  if (sample.status !== 200) throw new Error(`entitlements: ${sample.status} ${JSON.stringify(sample.body)}`);

  const paths = ids.map((id) => `/v1/tenants/${id}/entitlements`);
  const headers = { authorization: `Bearer ${t.token}` };
  const bare = await startBare();
  const base = {
    paths,
    headers,
    connections: settings.connections,
    durationS: settings.durationS,
    warmupS: settings.warmupS,
  };
  const loadavgBefore = loadavg();
  const origins = { bare: bare.origin, tenantry: t.origin };
  try {
    const segments = `${settings.rounds} interleaved segments of ${round(settings.durationS / settings.rounds)} s each`;
    log(`max throughput, bare route and entitlements: ${settings.connections} connections, ${segments}`);
    const { bare: bareMax, tenantry: tenantryMax } = await measurePair(load, base, origins);
    log(
      `fixed rate ${settings.rate}/s (open loop, pool of ${settings.rateConnections} connections), bare route and entitlements, ${segments}`,
    );
    const atRate = { ...base, connections: settings.rateConnections, rate: settings.rate };
    const { bare: bareRate, tenantry: tenantryRate } = await measurePair(load, atRate, origins);
    return {
      tenants: settings.tenants,
      entitlementMaxAgeMs: t.config.entitlementMaxAgeMs,
      loadavgBefore,
      max: {
        tenantry: tenantryMax,
        bare: bareMax,
        ratio: round(tenantryMax.requestsPerSec / bareMax.requestsPerSec, 3),
      },
      fixedRate: { rate: settings.rate, tenantry: tenantryRate, bare: bareRate },
    };
  } finally {
    await bare.app.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Provisioning

interface PlacementTimes {
  /** POST /v1/tenants until active: the create request plus the provisioning job. */
  total: Summary;
  /** The create request alone. */
  create: Summary;
  /** The provisioning job alone (jobs.runDue()). */
  job: Summary;
  /** Raw Postgres doing the minimum the placement needs. */
  raw: Summary;
}

interface ProvisioningResults {
  loadavgBefore: [number, number, number];
  n: number;
  rawN: number;
  placements: Record<Placement, PlacementTimes>;
}

const RAW_PREFIX = `tenantry_benchraw_${randomBytes(3).toString('hex')}`;

/** The minimum raw Postgres work for each placement, one statement at a time over one connection. */
const raw: Record<Placement, (client: pg.Client, i: number) => Promise<void>> = {
  // A tenant row written in its own transaction.
  pool: async (client, i) => {
    await client.query('begin');
    await client.query('insert into bench_raw_pool (id, slug) values ($1, $2)', [`raw_${i}`, `raw-${i}`]);
    await client.query('commit');
  },
  // What Provisioner.provision does for a schema, without its existence checks.
  schema: async (client, i) => {
    const name = `${RAW_PREFIX}_s${i}`;
    await client.query('begin');
    await client.query(`create role ${name} nologin`);
    await client.query(`grant ${name} to current_user`);
    await client.query(`create schema ${name} authorization ${name}`);
    await client.query('commit');
  },
  // What Provisioner.provision does for a database, without its existence checks.
  database: async (client, i) => {
    const name = `${RAW_PREFIX}_d${i}`;
    await client.query(`create role ${name} nologin`);
    await client.query(`grant ${name} to current_user`);
    await client.query(`create database ${name} owner ${name}`);
    await client.query(`revoke all on database ${name} from public`);
  },
};

async function benchProvisioning(t: Tenantry, rawMade: { databases: string[]; roles: string[] }) {
  const loadavgBefore = loadavg();
  type Samples = { total: number[]; create: number[]; job: number[]; raw: number[] };
  const samples = (): Samples => ({ total: [], create: [], job: [], raw: [] });
  const times: Record<Placement, Samples> = { pool: samples(), schema: samples(), database: samples() };
  log(`provisioning ${settings.provisionN} tenants of each placement, interleaved`);
  for (let i = 0; i < settings.provisionN; i++) {
    for (const placement of PLACEMENTS) {
      const started = performance.now();
      const id = await createTenant(t, placement, `prov-${placement}-${i}`);
      const created = performance.now();
      const ran = await t.services.jobs.runDue();
      const done = performance.now();
      if (ran !== 1) throw new Error(`expected one provisioning job, ${ran} ran`);
      const shown = await t.api('GET', `/v1/tenants/${id}`);
      if (shown.body?.state !== 'active')
        throw new Error(`tenant ${id} is not active after provisioning: ${JSON.stringify(shown.body)}`);
      times[placement].total.push(done - started);
      times[placement].create.push(created - started);
      times[placement].job.push(done - created);
    }
  }
  log(`raw Postgres ceiling: ${settings.rawN} of each placement, interleaved`);
  await admin(async (client) => {
    await client.query('create table bench_raw_pool (id text primary key, slug text not null unique)');
    for (let i = 0; i < settings.rawN; i++) {
      for (const placement of PLACEMENTS) {
        if (placement !== 'pool') rawMade.roles.push(`${RAW_PREFIX}_${placement[0]}${i}`);
        if (placement === 'database') rawMade.databases.push(`${RAW_PREFIX}_d${i}`);
        const started = performance.now();
        await raw[placement](client, i);
        times[placement].raw.push(performance.now() - started);
      }
    }
    // The raw schemas live in the bench database, dropped with it; their roles own them.
    for (let i = 0; i < settings.rawN; i++) await client.query(`drop schema ${RAW_PREFIX}_s${i}`);
    await client.query('drop table bench_raw_pool');
  }, t.url);
  const placements = Object.fromEntries(
    PLACEMENTS.map((p) => [
      p,
      {
        total: summarize(times[p].total),
        create: summarize(times[p].create),
        job: summarize(times[p].job),
        raw: summarize(times[p].raw),
      },
    ]),
  ) as Record<Placement, PlacementTimes>;
  return {
    loadavgBefore,
    n: settings.provisionN,
    rawN: settings.rawN,
    placements,
  } satisfies ProvisioningResults;
}

// ---------------------------------------------------------------------------------------------
// Report

function rows(reads: ReadResults | null, provisioning: ProvisioningResults | null): Row[] {
  const out: Row[] = [];
  if (reads) {
    const { max, fixedRate } = reads;
    const floor = Math.round(max.bare.requestsPerSec * targets.readRatio);
    out.push({
      figure: `entitlement reads, max throughput (${settings.connections} conns)`,
      value: `${max.tenantry.requestsPerSec} req/s (${max.ratio}x)`,
      target: `>= ${targets.readRatio}x ceiling (${floor} req/s)`,
      ceiling: `${max.bare.requestsPerSec} req/s bare Fastify`,
      pass: max.ratio >= targets.readRatio && max.tenantry.non2xx === 0,
    });
    out.push({
      figure: '  server CPU per request at max throughput',
      value: `${max.tenantry.serverCpuUsPerRequest} µs`,
      target: '-',
      ceiling: `${max.bare.serverCpuUsPerRequest} µs`,
      pass: null,
    });
    out.push({
      figure: '  load generator CPU per request at max throughput',
      value: `${max.tenantry.generatorCpuUsPerRequest} µs`,
      target: '-',
      ceiling: `${max.bare.generatorCpuUsPerRequest} µs`,
      pass: null,
    });
    out.push({
      figure: '  latency at max throughput, p50 / p99',
      value: `${max.tenantry.latencyMs.p50} / ${max.tenantry.latencyMs.p99} ms`,
      target: '-',
      ceiling: `${max.bare.latencyMs.p50} / ${max.bare.latencyMs.p99} ms`,
      pass: null,
    });
    const achieved = fixedRate.tenantry.requestsPerSec;
    out.push({
      figure: `entitlement reads at ${fixedRate.rate} req/s, p99 from due time`,
      value: `${fixedRate.tenantry.latencyMs.p99} ms (p50 ${fixedRate.tenantry.latencyMs.p50}, ${achieved} req/s)`,
      target: `<= ${targets.readP99AtRateMs} ms`,
      ceiling: `${fixedRate.bare.latencyMs.p99} ms bare (${fixedRate.bare.requestsPerSec} req/s)`,
      pass:
        fixedRate.tenantry.latencyMs.p99 <= targets.readP99AtRateMs &&
        achieved >= fixedRate.rate * 0.95 &&
        fixedRate.tenantry.non2xx === 0,
    });
    const from = (m: Measured) =>
      `${m.schedule?.latencyFromWriteMs.p99} ms from write, lag p99 ${m.schedule?.sendLagMs.p99} ms, ≤ ${m.schedule?.maxInFlight} in flight`;
    out.push({
      figure: `  at ${fixedRate.rate} req/s: p99 from write, send lag, in flight`,
      value: from(fixedRate.tenantry),
      target: '-',
      ceiling: from(fixedRate.bare),
      pass: null,
    });
  }
  if (provisioning) {
    for (const placement of PLACEMENTS) {
      const p = provisioning.placements[placement];
      const target = targets.provisionMs[placement];
      for (const q of ['p50', 'p99'] as const) {
        out.push({
          figure: `provision ${placement}, ${q} (create ${p.create[q]}, job ${p.job[q]} ms)`,
          value: `${p.total[q]} ms`,
          target: `<= ${target} ms`,
          ceiling: `${p.raw[q]} ms raw Postgres`,
          pass: p.total[q] <= target,
        });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadavgStart = loadavg();
  const postgres = await postgresVersion();
  // The production defaults (entitlement cache age, pool schema, retention).
  const t = await startControlPlane();
  log(`control plane on ${t.origin}, database ${t.name}`);
  const load = new ChildRunner<LoadSpec>(new URL('./load.ts', import.meta.url));
  const rawMade = { databases: [] as string[], roles: [] as string[] };
  let reads: ReadResults | null = null;
  let provisioning: ProvisioningResults | null = null;
  try {
    await applyPlans(t);
    if (settings.only !== 'provisioning') reads = await benchReads(t, load);
    if (settings.only !== 'reads') provisioning = await benchProvisioning(t, rawMade);
  } finally {
    load.close();
    const dropped = await dropControlPlane(t, rawMade);
    log(`dropped ${t.name}, ${dropped.tenantDatabases} tenant databases, roles`);
  }
  const machine = describeMachine(postgres, loadavgStart);
  const table = rows(reads, provisioning);
  printHeader('api', machine);
  console.log(
    `servers in this process, load generator in a child process (autocannon at max throughput, open loop at a fixed rate); ${settings.warmupS} s warm-up, then ${settings.durationS} s measured per server in ${settings.rounds} interleaved segments`,
  );
  console.log('');
  printTable(table);
  writeResults(
    { startedAt, machine, settings, targets },
    {
      reads,
      provisioning,
      table,
    },
  );
}

runBench(main);
