import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  BINDING_SETTING,
  ControlPlaneClient,
  installTenantBinding,
  PlacementDirectory,
  rowLevelSecuritySql,
  runAsTenant,
  TenantBinder,
  TenantData,
} from '@tenantry/sdk';
import pg from 'pg';
import {
  ADMIN_URL,
  admin,
  applyPlans,
  type ControlPlane,
  createTenant,
  databaseUrl,
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
import { type Summary, summarize } from './stats.ts';

// A tenant-scoped point query through the SDK (pool placement: TenantData.query, one round trip
// of the clean-session reset, the signed binding and the statement under a single Sync, the
// policy verifying the binding once per statement, the statement kept prepared as the SDK does by
// default) against the same query with a hand-written `WHERE tenant_id = …` over a plain pg.Pool,
// prepared too (a pg named statement), as a role row-level security does not bind, in the same
// run, on the local PostgreSQL. Beside them: the SDK with the full reset after every query
// (`resetConnections: 'always'`), with a policy that trusts the binding's tenant unverified (to
// price verification), the old headline against a baseline parsed each time, neither side
// prepared (`preparedStatements: 0`), and TenantData.transaction.

const settings = {
  adminUrl: ADMIN_URL,
  tenants: setting('BENCH_TENANTS', 1000, 'whole'),
  rowsPerTenant: setting('BENCH_ROWS', 100, 'whole'),
  /** Queries in flight, and connections in each side's pool. */
  concurrency: setting('BENCH_QUERY_CONCURRENCY', 8, 'whole'),
  /** Measured seconds per side, split over the rounds. */
  durationS: setting('BENCH_DURATION_S', 10),
  warmupS: setting('BENCH_WARMUP_S', 2),
  rounds: setting('BENCH_ROUNDS', 10, 'whole'),
  transaction: process.env.BENCH_TRANSACTION !== '0',
  /**
   * How long the SDK trusts a looked-up placement. Long enough by default that the measured
   * queries find every placement cached, as between two invalidations from the control plane.
   */
  placementMaxAgeS: setting('BENCH_PLACEMENT_MAX_AGE_S', 3600),
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/sdk-query.json', import.meta.url)),
};

/** SDK time over baseline time, for throughput (per query) and for p50 latency. */
const targets = { ratio: 1.1 };

const SDK_SQL = 'select body from notes where id = $1';
/** The same rows under a policy that reads the binding's tenant without verifying it: what verification costs. */
const UNVERIFIED_SQL = 'select body from notes_unverified where id = $1';
const BASELINE_SQL = 'select body from notes where tenant_id = $1 and id = $2';

const log = logger('sdk-query');

type Kind =
  | 'sdk'
  | 'sdkResetAlways'
  | 'sdkUnverified'
  | 'baseline'
  | 'baselinePrepared'
  | 'sdkUnprepared'
  | 'transaction';

/** Runs one point query for the tenant and row; answers the rows it returned. */
type PointQuery = (tenantId: string, id: string) => Promise<{ body: string }[]>;

interface Segment {
  queries: number;
  seconds: number;
  /** Microseconds: a point query takes a few hundred. */
  latencyUs: number[];
}

/** What one side did over every measured segment. */
interface Measured {
  queriesPerSec: number;
  latencyUs: Summary;
  queries: number;
  seconds: number;
  /** Queries per second of each measured segment, in the order they ran. */
  segmentsPerSec: number[];
}

interface Fixture {
  readonly tenantIds: readonly string[];
  /** EXPLAIN of each side's statement, to show both use the primary key. */
  readonly plans: { readonly sdk: string[]; readonly baseline: string[] };
  readonly rowIds: readonly string[];
  /** The body of each tenant's row: `bodies[tenant][row]`. */
  readonly bodies: readonly (readonly string[])[];
}

/**
 * Runs `query` for `seconds` with {@link settings.concurrency} in flight, each on a random tenant
 * and row, and checks every answer is that tenant's one row.
 */
async function segment(query: PointQuery, fixture: Fixture, seconds: number): Promise<Segment> {
  const { tenantIds, rowIds, bodies } = fixture;
  const latencyUs: number[] = [];
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: settings.concurrency }, async () => {
      while (performance.now() < deadline) {
        const t = Math.floor(Math.random() * tenantIds.length);
        const r = Math.floor(Math.random() * rowIds.length);
        const tenantId = tenantIds[t] as string;
        const at = performance.now();
        const rows = await query(tenantId, rowIds[r] as string);
        latencyUs.push((performance.now() - at) * 1000);
        const expected = (bodies[t] as string[])[r];
        if (rows.length !== 1 || rows[0]?.body !== expected)
          throw new Error(
            `tenant ${tenantId}, row ${rowIds[r]}: expected one row "${expected}", got ${JSON.stringify(rows)}`,
          );
      }
    }),
  );
  return { queries: latencyUs.length, seconds: (performance.now() - started) / 1000, latencyUs };
}

