import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { buildApp, createServices, MASTER_KEY_BYTES, SecretBox, systemClock } from '@tenantry/server';
import {
  applyPlans,
  createAppKey,
  createTenant,
  dropControlPlane,
  logger,
  type Row,
  report,
  runBench,
  setting,
  startControlPlane,
  startRun,
  timed,
} from './bench-support.ts';
import { type Summary, summarize } from './stats.ts';

// The control plane's rate limiter, in the same run as its ceilings:
// - overhead: GET /v1/tenants/{id}/entitlements (served from memory, the cheapest tenant route)
//   with an app key, counted against the key's and the tenant's buckets, against the same route
//   of a second app over the same database and services' settings with the limiter off;
// - the limiter alone: RequestLimiter.check() in a loop, against a Map read and write of one
//   bucket (what any in-memory count costs at least);
// - a noisy neighbour: one tenant's requests, one at a time, first alone, then while another
//   tenant sends 500 requests a second (open loop: at that rate whatever the answers, as a
//   runaway client does) — throttled at its plan's 50 a second, and, as the contrast, with the
//   limiter off. The quiet tenant must get no 429 and a p99 that stays near the one it has alone.

const settings = {
  rounds: setting('BENCH_ROUNDS', 10, 'whole'),
  perRound: setting('BENCH_PER_ROUND', 200, 'whole'),
  warmup: setting('BENCH_WARMUP', 200, 'whole'),
  checks: setting('BENCH_CHECKS', 1_000_000, 'whole'),
  quiet: setting('BENCH_QUIET_REQUESTS', 1000, 'whole'),
  noisyRate: setting('BENCH_NOISY_RATE', 500, 'whole'),
  noisyInFlight: setting('BENCH_NOISY_IN_FLIGHT', 64, 'whole'),
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/rate-limits.json', import.meta.url)),
};

const targets = {
  /** What the limiter may add to the cheapest route's median, in microseconds. */
  overheadP50Us: 100,
  /** The quiet tenant's p99 beside a throttled flood, at most this many times its p99 alone. */
  quietP99VsAlone: 2,
};

const log = logger('rate-limits');

/**
 * The noisy tenant's client, open loop: every 10 ms, the rate's share of requests, without
 * waiting for answers; at most `inFlight` outstanding (past that the client is the bottleneck, and
 * the send is counted under status 0). On 'stop' it waits for what is in flight and posts the
 * count of each status.
 */
const FLOOD = `
const { parentPort, workerData } = require('node:worker_threads');
const { url, authorization, rate, inFlight: most } = workerData;
const counts = {};
const count = (status) => { counts[status] = (counts[status] || 0) + 1; };
const pending = new Set();
let inFlight = 0;
let owed = 0;
const timer = setInterval(() => {
  owed += rate / 100;
  for (; owed >= 1; owed--) {
    if (inFlight >= most) { count(0); continue; }
    inFlight++;
    const sent = fetch(url, { headers: { authorization } })
      .then(async (response) => { await response.arrayBuffer(); count(response.status); })
      .catch(() => count(-1))
      .finally(() => { inFlight--; pending.delete(sent); });
    pending.add(sent);
  }
}, 10);
parentPort.on('message', async () => {
  clearInterval(timer);
  await Promise.all(pending);
  parentPort.postMessage(counts);
});
`;

const PLANS = `currency: usd
plans:
  quiet:
    name: Quiet
    rate_limits:
      tenantry_api: { requests: 100000, per: 1s }
  noisy:
    name: Noisy
    rate_limits:
      tenantry_api: { requests: 50, per: 1s }
`;

