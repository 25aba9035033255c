import { readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import {
  ADMIN_URL,
  applyPlans,
  type ControlPlane,
  closeControlPlane,
  createTenant,
  describeMachine,
  dropControlPlane,
  inParallel,
  loadavg,
  logger,
  postgresVersion,
  printHeader,
  printTable,
  type Row,
  recomputeRollupsSql,
  round,
  runBench,
  setting,
  startControlPlane,
  writeResults,
} from './bench-support.ts';
import { ChildRunner } from './child-runner.ts';
import { type EventSeries, eventAt, valueSum } from './ingest-events.ts';
import type { IngestLoadResult, IngestSpec, LoadJob, TimedResult } from './ingest-load.ts';

const settings = {
  adminUrl: ADMIN_URL,
  tenants: setting('BENCH_TENANTS', 1000, 'non-negative'),
  events: setting('BENCH_EVENTS', 1_000_000, 'non-negative'),
  batch: setting('BENCH_BATCH', 1000, 'non-negative'),
  concurrency: setting('BENCH_CONCURRENCY', 4, 'non-negative'),
  idempotencyKeys: setting('BENCH_IDEMPOTENCY_KEYS', 1, 'non-negative') !== 0,
  limit: setting('BENCH_LIMIT', 1, 'non-negative') !== 0,
  warmupBatches: setting('BENCH_WARMUP_BATCHES', 20, 'non-negative'),
  queryEvents: setting('BENCH_QUERY_EVENTS', 10_000_000, 'non-negative'),
  querySubjects: setting('BENCH_QUERY_SUBJECTS', 3, 'non-negative'),
  queryN: setting('BENCH_QUERY_N', 300, 'non-negative'),
  only: process.env.BENCH_ONLY || 'all',
  /** Keep the database at the end, for EXPLAIN ANALYZE; drop it by hand. */
  keepDatabase: process.env.BENCH_KEEP_DB === '1',
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/ingest.json', import.meta.url)),
};

const targets = { eventsPerSec: 30_000, stretchEventsPerSec: 100_000, duplicateRatio: 0.8, queryP99Ms: 50 };

const INGEST_METER = 'api_calls';
const QUERY_METER = 'bench_query';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * One plan with two `sum` meters; `api_calls` has a soft limit (unless BENCH_LIMIT=0), so every
 * batch also checks the tenants' thresholds, as it would for a vendor who limits what it meters.
 */
const planFile = () => `currency: usd
meters:
  ${INGEST_METER}:
    name: API calls
    aggregation: sum
  ${QUERY_METER}:
    name: Query benchmark
    aggregation: sum
plans:
  metered:
    name: Metered
    limits: ${settings.limit ? `{ ${INGEST_METER}: { value: 1000000000000, enforcement: soft } }` : '{}'}
    prices:
      - type: usage
        meter: ${INGEST_METER}
        unit_amount: "0.001"
`;

const log = logger('ingest');

/** A `pg` client on `url` with the server's session settings (UTC: rollups are UTC hours). */
async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    options: '-c search_path=tenantry,public -c TimeZone=UTC',
  });
  await client.connect();
  return client;
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(url);
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// The control plane under test

type Tenantry = ControlPlane;

function startTenantry(): Promise<Tenantry> {
  return startControlPlane({
    // As in `tenantry serve`: the threshold checker drains what ingestion queues, in this process,
    // so its cost is part of the figures.
    beforeListen(app, services, config) {
      const stopChecker = new AbortController();
      const checker = services.usage.thresholds.work(stopChecker.signal, config.workerPollMs, (error) =>
        log(`threshold checker failed: ${String(error)}`),
      );
      app.addHook('onClose', async () => {
        stopChecker.abort();
        await checker;
      });
    },
  });
}

async function dropTenantry(t: Tenantry): Promise<void> {
  if (settings.keepDatabase) {
    await closeControlPlane(t);
    log(`kept ${t.url} (BENCH_KEEP_DB=1): drop it and its tenants' roles by hand`);
    return;
  }
  const dropped = await dropControlPlane(t);
  log(`dropped ${t.name} and the roles of its ${dropped.tenants} tenants`);
}

