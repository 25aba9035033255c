import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { licenseKeyring, signLicense, verifyUsageReport } from '@tenantry/core';
import { runAsTenant, Tenantry } from '@tenantry/sdk';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCaptured } from '../../test/run-captured.ts';

const ISSUED = Date.UTC(2026, 0, 5);
let dir: string;
let state: string;
let publicJwk: JWK;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tenantry-usage-export-'));
  state = join(dir, 'state');
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true });
  publicJwk = { ...(await exportJWK(publicKey)), kid: 'acme-1' };
  const signed = await signLicense(
    {
      iss: 'Acme Software',
      jti: 'lic_cli1',
      customer: { id: 'ten_cli', name: 'CLI Customer' },
      edition: 'pro',
      seats: null,
      plan: { key: 'pro', version: 1 },
      entitlements: {
        features: {},
        limits: { meetings: { kind: 'metered', limit: 10, enforcement: 'hard', thresholds: [] } },
        config: {},
      },
      iat: ISSUED / 1000,
      nbf: ISSUED / 1000,
      exp: ISSUED / 1000 + 365 * 86_400,
      grace_days: 0,
      offline_days: null,
      phone_home: false,
      install: null,
      seq: 1,
    },
    { kid: 'acme-1', privateJwk: await exportJWK(privateKey) },
  );
  if (!signed.ok) throw new Error(signed.error.message);
  // An install that ran (in the past, so the export's "now" is after its usage) and used 2 meetings.
  const tenantry = await Tenantry.open({
    license: signed.value,
    builtInKeys: [publicJwk],
    restrictedMode: 'refuse',
    stateDirectory: state,
    clock: { now: () => new Date(ISSUED) },
    checkEveryMs: 0,
  });
  await runAsTenant({ tenantId: 'ten_cli', subject: 'u', roles: [] }, () => tenantry.consume('meetings', 2));
  await tenantry.close();
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const run = (args: string[]) => runCaptured(args, {});

describe('usage export', () => {
  it('writes the next report, which verifies; the same --to again writes the same report', async () => {
    const out = join(dir, 'report-1.jwt');
    const to = new Date(ISSUED + 86_400_000).toISOString();
    const first = await run(['usage', 'export', '--state-dir', state, '--to', to, '--out', out]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/report:\s+1\n/);
    expect(first.stdout).toMatch(/events:\s+2\n/);
    const token = (await readFile(out, 'utf8')).trim();
    const keyring = licenseKeyring([publicJwk]);
    if (!keyring.ok) throw new Error(keyring.error.message);
    const verified = await verifyUsageReport(token, { licenseKeyring: keyring.value, now: new Date() });
    expect(verified.ok && verified.value.claims.totals).toEqual({ meetings: { sum: 2, count: 2 } });

    const again = await run([
      'usage',
      'export',
      '--state-dir',
      state,
      '--to',
      to,
      '--out',
      join(dir, 'r.jwt'),
      '--json',
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ seq: 1, again: true, events: 2 });
    expect((await readFile(join(dir, 'r.jwt'), 'utf8')).trim()).toBe(token);
  });

  it('names what is wrong: a --to without a zone, a period already exported, a directory with no install', async () => {
    const out = join(dir, 'r.jwt');
    const zoneless = await run([
      'usage',
      'export',
      '--state-dir',
      state,
      '--to',
      '2026-01-06T00:00:00',
      '--out',
      out,
    ]);
    expect(zoneless.code).not.toBe(0);
    expect(zoneless.stderr).toMatch(/ISO 8601 instant with its zone/);

    expect((await run(['usage', 'export', '--state-dir', state, '--out', out])).code).toBe(0);
    const earlier = await run([
      'usage',
      'export',
      '--state-dir',
      state,
      '--to',
      '2026-01-06T00:00:00Z',
      '--out',
      out,
    ]);
    expect(earlier.code).not.toBe(0);
    expect(earlier.stderr).toMatch(/already exported \(report 1/);

    const empty = await run(['usage', 'export', '--state-dir', join(dir, 'nothing'), '--out', out]);
    expect(empty.code).not.toBe(0);
    expect(empty.stderr).toMatch(/holds no install/);
  });
});