async function main(): Promise<void> {
  const run = await startRun();
  // Keys unlimited in effect (the overhead of counting them stays), tenants as their plans say.
  const cp = await startControlPlane({
    env: { TENANTRY_RATE_LIMIT_KEY: '100000000/1s', TENANTRY_RATE_LIMIT_TENANT: '100000000/1s' },
  });
  log(`control plane on ${cp.origin}, database ${cp.name}`);
  // The ceiling: the same routes over the same database, with no limits configured.
  const { rateLimits: _unused, ...unlimitedSettings } = cp.config;
  const offServices = createServices(
    cp.database,
    { ...unlimitedSettings, secrets: new SecretBox([randomBytes(MASTER_KEY_BYTES)]) },
    systemClock,
  );
  const off = await buildApp(offServices, { logger: false });
  const offOrigin = await off.listen({ port: 0, host: '127.0.0.1' });

  const overhead = { on: [] as number[], off: [] as number[] };
  const phases = { alone: [] as number[], throttled: [] as number[], unthrottled: [] as number[] };
  const quietStatuses = {
    alone: new Map<number, number>(),
    throttled: new Map<number, number>(),
    unthrottled: new Map<number, number>(),
  };
  const noisyStatuses = { throttled: new Map<number, number>(), unthrottled: new Map<number, number>() };
  let checkNs = 0;
  let mapNs = 0;
  try {
    await applyPlans(cp, PLANS);
    const quiet = await createTenant(cp, { slug: 'bench-quiet', name: 'Quiet', plan: 'quiet' });
    const noisy = await createTenant(cp, { slug: 'bench-noisy', name: 'Noisy', plan: 'noisy' });
    await cp.services.jobs.runDue();
    const headers = { authorization: `Bearer ${await createAppKey(cp, 'bench-app')}` };
    const get = async (origin: string, path: string): Promise<number> => {
      const response = await fetch(origin + path, { headers });
      await response.arrayBuffer();
      return response.status;
    };
    const quietPath = `/v1/tenants/${quiet}/entitlements`;

    // 1. Overhead per request.
    const kinds = { on: cp.origin, off: offOrigin } as const;
    log(`warm-up: ${settings.warmup} of each`);
    for (const origin of Object.values(kinds))
      for (let i = 0; i < settings.warmup; i++) await get(origin, quietPath);
    for (let round = 0; round < settings.rounds; round++) {
      const order = round % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const);
      for (const kind of order) {
        for (let i = 0; i < settings.perRound; i++) {
          let status = 0;
          overhead[kind].push(await timed(async () => (status = await get(kinds[kind], quietPath))));
          if (status !== 200) throw new Error(`${kind}: ${status}`);
        }
      }
      log(`overhead round ${round + 1} of ${settings.rounds}`);
    }

    // 2. The limiter alone, on its synchronous path (the tenant's limit in memory).
    const limiter = cp.services.rateLimiter;
    await limiter.check('key_bench', quiet);
    let start = process.hrtime.bigint();
    for (let i = 0; i < settings.checks; i++) limiter.check('key_bench', quiet);
    checkNs = Number(process.hrtime.bigint() - start) / settings.checks;
    const map = new Map<string, { tokens: number; at: number }>();
    start = process.hrtime.bigint();
    for (let i = 0; i < settings.checks; i++) {
      const held = map.get('t:bench');
      map.set('t:bench', { tokens: (held?.tokens ?? 0) + 1, at: i });
    }
    mapNs = Number(process.hrtime.bigint() - start) / settings.checks;

    // 3. A noisy neighbour.
    const quietRun = async (origin: string, into: number[], statuses: Map<number, number>) => {
      for (let i = 0; i < settings.quiet; i++) {
        let status = 0;
        into.push(await timed(async () => (status = await get(origin, `/v1/tenants/${quiet}`))));
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    };
    // The noisy client runs in a worker thread, as another machine would: its own event loop
    // sends and reads the flood, so the server's thread serves it and the quiet tenant only.
    const flood = (origin: string, statuses: Map<number, number>) => {
      const worker = new Worker(FLOOD, {
        eval: true,
        workerData: {
          url: `${origin}/v1/tenants/${noisy}`,
          authorization: headers.authorization,
          rate: settings.noisyRate,
          inFlight: settings.noisyInFlight,
        },
      });
      return async () => {
        const counts = new Promise<Record<string, number>>((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('error', reject);
        });
        worker.postMessage('stop');
        for (const [status, n] of Object.entries(await counts)) statuses.set(Number(status), n);
        await worker.terminate();
      };
    };
    log('quiet tenant alone');
    await quietRun(cp.origin, phases.alone, quietStatuses.alone);
    log('quiet tenant beside a throttled flood');
    let stop = flood(cp.origin, noisyStatuses.throttled);
    await quietRun(cp.origin, phases.throttled, quietStatuses.throttled);
    await stop();
    log('quiet tenant beside the same flood, limiter off');
    stop = flood(offOrigin, noisyStatuses.unthrottled);
    await quietRun(offOrigin, phases.unthrottled, quietStatuses.unthrottled);
    await stop();
  } finally {
    await off.close();
    await dropControlPlane(cp);
    log(`dropped ${cp.name}`);
  }

  const on = summarize(overhead.on);
  const offSummary = summarize(overhead.off);
  const alone = summarize(phases.alone);
  const throttled = summarize(phases.throttled);
  const unthrottled = summarize(phases.unthrottled);
  const overheadUs = Math.round((on.p50 - offSummary.p50) * 1000);
  const counts = (m: Map<number, number>) =>
    [...m.entries()]
      .sort(([a], [b]) => a - b)
      .map(([status, n]) => `${n}×${status}`)
      .join(' ');
  const quiet429 = (quietStatuses.throttled.get(429) ?? 0) + (quietStatuses.alone.get(429) ?? 0);
  const ms = (s: Summary) => `${s.p50} / ${s.p99} ms`;
  const table: Row[] = [
    {
      figure: `overhead: entitlements route, limiter on (${on.count}), p50 / p99`,
      value: `${ms(on)} (p50 +${overheadUs} µs)`,
      target: `<= +${targets.overheadP50Us} µs p50`,
      ceiling: `${ms(offSummary)} same route, limiter off`,
      pass: overheadUs <= targets.overheadP50Us,
    },
    {
      figure: 'the limiter alone: check() on its in-memory path',
      value: `${checkNs.toFixed(0)} ns`,
      target: 'reported',
      ceiling: `${mapNs.toFixed(0)} ns: a Map read and write of one bucket`,
      pass: null,
    },
    {
      figure: `quiet tenant beside a throttled flood (${throttled.count}), p50 / p99`,
      value: `${ms(throttled)}; ${counts(quietStatuses.throttled)}`,
      target: `no 429; p99 <= ${targets.quietP99VsAlone}× alone`,
      ceiling: `${ms(alone)} alone`,
      pass: quiet429 === 0 && throttled.p99 <= alone.p99 * targets.quietP99VsAlone,
    },
    {
      figure: `  the flood, ${settings.noisyRate}/s offered, throttled at 50/s`,
      value: counts(noisyStatuses.throttled),
      target: 'reported',
      ceiling: '',
      pass: null,
    },
    {
      figure: `quiet tenant beside the same flood, limiter off (${unthrottled.count}), p50 / p99`,
      value: ms(unthrottled),
      target: 'contrast',
      ceiling: `flood served: ${counts(noisyStatuses.unthrottled)}`,
      pass: null,
    },
  ];
  report('rate-limits', run, {
    settings,
    targets,
    table,
    notes: [
      `overhead: one request at a time, ${settings.rounds} alternating rounds of ${settings.perRound} per app after ` +
        `${settings.warmup} warm-up each; noisy neighbour: ${settings.quiet} quiet requests per phase (GET /v1/tenants/{id}, ` +
        `a database read) while the noisy tenant's are sent at ${settings.noisyRate}/s from a worker thread ` +
        `(0 = not sent: ${settings.noisyInFlight} already in flight; -1 = failed). Control plane, both apps ` +
        'and the quiet client in this process; PostgreSQL local.',
    ],
    results: {
      summary: { on, off: offSummary, alone, throttled, unthrottled, checkNs, mapNs },
      statuses: {
        quiet: Object.fromEntries(Object.entries(quietStatuses).map(([k, m]) => [k, Object.fromEntries(m)])),
        noisy: Object.fromEntries(Object.entries(noisyStatuses).map(([k, m]) => [k, Object.fromEntries(m)])),
      },
      table,
    },
  });
}

runBench(main);