function merge(segments: readonly Segment[]): Measured {
  const queries = segments.reduce((n, s) => n + s.queries, 0);
  const seconds = segments.reduce((n, s) => n + s.seconds, 0);
  return {
    queriesPerSec: Math.round(queries / seconds),
    latencyUs: summarize(segments.flatMap((s) => s.latencyUs)),
    queries,
    seconds: round(seconds),
    segmentsPerSec: segments.map((s) => Math.round(s.queries / s.seconds)),
  };
}

/**
 * A warm-up of each side, then {@link settings.rounds} rounds of each in turn, in one order in
 * even rounds and the reverse in odd ones, so all share whatever else the machine does and
 * neither the SDK nor the baseline always goes first.
 */
async function measure(
  queries: Partial<Record<Kind, PointQuery>>,
  fixture: Fixture,
): Promise<Partial<Record<Kind, Measured>>> {
  const kinds = (Object.keys(queries) as Kind[]).filter((k) => queries[k] !== undefined);
  for (const kind of kinds) {
    log(`warm-up: ${kind}, ${settings.warmupS} s`);
    await segment(queries[kind] as PointQuery, fixture, settings.warmupS);
  }
  const segments = new Map<Kind, Segment[]>(kinds.map((k) => [k, []]));
  const perSegmentS = settings.durationS / settings.rounds;
  for (let r = 0; r < settings.rounds; r++) {
    const order = r % 2 === 0 ? kinds : [...kinds].reverse();
    log(`round ${r + 1} of ${settings.rounds}: ${order.join(', ')}, ${round(perSegmentS)} s each`);
    for (const kind of order) {
      const done = await segment(queries[kind] as PointQuery, fixture, perSegmentS);
      segments.get(kind)?.push(done);
    }
  }
  return Object.fromEntries(kinds.map((k) => [k, merge(segments.get(k) ?? [])]));
}

