import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signLicense } from '@tenantry/core';
import {
  exportUsageReport,
  LEDGER_FILE,
  LicenseGuard,
  runAsTenant,
  type SelfHostedTenantry,
  Tenantry,
} from '@tenantry/sdk';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
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

// The SDK's start time from a license, as the app sees it: Tenantry.open({ license }) to ready —
// the license guard opened (verification, the state file), the install's identity read, the usage
// ledger read and summed, the license kept — on a later start (an install that has run before, its
// ledger holding BENCH_LEDGER_EVENTS events) and on a first start (a fresh state directory: the key
// pair made and written). Beside them, in the same run, the ceiling: LicenseGuard.open alone, which
// the start wraps. Then the checks per call: tenantry.can() inside a tenant context against the
// guard's own can(), and consume() of a hard-limited meter (one fsync of the ledger each, when
// calls come one at a time). Rounds interleave the kinds, so a busy moment falls on all of them.
// And a later start of an install whose ledger held BENCH_EXPORTED_EVENTS events, all exported
// (10 reports for 100,000), after the one start that compacted it: a start no longer reads
// exported usage, so it costs what a start with an empty ledger does.

const settings = {
  opens: setting('BENCH_OPENS', 100, 'whole'),
  rounds: setting('BENCH_ROUNDS', 4, 'whole'),
  warmup: setting('BENCH_WARMUP', 10, 'whole'),
  features: setting('BENCH_FEATURES', 40, 'whole'),
  limits: setting('BENCH_LIMITS', 20, 'whole'),
  ledgerEvents: setting('BENCH_LEDGER_EVENTS', 10_000, 'whole'),
  exportedEvents: setting('BENCH_EXPORTED_EVENTS', 100_000, 'whole'),
  checks: setting('BENCH_CHECKS', 1_000_000, 'whole'),
  consumes: setting('BENCH_CONSUMES', 400, 'whole'),
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/sdk-self-hosted.json', import.meta.url)),
};

// A start happens once per process, and a Node app's start (loading its modules, connecting to
// its database) takes hundreds of milliseconds: 100 ms at p99 for an install with a month of
// moderate usage in its ledger stays a small share of it. A check is on every request's path:
// 1 µs keeps it free.
const targets = { laterStartP99Ms: 100, canNs: 1000 };

const log = logger('sdk-self-hosted');

async function measure(once: () => Promise<unknown>, count: number, samples: number[]): Promise<void> {
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    await once();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
}

