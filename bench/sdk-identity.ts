import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { type EntitlementSnapshot, permitted } from '@tenantry/core';
import { createAccessTokenVerifier } from '@tenantry/sdk';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import {
  logger,
  type Row,
  report,
  runBench,
  setting,
  startRun,
  timeBatches,
  worseOf,
} from './bench-support.ts';
import { type Summary, summarize } from './stats.ts';

// The SDK's side of sign-in through Tenantry's OpenID provider, per request of the vendor's app:
// verifying the user's access token (ES256 at+jwt, the JWKS cached after the first call) and the
// allowed('meetings:write') check that follows. Each beside the same run's ceiling: the bare
// ECDSA P-256 verification of the same signature by WebCrypto (what any verifier must do), and a
// bare Array.includes over the same permissions. No control plane: the token has the provider's
// exact shape and the keys are served as /.well-known/jwks.json is, from a local HTTP server.

const settings = {
  verifyS: setting('BENCH_VERIFY_S', 5),
  checkS: setting('BENCH_CHECK_S', 3),
  warmupS: setting('BENCH_WARMUP_S', 1),
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/sdk-identity.json', import.meta.url)),
};

// Verification is ECDSA at heart: the target is the SDK's overhead over the bare verification
// (claims, header and key lookup), not a machine-dependent absolute.
const targets = { verifyP99OverCeiling: 2, checkP99Ns: 200 };

/** Calls timed together: one hrtime read per batch instead of one per call. */
const VERIFY_BATCH = 100;
const CHECK_BATCH = 1_000;

const log = logger('sdk-identity');

/** Per-call times of `call` awaited for `seconds`, in batches of {@link VERIFY_BATCH}. */
async function timeAsync(call: () => Promise<unknown>, seconds: number): Promise<Summary> {
  return (await timeBatches(call, seconds, VERIFY_BATCH)).perCallNs;
}

function timeSync(
  call: (i: number) => number,
  seconds: number,
  batch: number,
): { perCallNs: Summary; sink: number } {
  const samples: number[] = [];
  let sink = 0;
  let i = 0;
  const deadline = performance.now() + seconds * 1000;
  while (performance.now() < deadline) {
    const t0 = process.hrtime.bigint();
    for (let j = 0; j < batch; j++) sink += call(i++);
    samples.push(Number(process.hrtime.bigint() - t0) / batch);
  }
  return { perCallNs: summarize(samples), sink };
}

async function main(): Promise<void> {
  const run = await startRun({ postgres: false });

  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256', use: 'sig' };
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const url = `http://127.0.0.1:${address.port}`;

  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({
    tid: 'ten_01m9000000000000000000000a',
    roles: ['member'],
    perms: ['meetings:read', 'meetings:write', 'minutes:export'],
    client_id: 'cli_01m9000000000000000000000a',
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'bench' })
    .setIssuer(url)
    .setAudience('tenantry')
    .setSubject('usr_01m9000000000000000000000a')
    .setJti('bench')
    .setIssuedAt(now)
    .setExpirationTime(now + 900)
    .sign(privateKey);
  const verifier = createAccessTokenVerifier({ url });
  const context = await verifier.verify(token);

  // The ceiling: WebCrypto's ECDSA verification of the same signature over the same bytes.
  const [header = '', payload = '', signature = ''] = token.split('.');
  const data = new TextEncoder().encode(`${header}.${payload}`);
  const sig = Buffer.from(signature, 'base64url');
  const key = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'verify',
  ]);
  const bare = () => crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, sig, data);
  if (!(await bare())) throw new Error('the ceiling does not verify the token');

  log(`warm-up ${settings.warmupS} s`);
  await timeAsync(() => verifier.verify(token), settings.warmupS);
  await timeAsync(bare, settings.warmupS);
  // Interleaved halves, so that a change of load on the shared machine falls on both.
  const half = settings.verifyS / 2;
  const sdk1 = await timeAsync(() => verifier.verify(token), half);
  const ceil1 = await timeAsync(bare, half);
  const sdk2 = await timeAsync(() => verifier.verify(token), half);
  const ceil2 = await timeAsync(bare, half);
  server.close();

  const snapshot = {
    tenant_id: context.tenantId,
    active: true,
    revoked_subjects: { usr_01m90000000000000000000zzz: new Date().toISOString() },
  } as unknown as EntitlementSnapshot;
  const holder = {
    subject: context.subject,
    permissions: context.permissions ?? [],
    issuedAt: context.issuedAt ?? 0,
  };
  const wanted = ['meetings:write', 'meetings:delete'];
  const check = timeSync(
    (i) => (permitted(snapshot, holder, wanted[i & 1] as string) ? 1 : 0),
    settings.checkS,
    CHECK_BATCH,
  );
  const includes = timeSync(
    (i) => (holder.permissions.includes(wanted[i & 1] as string) ? 1 : 0),
    settings.checkS,
    CHECK_BATCH,
  );

  const us = (ns: number) => Math.round(ns / 10) / 100;
  const sdk = worseOf(sdk1, sdk2);
  const ceiling = worseOf(ceil1, ceil2);
  const table: Row[] = [
    {
      figure: `access-token verification in the SDK, per call, p50 / p99 (batches of ${VERIFY_BATCH})`,
      value: `${us(sdk.p50)} / ${us(sdk.p99)} µs`,
      target: `p99 <= ${targets.verifyP99OverCeiling} × ceiling p99`,
      ceiling: `${us(ceiling.p50)} / ${us(ceiling.p99)} µs bare WebCrypto ECDSA P-256 verify`,
      pass: sdk.p99 <= targets.verifyP99OverCeiling * ceiling.p99,
    },
    {
      figure: `allowed(permission) after verification, per call, p50 / p99 (batches of ${CHECK_BATCH})`,
      value: `${check.perCallNs.p50} / ${check.perCallNs.p99} ns`,
      target: `p99 <= ${targets.checkP99Ns} ns`,
      ceiling: `${includes.perCallNs.p50} / ${includes.perCallNs.p99} ns bare Array.includes`,
      pass: check.perCallNs.p99 <= targets.checkP99Ns,
    },
  ];
  report('sdk-identity', run, {
    settings,
    targets,
    table,
    notes: [
      `one thread; ${settings.warmupS} s warm-up, then the SDK and its ceiling in interleaved halves of ${half} s; ` +
        'p50/p99 are of batches timed with process.hrtime.bigint and divided by the batch size (the worse half shown).',
    ],
    results: {
      verify: { sdk: [sdk1, sdk2], ceiling: [ceil1, ceil2] },
      allowed: { sdk: check, ceiling: includes },
    },
  });
}

runBench(main);