// ---------------------------------------------------------------------------------------------
// Checks

interface Totals {
  events: number;
  eventValue: number;
  rollupCount: number;
  rollupSum: number;
  /** Rollup rows that differ from the recompute, either way. */
  mismatchedRollups: number;
}

async function totals(url: string, meter: string): Promise<Totals> {
  return withClient(url, async (client) => {
    await client.query(`set work_mem = '256MB'`);
    const { rows } = await client.query<{ [k: string]: string }>(
      `select (select count(*) from usage_events where meter = $1) as events,
              (select coalesce(sum(value), 0) from usage_events where meter = $1) as event_value,
              (select coalesce(sum(count), 0) from usage_rollups where meter = $1) as rollup_count,
              (select coalesce(sum(sum), 0) from usage_rollups where meter = $1) as rollup_sum`,
      [meter],
    );
    const stored = `select tenant_id, meter, hour, subject, sum, count, max, latest_time, latest_id, latest_value
                      from usage_rollups where meter = '${meter}'`;
    const diff = await client.query<{ n: string }>(
      `select count(*) as n from ((${recomputeRollupsSql(meter)} except all ${stored})
                                  union all (${stored} except all ${recomputeRollupsSql(meter)})) d`,
    );
    const row = rows[0] ?? {};
    return {
      events: Number(row.events),
      eventValue: Number(row.event_value),
      rollupCount: Number(row.rollup_count),
      rollupSum: Number(row.rollup_sum),
      mismatchedRollups: Number(diff.rows[0]?.n),
    };
  });
}

// ---------------------------------------------------------------------------------------------
// 1 and 2. Ingestion

/** The ceiling: the same events COPYed into a scratch table shaped like usage_events. */
async function copyCeiling(t: Tenantry, series: EventSeries, n: number) {
  await withClient(t.url, (c) =>
    c.query('create table tenantry.bench_copy_events (like tenantry.usage_events including all)'),
  );
  const streams = settings.concurrency;
  const per = Math.ceil(n / streams);
  const receivedAt = new Date().toISOString();
  const clients = await Promise.all(Array.from({ length: streams }, () => connect(t.url)));
  const started = performance.now();
  try {
    await Promise.all(
      clients.map(async (client, s) => {
        const stream = client.query(
          copyFrom(
            'copy bench_copy_events (tenant_id, id, meter, value, time, subject, unique_value, properties, received_at) from stdin',
          ),
        );
        async function* rows() {
          const end = Math.min(n, (s + 1) * per);
          for (let from = s * per; from < end; from += 1000) {
            let chunk = '';
            for (let i = from; i < Math.min(end, from + 1000); i++) {
              const e = eventAt(series, i);
              chunk += `${e.tenant}\t${e.id}\t${e.meter}\t${e.value}\t${e.time}\t\t\\N\t\\N\t${receivedAt}\n`;
            }
            yield chunk;
          }
        }
        await pipeline(rows, stream);
      }),
    );
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
  const elapsedS = (performance.now() - started) / 1000;
  const stored = await withClient(t.url, async (c) => {
    const { rows } = await c.query<{ n: string }>('select count(*) as n from bench_copy_events');
    await c.query('drop table bench_copy_events');
    return Number(rows[0]?.n);
  });
  if (stored !== n) throw new Error(`the COPY ceiling stored ${stored} rows, not ${n}`);
  return { events: n, streams, elapsedS: round(elapsedS, 3), eventsPerSec: Math.round(n / elapsedS) };
}

async function ingestRun(
  t: Tenantry,
  load: ChildRunner<LoadJob>,
  spec: Omit<IngestSpec, 'type' | 'origin' | 'token'>,
) {
  const before = process.cpuUsage();
  const databaseBefore = await databaseCpuMs(t);
  const loadavgBefore = loadavg();
  const result = await load.run<IngestLoadResult>({
    type: 'ingest',
    origin: t.origin,
    token: t.token,
    ...spec,
  });
  const cpu = process.cpuUsage(before);
  const databaseCpu = cpuBetween(databaseBefore, await databaseCpuMs(t));
  if (result.failures.length > 0) throw new Error(`ingestion failed: ${result.failures.join('\n')}`);
  return {
    ...result,
    loadavgBefore,
    /** CPU of the server process (this one) per 1,000 events, milliseconds. */
    serverCpuMsPer1000: round((cpu.user + cpu.system) / 1000 / (result.events / 1000)),
    /**
     * CPU of the PostgreSQL backends serving the bench database per 1,000 events, milliseconds;
     * null where /proc cannot be read. Unlike events/s, it does not depend on what else the
     * machine is doing. The server's shared background processes (WAL writer, checkpointer) are
     * not in it.
     */
    databaseCpuMsPer1000: databaseCpu === null ? null : round(databaseCpu / (result.events / 1000)),
  };
}

/**
 * The CPU time, in milliseconds, each PostgreSQL backend connected to the bench database has
 * used so far, by pid; null when /proc cannot be read (not Linux, or PostgreSQL elsewhere).
 */
async function databaseCpuMs(t: Tenantry): Promise<Map<number, number> | null> {
  const rows = await withClient(t.url, async (c) => {
    const result = await c.query<{ pid: number }>(
      'select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
    );
    return result.rows;
  });
  const ticksPerSecond = 100;
  const used = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      // utime and stime: fields 14 and 15 of /proc/PID/stat, the 12th and 13th after the command.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      used.set(pid, ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond);
    } catch {
      return null;
    }
  }
  return used;
}

