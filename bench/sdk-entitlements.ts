import { fileURLToPath } from 'node:url';
import type { EntitlementSnapshot } from '@tenantry/core';
import { ControlPlaneClient, Entitlements } from '@tenantry/sdk';
import {
  ADMIN_URL,
  applyPlans,
  type ControlPlane,
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
  round,
  runBench,
  setting,
  startControlPlane,
  writeResults,
} from './bench-support.ts';
import { type Summary, summarize } from './stats.ts';

// The SDK's local entitlements: how fast a local check is (checks per second, p99 per check),
// beside the same run's ceiling (a bare Map lookup and property read over the same snapshots),
// and how long a plan change takes to reach the SDK through the push stream, against a control
// plane on the local PostgreSQL.

const settings = {
  adminUrl: ADMIN_URL,
  tenants: setting('BENCH_TENANTS', 1000),
  checkS: setting('BENCH_CHECK_S', 5),
  warmupS: setting('BENCH_WARMUP_S', 2),
  planChanges: setting('BENCH_PLAN_CHANGES', 100),
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/sdk-entitlements.json', import.meta.url)),
};

const targets = { checksPerSec: 5_000_000, checkP99Ns: 2_000, planChangeP99Ms: 1_000 };

/** Checks timed together: one hrtime read per batch instead of one (~50 ns) per check. */
const BATCH = 1_000;

const log = logger('sdk-entitlements');

// ---------------------------------------------------------------------------------------------
// 1. Local checks

interface CheckResult {
  checksPerSec: number;
  /** Per-check time of each batch of BATCH checks, in nanoseconds. */
  perCheckNs: Summary;
  batches: number;
  /** The sum of the checks' answers: kept (and written out) so the loop cannot be optimised away. */
  sink: number;
}

/**
 * Runs `check` in batches of {@link BATCH} for `seconds`, timing each batch: the throughput is
 * checks over wall time, the percentiles are of each batch's time divided by its size.
 */
function measure(check: (i: number) => number, seconds: number): CheckResult {
  const samples: number[] = [];
  let sink = 0;
  let i = 0;
  const deadline = performance.now() + seconds * 1000;
  const start = process.hrtime.bigint();
  while (performance.now() < deadline) {
    for (let k = 0; k < 100; k++) {
      const t0 = process.hrtime.bigint();
      for (let j = 0; j < BATCH; j++) sink += check(i++);
      samples.push(Number(process.hrtime.bigint() - t0) / BATCH);
    }
  }
  const elapsedNs = Number(process.hrtime.bigint() - start);
  return {
    checksPerSec: Math.round((i / elapsedNs) * 1e9),
    perCheckNs: summarize(samples),
    batches: samples.length,
    sink,
  };
}

const FEATURES = ['sso', 'advanced_analytics', 'no_such_feature'];
const LIMITS = ['meetings', 'concurrent_sessions'];
const CONFIG = ['retention_days'];

