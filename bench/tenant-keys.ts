import { hash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { ControlPlaneClient, Entitlements, TenantKeys } from '@tenantry/sdk';
import {
  applyPlans,
  type Batches,
  type ControlPlane,
  createAppKey,
  createTenant,
  dropControlPlane,
  fixturePlans,
  inParallel,
  logger,
  type Row,
  report,
  round,
  runBench,
  setting,
  startControlPlane,
  startRun,
  timeBatches,
  worseOf,
} from './bench-support.ts';
import { summarize } from './stats.ts';

// Tenant API keys verified by the SDK: the cost of one `verify()` from the local cache (checksum,
// SHA-256, Map lookup, expiry and tenant checks, last-use note), beside the same run's ceiling (a
// bare Map lookup of the SHA-256 of the same keys), and how long a revocation takes to reach the
// SDK through the entitlement stream, against a control plane on the local PostgreSQL.

const settings = {
  tenants: setting('BENCH_TENANTS', 200),
  keysPerTenant: setting('BENCH_KEYS_PER_TENANT', 5),
  verifyS: setting('BENCH_VERIFY_S', 4),
  warmupS: setting('BENCH_WARMUP_S', 1),
  revocations: setting('BENCH_REVOCATIONS', 50),
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/tenant-keys.json', import.meta.url)),
};

const targets = { verifyP50Ns: 5_000, revocationP99Ms: 1_000 };

/** Calls timed together: one timer read per batch instead of one per call. */
const BATCH = 1_000;

const log = logger('tenant-keys');

/** Verifications of the cache, timed in batches of {@link BATCH}. */
const measure = (call: (i: number) => unknown, seconds: number): Promise<Batches> =>
  timeBatches(call, seconds, BATCH);

async function createKey(
  cp: ControlPlane,
  tenantId: string,
  name: string,
): Promise<{ id: string; secret: string }> {
  const body = await cp.call('POST', `/v1/tenants/${tenantId}/api-keys`, {
    name,
    permissions: ['meetings:write'],
  });
  return { id: String(body.id), secret: String(body.secret) };
}

async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setImmediate(resolve));
}