/** The CPU the backends used between two readings of {@link databaseCpuMs}. */
function cpuBetween(before: Map<number, number> | null, after: Map<number, number> | null): number | null {
  if (!before || !after) return null;
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}

async function benchIngest(t: Tenantry, load: ChildRunner<LoadJob>, tenants: string[]) {
  const n = Math.floor(settings.events / settings.batch) * settings.batch;
  const batches = n / settings.batch;
  const half = Math.floor(settings.batch / 2);
  const endMs = Math.floor(Date.now() / 1000) * 1000 - 60_000;
  const series = (prefix: string): EventSeries => ({
    prefix,
    tenants,
    meter: INGEST_METER,
    endMs,
    spanS: 24 * 3600,
  });
  const common = { concurrency: settings.concurrency, idempotencyKeys: settings.idempotencyKeys };

  log(`warm-up: ${settings.warmupBatches} batches of ${settings.batch}`);
  const warm = series('w');
  const warmN = settings.warmupBatches * settings.batch;
  await ingestRun(t, load, {
    ...common,
    series: warm,
    fresh: settings.batch,
    batches: settings.warmupBatches,
  });
  // A control plane that has been running has planner statistics for its tables; a fresh bench
  // database has none until autovacuum gets to it, and plans the threshold check badly meanwhile.
  await withClient(t.url, (c) => c.query('analyze'));

  log(`ceiling: COPY of ${n} events in ${settings.concurrency} streams into a table like usage_events`);
  const first = series('a');
  const ceiling = await copyCeiling(t, first, n);
  log(`  ${ceiling.eventsPerSec} events/s`);

  log(`run 1: ${n} new events in ${batches} batches of ${settings.batch}, ${settings.concurrency} clients`);
  const unique = await ingestRun(t, load, { ...common, series: first, fresh: settings.batch, batches });
  log(`  ${unique.eventsPerSec} events/s`);
  const afterUnique = await totals(t.url, INGEST_METER);

  log(`run 2: ${batches} batches of ${half} new + ${settings.batch - half} replayed events`);
  const second = series('b');
  const replayed = await ingestRun(t, load, {
    ...common,
    series: second,
    fresh: half,
    replays: { series: first, count: settings.batch - half },
    batches,
  });
  log(`  ${replayed.eventsPerSec} events/s`);
  const afterReplayed = await totals(t.url, INGEST_METER);
  const backlog = await t.database.db
    .selectFrom('usage_threshold_queue')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const raised = await t.database.db
    .selectFrom('usage_thresholds')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  log(
    `  threshold checker: ${raised.n} thresholds raised, ${backlog.n} batches still queued for threshold checks at the end`,
  );

  const distinct = warmN + n + half * batches;
  const expectedValue = valueSum(0, warmN) + valueSum(0, n) + valueSum(0, half * batches);
  const checks = {
    run1Accepted: unique.accepted === n && unique.duplicates === 0 && unique.rejected === 0,
    run2Accepted:
      replayed.accepted === half * batches &&
      replayed.duplicates === (settings.batch - half) * batches &&
      replayed.rejected === 0,
    eventsStoredOnce: afterReplayed.events === distinct,
    rollupCountEqualsDistinct: afterReplayed.rollupCount === distinct,
    rollupSumEqualsDistinctValues:
      afterReplayed.rollupSum === expectedValue && afterReplayed.eventValue === expectedValue,
    rollupsEqualRecompute: afterUnique.mismatchedRollups === 0 && afterReplayed.mismatchedRollups === 0,
  };
  return {
    events: n,
    batch: settings.batch,
    concurrency: settings.concurrency,
    idempotencyKeys: settings.idempotencyKeys,
    ceiling,
    unique: { ...unique, ratio: round(unique.eventsPerSec / ceiling.eventsPerSec, 3) },
    replayed: {
      ...replayed,
      ratio: round(replayed.eventsPerSec / ceiling.eventsPerSec, 3),
      vsUnique: round(replayed.eventsPerSec / unique.eventsPerSec, 3),
    },
    expected: { distinct, value: expectedValue },
    afterUnique,
    afterReplayed,
    checks,
  };
}