/** Nanoseconds per call of `check`, over `count` calls. */
function perCall(check: () => boolean, count: number): number {
  let on = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) if (check()) on++;
  const ns = Number(process.hrtime.bigint() - t0) / count;
  if (on !== count) throw new Error('a check answered false');
  return round(ns, 1);
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadavgStart = loadavg();
  const directory = await mkdtemp(join(tmpdir(), 'tenantry-bench-sdk-self-hosted-'));
  try {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true });
    const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid: 'bench' };
    const claims = claimsOfALargePlan(Math.floor(startedAt.getTime() / 1000) - 86_400, settings);
    const signed = await signLicense(
      { ...claims, install: null },
      { kid: 'bench', privateJwk: await exportJWK(privateKey) },
    );
    if (!signed.ok) throw new Error(signed.error.message);
    const license = signed.value;
    const options = {
      license,
      builtInKeys: [publicJwk],
      restrictedMode: 'read-only' as const,
      checkEveryMs: 0,
      onWarning: (message: string) => {
        throw new Error(`unexpected warning: ${message}`);
      },
    };
    const customer = { tenantId: claims.customer.id, subject: 'bench', roles: [] };

    // The install that has run before: its identity made, its ledger filled.
    const installed = join(directory, 'installed');
    await (await Tenantry.open({ ...options, stateDirectory: installed })).close();
    const time = new Date(startedAt.getTime() - 3_600_000).toISOString();
    const lines = [];
    for (let i = 0; i < settings.ledgerEvents; i++) {
      lines.push(
        JSON.stringify({
          id: `e${i}`,
          tenant: customer.tenantId,
          meter: `meter_${(i % 10) * 2}`,
          value: 1,
          time,
        }),
      );
    }
    await writeFile(join(installed, LEDGER_FILE), `${lines.join('\n')}\n`);
    log(`license of ${license.length} characters, ledger of ${settings.ledgerEvents} events`);

    // The install whose usage was exported: events a millisecond apart (a report holds 10,000),
    // exported until none remains, then the start that compacts, timed once.
    const exported = join(directory, 'exported');
    await (await Tenantry.open({ ...options, stateDirectory: exported })).close();
    const exportedFrom = startedAt.getTime() - 2 * 3_600_000;
    const exportedLines = [];
    for (let i = 0; i < settings.exportedEvents; i++) {
      exportedLines.push(
        JSON.stringify({
          id: `x${i}`,
          tenant: customer.tenantId,
          meter: `meter_${(i % 10) * 2}`,
          value: 1,
          time: new Date(exportedFrom + i).toISOString(),
        }),
      );
    }
    await writeFile(join(exported, LEDGER_FILE), `${exportedLines.join('\n')}\n`);
    const to = new Date(exportedFrom + settings.exportedEvents + 1);
    let exports = 0;
    for (let remaining = 1; remaining > 0; exports++) {
      ({ remaining } = await exportUsageReport({ stateDirectory: exported, to }));
    }
    const compactingSamples: number[] = [];
    await measure(
      async () => (await Tenantry.open({ ...options, stateDirectory: exported })).close(),
      1,
      compactingSamples,
    );
    log(
      `${settings.exportedEvents} events exported in ${exports} reports, compacted in ${round(compactingSamples[0] ?? 0, 2)} ms`,
    );

    let fresh = 0;
    const kinds = {
      laterStart: async () => {
        const tenantry = await Tenantry.open({ ...options, stateDirectory: installed });
        await tenantry.close();
      },
      exportedStart: async () => {
        const tenantry = await Tenantry.open({ ...options, stateDirectory: exported });
        await tenantry.close();
      },
      firstStart: async () => {
        const tenantry = await Tenantry.open({
          ...options,
          stateDirectory: join(directory, `fresh-${fresh++}`),
        });
        await tenantry.close();
      },
      guardOpen: async () => {
        const guard = await LicenseGuard.open({ ...options, stateFile: join(directory, 'guard-state.json') });
        await guard.stop();
      },
    };
    type Kind = keyof typeof kinds;
    const names = Object.keys(kinds) as Kind[];
    // close() is inside the timing of each start (a start that cannot end is no start): measured
    // apart below, it is a small share.
    log(`warming up, ${settings.warmup} calls each`);
    for (const name of names) await measure(kinds[name], settings.warmup, []);
    const samples = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<Kind, number[]>;
    const perRound = Math.ceil(settings.opens / settings.rounds);
    for (let r = 0; r < settings.rounds; r++) {
      log(`round ${r + 1} of ${settings.rounds}`);
      for (const name of names) await measure(kinds[name], perRound, samples[name]);
    }
    const starts = Object.fromEntries(names.map((name) => [name, summarize(samples[name])])) as Record<
      Kind,
      Summary
    >;

    const tenantry: SelfHostedTenantry = await Tenantry.open({ ...options, stateDirectory: installed });
    const guard = tenantry.license;
    const canTenantry = runAsTenant(customer, () =>
      perCall(() => tenantry.can('feature_1'), settings.checks),
    );
    const canGuard = perCall(() => guard.can('feature_1'), settings.checks);
    const consumeSamples: number[] = [];
    await runAsTenant(customer, () =>
      measure(
        async () => {
          const answer = await tenantry.consume('meter_2');
          if (!answer.allowed) throw new Error(answer.detail);
        },
        settings.consumes,
        consumeSamples,
      ),
    );
    const consume = summarize(consumeSamples);
    const closeSamples: number[] = [];
    await measure(() => tenantry.close(), 1, closeSamples);

    const machine = describeMachine('not used', loadavgStart);
    const { laterStart: later, exportedStart: afterExports, firstStart: first, guardOpen: g } = starts;
    const table: Row[] = [
      {
        figure: `Tenantry.open({ license }) later start (ledger ${settings.ledgerEvents} events), p50`,
        value: `${later.p50} ms`,
        target: '',
        ceiling: `${g.p50} ms (LicenseGuard.open)`,
        pass: null,
      },
      {
        figure: 'Tenantry.open({ license }) later start, p99',
        value: `${later.p99} ms`,
        target: `≤ ${targets.laterStartP99Ms} ms`,
        ceiling: `${g.p99} ms (LicenseGuard.open)`,
        pass: later.p99 <= targets.laterStartP99Ms,
      },
      {
        figure: `Tenantry.open({ license }) later start after ${exports} exports (${settings.exportedEvents} events), p50 / p99`,
        value: `${afterExports.p50} / ${afterExports.p99} ms`,
        target: `p99 ≤ ${targets.laterStartP99Ms} ms`,
        ceiling: `${g.p50} / ${g.p99} ms (LicenseGuard.open)`,
        pass: afterExports.p99 <= targets.laterStartP99Ms,
      },
      {
        figure: 'the start that compacted that ledger, once',
        value: `${round(compactingSamples[0] ?? 0, 2)} ms`,
        target: '',
        ceiling: '',
        pass: null,
      },
      {
        figure: 'Tenantry.open({ license }) first start (key pair made), p50 / p99',
        value: `${first.p50} / ${first.p99} ms`,
        target: '',
        ceiling: `${g.p50} / ${g.p99} ms (LicenseGuard.open)`,
        pass: null,
      },
      {
        figure: 'tenantry.can() per call, in a tenant context',
        value: `${canTenantry} ns`,
        target: `≤ ${targets.canNs} ns`,
        ceiling: `${canGuard} ns (LicenseGuard.can)`,
        pass: canTenantry <= targets.canNs,
      },
      {
        figure: 'tenantry.consume() one at a time (an fsync each), p50 / p99',
        value: `${consume.p50} / ${consume.p99} ms`,
        target: '',
        ceiling: '',
        pass: null,
      },
    ];
    printHeader('sdk-self-hosted', machine);
    console.log(
      `a license of ${license.length} characters (${settings.features} features, ${settings.limits} limits), ${later.count} starts of each kind`,
    );
    printTable(table);
    writeResults(
      { startedAt, machine, settings, targets },
      {
        licenseLength: license.length,
        exports,
        compactingStartMs: compactingSamples[0],
        ...starts,
        canTenantryNs: canTenantry,
        canGuardNs: canGuard,
        consume,
        closeMs: closeSamples[0],
      },
    );
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

runBench(main);
