import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  ControlPlaneClient,
  installTenantBinding,
  PlacementDirectory,
  rowLevelSecuritySql,
  runAsTenant,
  TenantData,
} from '@tenantry/sdk';
import pg from 'pg';
import {
  admin,
  applyPlans,
  createAppKey,
  createTenant,
  databaseUrl,
  dropControlPlane,
  logger,
  type Row,
  report,
  round,
  runBench,
  setting,
  startControlPlane,
  startRun,
} from './bench-support.ts';
import { type Summary, summarize } from './stats.ts';

// A point query through the SDK for a BYOI tenant (its connection read once with the app key from
// the credentials route, a pool in the shared budget, the statement with the binding in one round
// trip and the app's schema as the connections' search_path, behind the data plane's breaker and
// bulkhead), beside a pool tenant's (one round
// trip, row-level security), and beside raw pg on each database (a prepared statement, as the
// database's owner or superuser): the ceilings, in the same run. The customer's database is a
// database of its own role on the local server.

const settings = {
  rows: setting('BENCH_ROWS', 1000, 'whole'),
  /** Queries in flight, and connections in each side's pool. */
  concurrency: setting('BENCH_QUERY_CONCURRENCY', 8, 'whole'),
  /** Measured seconds per side, split over the rounds. */
  durationS: setting('BENCH_DURATION_S', 10),
  warmupS: setting('BENCH_WARMUP_S', 2),
  rounds: setting('BENCH_ROUNDS', 10, 'whole'),
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/sdk-data-planes.json', import.meta.url)),
};

const POOL_SQL = 'select body from notes where id = $1';
const RAW_POOL_SQL = 'select body from notes where tenant_id = $1 and id = $2';
const BYOI_SQL = 'select body from notes where id = $1';
const RAW_BYOI_SQL = 'select body from app.notes where id = $1';

const log = logger('sdk-data-planes');

type Kind = 'sdkByoi' | 'rawByoi' | 'sdkPool' | 'rawPool';
type PointQuery = (id: string) => Promise<{ body: string }[]>;

interface Segment {
  queries: number;
  seconds: number;
  latencyUs: number[];
}

interface Measured {
  queriesPerSec: number;
  latencyUs: Summary;
  queries: number;
  seconds: number;
}

/** Runs `query` for `seconds` with `concurrency` in flight on random rows, checking each answer. */
async function segment(
  query: PointQuery,
  expected: (id: string) => string,
  seconds: number,
): Promise<Segment> {
  const latencyUs: number[] = [];
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: settings.concurrency }, async () => {
      while (performance.now() < deadline) {
        const id = `n${Math.floor(Math.random() * settings.rows)}`;
        const at = performance.now();
        const rows = await query(id);
        latencyUs.push((performance.now() - at) * 1000);
        if (rows.length !== 1 || rows[0]?.body !== expected(id))
          throw new Error(`row ${id}: expected "${expected(id)}", got ${JSON.stringify(rows)}`);
      }
    }),
  );
  return { queries: latencyUs.length, seconds: (performance.now() - started) / 1000, latencyUs };
}

/** A warm-up of each side, then interleaved rounds, the order reversed every other round. */
async function measure(
  sides: Record<Kind, { query: PointQuery; expected: (id: string) => string }>,
): Promise<Record<Kind, Measured>> {
  const kinds = Object.keys(sides) as Kind[];
  for (const kind of kinds) await segment(sides[kind].query, sides[kind].expected, settings.warmupS);
  const segments = new Map<Kind, Segment[]>(kinds.map((k) => [k, []]));
  const perSegmentS = settings.durationS / settings.rounds;
  for (let r = 0; r < settings.rounds; r++) {
    const order = r % 2 === 0 ? kinds : [...kinds].reverse();
    log(`round ${r + 1} of ${settings.rounds}: ${order.join(', ')}`);
    for (const kind of order)
      segments.get(kind)?.push(await segment(sides[kind].query, sides[kind].expected, perSegmentS));
  }
  const merged = (list: Segment[]): Measured => {
    const queries = list.reduce((n, s) => n + s.queries, 0);
    const seconds = list.reduce((n, s) => n + s.seconds, 0);
    return {
      queriesPerSec: Math.round(queries / seconds),
      latencyUs: summarize(list.flatMap((s) => s.latencyUs)),
      queries,
      seconds: round(seconds),
    };
  };
  return Object.fromEntries(kinds.map((k) => [k, merged(segments.get(k) ?? [])])) as Record<Kind, Measured>;
}