async function benchChecks(
  sdk: Entitlements,
  ids: readonly string[],
): Promise<{ sdk: CheckResult; ceiling: CheckResult }> {
  const n = ids.length;
  const snapshots = new Map<string, EntitlementSnapshot>(ids.map((id) => [id, sdk.snapshot(id)]));
  // The mix an app makes: a feature, a limit, a config value, over many tenants.
  const viaSdk = (i: number): number => {
    const id = ids[i % n] as string;
    switch (i % 3) {
      case 0:
        return sdk.can(id, FEATURES[(i >> 2) % 3] as string) ? 1 : 0;
      case 1:
        return sdk.limit(id, LIMITS[(i >> 2) & 1] as string) === undefined ? 0 : 1;
      default:
        return sdk.config(id, CONFIG[0] as string) === undefined ? 0 : 1;
    }
  };
  // The ceiling: the same lookups straight on a Map of the same snapshots, with no checks at all.
  const bare = (i: number): number => {
    const id = ids[i % n] as string;
    const s = snapshots.get(id) as EntitlementSnapshot;
    switch (i % 3) {
      case 0:
        return s.features[FEATURES[(i >> 2) % 3] as string] === true ? 1 : 0;
      case 1:
        return s.limits[LIMITS[(i >> 2) & 1] as string] === undefined ? 0 : 1;
      default:
        return s.config[CONFIG[0] as string] === undefined ? 0 : 1;
    }
  };
  log(`local checks: warming up ${settings.warmupS} s each`);
  measure(viaSdk, settings.warmupS);
  measure(bare, settings.warmupS);
  // Interleaved halves, so a noisy neighbour on the machine weighs on both alike.
  const half = settings.checkS / 2;
  const runs = [measure(viaSdk, half), measure(bare, half), measure(viaSdk, half), measure(bare, half)];
  const merge = (a: CheckResult, b: CheckResult): CheckResult => ({
    checksPerSec: Math.round((a.checksPerSec + b.checksPerSec) / 2),
    perCheckNs: {
      // The worse of the two halves for each percentile.
      p50: Math.max(a.perCheckNs.p50, b.perCheckNs.p50),
      p90: Math.max(a.perCheckNs.p90, b.perCheckNs.p90),
      p99: Math.max(a.perCheckNs.p99, b.perCheckNs.p99),
      p999: Math.max(a.perCheckNs.p999, b.perCheckNs.p999),
      max: Math.max(a.perCheckNs.max, b.perCheckNs.max),
      mean: round((a.perCheckNs.mean + b.perCheckNs.mean) / 2),
      count: a.perCheckNs.count + b.perCheckNs.count,
    },
    batches: a.batches + b.batches,
    sink: a.sink + b.sink,
  });
  const [s1, c1, s2, c2] = runs as [CheckResult, CheckResult, CheckResult, CheckResult];
  return { sdk: merge(s1, s2), ceiling: merge(c1, c2) };
}

// ---------------------------------------------------------------------------------------------
// 2. A plan change reaching the SDK

interface PlanChangeResult {
  /** From sending the change to the SDK holding the new snapshot. */
  reachSdkMs: Summary;
  /** The change request alone (its answer): the floor under the figure above. */
  apiMs: Summary;
  changes: number;
}

