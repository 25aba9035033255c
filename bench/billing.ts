import { fileURLToPath } from 'node:url';
import type { Clock } from '@tenantry/server';
import type pg from 'pg';
import {
  ADMIN_URL,
  admin,
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
  timed,
  writeResults,
} from './bench-support.ts';

// The month-end invoice run: every tenant's October finalized at once, with five metered prices
// rated over the month's events. The control plane runs in this process on a clock the bench
// moves: tenants are created on 2026-10-01, their events written straight into usage_events (and
// the rollups built from them as ingestion would), then the clock moves past the period's end and
// the run is timed. The ceiling is the one read the run cannot avoid: the month's rollups summed
// per tenant and meter in a single SQL statement.

const settings = {
  adminUrl: ADMIN_URL,
  tenants: setting('BENCH_TENANTS', 10_000, 'whole'),
  events: setting('BENCH_EVENTS', 10_000_000, 'whole'),
  subjects: setting('BENCH_SUBJECTS', 3, 'whole'),
  seats: setting('BENCH_SEATS', 5, 'whole'),
  /** Tenant creations in flight. */
  concurrency: setting('BENCH_CONCURRENCY', 8, 'whole'),
  /** Tenants whose invoices are checked line by line against the raw events. */
  sample: setting('BENCH_SAMPLE', 50, 'whole'),
  /** How often the run's resident set size is sampled, in milliseconds. */
  rssEveryMs: setting('BENCH_RSS_EVERY_MS', 20, 'whole'),
  /** Keep the database at the end, for EXPLAIN ANALYZE; drop it by hand. */
  keepDatabase: process.env.BENCH_KEEP_DB === '1',
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/billing.json', import.meta.url)),
};

const targets = { runS: 30, peakRssMiB: 1024 };

const PERIOD_START = '2026-10-01T00:00:00Z';
const PERIOD_END = '2026-11-01T00:00:00Z';
/** When the run is made: an hour after the period ended. */
const RUN_AT = '2026-11-01T01:00:00Z';
const MONTH_SECONDS = 31 * 24 * 3600;
const MiB = 2 ** 20;

/** The five metered prices' meters, each with its aggregation (events are spread over them in turn). */
const METERS = [
  { key: 'api_calls', aggregation: 'count' },
  { key: 'cpu_seconds', aggregation: 'sum' },
  { key: 'emails', aggregation: 'count' },
  { key: 'storage_writes', aggregation: 'sum' },
  { key: 'egress_mb', aggregation: 'sum' },
] as const;

/** One plan with a per-seat price and five usage prices, one of each kind the rating supports. */
const PLAN_FILE = `currency: usd
meters:
  api_calls: { name: API calls, unit: call, aggregation: count }
  cpu_seconds: { name: CPU seconds, unit: second, aggregation: sum }
  emails: { name: Emails, unit: email, aggregation: count }
  storage_writes: { name: Storage writes, unit: write, aggregation: sum }
  egress_mb: { name: Egress, unit: MB, aggregation: sum }
plans:
  metered:
    name: Metered
    prices:
      - type: per_seat
        name: Seats
        unit_amount: "12.00"
      - type: usage
        name: API calls
        meter: api_calls
        included: 50
        tiers_mode: graduated
        tiers:
          - { up_to: 100, unit_amount: "0.002" }
          - { up_to: 1000, unit_amount: "0.001" }
          - { up_to: inf, unit_amount: "0.0005" }
      - type: usage
        name: CPU seconds beyond the included 1000
        meter: cpu_seconds
        unit_amount: "0.0004"
        included: 1000
      - type: usage
        name: Emails, per started 100
        meter: emails
        unit_amount: "0.10"
        package_size: 100
      - type: usage
        name: Storage writes
        meter: storage_writes
        tiers_mode: volume
        tiers:
          - { up_to: 5000, unit_amount: "0.001" }
          - { up_to: inf, unit_amount: "0.0008", flat_amount: "2.00" }
      - type: usage
        name: Egress
        meter: egress_mb
        unit_amount: "0.00009"
`;

const log = logger('billing');