// ---------------------------------------------------------------------------------------------
// 3. Usage queries

/** The statements UsageQuery runs for a report without group_by: the series, then the total. */
function rollupStatements(tenantId: string, from: Date, to: Date, window: 'day' | 'hour') {
  const step = window === 'day' ? DAY : HOUR;
  const starts: string[] = [];
  const ends: string[] = [];
  for (let at = from.getTime(); at < to.getTime(); at += step) {
    starts.push(new Date(at).toISOString());
    ends.push(new Date(Math.min(at + step, to.getTime())).toISOString());
  }
  const text = `select (b.i - 1)::int as i, '' as subject, (sum(r.sum))::text as value
    from unnest($1::timestamptz[], $2::timestamptz[]) with ordinality as b(start, stop, i)
    join usage_rollups r on r.tenant_id = $3 and r.meter = $4 and r.hour >= b.start and r.hour < b.stop
    group by 1, 2 order by 1, 2`;
  return [
    { text, values: [starts, ends, tenantId, QUERY_METER] },
    { text, values: [[from.toISOString()], [to.toISOString()], tenantId, QUERY_METER] },
  ];
}

async function benchQuery(t: Tenantry, load: ChildRunner<LoadJob>, tenants: string[]) {
  const n = settings.queryEvents;
  const to = new Date(Math.floor(Date.now() / DAY) * DAY);
  const from = new Date(to.getTime() - 30 * DAY);
  const perTenant = Math.ceil(n / tenants.length);
  log(
    `loading ${n} events (${perTenant} per tenant, ${settings.querySubjects} subjects) over ${from.toISOString()} → ${to.toISOString()}`,
  );
  const load10m = await withClient(t.url, async (client) => {
    await client.query(`create temporary table bench_tenants as
      select row_number() over (order by id) - 1 as n, id from tenantry.tenants`);
    const started = performance.now();
    const chunk = 1_000_000;
    for (let lo = 0; lo < n; lo += chunk) {
      const hi = Math.min(n, lo + chunk) - 1;
      // Events in (tenant, id) order, so the primary key grows at the right-hand edge.
      await client.query(
        `insert into usage_events (tenant_id, id, meter, value, time, subject, unique_value, properties, received_at)
         select t.id, 'q' || lpad(g::text, 9, '0'), $1, (g % 100) + 1,
                $2::timestamptz + ((g::bigint * 7919) % 2592000) * interval '1 second',
                'user-' || (g % $3), null, null, now()
         from generate_series($4::bigint, $5::bigint) g join bench_tenants t on t.n = g / $6`,
        [QUERY_METER, from.toISOString(), settings.querySubjects, lo, hi, perTenant],
      );
      log(`  ${hi + 1} events`);
    }
    const eventsS = (performance.now() - started) / 1000;
    const rolled = performance.now();
    await client.query(`set work_mem = '1GB'`);
    const built = await client.query(
      `insert into usage_rollups (tenant_id, meter, hour, subject, sum, count, max, latest_time, latest_id, latest_value)
       ${recomputeRollupsSql(QUERY_METER)}`,
    );
    const rollupsS = (performance.now() - rolled) / 1000;
    await client.query('analyze usage_events; analyze usage_rollups');
    const { rows } = await client.query<{ n: string; size: string }>(
      `select count(*) as n, pg_size_pretty(pg_total_relation_size('usage_events')) as size from usage_events`,
    );
    return {
      eventsS: round(eventsS, 1),
      rollupsS: round(rollupsS, 1),
      rollupRows: built.rowCount ?? 0,
      storedEvents: Number(rows[0]?.n),
      usageEventsSize: rows[0]?.size ?? '',
    };
  });
  log(
    `  events in ${load10m.eventsS} s, ${load10m.rollupRows} rollup rows in ${load10m.rollupsS} s; usage_events holds ${load10m.storedEvents} events (${load10m.usageEventsSize})`,
  );

  const pick = (i: number) => tenants[(i * 7919) % tenants.length] as string;
  const total = settings.queryN + 20;
  const results: Record<string, { tenantry: TimedResult; raw: TimedResult; rollupRowsPerTenant: number }> =
    {};
  for (const window of ['day', 'hour'] as const) {
    log(`GET usage, window=${window}: ${settings.queryN} requests after 20 warm-up`);
    const range = `from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`;
    const tenantry = await load.run<TimedResult>({
      type: 'http',
      origin: t.origin,
      token: t.token,
      paths: Array.from(
        { length: total },
        (_, i) => `/v1/tenants/${pick(i)}/usage?meter=${QUERY_METER}&${range}&window=${window}`,
      ),
      warmup: 20,
    });
    if (tenantry.failures.length > 0) throw new Error(`usage query failed: ${tenantry.failures.join('\n')}`);
    const sample = tenantry.sample as { series: unknown[]; total: number };
    const expectedBuckets = window === 'day' ? 30 : 720;
    if (sample.series.length !== expectedBuckets || !(sample.total > 0))
      throw new Error(`unexpected usage report: ${sample.series.length} buckets, total ${sample.total}`);
    log(`raw SQL of the same query (ceiling), window=${window}`);
    const raw = await load.run<TimedResult>({
      type: 'sql',
      url: t.url,
      requests: Array.from({ length: total }, (_, i) => rollupStatements(pick(i), from, to, window)),
      warmup: 20,
    });
    if (raw.failures.length > 0) throw new Error(`raw query failed: ${raw.failures.join('\n')}`);
    results[window] = { tenantry, raw, rollupRowsPerTenant: Math.round(load10m.rollupRows / tenants.length) };
  }
  return { events: n, from: from.toISOString(), to: to.toISOString(), load: load10m, windows: results };
}