async function main(): Promise<void> {
  const run = await startRun();
  const cp = await startControlPlane();
  log(`control plane on ${cp.origin}, database ${cp.name}`);
  const tag = randomBytes(4).toString('hex');
  const appRole = `tenantry_bench_app_${tag}`;
  const customerRole = `bench_customer_${tag}`;
  const customerDb = `bench_customer_${tag}`;
  const customerPassword = randomBytes(16).toString('hex');
  const key = randomBytes(32);
  const bindingKey = key.toString('hex');
  let data: TenantData | undefined;
  const raw: pg.Pool[] = [];
  let results: Record<Kind, Measured>;
  try {
    await admin(async (client) => {
      await client.query(`create role ${appRole} login`);
      await client.query(`create role ${customerRole} login password '${customerPassword}'`);
      await client.query(`create database ${customerDb} owner ${customerRole}`);
    });
    await applyPlans(cp);
    const appKey = await createAppKey(cp);

    // The pool tenant: the vendor's pool table on the control plane's server, with row-level security.
    const poolTenant = await createTenant(cp, {
      slug: 'pool-0',
      name: 'pool',
      plan: 'pro',
      placement: 'pool',
    });
    await cp.services.jobs.runDue();
    await admin(async (client) => {
      await installTenantBinding(client, key);
      await client.query(`revoke temporary on database ${cp.name} from public`);
      await client.query(
        'create table public.notes (tenant_id text not null, id text not null, body text not null, primary key (tenant_id, id))',
      );
      await client.query(rowLevelSecuritySql('notes'));
      await client.query(`grant select, insert, update, delete on public.notes to ${appRole}`);
      await client.query(
        `insert into public.notes select $1, 'n' || g, 'pool/n' || g from generate_series(0, $2 - 1) as g`,
        [poolTenant, settings.rows],
      );
      await client.query('vacuum (analyze) public.notes');
    }, cp.url);

    // The BYOI tenant, through the API: created, its connection set, provisioned in its database.
    const byoiTenant = await createTenant(cp, {
      slug: 'byoi-0',
      name: 'byoi',
      plan: 'pro',
      placement: 'byoi',
      app_schema: 'app',
    });
    await cp.services.jobs.runDue();
    const where = new URL(databaseUrl(customerDb));
    await cp.call('PUT', `/v1/tenants/${byoiTenant}/data-connection`, {
      host: where.hostname,
      port: Number(where.port || 5432),
      database: customerDb,
      user: customerRole,
      password: customerPassword,
      sslmode: 'disable',
    });
    await cp.services.jobs.runDue();
    await cp.services.jobs.runDue();
    const shown = await cp.call('GET', `/v1/tenants/${byoiTenant}`);
    if (shown.state !== 'active' && shown.state !== 'trialing')
      throw new Error(`the byoi tenant did not provision: ${JSON.stringify(shown.provisioning)}`);
    await admin((client) => installTenantBinding(client, key), databaseUrl(customerDb));
    const customerUrl = databaseUrl(customerDb, customerRole);
    const owner = new pg.Client({ connectionString: customerUrl, password: customerPassword });
    await owner.connect();
    await owner.query('create table app.notes (id text primary key, body text not null)');
    await owner.query(
      `insert into app.notes select 'n' || g, 'byoi/n' || g from generate_series(0, $1 - 1) as g`,
      [settings.rows],
    );
    await owner.query('vacuum (analyze) app.notes');
    await owner.end();

    const placements = new PlacementDirectory({
      controlPlane: new ControlPlaneClient({ url: cp.origin, token: appKey }),
      maxAgeMs: 3_600_000,
      connectionMaxAgeMs: 3_600_000,
    });
    data = new TenantData({
      url: databaseUrl(cp.name, appRole),
      placements,
      max: settings.concurrency,
      bindingKey,
      databases: { maxPerPool: settings.concurrency },
    });
    await data.start();
    const rawPool = new pg.Pool({ connectionString: cp.url, max: settings.concurrency });
    const rawByoi = new pg.Pool({
      connectionString: customerUrl,
      password: customerPassword,
      max: settings.concurrency,
    });
    raw.push(rawPool, rawByoi);
    const sdk = data;
    const as = (tenantId: string) => ({ tenantId, subject: 'bench', roles: [] });
    results = await measure({
      sdkByoi: {
        query: async (id) =>
          (await runAsTenant(as(byoiTenant), () => sdk.query<{ body: string }>(BYOI_SQL, [id]))).rows,
        expected: (id) => `byoi/${id}`,
      },
      rawByoi: {
        query: async (id) =>
          (await rawByoi.query<{ body: string }>({ name: 'byoi_point', text: RAW_BYOI_SQL, values: [id] }))
            .rows,
        expected: (id) => `byoi/${id}`,
      },
      sdkPool: {
        query: async (id) =>
          (await runAsTenant(as(poolTenant), () => sdk.query<{ body: string }>(POOL_SQL, [id]))).rows,
        expected: (id) => `pool/${id}`,
      },
      rawPool: {
        query: async (id) =>
          (
            await rawPool.query<{ body: string }>({
              name: 'pool_point',
              text: RAW_POOL_SQL,
              values: [poolTenant, id],
            })
          ).rows,
        expected: (id) => `pool/${id}`,
      },
    });
  } finally {
    await data?.close();
    for (const pool of raw) await pool.end();
    await dropControlPlane(cp, { databases: [customerDb], roles: [appRole, customerRole] });
  }

  const { sdkByoi, rawByoi, sdkPool, rawPool } = results;
  const times = (side: Measured, over: Measured) => round(over.queriesPerSec / side.queriesPerSec, 2);
  const qps = (m: Measured) => `${m.queriesPerSec.toLocaleString('en-US')} q/s`;
  const latency = (m: Measured) => `${m.latencyUs.p50} / ${m.latencyUs.p99} µs`;
  const table: Row[] = [
    {
      figure: `BYOI point query via SDK query() (${settings.concurrency} in flight)`,
      value: `${qps(sdkByoi)} (${times(sdkByoi, rawByoi)}x raw time), p50/p99 ${latency(sdkByoi)}`,
      target: '-',
      ceiling: `raw pg on the customer's database: ${qps(rawByoi)}, ${latency(rawByoi)}`,
      pass: null,
    },
    {
      figure: 'pool point query via SDK query(), same run',
      value: `${qps(sdkPool)} (${times(sdkPool, rawPool)}x raw time), p50/p99 ${latency(sdkPool)}`,
      target: '-',
      ceiling: `raw pg, hand-written WHERE tenant_id: ${qps(rawPool)}, ${latency(rawPool)}`,
      pass: null,
    },
    {
      figure: 'BYOI over pool, time per query',
      value: `${times(sdkByoi, sdkPool)}x`,
      target: '-',
      ceiling: '-',
      pass: null,
    },
  ];
  report('sdk-data-planes', run, {
    settings,
    targets: {},
    table,
    notes: [
      `${settings.rows} rows per side; ${settings.warmupS} s warm-up each, ${settings.durationS} s measured per side in ${settings.rounds} interleaved rounds; ` +
        'raw sides are prepared statements (pg named) as the superuser (pool) and the customer role (BYOI).',
      "A BYOI query() takes one round trip, as a pool tenant's: the clean-session reset, the binding and the statement under one Sync, search_path a startup option of its pool's connections; " +
        'behind its data plane breaker and bulkhead; the connection read once from the control plane (audited) and kept. ' +
        "The customer's table has no policy to evaluate (its database holds one tenant), the pool table's policy verifies the binding.",
    ],
    results: { sdkByoi, rawByoi, sdkPool, rawPool, table },
  });
}

runBench(main);