async function benchPlanChanges(
  cp: ControlPlane,
  sdk: Entitlements,
  tenantId: string,
): Promise<PlanChangeResult> {
  const reach: number[] = [];
  const api: number[] = [];
  for (let i = 0; i < settings.planChanges; i++) {
    const target = sdk.snapshot(tenantId).plan?.key === 'pro' ? 'starter' : 'pro';
    const seen = new Promise<number>((resolve) => {
      const stop = sdk.on('change', (change) => {
        if (change.tenantId === tenantId && change.snapshot?.plan?.key === target) {
          stop();
          resolve(performance.now());
        }
      });
    });
    const start = performance.now();
    const changed = await cp.api('POST', `/v1/tenants/${tenantId}/change-plan`, { plan: target, at: 'now' });
    const answered = performance.now();
    if (changed.status !== 200)
      throw new Error(`change-plan: ${changed.status} ${JSON.stringify(changed.body)}`);
    reach.push((await seen) - start);
    api.push(answered - start);
  }
  return { reachSdkMs: summarize(reach), apiMs: summarize(api), changes: reach.length };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadavgStart = loadavg();
  const postgres = await postgresVersion();
  const cp = await startControlPlane();
  log(`control plane on ${cp.origin}, database ${cp.name}`);
  const sdk = new Entitlements(new ControlPlaneClient({ url: cp.origin, token: cp.token }));
  let checks: Awaited<ReturnType<typeof benchChecks>>;
  let planChanges: PlanChangeResult;
  let noticedChanges: PlanChangeResult;
  try {
    await applyPlans(cp);
    log(`creating ${settings.tenants} tenants`);
    const ids = await inParallel(
      Array.from({ length: settings.tenants }, (_, i) => i),
      8,
      (i) =>
        createTenant(cp, {
          slug: `bench-${i}`,
          name: `Bench ${i}`,
          plan: i % 2 === 0 ? 'pro' : 'starter',
          seats: 1 + (i % 5),
        }),
    );
    await cp.services.jobs.runDue();
    await inParallel(ids, 16, (id) => sdk.load(id));
    await sdk.whenLive();
    log(`${ids.length} snapshots held; the stream is live`);

    checks = await benchChecks(sdk, ids);
    log(`plan changes: ${settings.planChanges}, one at a time`);
    // The first tenant loaded is named by the stream when it connects: its snapshot is pushed.
    planChanges = await benchPlanChanges(cp, sdk, ids[0] as string);
    // One loaded after that comes as a `changed` notice, which the SDK answers by revalidating.
    log(`plan changes of a tenant loaded after the stream connected: ${settings.planChanges}`);
    noticedChanges = await benchPlanChanges(cp, sdk, ids.at(-1) as string);
  } finally {
    await sdk.close();
    await dropControlPlane(cp);
    log(`dropped ${cp.name}`);
  }

  const table: Row[] = [
    {
      figure: `local checks (can/limit/config over ${settings.tenants} tenants)`,
      value: `${checks.sdk.checksPerSec.toLocaleString('en-US')} /s`,
      target: `>= ${targets.checksPerSec.toLocaleString('en-US')} /s`,
      ceiling: `${checks.ceiling.checksPerSec.toLocaleString('en-US')} /s bare Map + property read`,
      pass: checks.sdk.checksPerSec >= targets.checksPerSec,
    },
    {
      figure: `  per check, p50 / p99 (batches of ${BATCH} timed, divided)`,
      value: `${checks.sdk.perCheckNs.p50} / ${checks.sdk.perCheckNs.p99} ns`,
      target: `p99 <= ${targets.checkP99Ns} ns`,
      ceiling: `${checks.ceiling.perCheckNs.p50} / ${checks.ceiling.perCheckNs.p99} ns`,
      pass: checks.sdk.perCheckNs.p99 <= targets.checkP99Ns,
    },
    {
      figure: `a plan change reaching the SDK, p50 / p99 (${planChanges.changes} changes)`,
      value: `${planChanges.reachSdkMs.p50} / ${planChanges.reachSdkMs.p99} ms`,
      target: `p99 <= ${targets.planChangeP99Ms} ms`,
      ceiling: `${planChanges.apiMs.p50} / ${planChanges.apiMs.p99} ms the change request alone`,
      pass: planChanges.reachSdkMs.p99 <= targets.planChangeP99Ms,
    },
    {
      figure: '  the same for a tenant loaded after the stream connected (notice + revalidation)',
      value: `${noticedChanges.reachSdkMs.p50} / ${noticedChanges.reachSdkMs.p99} ms`,
      target: `p99 <= ${targets.planChangeP99Ms} ms`,
      ceiling: `${noticedChanges.apiMs.p50} / ${noticedChanges.apiMs.p99} ms the change request alone`,
      pass: noticedChanges.reachSdkMs.p99 <= targets.planChangeP99Ms,
    },
  ];
  const machine = describeMachine(postgres, loadavgStart);
  printHeader('sdk-entitlements', machine);
  console.log(
    `local checks: one thread, ${settings.warmupS} s warm-up, ${settings.checkS} s measured in interleaved halves; ` +
      `p50/p99 are of batches of ${BATCH} checks timed with process.hrtime.bigint and divided by ${BATCH} ` +
      '(a timer read costs ~50 ns, as much as a check: timing each check would measure the timer).',
  );
  console.log(
    'plan changes: POST /v1/tenants/{id}/change-plan one at a time, timed until the SDK holds the new snapshot ' +
      '(control plane and SDK in this process; the stream coalesces changes for 100 ms).',
  );
  console.log('');
  printTable(table);
  writeResults(
    { startedAt, machine, settings: { ...settings, batch: BATCH }, targets },
    {
      checks,
      planChanges,
      noticedChanges,
      table,
    },
  );
}

runBench(main);
