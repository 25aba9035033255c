import { createPublicKey, verify } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type LicenseKeyring, licenseKeyring, signLicense, verifyLicense } from '@tenantry/core';
import { compactVerify, exportJWK, generateKeyPair } from 'jose';
import {
  describeMachine,
  loadavg,
  logger,
  printHeader,
  printTable,
  type Row,
  round,
  runBench,
  setting,
  writeResults,
} from './bench-support.ts';
import { claimsOfALargePlan } from './license-sample.ts';
import { type Summary, summarize } from './stats.ts';

// What verifying a license costs, per call: verifyLicense (the header's checks, the Ed25519
// signature through jose and WebCrypto, the claims' strict parse, the time), beside the same run's
// ceiling, a bare Ed25519 verification of the same bytes with node:crypto, and jose's compactVerify
// alone between them, to tell the signature's cost from the claims'. One call at a time, each
// awaited, over a license with the entitlements of a large plan. Rounds interleave the three, so a
// busy moment of the machine falls on all of them.

const settings = {
  rounds: setting('BENCH_ROUNDS', 6, 'whole'),
  roundS: setting('BENCH_ROUND_S', 1),
  warmupS: setting('BENCH_WARMUP_S', 1),
  features: setting('BENCH_FEATURES', 40, 'whole'),
  limits: setting('BENCH_LIMITS', 20, 'whole'),
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/license-verify.json', import.meta.url)),
};

// A release verifies its license at start and on each check-in, the SDK's guard maybe once a
// minute: a millisecond at p99 is far more than any of them needs.
const targets = { verifyP99Us: 1_000 };

const log = logger('license-verify');

interface Measured {
  perSec: number;
  /** Microseconds per call. */
  perCallUs: Summary;
}

/** Calls `once` one at a time for `seconds`, timing each call; the samples go into `samples` (µs). */
async function measure(
  once: () => Promise<unknown> | unknown,
  seconds: number,
  samples: number[],
): Promise<number> {
  let calls = 0;
  const deadline = performance.now() + seconds * 1000;
  const start = process.hrtime.bigint();
  while (performance.now() < deadline) {
    const t0 = process.hrtime.bigint();
    await once();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e3);
    calls++;
  }
  return Number(process.hrtime.bigint() - start) / calls;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadavgStart = loadavg();
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid: 'bench' };
  const built = licenseKeyring([publicJwk]);
  if (!built.ok) throw new Error(built.error.message);
  const keyring: LicenseKeyring = built.value;
  const signed = await signLicense(claimsOfALargePlan(Math.floor(startedAt.getTime() / 1000), settings), {
    kid: 'bench',
    privateJwk: await exportJWK(privateKey),
  });
  if (!signed.ok) throw new Error(signed.error.message);
  const token = signed.value;
  const now = new Date(startedAt.getTime() + 86_400_000);
  log(`license of ${token.length} characters`);

  // The ceiling: the signature alone, over the very bytes the JWS signs, with a key imported once.
  const input = Buffer.from(token.slice(0, token.lastIndexOf('.')));
  const signature = Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url');
  const nodeKey = createPublicKey({ key: publicJwk, format: 'jwk' });
  const jwk = keyring.keys.get('bench');
  if (jwk === undefined) throw new Error('the keyring lost its key');

  const kinds = {
    verifyLicense: async () => {
      const result = await verifyLicense(token, keyring, { now });
      if (!result.ok || result.value.status !== 'valid') throw new Error('the license did not verify');
    },
    compactVerify: () => compactVerify(token, jwk, { algorithms: ['EdDSA'] }),
    ed25519: () => {
      if (!verify(null, input, nodeKey, signature)) throw new Error('the signature did not verify');
    },
  };
  type Kind = keyof typeof kinds;
  const names = Object.keys(kinds) as Kind[];
  log(`warming up ${settings.warmupS} s each`);
  for (const name of names) await measure(kinds[name], settings.warmupS, []);
  const samples = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<Kind, number[]>;
  const nsPerCall = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<Kind, number[]>;
  for (let round = 0; round < settings.rounds; round++) {
    for (const name of names)
      nsPerCall[name].push(await measure(kinds[name], settings.roundS, samples[name]));
  }
  const results = Object.fromEntries(
    names.map((name) => {
      const meanNs = nsPerCall[name].reduce((a, b) => a + b, 0) / nsPerCall[name].length;
      return [name, { perSec: Math.round(1e9 / meanNs), perCallUs: summarize(samples[name]) }];
    }),
  ) as Record<Kind, Measured>;

  const machine = describeMachine('not used', loadavgStart);
  const { verifyLicense: v, compactVerify: c, ed25519: e } = results;
  const table: Row[] = [
    {
      figure: 'verifyLicense, verifications/s (one at a time)',
      value: String(v.perSec),
      target: '',
      ceiling: `${e.perSec} (bare Ed25519)`,
      pass: null,
    },
    {
      figure: 'verifyLicense p50 per call',
      value: `${v.perCallUs.p50} µs`,
      target: '',
      ceiling: `${e.perCallUs.p50} µs`,
      pass: null,
    },
    {
      figure: 'verifyLicense p99 per call',
      value: `${v.perCallUs.p99} µs`,
      target: `≤ ${targets.verifyP99Us} µs`,
      ceiling: `${e.perCallUs.p99} µs`,
      pass: v.perCallUs.p99 <= targets.verifyP99Us,
    },
    {
      figure: 'jose compactVerify alone, p50 / p99',
      value: `${c.perCallUs.p50} / ${c.perCallUs.p99} µs`,
      target: '',
      ceiling: `${e.perCallUs.p50} / ${e.perCallUs.p99} µs`,
      pass: null,
    },
    {
      figure: 'verifyLicense over bare Ed25519, p50',
      value: `${round(v.perCallUs.p50 / e.perCallUs.p50, 1)}×`,
      target: '',
      ceiling: '1×',
      pass: null,
    },
  ];
  printHeader('license', machine);
  console.log(
    `a license of ${token.length} characters (${settings.features} features, ${settings.limits} limits)`,
  );
  printTable(table);
  writeResults({ startedAt, machine, settings, targets }, { tokenLength: token.length, ...results });
}

runBench(main);