/** A clock the bench sets: the control plane lives through the billing period on it. */
class BenchClock implements Clock {
  #at: number;
  constructor(iso: string) {
    this.#at = Date.parse(iso);
  }
  now(): Date {
    return new Date(this.#at);
  }
  set(iso: string): void {
    this.#at = Date.parse(iso);
  }
}

/** Runs `fn` on the control plane's database as the admin, in UTC (rollups are UTC hours). */
function onDatabase<T>(cp: ControlPlane, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  return admin(async (client) => {
    await client.query(`set search_path = tenantry, public; set timezone = 'UTC'`);
    return fn(client);
  }, cp.url);
}

/**
 * Writes the events straight into usage_events in chunks with generate_series — event `g` is
 * tenant `g / perTenant`'s, of meter `g % 5`, at a time spread over October — then builds their
 * rollups with one INSERT … SELECT … GROUP BY, as ingestion would have left them.
 */
async function loadUsage(cp: ControlPlane) {
  const n = settings.events;
  const perTenant = Math.ceil(n / settings.tenants);
  log(
    `loading ${n} events (${perTenant} per tenant over ${METERS.length} meters, ${settings.subjects} subjects) in ${PERIOD_START} → ${PERIOD_END}`,
  );
  return onDatabase(cp, async (client) => {
    await client.query(`create temporary table bench_tenants as
      select row_number() over (order by id) - 1 as n, id from tenants`);
    const started = performance.now();
    const chunk = 1_000_000;
    for (let lo = 0; lo < n; lo += chunk) {
      const hi = Math.min(n, lo + chunk) - 1;
      // Events in (tenant, id) order, so the primary key grows at the right-hand edge.
      await client.query(
        `insert into usage_events (tenant_id, id, meter, value, time, subject, unique_value, properties, received_at)
         select t.id, 'b' || lpad(g::text, 9, '0'), ($1::text[])[(g % $2) + 1], (g % 100) + 1,
                $3::timestamptz + ((g::bigint * 7919) % $4) * interval '1 second',
                'user-' || ((g / $2) % $5), null, null, $3::timestamptz
         from generate_series($6::bigint, $7::bigint) g join bench_tenants t on t.n = g / $8`,
        [
          METERS.map((m) => m.key),
          METERS.length,
          PERIOD_START,
          MONTH_SECONDS,
          settings.subjects,
          lo,
          hi,
          perTenant,
        ],
      );
      log(`  ${hi + 1} events`);
    }
    const eventsS = (performance.now() - started) / 1000;
    const rolled = performance.now();
    await client.query(`set work_mem = '1GB'`);
    const built = await client.query(
      `insert into usage_rollups (tenant_id, meter, hour, subject, sum, count, max, latest_time, latest_id, latest_value)
       ${recomputeRollupsSql(METERS.map((m) => m.key))}`,
    );
    await client.query('reset work_mem');
    const rollupsS = (performance.now() - rolled) / 1000;
    await client.query('analyze');
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
}

/** Samples this process's resident set size until stopped; answers the peak, in bytes. */
function sampleRss(everyMs: number): { stop: () => { peak: number; samples: number } } {
  let peak = process.memoryUsage.rss();
  let samples = 1;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
    samples++;
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, process.memoryUsage.rss());
      return { peak, samples: samples + 1 };
    },
  };
}

/** The ceiling: the month's rollups summed per tenant and meter, in one statement, timed. */
async function ceilingRead(cp: ControlPlane) {
  return onDatabase(cp, async (client) => {
    const text = `select tenant_id, meter, sum(sum) as sum, sum(count) as count from usage_rollups
      where hour >= $1 and hour < $2 group by tenant_id, meter`;
    await client.query(text, [PERIOD_START, PERIOD_END]);
    const started = performance.now();
    const result = await client.query(text, [PERIOD_START, PERIOD_END]);
    return { s: round((performance.now() - started) / 1000, 3), rows: result.rowCount ?? 0 };
  });
}

/**
 * What the run left: the period invoices and their numbers (gap-free from INV-000001), and for a
 * sample of tenants each usage line's quantity against the raw events' sum or count.
 */