/** The vendor's pool table, protected by the SDK's SQL, open to the app role for DML, filled. */
async function makeNotes(
  cp: ControlPlane,
  appRole: string,
  tenantIds: readonly string[],
  key: Buffer,
): Promise<Fixture> {
  const plans = await admin(async (client) => {
    await installTenantBinding(client, key);
    await client.query(`revoke temporary on database ${cp.name} from public`);
    await client.query(
      'create table public.notes (tenant_id text not null, id text not null, body text not null, primary key (tenant_id, id))',
    );
    await client.query(rowLevelSecuritySql('notes'));
    await client.query(`grant select, insert, update, delete on public.notes to ${appRole}`);
    // For the cost of verification only: the binding's last field, taken on trust. Never do this.
    await client.query(`create table public.notes_unverified (tenant_id text not null, id text not null, body text not null, primary key (tenant_id, id));
      alter table public.notes_unverified enable row level security;
      create policy unverified on public.notes_unverified using (tenant_id = (select split_part(current_setting('tenantry.binding', true), '.', 4)));
      grant select on public.notes_unverified to ${appRole}`);
    await client.query(
      `insert into public.notes (tenant_id, id, body)
       select t.id, 'n' || g, t.id || '/n' || g from unnest($1::text[]) as t(id), generate_series(0, $2 - 1) as g`,
      [tenantIds, settings.rowsPerTenant],
    );
    await client.query('insert into public.notes_unverified select * from public.notes');
    await client.query('vacuum (analyze) public.notes');
    await client.query('vacuum (analyze) public.notes_unverified');
    const explain = async (sql: string, values: unknown[]) =>
      (await client.query<{ 'QUERY PLAN': string }>(`explain (costs off) ${sql}`, values)).rows.map(
        (r) => r['QUERY PLAN'],
      );
    const baseline = await explain(BASELINE_SQL, [tenantIds[0], 'n0']);
    await client.query('begin');
    await client.query(`set local role ${appRole}`);
    const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]
      ?.pid as number;
    await client.query('select set_config($1, $2, true)', [
      BINDING_SETTING,
      new TenantBinder(key).bind(tenantIds[0] as string, pid),
    ]);
    const sdk = await explain(SDK_SQL, ['n0']);
    await client.query('rollback');
    return { sdk, baseline };
  }, cp.url);
  const rowIds = Array.from({ length: settings.rowsPerTenant }, (_, r) => `n${r}`);
  return { tenantIds, plans, rowIds, bodies: tenantIds.map((t) => rowIds.map((id) => `${t}/${id}`)) };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadavgStart = loadavg();
  const postgres = await postgresVersion();
  const cp = await startControlPlane();
  log(`control plane on ${cp.origin}, database ${cp.name}`);
  // The app's login role: not the tables' owner, not a superuser, not BYPASSRLS.
  const appRole = `tenantry_bench_app_${randomBytes(4).toString('hex')}`;
  let lookups = 0;
  const placements = new PlacementDirectory({
    controlPlane: new ControlPlaneClient({
      url: cp.origin,
      token: cp.token,
      fetch: (input, init) => {
        lookups++;
        return fetch(input, init);
      },
    }),
    maxAgeMs: settings.placementMaxAgeS * 1000,
  });
  const key = randomBytes(32);
  const bindingKey = key.toString('hex');
  const data = new TenantData({
    url: databaseUrl(cp.name, appRole),
    placements,
    max: settings.concurrency,
    bindingKey,
    requireRowLevelSecurity: false,
  });
  const resetAlways = new TenantData({
    url: databaseUrl(cp.name, appRole),
    placements,
    max: settings.concurrency,
    bindingKey,
    resetConnections: 'always',
    // The table without a verified policy is there only to measure verification.
    requireRowLevelSecurity: false,
  });
  const unprepared = new TenantData({
    url: databaseUrl(cp.name, appRole),
    placements,
    max: settings.concurrency,
    preparedStatements: 0,
    bindingKey,
    requireRowLevelSecurity: false,
  });
  // The baseline: the same database as the superuser, whom row-level security does not bind.
  const baseline = new pg.Pool({ connectionString: cp.url, max: settings.concurrency });
  baseline.on('error', () => {});
  let results: Partial<Record<Kind, Measured>>;
  let plans: Fixture['plans'];
  let lookupsMeasured: number;
  let loadavgBefore: [number, number, number];
  try {
    await admin((client) => client.query(`create role ${appRole} login`));
    await applyPlans(cp);
    log(`creating ${settings.tenants} pool tenants over the API`);
    const tenantIds = await inParallel(
      Array.from({ length: settings.tenants }, (_, i) => `query-${i}`),
      8,
      (slug) => createTenant(cp, { slug, name: slug, plan: 'pro', placement: 'pool' }),
    );
    log(`provisioned: ${await cp.services.jobs.runDue()} jobs ran`);
    log(`notes: ${settings.rowsPerTenant} rows per tenant, row-level security on, DML granted to ${appRole}`);
    const fixture = await makeNotes(cp, appRole, tenantIds, key);
    plans = fixture.plans;
    log(
      `plans: SDK ${plans.sdk.join(' ').replace(/\s+/g, ' ')}; baseline ${plans.baseline.join(' ').replace(/\s+/g, ' ')}`,
    );
    // Refuses to go on if the app role or the table would let rows through.
    await Promise.all([data.start(), resetAlways.start(), unprepared.start()]);
    await inParallel(tenantIds, 8, (id) => placements.usable(id));
    log(`${tenantIds.length} placements cached (${lookups} lookups)`);

    const context = (tenantId: string) => ({ tenantId, subject: 'bench', roles: [] });
    const queries: Partial<Record<Kind, PointQuery>> = {
      sdk: async (tenantId, id) =>
        (await runAsTenant(context(tenantId), () => data.query<{ body: string }>(SDK_SQL, [id]))).rows,
      sdkResetAlways: async (tenantId, id) =>
        (await runAsTenant(context(tenantId), () => resetAlways.query<{ body: string }>(SDK_SQL, [id]))).rows,
      sdkUnverified: async (tenantId, id) =>
        (await runAsTenant(context(tenantId), () => data.query<{ body: string }>(UNVERIFIED_SQL, [id]))).rows,
      baseline: async (tenantId, id) =>
        (await baseline.query<{ body: string }>(BASELINE_SQL, [tenantId, id])).rows,
      baselinePrepared: async (tenantId, id) =>
        (
          await baseline.query<{ body: string }>({
            name: 'bench_point',
            text: BASELINE_SQL,
            values: [tenantId, id],
          })
        ).rows,
      sdkUnprepared: async (tenantId, id) =>
        (await runAsTenant(context(tenantId), () => unprepared.query<{ body: string }>(SDK_SQL, [id]))).rows,
    };
    if (settings.transaction)
      queries.transaction = async (tenantId, id) =>
        runAsTenant(context(tenantId), () =>
          data.transaction(async (db) => (await db.query<{ body: string }>(SDK_SQL, [id])).rows),
        );
    loadavgBefore = loadavg();
    const before = lookups;
    results = await measure(queries, fixture);
    lookupsMeasured = lookups - before;
  } finally {
    await Promise.all([data.close(), resetAlways.close(), unprepared.close()]);
    await baseline.end();
    const dropped = await dropControlPlane(cp, { roles: [appRole] });
    log(`dropped ${cp.name}, the role ${appRole} and ${dropped.tenantRoles} tenant roles`);
  }

  const sdk = results.sdk as Measured;
  const base = results.baseline as Measured;
  const basePrepared = results.baselinePrepared as Measured;
  const sdkUnprepared = results.sdkUnprepared as Measured;
  const tx = results.transaction;
  /** Time per query of `side` over `over`'s, at the same concurrency, and the same for latency. */
  const ratio = (side: Measured, over: Measured) => ({
    throughput: round(over.queriesPerSec / side.queriesPerSec, 3),
    p50: round(side.latencyUs.p50 / over.latencyUs.p50, 3),
    p99: round(side.latencyUs.p99 / over.latencyUs.p99, 3),
  });
  const ratios = {
    ...ratio(sdk, base),
    bothPrepared: ratio(sdk, basePrepared),
    neitherPrepared: ratio(sdkUnprepared, base),
  };
  const machine = describeMachine(postgres, loadavgStart);
  const baselineCeiling = `${base.queriesPerSec.toLocaleString('en-US')} q/s hand-written WHERE tenant_id`;
  const always = results.sdkResetAlways as Measured;
  const unverified = results.sdkUnverified as Measured;
  const alwaysRatio = ratio(always, basePrepared);
  const unverifiedRatio = ratio(unverified, basePrepared);
  const preparedCeiling = `${basePrepared.queriesPerSec.toLocaleString('en-US')} q/s hand-written WHERE tenant_id, prepared`;
  const table: Row[] = [
    {
      figure: `point query via SDK query() vs hand-written, BOTH prepared (${settings.tenants} tenants × ${settings.rowsPerTenant} rows, ${settings.concurrency} in flight)`,
      value: `${sdk.queriesPerSec.toLocaleString('en-US')} q/s (${ratios.bothPrepared.throughput}x baseline time)`,
      target: `<= ${targets.ratio}x`,
      ceiling: preparedCeiling,
      pass: ratios.bothPrepared.throughput <= targets.ratio,
    },
    {
      figure: '  latency p50 / p99',
      value: `${sdk.latencyUs.p50} / ${sdk.latencyUs.p99} µs (p50 ${ratios.bothPrepared.p50}x)`,
      target: `p50 <= ${targets.ratio}x`,
      ceiling: `${basePrepared.latencyUs.p50} / ${basePrepared.latencyUs.p99} µs`,
      pass: ratios.bothPrepared.p50 <= targets.ratio,
    },
    {
      figure: "  mode: full reset after every query too (resetConnections: 'always')",
      value: `${always.queriesPerSec.toLocaleString('en-US')} q/s: ${alwaysRatio.throughput}x time, p50 ${alwaysRatio.p50}x`,
      target: '-',
      ceiling: preparedCeiling,
      pass: null,
    },
    {
      figure: '  without verification (a policy trusting the binding’s tenant), to price it; never use',
      value: `${unverified.queriesPerSec.toLocaleString('en-US')} q/s: ${unverifiedRatio.throughput}x time, p50 ${unverifiedRatio.p50}x`,
      target: '-',
      ceiling: preparedCeiling,
      pass: null,
    },
    {
      figure: '  old headline: against the baseline parsed each time (pg default), for information',
      value: `${ratios.throughput}x time, p50 ${ratios.p50}x`,
      target: '-',
      ceiling: baselineCeiling,
      pass: null,
    },
    {
      figure: '  neither side prepared (preparedStatements: 0), for information',
      value: `${sdkUnprepared.queriesPerSec.toLocaleString('en-US')} q/s: ${ratios.neitherPrepared.throughput}x time, p50 ${ratios.neitherPrepared.p50}x`,
      target: '-',
      ceiling: baselineCeiling,
      pass: null,
    },
  ];
  if (tx)
    table.push({
      figure: '  the same via transaction() (3 round trips), for information',
      value: `${tx.queriesPerSec.toLocaleString('en-US')} q/s, ${tx.latencyUs.p50} / ${tx.latencyUs.p99} µs`,
      target: '-',
      ceiling: `${baselineCeiling}, ${base.latencyUs.p50} / ${base.latencyUs.p99} µs`,
      pass: null,
    });
  printHeader('sdk-query', machine);
  console.log(
    `${settings.concurrency} queries in flight on a pool of ${settings.concurrency} connections per side, random tenant and row per query, ` +
      `in this process beside the control plane; ${settings.warmupS} s warm-up each, then ${settings.durationS} s measured per side ` +
      `in ${settings.rounds} interleaved rounds. SDK: runAsTenant + TenantData.query('${SDK_SQL}') as a login role ` +
      `row-level security binds, the statement kept prepared (the default; ${lookupsMeasured} placement lookups while measuring). ` +
      `Baseline: pg.Pool.query({ name, text: '${BASELINE_SQL}' }) as the superuser, prepared like the SDK's statement. ` +
      `The SDK starts each query from a clean session (RESET ALL, role, advisory locks) and sets a signed tenant binding that the policy verifies (tenantry.current_tenant(), once per statement), in one round trip (the default).`,
  );
  console.log('');
  printTable(table);
  writeResults(
    { startedAt, machine, settings, targets },
    {
      loadavgBefore,
      sql: { sdk: SDK_SQL, baseline: BASELINE_SQL },
      plans,
      placementLookupsWhileMeasuring: lookupsMeasured,
      sdk,
      baseline: base,
      baselinePrepared: basePrepared,
      sdkUnprepared,
      sdkResetAlways: always,
      sdkUnverified: unverified,
      transaction: tx ?? null,
      ratios,
      table,
    },
  );
}

runBench(main);
