import { randomUUID } from 'node:crypto';
import { mkdtemp, open, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { licenseKeyring, signLicense, verifyLicense } from '@tenantry/core';
import { LicenseGuard } from '@tenantry/sdk';
import { exportJWK, generateKeyPair } from 'jose';
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

// The SDK's start time from a license: LicenseGuard.open (the keyring built from the release's
// keys, the state file read, verifyLicense, the clock and seq checks, the state written to a temp
// file, fsynced and renamed, the snapshot view built), beside the same run's ceiling, the bare
// verifyLicense call it wraps, and the state file's atomic write alone, to tell the verification's
// cost from the disk's. One open at a time, each awaited, over a license of a large plan; rounds
// interleave the three, so a busy moment of the machine falls on all of them.

const settings = {
  opens: setting('BENCH_OPENS', 200, 'whole'),
  rounds: setting('BENCH_ROUNDS', 4, 'whole'),
  warmup: setting('BENCH_WARMUP', 20, 'whole'),
  features: setting('BENCH_FEATURES', 40, 'whole'),
  limits: setting('BENCH_LIMITS', 20, 'whole'),
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/license-guard.json', import.meta.url)),
};

// An app opens the guard once per process start: 10 ms at p99 is invisible beside the rest of a
// start (loading modules, connecting to a database), which takes hundreds.
const targets = { openP99Ms: 10 };

const log = logger('license-guard');

/** Calls `once` `count` times, one at a time; the samples (ms) go into `samples`. */
async function measure(once: () => Promise<unknown>, count: number, samples: number[]): Promise<void> {
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    await once();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadavgStart = loadavg();
  const directory = await mkdtemp(join(tmpdir(), 'tenantry-bench-license-guard-'));
  try {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true });
    const publicJwk = { ...(await exportJWK(publicKey)), kid: 'bench' };
    const built = licenseKeyring([publicJwk]);
    if (!built.ok) throw new Error(built.error.message);
    const keyring = built.value;
    const signed = await signLicense(
      claimsOfALargePlan(Math.floor(startedAt.getTime() / 1000) - 86_400, settings),
      {
        kid: 'bench',
        privateJwk: await exportJWK(privateKey),
      },
    );
    if (!signed.ok) throw new Error(signed.error.message);
    const token = signed.value;
    log(`license of ${token.length} characters, state file in ${directory}`);

    const stateFile = join(directory, 'license-state.json');
    const scratch = join(directory, 'scratch.json');
    const kinds = {
      open: async () => {
        const guard = await LicenseGuard.open({
          license: token,
          builtInKeys: [publicJwk],
          stateFile,
          restrictedMode: 'read-only',
          onWarning: (message) => {
            throw new Error(`unexpected warning: ${message}`);
          },
        });
        if (!guard.can('feature_1')) throw new Error('the guard did not answer from the license');
      },
      verifyLicense: async () => {
        const result = await verifyLicense(token, keyring, { now: new Date() });
        if (!result.ok || result.value.status !== 'valid') throw new Error('the license did not verify');
      },
      // What the guard's state write does, alone: a temp file, fsynced, renamed into place, the
      // directory fsynced.
      stateWrite: async () => {
        const temp = `${scratch}.${randomUUID()}.tmp`;
        const handle = await open(temp, 'wx', 0o600);
        try {
          await handle.writeFile(
            '{"format":1,"latest_seen":"2027-01-01T00:00:00.000Z","seq":{"cus_bench":3}}\n',
          );
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(temp, scratch);
        const dir = await open(directory, 'r');
        try {
          await dir.sync();
        } finally {
          await dir.close();
        }
      },
    };
    type Kind = keyof typeof kinds;
    const names = Object.keys(kinds) as Kind[];
    log(`warming up, ${settings.warmup} calls each`);
    for (const name of names) await measure(kinds[name], settings.warmup, []);
    const samples = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<Kind, number[]>;
    const perRound = Math.ceil(settings.opens / settings.rounds);
    log(`${settings.rounds} rounds of ${perRound} calls each`);
    for (let r = 0; r < settings.rounds; r++) {
      for (const name of names) await measure(kinds[name], perRound, samples[name]);
    }
    const results = Object.fromEntries(names.map((name) => [name, summarize(samples[name])])) as Record<
      Kind,
      Summary
    >;

    const machine = describeMachine('not used', loadavgStart);
    const { open: o, verifyLicense: v, stateWrite: w } = results;
    const table: Row[] = [
      {
        figure: 'LicenseGuard.open p50 per start',
        value: `${o.p50} ms`,
        target: '',
        ceiling: `${v.p50} ms (verifyLicense)`,
        pass: null,
      },
      {
        figure: 'LicenseGuard.open p99 per start',
        value: `${o.p99} ms`,
        target: `≤ ${targets.openP99Ms} ms`,
        ceiling: `${v.p99} ms (verifyLicense)`,
        pass: o.p99 <= targets.openP99Ms,
      },
      {
        figure: 'state file atomic write alone, p50 / p99',
        value: `${w.p50} / ${w.p99} ms`,
        target: '',
        ceiling: '',
        pass: null,
      },
      {
        figure: 'LicenseGuard.open over verifyLicense, p50',
        value: `${round(o.p50 / v.p50, 1)}×`,
        target: '',
        ceiling: '1×',
        pass: null,
      },
    ];
    printHeader('license-guard', machine);
    console.log(
      `a license of ${token.length} characters (${settings.features} features, ${settings.limits} limits), ${o.count} opens`,
    );
    printTable(table);
    writeResults({ startedAt, machine, settings, targets }, { tokenLength: token.length, ...results });
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

runBench(main);