async function check(cp: ControlPlane) {
  return onDatabase(cp, async (client) => {
    const numbers = await client.query<{ [k: string]: string | null }>(
      `select count(*) as invoices, count(distinct n) as distinct_numbers, min(n) as first, max(n) as last,
              count(*) filter (where period_start = $1 and period_end = $2) as in_period,
              count(distinct tenant_id) as tenants
       from (select tenant_id, period_start, period_end, substring(number from '^INV-(\\d+)$')::bigint as n
             from invoices where type = 'invoice' and reason = 'period') i`,
      [PERIOD_START, PERIOD_END],
    );
    const row = numbers.rows[0] ?? {};
    const invoices = Number(row.invoices);
    const gapFree =
      invoices === settings.tenants &&
      Number(row.distinct_numbers) === invoices &&
      Number(row.first) === 1 &&
      Number(row.last) === invoices;

    const sampled = await client.query<{ id: string }>(
      `select id from (select id, row_number() over (order by id) - 1 as n from tenants) t
       where n % greatest(1, $1::bigint / $2::bigint) = 0 order by n limit $2`,
      [settings.tenants, settings.sample],
    );
    const ids = sampled.rows.map((r) => r.id);
    const raw = await client.query<{ tenant_id: string; meter: string; sum: string; count: string }>(
      `select tenant_id, meter, sum(value)::text as sum, count(*)::text as count from usage_events
       where tenant_id = any($1) and time >= $2 and time < $3 and voided_at is null group by 1, 2`,
      [ids, PERIOD_START, PERIOD_END],
    );
    const billed = await client.query<{ tenant_id: string; meter: string; usage: string }>(
      `select l.tenant_id, l.detail->'usage'->>'meter' as meter, l.detail->'usage'->>'usage' as usage
       from invoice_lines l join invoices i on i.tenant_id = l.tenant_id and i.id = l.invoice_id
       where l.tenant_id = any($1) and i.reason = 'period' and l.detail->'usage' <> 'null'::jsonb`,
      [ids],
    );
    const aggregation = new Map<string, string>(METERS.map((m) => [m.key, m.aggregation]));
    const expected = new Map(
      raw.rows.map((r) => [
        `${r.tenant_id}|${r.meter}`,
        aggregation.get(r.meter) === 'count' ? r.count : r.sum,
      ]),
    );
    const found = new Map(billed.rows.map((r) => [`${r.tenant_id}|${r.meter}`, r.usage]));
    const mismatches: string[] = [];
    for (const [key, quantity] of expected) {
      const line = found.get(key);
      if (line === undefined || Number(line) !== Number(quantity))
        mismatches.push(`${key}: events ${quantity}, invoice ${line ?? 'no line'}`);
    }
    for (const key of found.keys()) if (!expected.has(key)) mismatches.push(`${key}: a line without events`);
    return {
      invoices,
      inPeriod: Number(row.in_period),
      tenantsInvoiced: Number(row.tenants),
      numbers: { first: Number(row.first), last: Number(row.last), distinct: Number(row.distinct_numbers) },
      gapFree,
      sample: { tenants: ids.length, lines: expected.size, mismatches: mismatches.slice(0, 20) },
      sampleMatches: mismatches.length === 0 && expected.size === ids.length * METERS.length,
    };
  });
}

/**
 * The fleet's showback of the invoiced month over the API (`GET /v1/showback`): its first page of
 * tenants by cost, and the CSV of every tenant, each the best of five; against the ceiling of one
 * SQL statement adding up the month's invoice totals per tenant. The figures are checked against
 * the invoices: the page's total equals their sum.
 */