// ---------------------------------------------------------------------------------------------
// Report

type IngestResults = Awaited<ReturnType<typeof benchIngest>>;
type QueryResults = Awaited<ReturnType<typeof benchQuery>>;

function rows(ingest: IngestResults | null, query: QueryResults | null): Row[] {
  const out: Row[] = [];
  if (ingest) {
    const { unique, replayed, ceiling, checks } = ingest;
    out.push({
      figure: `ingest ${ingest.events} new events, batches of ${ingest.batch}, ${ingest.concurrency} clients`,
      value: `${unique.eventsPerSec} events/s (${unique.ratio}x)`,
      target: `>= ${targets.eventsPerSec} (stretch ${targets.stretchEventsPerSec})`,
      ceiling: `${ceiling.eventsPerSec} events/s COPY, ${ceiling.streams} streams`,
      pass: unique.eventsPerSec >= targets.eventsPerSec && checks.run1Accepted,
    });
    out.push({
      figure: '  batch latency p50 / p99; server CPU, database CPU per 1,000 events',
      value: `${unique.latencyMs.p50} / ${unique.latencyMs.p99} ms; ${unique.serverCpuMsPer1000} ms; ${unique.databaseCpuMsPer1000 ?? 'n/a'} ms`,
      target: '-',
      ceiling: '-',
      pass: null,
    });
    out.push({
      figure: `ingest with half of every batch replayed`,
      value: `${replayed.eventsPerSec} events/s (${replayed.vsUnique}x run 1)`,
      target: `>= ${targets.duplicateRatio}x run 1`,
      ceiling: `${ceiling.eventsPerSec} events/s COPY (${replayed.ratio}x)`,
      pass: replayed.vsUnique >= targets.duplicateRatio && checks.run2Accepted,
    });
    out.push({
      figure: '  double counts (rollups vs distinct events; rollups vs recompute)',
      value: `${ingest.afterReplayed.rollupCount - ingest.expected.distinct} of ${ingest.expected.distinct}; ${ingest.afterReplayed.mismatchedRollups} rows differ`,
      target: '0; 0',
      ceiling: '-',
      pass:
        checks.eventsStoredOnce &&
        checks.rollupCountEqualsDistinct &&
        checks.rollupSumEqualsDistinctValues &&
        checks.rollupsEqualRecompute,
    });
  }
  if (query) {
    for (const window of ['day', 'hour'] as const) {
      const w = query.windows[window];
      if (!w) continue;
      out.push({
        figure: `usage query, 1 tenant, 30 days, window=${window}, p50 / p99 (${query.events} events stored)`,
        value: `${w.tenantry.latencyMs.p50} / ${w.tenantry.latencyMs.p99} ms`,
        target: `p99 <= ${targets.queryP99Ms} ms`,
        ceiling: `${w.raw.latencyMs.p50} / ${w.raw.latencyMs.p99} ms raw SQL`,
        pass: w.tenantry.latencyMs.p99 <= targets.queryP99Ms,
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadavgStart = loadavg();
  const postgres = await postgresVersion();
  const t = await startTenantry();
  log(`control plane on ${t.origin}, database ${t.name}`);
  const load = new ChildRunner<LoadJob>(new URL('./ingest-load.ts', import.meta.url));
  let ingest: IngestResults | null = null;
  let query: QueryResults | null = null;
  try {
    await applyPlans(t, planFile());
    log(`creating ${settings.tenants} pool tenants over the API`);
    const tenants = await inParallel(
      Array.from({ length: settings.tenants }, (_, i) => `meter-${i}`),
      8,
      (slug) => createTenant(t, { slug, name: slug, plan: 'metered', placement: 'pool' }),
    );
    log(`provisioned: ${await t.services.jobs.runDue()} jobs ran`);
    if (settings.only !== 'query') ingest = await benchIngest(t, load, tenants);
    if (settings.only !== 'ingest') query = await benchQuery(t, load, tenants);
  } finally {
    load.close();
    await dropTenantry(t);
  }
  const machine = describeMachine(postgres, loadavgStart);
  const table = rows(ingest, query);
  printHeader('ingest', machine);
  console.log(
    `server in this process, clients in a child process; ${settings.tenants} tenants; Idempotency-Key ${settings.idempotencyKeys ? 'on every batch' : 'not sent'}`,
  );
  console.log('');
  printTable(table);
  writeResults(
    { startedAt, machine, settings, targets },
    {
      ingest,
      query,
      table,
    },
  );
  // A missed target is a figure to report; a double count or a lost event is a failure.
  if (ingest && !Object.values(ingest.checks).every(Boolean)) {
    console.error(`correctness checks failed: ${JSON.stringify(ingest.checks)}`);
    process.exitCode = 1;
  }
}

runBench(main);