async function main(): Promise<void> {
  const run = await startRun();
  const cp = await startControlPlane();
  log(`control plane on ${cp.origin}, database ${cp.name}`);
  const client = new ControlPlaneClient({ url: cp.origin, token: await createAppKey(cp) });
  const entitlements = new Entitlements(client);
  const keys = new TenantKeys(client, entitlements);
  let viaSdk: Batches;
  let ceiling: Batches;
  let refused: Batches;
  let allowListed: Batches;
  const reach: number[] = [];
  const api: number[] = [];
  try {
    // Pro with IP allow-lists, so that the last phase can give every tenant one.
    await applyPlans(
      cp,
      fixturePlans()
        .replace('  advanced_analytics: {}\n', '  advanced_analytics: {}\n  ip_allow_list: {}\n')
        .replace('features: [sso]', 'features: [sso, ip_allow_list]'),
    );
    // A key carries permissions the vendor's access file declares.
    await cp.call('PUT', '/v1/access', { source: 'permissions:\n  meetings:write: Edit meetings\n' });
    log(`creating ${settings.tenants} tenants with ${settings.keysPerTenant} keys each`);
    const ids = await inParallel(
      Array.from({ length: settings.tenants }, (_, i) => i),
      8,
      (i) => createTenant(cp, { slug: `bench-${i}`, name: `Bench ${i}`, plan: 'pro' }),
    );
    await cp.services.jobs.runDue();
    const secrets = (
      await inParallel(
        ids.flatMap((id) => Array.from({ length: settings.keysPerTenant }, (_, k) => [id, `k${k}`] as const)),
        8,
        ([id, name]) => createKey(cp, id, name),
      )
    ).map((key) => key.secret);
    await keys.ready();
    const n = secrets.length;
    log(`${n} keys held; the stream is live`);

    // The ceiling: the SHA-256 of the same keys looked up in a bare Map, nothing else.
    const bare = new Map(secrets.map((secret, i) => [hash('sha256', secret), i]));
    const viaKeys = async (i: number) => (await keys.verify(secrets[i % n] as string)).ok;
    const viaMap = (i: number) => bare.get(hash('sha256', secrets[i % n] as string)) !== undefined;
    // A tampered key: refused by its checksum, before any hashing.
    const tampered = secrets.map((secret) => `${secret.slice(0, -1)}${secret.endsWith('a') ? 'b' : 'a'}`);
    const viaTampered = async (i: number) => (await keys.verify(tampered[i % n] as string)).ok;
    log(`verify: warming up ${settings.warmupS} s each`);
    await measure(viaKeys, settings.warmupS);
    await measure(viaMap, settings.warmupS);
    // Interleaved halves, so a noisy neighbour weighs on both alike.
    const half = settings.verifyS / 2;
    const runs = [
      await measure(viaKeys, half),
      await measure(viaMap, half),
      await measure(viaKeys, half),
      await measure(viaMap, half),
    ] as [Batches, Batches, Batches, Batches];
    const merge = (a: Batches, b: Batches): Batches => ({
      callsPerSec: Math.round((a.callsPerSec + b.callsPerSec) / 2),
      perCallNs: worseOf(a.perCallNs, b.perCallNs),
      sink: a.sink + b.sink,
    });
    viaSdk = merge(runs[0], runs[2]);
    ceiling = merge(runs[1], runs[3]);
    refused = await measure(viaTampered, half);

    log(`revocations: ${settings.revocations}, one at a time`);
    for (let i = 0; i < settings.revocations; i++) {
      const tenantId = ids[i % ids.length] as string;
      const key = await createKey(cp, tenantId, `revoked-${i}`);
      await until(async () => (await keys.verify(key.secret)).ok);
      const start = performance.now();
      await cp.call('POST', `/v1/tenants/${tenantId}/api-keys/${key.id}/revoke`);
      api.push(performance.now() - start);
      await until(async () => !(await keys.verify(key.secret)).ok);
      reach.push(performance.now() - start);
    }

    // Last, as keys then need an address: every tenant gets an allow-list of three blocks (v4 and
    // v6, the matching one last), and each key is verified from an address it allows.
    log('allow-lists: one per tenant');
    await inParallel(ids, 8, (id) =>
      cp.call('PUT', `/v1/tenants/${id}/access-policy`, {
        mfa_required: false,
        ip_allow_list: ['198.51.100.0/24', '2001:db8::/32', '203.0.113.0/24'],
      }),
    );
    const from = { ip: '203.0.113.9' };
    // Every set holds its list once no key works without an address.
    await until(async () => {
      for (const secret of secrets) if ((await keys.verify(secret)).ok) return false;
      return true;
    });
    const viaAllowList = async (i: number) => (await keys.verify(secrets[i % n] as string, from)).ok;
    await measure(viaAllowList, settings.warmupS);
    allowListed = await measure(viaAllowList, half);
    if (allowListed.sink === 0) throw new Error('no key verified from an allowed address');
  } finally {
    await keys.close();
    await entitlements.close();
    await dropControlPlane(cp);
    log(`dropped ${cp.name}`);
  }
  const reachMs = summarize(reach);
  const apiMs = summarize(api);
  const table: Row[] = [
    {
      figure: `verifyApiKey from the cache (${settings.tenants * settings.keysPerTenant} keys)`,
      value: `${viaSdk.callsPerSec.toLocaleString('en-US')} /s`,
      target: '',
      ceiling: `${ceiling.callsPerSec.toLocaleString('en-US')} /s bare Map + SHA-256`,
      pass: null,
    },
    {
      figure: `  per call, p50 / p99 (batches of ${BATCH} timed, divided)`,
      value: `${round(viaSdk.perCallNs.p50 / 1000, 2)} / ${round(viaSdk.perCallNs.p99 / 1000, 2)} µs`,
      target: `p50 < ${targets.verifyP50Ns / 1000} µs`,
      ceiling: `${round(ceiling.perCallNs.p50 / 1000, 2)} / ${round(ceiling.perCallNs.p99 / 1000, 2)} µs`,
      pass: viaSdk.perCallNs.p50 < targets.verifyP50Ns,
    },
    {
      figure: '  from an address its tenant allows (3 CIDR blocks), p50 / p99',
      value: `${round(allowListed.perCallNs.p50 / 1000, 2)} / ${round(allowListed.perCallNs.p99 / 1000, 2)} µs`,
      target: `p50 < ${targets.verifyP50Ns / 1000} µs`,
      ceiling: '',
      pass: allowListed.perCallNs.p50 < targets.verifyP50Ns,
    },
    {
      figure: '  a tampered key (refused by its checksum), p50 / p99',
      value: `${round(refused.perCallNs.p50 / 1000, 2)} / ${round(refused.perCallNs.p99 / 1000, 2)} µs`,
      target: '',
      ceiling: '',
      pass: null,
    },
    {
      figure: `a revocation reaching the SDK, p50 / p99 (${reach.length} revocations)`,
      value: `${reachMs.p50} / ${reachMs.p99} ms`,
      target: `p99 <= ${targets.revocationP99Ms} ms`,
      ceiling: `${apiMs.p50} / ${apiMs.p99} ms the revoke request alone`,
      pass: reachMs.p99 <= targets.revocationP99Ms,
    },
  ];
  report('tenant-keys', run, {
    settings: { ...settings, batch: BATCH },
    targets,
    table,
    notes: [
      `verify: one thread, awaited one after another, ${settings.warmupS} s warm-up, ${settings.verifyS} s measured in ` +
        `interleaved halves; p50/p99 are of batches of ${BATCH} calls divided by ${BATCH}.`,
      'revocations: POST .../revoke one at a time, timed until verify() refuses the key (control plane and SDK in ' +
        'this process; the stream coalesces changes for 100 ms, then the SDK revalidates the tenant).',
    ],
    results: { viaSdk, ceiling, refused, allowListed, revocationMs: reachMs, revokeRequestMs: apiMs, table },
  });
}

runBench(main);