async function fleetShowback(cp: ControlPlane) {
  const month = PERIOD_START.slice(0, 7);
  const best = async (fn: () => Promise<unknown>) => {
    let fastest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 5; i++) fastest = Math.min(fastest, await timed(fn));
    return round(fastest, 1);
  };
  let page: Record<string, unknown> = {};
  const pageMs = await best(async () => {
    page = await cp.call('GET', `/v1/showback?period=${month}`);
  });
  let rows = 0;
  const csvMs = await best(async () => {
    const response = await fetch(`${cp.origin}/v1/showback?period=${month}&format=csv`, {
      headers: { authorization: `Bearer ${cp.token}` },
    });
    if (!response.ok) throw new Error(`the showback CSV answered ${response.status}`);
    rows = (await response.text()).split('\r\n').filter((row) => row.startsWith('tenant,')).length;
  });
  return onDatabase(cp, async (client) => {
    const text = `select tenant_id, sum(total) as amount from invoices
      where period_start >= $1 and period_start < $2 group by tenant_id order by amount desc`;
    const ceilingMs = await best(() => client.query(text, [PERIOD_START, PERIOD_END]));
    const { rows: sums } = await client.query<{ total: string }>(
      `select sum(total)::text as total from invoices where period_start >= $1 and period_start < $2`,
      [PERIOD_START, PERIOD_END],
    );
    const matches =
      Number(page.total) === Number(sums[0]?.total) &&
      page.tenant_count === settings.tenants &&
      rows === settings.tenants;
    return { pageMs, csvMs, ceilingMs, csvRows: rows, total: page.total, matches };
  });
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadavgStart = loadavg();
  const postgres = await postgresVersion();
  const clock = new BenchClock(PERIOD_START);
  const cp = await startControlPlane({ clock });
  log(`control plane on ${cp.origin}, database ${cp.name}, clock at ${PERIOD_START}`);
  let results: Record<string, unknown>;
  let table: Row[];
  let checks: Awaited<ReturnType<typeof check>>;
  try {
    await applyPlans(cp, PLAN_FILE);
    log(`creating ${settings.tenants} pool tenants over the API, ${settings.concurrency} at a time`);
    const creating = performance.now();
    await inParallel(
      Array.from({ length: settings.tenants }, (_, i) => `bill-${i}`),
      settings.concurrency,
      (slug) =>
        createTenant(cp, {
          slug,
          name: slug,
          plan: 'metered',
          placement: 'pool',
          seats: settings.seats,
          trial_days: 0,
        }),
    );
    const jobs = await cp.services.jobs.runDue();
    const tenantsS = round((performance.now() - creating) / 1000, 1);
    log(`  ${settings.tenants} tenants in ${tenantsS} s (${jobs} provisioning jobs ran)`);

    const usage = await loadUsage(cp);
    log(
      `  events in ${usage.eventsS} s, ${usage.rollupRows} rollup rows in ${usage.rollupsS} s; usage_events holds ${usage.storedEvents} events (${usage.usageEventsSize})`,
    );

    const ceiling = await ceilingRead(cp);
    log(`ceiling: the month's rollups per tenant and meter in ${ceiling.s} s (${ceiling.rows} rows)`);

    clock.set(RUN_AT);
    log(`clock at ${RUN_AT}: invoice run`);
    globalThis.gc?.();
    const baselineRss = process.memoryUsage.rss();
    const loadavgBefore = loadavg();
    const rss = sampleRss(settings.rssEveryMs);
    const started = performance.now();
    const ran = await cp.services.invoices.run(
      { actor: { type: 'system', id: 'bench' }, requestId: null, sourceIp: null },
      {},
    );
    const runS = round((performance.now() - started) / 1000, 2);
    const peak = rss.stop();
    if (!ran.ok) throw new Error(`the invoice run failed: ${ran.error.code}: ${ran.error.detail}`);
    const summary = ran.value;
    log(`  ${summary.invoices} invoices in ${runS} s, peak RSS ${round(peak.peak / MiB, 0)} MiB`);
    if (summary.failed.length > 0)
      log(`  ${summary.failed.length} periods failed: ${JSON.stringify(summary.failed.slice(0, 3))}`);

    checks = await check(cp);
    const showback = await fleetShowback(cp);
    log(
      `fleet showback: first page ${showback.pageMs} ms, CSV of ${showback.csvRows} tenants ${showback.csvMs} ms`,
    );
    const memory = {
      baselineMiB: round(baselineRss / MiB, 0),
      peakMiB: round(peak.peak / MiB, 0),
      samples: peak.samples,
      /** The process's peak over its whole life (tenant creation and loading included). */
      processMaxRssMiB: round((process.resourceUsage().maxRSS * 1024) / MiB, 0),
    };
    table = [
      {
        figure: `invoice run, ${settings.tenants} tenants × ${METERS.length} metered prices, ${settings.events} events`,
        value: `${runS} s (${Math.round(summary.invoices / runS)} invoices/s)`,
        target: `<= ${targets.runS} s`,
        ceiling: `${ceiling.s} s one SQL read of the month's rollups`,
        pass: runS <= targets.runS,
      },
      {
        figure: '  peak RSS of this process during the run (baseline before)',
        value: `${memory.peakMiB} MiB (${memory.baselineMiB} MiB)`,
        target: `<= ${targets.peakRssMiB} MiB`,
        ceiling: '-',
        pass: memory.peakMiB <= targets.peakRssMiB,
      },
      {
        figure: '  invoices finalized; numbers gap-free from 1; failed periods',
        value: `${summary.invoices} (${checks.invoices} stored); ${checks.gapFree ? 'yes' : 'no'}, ${summary.numbers?.first ?? '-'} … ${summary.numbers?.last ?? '-'}; ${summary.failed.length}`,
        target: `${settings.tenants}; yes; 0`,
        ceiling: '-',
        pass:
          summary.invoices === settings.tenants &&
          checks.inPeriod === settings.tenants &&
          checks.tenantsInvoiced === settings.tenants &&
          checks.gapFree &&
          summary.failed.length === 0,
      },
      {
        figure: `  usage lines of ${checks.sample.tenants} sampled tenants equal to the raw events`,
        value: `${checks.sample.lines - checks.sample.mismatches.length} of ${checks.sample.lines} lines`,
        target: `all ${checks.sample.tenants * METERS.length}`,
        ceiling: '-',
        pass: checks.sampleMatches,
      },
      {
        figure: `fleet showback of the month (GET /v1/showback): first page of 20; CSV of every tenant`,
        value: `${showback.pageMs} ms; ${showback.csvMs} ms (${showback.csvRows} rows)`,
        target: '-',
        ceiling: `${showback.ceilingMs} ms one SQL sum of the month's invoices per tenant`,
        pass: null,
      },
      {
        figure: '  fleet showback total equal to the invoices; every tenant counted and in the CSV',
        value: `${showback.total}; ${showback.matches ? 'yes' : 'no'}`,
        target: 'yes',
        ceiling: '-',
        pass: showback.matches,
      },
      {
        figure: '  set-up: tenants over the API; events; rollups (not measured)',
        value: `${tenantsS} s; ${usage.eventsS} s; ${usage.rollupsS} s`,
        target: '-',
        ceiling: '-',
        pass: null,
      },
    ];
    results = {
      loadavgBefore,
      tenantsS,
      usage,
      ceiling,
      run: { seconds: runS, summary },
      memory,
      checks,
      showback,
    };
  } finally {
    if (settings.keepDatabase) {
      await closeControlPlane(cp);
      log(`kept ${cp.url} (BENCH_KEEP_DB=1): drop it by hand`);
    } else {
      const dropped = await dropControlPlane(cp);
      log(`dropped ${cp.name} (${dropped.tenants} tenants, ${dropped.tenantRoles} tenant roles)`);
    }
  }
  const machine = describeMachine(postgres, loadavgStart);
  printHeader('billing', machine);
  console.log(
    `control plane in this process (clock moved to ${RUN_AT}); one run of services.invoices.run over every tenant's ${PERIOD_START.slice(0, 7)}; ` +
      `plan: per-seat + 5 usage prices (graduated with included, per unit with included, package, volume, per unit; count and sum meters)`,
  );
  console.log('');
  printTable(table);
  writeResults({ startedAt, machine, settings, targets }, { ...results, table });
  // A missed target is a figure to report; a wrong or missing invoice is a failure.
  if (!(table[2]?.pass && table[3]?.pass && table[5]?.pass)) {
    console.error(`correctness checks failed: ${JSON.stringify(checks)}`);
    process.exitCode = 1;
  }
}

runBench(main);
