import { appendFile, cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type LicenseClaims,
  licenseKeyring,
  reportDigest,
  signLicense,
  usageReportTotals,
  verifyUsageReport,
} from '@tenantry/core';
import { fastifyTenantContext } from '@tenantry/sdk/fastify';
import Fastify from 'fastify';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { currentTenant, runAsTenant } from '../context/index.ts';
import { LicenseError } from '../license/index.ts';
import { type LicenseTenantryOptions, type SelfHostedTenantry, Tenantry } from '../tenantry.ts';
import {
  EXPORT_LOCK_FILE,
  exportUsageReport,
  INSTALL_FILE,
  InstallIdentityError,
  LEDGER_FILE,
  LicenseTenantError,
  LOCK_FILE,
  lockStateDirectory,
  StateDirectoryInUseError,
  UsageExportError,
  UsageLedgerError,
} from './index.ts';

const DAY_MS = 86_400_000;
const ISSUED = Date.UTC(2027, 0, 10, 9);
const CUSTOMER = 'ten_ministry';

let vendor: { kid: string; privateJwk: JWK; publicJwk: JWK };
let directory: string;
let license: string;
let warnings: string[];
const clock = { at: ISSUED, now: () => new Date(clock.at) };

function claims(overrides: Partial<LicenseClaims> = {}): LicenseClaims {
  return {
    iss: 'Acme Software',
    jti: 'lic_selfhosted1',
    customer: { id: CUSTOMER, name: 'Ministry of Examples' },
    edition: 'enterprise',
    seats: 50,
    plan: { key: 'enterprise', version: 3 },
    entitlements: {
      features: { sso: true, desktops: true, exporting: false },
      limits: {
        meetings: { kind: 'metered', limit: 3, enforcement: 'hard', thresholds: [80, 100] },
        storage_gb: { kind: 'metered', limit: 2, enforcement: 'soft', thresholds: [] },
        sessions: { kind: 'gauge', limit: 3, enforcement: 'hard', thresholds: [], per_subject: 2 },
        exports: { kind: 'metered', limit: 10, enforcement: 'hard', thresholds: [] },
        seats: { kind: 'seats', limit: 50, enforcement: 'hard', thresholds: [] },
      },
      config: { retention_days: 365, region: 'eu' },
      meter_features: { sessions: 'desktops', exports: 'exporting' },
    },
    iat: ISSUED / 1000,
    nbf: ISSUED / 1000,
    exp: (ISSUED + 365 * DAY_MS) / 1000,
    grace_days: 10,
    offline_days: null,
    phone_home: false,
    install: null,
    seq: 1,
    ...overrides,
  };
}

async function sign(overrides: Partial<LicenseClaims> = {}): Promise<string> {
  const signed = await signLicense(claims(overrides), vendor);
  if (!signed.ok) throw new Error(signed.error.message);
  return signed.value;
}

function options(extra: Partial<LicenseTenantryOptions> = {}): LicenseTenantryOptions {
  return {
    license,
    builtInKeys: [vendor.publicJwk],
    restrictedMode: 'read-only',
    stateDirectory: join(directory, 'state'),
    clock,
    onWarning: (message) => warnings.push(message),
    ...extra,
  };
}

const open = (extra: Partial<LicenseTenantryOptions> = {}) => Tenantry.open(options(extra));
const asCustomer = <T>(fn: () => T): T => runAsTenant({ tenantId: CUSTOMER, subject: 'u1', roles: [] }, fn);

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true });
  vendor = {
    kid: 'acme-2027',
    privateJwk: await exportJWK(privateKey),
    publicJwk: { ...(await exportJWK(publicKey)), kid: 'acme-2027' },
  };
});
beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'tenantry-self-hosted-'));
  clock.at = ISSUED;
  warnings = [];
  license = await sign();
});
afterEach(() => rm(directory, { recursive: true, force: true }));

async function keyring() {
  const built = licenseKeyring([vendor.publicJwk]);
  if (!built.ok) throw new Error(built.error.message);
  return built.value;
}

describe('Tenantry.open({ license })', () => {
  it('answers can, config and limit from the license, for its customer', async () => {
    const tenantry: SelfHostedTenantry = await open();
    try {
      asCustomer(() => {
        expect(tenantry.can('sso')).toBe(true);
        expect(tenantry.can('exporting')).toBe(false);
        expect(tenantry.can('not_in_the_license')).toBe(false);
        expect(tenantry.config('retention_days')).toBe(365);
        expect(tenantry.config('region')).toBe('eu');
        expect(tenantry.config('nope')).toBeUndefined();
        expect(tenantry.limit('meetings')).toEqual({
          kind: 'metered',
          limit: 3,
          used: 0,
          remaining: 3,
          enforcement: 'hard',
          thresholds: [80, 100],
          // A month from the install's first start, as SaaS counts billing periods from its anchor.
          resets_at: new Date(Date.UTC(2027, 1, 10, 9)).toISOString(),
        });
        expect(tenantry.snapshot().plan).toEqual({ key: 'enterprise', version: 3 });
      });
      expect(tenantry.license.status.customer.id).toBe(CUSTOMER);
      expect(tenantry.install.id).toMatch(/^inst_[0-9a-f]{32}$/);
    } finally {
      await tenantry.close();
    }
  });

  it('refuses a check made as another tenant, naming both', async () => {
    const tenantry = await open();
    try {
      const other = () =>
        runAsTenant({ tenantId: 'ten_someone_else', subject: 'u1', roles: [] }, () => tenantry.can('sso'));
      expect(other).toThrow(LicenseTenantError);
      expect(other).toThrow(/ran as tenant "ten_someone_else".*Ministry of Examples \(ten_ministry\)/);
      expect(() => tenantry.record({ tenant: 'ten_someone_else', meter: 'meetings' })).toThrow(
        LicenseTenantError,
      );
      await expect(
        runAsTenant({ tenantId: 'ten_someone_else', subject: 'u1', roles: [] }, () =>
          tenantry.consume('meetings'),
        ),
      ).rejects.toThrow(LicenseTenantError);
    } finally {
      await tenantry.close();
    }
  });

  it('refuses to start on a license that does not verify, in one line', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { extractable: true });
    const forged = await signLicense(claims(), { kid: 'acme-2027', privateJwk: await exportJWK(privateKey) });
    if (!forged.ok) throw new Error(forged.error.message);
    const refused = await open({ license: forged.value }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(LicenseError);
    expect((refused as Error).message).toMatch(/^license refused: [^\n]+$/);
  });

  it('runs every request as the license customer through the Fastify adapter, with no access token', async () => {
    const tenantry = await open();
    const app = Fastify();
    try {
      await app.register(fastifyTenantContext, tenantry.requestContext);
      app.get('/who', async () => ({ tenant: currentTenant().tenantId, sso: tenantry.can('sso') }));
      const answer = await app.inject({ method: 'GET', url: '/who' });
      expect(answer.statusCode).toBe(200);
      expect(answer.json()).toEqual({ tenant: CUSTOMER, sso: true });
    } finally {
      await app.close();
      await tenantry.close();
    }
  });
});

describe('limits enforced locally', () => {
  it('refuses past a hard limit, answers overage past a soft one, and refuses a meter whose feature is off', async () => {
    const tenantry = await open();
    try {
      await asCustomer(async () => {
        for (let i = 0; i < 3; i++)
          expect(await tenantry.consume('meetings')).toEqual({ allowed: true, overage: false });
        const refused = await tenantry.consume('meetings');
        expect(refused).toMatchObject({ allowed: false, reason: 'limit_exhausted' });
        if (!refused.allowed) expect(refused.detail).toMatch(/has used 3 of its 3 "meetings" this period/);
        expect(tenantry.limit('meetings')).toMatchObject({ used: 3, remaining: 0 });

        expect(await tenantry.consume('storage_gb', 2)).toEqual({ allowed: true, overage: false });
        expect(await tenantry.consume('storage_gb', 0.5)).toEqual({ allowed: true, overage: true });
        expect(tenantry.limit('storage_gb')).toMatchObject({ used: 2.5, remaining: 0 });

        expect(await tenantry.consume('exports')).toMatchObject({
          allowed: false,
          reason: 'feature_disabled',
        });
        await expect(tenantry.consume('meetings', 0)).rejects.toThrow(RangeError);
        await expect(tenantry.consume('sessions')).rejects.toThrow(/is a gauge/);
      });
    } finally {
      await tenantry.close();
    }
  });

  it('keeps counts across a restart, and starts them again in the next period', async () => {
    const first = await open();
    await asCustomer(async () => {
      expect((await first.consume('meetings', 2)).allowed).toBe(true);
    });
    await first.close();

    clock.at += 3_600_000;
    const second = await open();
    try {
      expect(second.install.id).toBe(first.install.id);
      await asCustomer(async () => {
        expect(second.limit('meetings')).toMatchObject({ used: 2, remaining: 1 });
        expect((await second.consume('meetings')).allowed).toBe(true);
        expect(await second.consume('meetings')).toMatchObject({ allowed: false, reason: 'limit_exhausted' });
        clock.at = Date.UTC(2027, 1, 10, 9);
        expect(second.limit('meetings')).toMatchObject({
          used: 0,
          remaining: 3,
          resets_at: new Date(Date.UTC(2027, 2, 10, 9)).toISOString(),
        });
        expect((await second.consume('meetings')).allowed).toBe(true);
      });
    } finally {
      await second.close();
    }
  });

  it('holds gauge slots up to the limit and each subject cap, then takes them back on release', async () => {
    const tenantry = await open();
    try {
      await asCustomer(async () => {
        const a1 = await tenantry.acquire('sessions', { subject: 'ada' });
        const a2 = await tenantry.acquire('sessions', { subject: 'ada' });
        expect(a1.allowed && a2.allowed).toBe(true);
        expect(await tenantry.acquire('sessions', { subject: 'ada' })).toMatchObject({
          allowed: false,
          reason: 'limit_exhausted',
          scope: 'subject',
        });
        const b = await tenantry.acquire('sessions', { subject: 'bob' });
        expect(b).toMatchObject({ allowed: true, overage: false });
        expect(tenantry.limit('sessions')).toMatchObject({ used: 3, remaining: 0 });
        expect(await tenantry.acquire('sessions', { subject: 'cy' })).toMatchObject({
          allowed: false,
          reason: 'limit_exhausted',
          scope: 'tenant',
        });
        if (!a1.allowed) throw new Error('a1 refused');
        await a1.slot.release();
        await a1.slot.release();
        expect(tenantry.limit('sessions')).toMatchObject({ used: 2, remaining: 1 });
        expect((await tenantry.acquire('sessions', { subject: 'cy' })).allowed).toBe(true);
        await expect(tenantry.acquire('sessions')).rejects.toThrow(/name the subject/);
      });
    } finally {
      await tenantry.close();
    }
  });
});

describe('past the grace days', () => {
  it('turns features off and refuses use in features-off, keeping the ledger; read-only only flags it', async () => {
    const tenantry = await open({ restrictedMode: 'features-off' });
    try {
      await asCustomer(async () => {
        expect((await tenantry.consume('meetings')).allowed).toBe(true);
        clock.at = ISSUED + (365 + 11) * DAY_MS;
        await tenantry.license.check();
        expect(tenantry.license.status.state).toBe('restricted');
        expect(tenantry.can('sso')).toBe(false);
        expect(tenantry.config('retention_days')).toBe(365);
        expect(await tenantry.consume('meetings')).toMatchObject({
          allowed: false,
          reason: 'limit_exhausted',
        });
        expect(await tenantry.acquire('sessions', { subject: 'ada' })).toMatchObject({
          allowed: false,
          reason: 'feature_disabled',
        });
      });
      expect(warnings.at(-1)).toMatch(/grace are over: its features are off/);
    } finally {
      await tenantry.close();
    }
    const ledger = await readFile(join(directory, 'state', LEDGER_FILE), 'utf8');
    expect(ledger.trimEnd().split('\n')).toHaveLength(1);

    clock.at = ISSUED;
    await rm(join(directory, 'state'), { recursive: true });
    const readOnly = await open({ restrictedMode: 'read-only' });
    try {
      clock.at = ISSUED + (365 + 11) * DAY_MS;
      await readOnly.license.check();
      expect(readOnly.license.readOnly).toBe(true);
      await asCustomer(async () => {
        expect(readOnly.can('sso')).toBe(true);
        expect((await readOnly.consume('meetings')).allowed).toBe(true);
      });
    } finally {
      await readOnly.close();
    }
  });
});

describe('seatsInUse', () => {
  it('counts the seats from the open tenantry, once it is open; a refused license counts none', async () => {
    const given: SelfHostedTenantry[] = [];
    const seatsInUse = (opened: SelfHostedTenantry) => {
      given.push(opened);
      return 51;
    };
    const tenantry = await open({ seatsInUse });
    try {
      expect(given).toEqual([tenantry]);
      expect(warnings).toEqual([
        '51 seats in use, more than the 50 license lic_selfhosted1 of Ministry of Examples allows: add seats to it',
      ]);
      // Each check counts again.
      await tenantry.license.check();
      expect(given).toHaveLength(2);
    } finally {
      await tenantry.close();
    }

    const { publicKey } = await generateKeyPair('EdDSA', { extractable: true });
    const stranger = { ...(await exportJWK(publicKey)), kid: 'acme-2027' };
    await expect(open({ seatsInUse, builtInKeys: [stranger] })).rejects.toThrow(LicenseError);
    expect(given).toHaveLength(2);
  });

  it('fails the open, closing what it opened, when the count throws', async () => {
    await expect(
      open({
        seatsInUse: () => {
          throw new Error('the users table is not there');
        },
      }),
    ).rejects.toThrow('the users table is not there');
    // The state directory was let go: the next open takes it.
    await (await open()).close();
  });
});

describe('the install identity and the usage ledger', () => {
  it('makes the install key once, private file 0600, and refuses a corrupt one rather than making another', async () => {
    const tenantry = await open();
    await tenantry.close();
    const file = join(directory, 'state', INSTALL_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(await readFile(file, 'utf8'));
    expect(saved.public_jwk).toEqual(tenantry.install.publicJwk);
    expect(Object.keys(tenantry.install.publicJwk).sort()).toEqual(['crv', 'kty', 'x']);

    await writeFile(file, JSON.stringify({ ...saved, private_jwk: { ...saved.private_jwk, x: 'AAAA' } }));
    await expect(open()).rejects.toThrow(InstallIdentityError);
    await expect(open()).rejects.toThrow(/is corrupt \(private_jwk is not the private half of public_jwk\)/);
    expect(JSON.parse(await readFile(file, 'utf8')).id).toBe(saved.id);
  });

  it('writes record() and consume() to the ledger, drops a torn last line, and refuses a corrupt one', async () => {
    const tenantry = await open();
    const ledger = join(directory, 'state', LEDGER_FILE);
    await asCustomer(async () => {
      tenantry.record({ meter: 'api_calls', id: 'call-1', subject: 'u1' });
      await tenantry.consume('meetings');
    });
    await tenantry.flush();
    const lines = (await readFile(ledger, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toEqual([
      {
        id: 'call-1',
        tenant: CUSTOMER,
        meter: 'api_calls',
        time: new Date(ISSUED).toISOString(),
        subject: 'u1',
      },
      {
        id: expect.any(String),
        tenant: CUSTOMER,
        meter: 'meetings',
        time: new Date(ISSUED).toISOString(),
        value: 1,
      },
    ]);
    expect(() => asCustomer(() => tenantry.record({ meter: 'api_calls', value: -1 }))).toThrow(/value/);
    await tenantry.close();

    // A crash cut the last write short: the line was never reported durable, so it goes.
    await appendFile(ledger, '{"id":"half","ten');
    const reopened = await open();
    expect(asCustomer(() => reopened.limit('meetings'))).toMatchObject({ used: 1 });
    await reopened.close();
    expect((await readFile(ledger, 'utf8')).endsWith('}\n')).toBe(true);

    const before = await readFile(ledger, 'utf8');
    await appendFile(ledger, 'not json\n');
    await expect(open()).rejects.toThrow(UsageLedgerError);
    await expect(open()).rejects.toThrow(/corrupt at line 3 \(not JSON\)/);
    // JSON, but not an event: as corrupt, and the ledger is left as it was found.
    await writeFile(
      ledger,
      `${before}{"id":"x","tenant":"${CUSTOMER}","meter":"meetings","time":"yesterday"}\n`,
    );
    await expect(open()).rejects.toThrow(/corrupt at line 3 \(time is not a time\)/);
    expect((await readFile(ledger, 'utf8')).startsWith(before)).toBe(true);
  });
});

describe('one process per state directory', () => {
  it('refuses a second Tenantry on the same directory while the first runs, and takes a stale lock over', async () => {
    const first = await open();
    const second = await open().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(second).toBeInstanceOf(StateDirectoryInUseError);
    expect((second as Error).message).toMatch(
      new RegExp(
        `is in use by process ${process.pid} on ${hostname()} since .*: one process at a time runs an install`,
      ),
    );
    await first.close();
    const lock = join(directory, 'state', LOCK_FILE);
    await expect(stat(lock)).rejects.toThrow(/ENOENT/);

    // Left by a process that is gone (a crash): taken over.
    const gone = { pid: 2 ** 30, host: hostname(), since: new Date(ISSUED).toISOString(), token: 'x' };
    await writeFile(lock, JSON.stringify(gone));
    await (await open()).close();

    // Held on another host (a shared volume): refused, saying how to clear it.
    const elsewhere = { ...gone, pid: 1, host: 'other-host' };
    await writeFile(lock, JSON.stringify(elsewhere));
    await expect(open()).rejects.toThrow(
      /by process 1 on other-host .*if other-host no longer runs it, remove/,
    );
    expect(JSON.parse(await readFile(lock, 'utf8'))).toEqual(elsewhere);
  });
});

describe('exportUsageReport', () => {
  it('signs the ledger into a report that verifies and chains to the next one; re-exports never fork', async () => {
    const state = join(directory, 'state');
    const tenantry = await open();
    await asCustomer(async () => {
      tenantry.record({ meter: 'api_calls', id: 'call-1', value: 5 });
      await tenantry.consume('meetings', 2);
    });
    await tenantry.close();

    clock.at = ISSUED + DAY_MS;
    const first = await exportUsageReport({ stateDirectory: state, clock });
    expect(first).toMatchObject({ seq: 1, events: 3, again: false, remaining: 0, late: 0 });
    expect(first.period).toEqual({
      from: new Date(ISSUED).toISOString(),
      to: new Date(clock.at).toISOString(),
    });
    const verified = await verifyUsageReport(first.token, {
      licenseKeyring: await keyring(),
      now: clock.now(),
    });
    if (!verified.ok) throw new Error(verified.error.message);
    expect(verified.value.claims).toMatchObject({
      install_id: tenantry.install.id,
      install_key: tenantry.install.publicJwk,
      license,
      seq: 1,
      previous: null,
    });
    expect(verified.value.claims.totals).toEqual({
      api_calls: { sum: 5, count: 1 },
      meetings: { sum: 2, count: 2 },
    });
    expect(verified.value.digest).toBe(first.digest);

    // The same period again: the same report, byte for byte; an earlier end is refused.
    clock.at += 3_600_000;
    const again = await exportUsageReport({ stateDirectory: state, to: new Date(first.period.to), clock });
    expect(again).toMatchObject({ token: first.token, seq: 1, again: true });
    await expect(
      exportUsageReport({ stateDirectory: state, to: new Date(ISSUED + 3_600_000), clock }),
    ).rejects.toThrow(/already exported \(report 1/);
    await expect(
      exportUsageReport({ stateDirectory: state, to: new Date(clock.at + 60_000), clock }),
    ).rejects.toThrow(UsageExportError);

    const reopened = await open();
    await asCustomer(async () => {
      reopened.record({ meter: 'api_calls', id: 'call-2', value: 1 });
      // Timed inside the period already exported: no report can carry it any more.
      reopened.record({ meter: 'api_calls', id: 'late-1', time: new Date(ISSUED + 60_000) });
    });
    await reopened.close();
    clock.at += DAY_MS;
    const second = await exportUsageReport({ stateDirectory: state, clock });
    expect(second).toMatchObject({ seq: 2, events: 1, late: 1 });
    expect(second.period.from).toBe(first.period.to);
    const next = await verifyUsageReport(second.token, {
      licenseKeyring: await keyring(),
      now: clock.now(),
      installKey: { kty: 'OKP', crv: 'Ed25519', x: tenantry.install.publicJwk.x as string },
    });
    if (!next.ok) throw new Error(next.error.message);
    expect(next.value.claims.previous).toBe(await reportDigest(first.token));
    expect(next.value.claims.totals).toEqual(usageReportTotals(next.value.claims.events));
  });

  it('ends a report at the 10,000th event and carries the rest in the next, never splitting an instant', async () => {
    const state = join(directory, 'state');
    await (await open()).close();
    // 10,003 events a millisecond apart, but the 10,000th and 10,001st share their instant.
    const at = (i: number) =>
      new Date(ISSUED + 1000 + Math.min(i, 9_999) + Math.max(0, i - 10_000)).toISOString();
    const lines = Array.from({ length: 10_003 }, (_, i) =>
      JSON.stringify({ id: `e${i}`, tenant: CUSTOMER, meter: 'api_calls', value: 1, time: at(i) }),
    );
    await writeFile(join(state, LEDGER_FILE), `${lines.join('\n')}\n`);
    clock.at = ISSUED + DAY_MS;
    const to = new Date(clock.at);
    const first = await exportUsageReport({ stateDirectory: state, to, clock });
    expect(first).toMatchObject({ seq: 1, events: 9_999, remaining: 4 });
    expect(first.period.to).toBe(at(9_999));
    const second = await exportUsageReport({ stateDirectory: state, to, clock });
    expect(second).toMatchObject({ seq: 2, events: 4, remaining: 0, again: false });
    expect(second.period).toEqual({ from: at(9_999), to: to.toISOString() });
    for (const report of [first, second]) {
      const verified = await verifyUsageReport(report.token, {
        licenseKeyring: await keyring(),
        now: clock.now(),
      });
      expect(verified.ok).toBe(true);
    }
  });

  it('refuses a state directory with no install', async () => {
    await expect(exportUsageReport({ stateDirectory: join(directory, 'empty'), clock })).rejects.toThrow(
      /holds no install/,
    );
  });
});

describe('the ledger compacted after an export', () => {
  const HOUR_MS = 3_600_000;
  const state = () => join(directory, 'state');
  const ledgerLines = async (at = state()) =>
    (await readFile(join(at, LEDGER_FILE), 'utf8'))
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const ids = (lines: Record<string, unknown>[]) =>
    lines.flatMap((line) => (line.id === undefined ? [] : [line.id]));

  /** An install with report 1 exported up to ISSUED + 1 h, and an event timed after it recorded before. */
  async function exportedOnce(): Promise<void> {
    const tenantry = await open();
    await asCustomer(async () => {
      tenantry.record({ meter: 'api_calls', id: 'call-1', value: 5 });
      await tenantry.consume('meetings', 2);
    });
    clock.at = ISSUED + 2 * HOUR_MS;
    await asCustomer(() => tenantry.record({ meter: 'api_calls', id: 'after-end' }));
    await tenantry.close();
    clock.at = ISSUED + 3 * HOUR_MS;
    const first = await exportUsageReport({ stateDirectory: state(), to: new Date(ISSUED + HOUR_MS), clock });
    expect(first).toMatchObject({ seq: 1, events: 3 });
  }

  /** Late and new usage, then the next export: what it carries, whatever state the ledger was left in. */
  async function recordAndExport(at = state()) {
    const tenantry = await open({ stateDirectory: at });
    asCustomer(() => {
      // Exported usage still counts for the period's limit.
      expect(tenantry.limit('meetings')).toMatchObject({ used: 2, remaining: 1 });
      tenantry.record({ meter: 'api_calls', id: 'late-1', time: new Date(ISSUED + 60_000) });
      tenantry.record({ meter: 'api_calls', id: 'call-2' });
    });
    await tenantry.close();
    clock.at += HOUR_MS;
    const report = await exportUsageReport({ stateDirectory: at, clock });
    const claims = JSON.parse(
      Buffer.from(report.token.split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as {
      events: { id: string }[];
    };
    return { seq: report.seq, late: report.late, ids: claims.events.map((event) => event.id).sort() };
  }

  it('keeps unexported and late events and the period totals, and exports on from where the chain is', async () => {
    await exportedOnce();
    expect(ids(await ledgerLines())).toEqual(['call-1', expect.any(String), expect.any(String), 'after-end']);

    // The start takes out what report 1 carries; the event timed after its end stays.
    const second = await recordAndExport();
    expect(second).toEqual({ seq: 2, late: 1, ids: ['after-end', 'call-2'] });
    const [header, ...events] = await ledgerLines();
    expect(header).toEqual({
      compacted: { format: 1, offset: 3, totals: { api_calls: { [ISSUED]: 5 }, meetings: { [ISSUED]: 2 } } },
    });
    expect(ids(events)).toEqual(['after-end', 'late-1', 'call-2']);

    // The next start takes out report 2's events and the late one: report 2's export counted it.
    const reopened = await open();
    asCustomer(() => expect(reopened.limit('meetings')).toMatchObject({ used: 2, remaining: 1 }));
    await reopened.close();
    expect(await ledgerLines()).toEqual([
      {
        compacted: {
          format: 1,
          offset: 6,
          totals: { api_calls: { [ISSUED]: 8 }, meetings: { [ISSUED]: 2 } },
        },
      },
    ]);

    // Past the period: its totals count for no limit, and the next compaction lets them go.
    clock.at = ISSUED + 40 * DAY_MS;
    const inFebruary = await open();
    asCustomer(() => {
      expect(inFebruary.limit('meetings')).toMatchObject({ used: 0 });
      inFebruary.record({ meter: 'api_calls', id: 'call-3' });
    });
    await inFebruary.close();
    clock.at += HOUR_MS;
    expect(await exportUsageReport({ stateDirectory: state(), clock })).toMatchObject({ seq: 3, events: 1 });
    await (await open()).close();
    const february = Date.UTC(2027, 1, 10, 9);
    expect(await ledgerLines()).toEqual([
      { compacted: { format: 1, offset: 7, totals: { api_calls: { [february]: 1 } } } },
    ]);
  });

  it('leaves a ledger that opens and exports the same after a crash at any step of the compaction', async () => {
    await exportedOnce();
    const before = join(directory, 'before');
    await cp(state(), before, { recursive: true });
    const baselineClock = clock.at;
    const expected = await recordAndExport();
    // The compacted ledger as the rename put it in place, before the start appended to it.
    await cp(before, join(directory, 'probe'), { recursive: true });
    await (await open({ stateDirectory: join(directory, 'probe') })).close();
    const compacted = await readFile(join(directory, 'probe', LEDGER_FILE), 'utf8');
    const old = await readFile(join(before, LEDGER_FILE), 'utf8');
    const temp = `${LEDGER_FILE}.compact.tmp`;

    const states: Record<string, Record<string, string>> = {
      'the temp file half written': { [temp]: compacted.slice(0, compacted.length / 2) },
      'the temp file whole, not renamed': { [temp]: compacted },
      'renamed, the old ledger gone': { [LEDGER_FILE]: compacted },
      'renamed, then an append cut short': { [LEDGER_FILE]: `${compacted}{"id":"torn","ten` },
    };
    for (const [name, files] of Object.entries(states)) {
      const at = join(directory, `crash-${Object.keys(states).indexOf(name)}`);
      await cp(before, at, { recursive: true });
      for (const [file, text] of Object.entries(files)) await writeFile(join(at, file), text);
      clock.at = baselineClock;
      expect({ name, ...(await recordAndExport(at)) }).toEqual({ name, ...expected });
      expect(await readdir(at)).not.toContain(temp);
      const ledger = await readFile(join(at, LEDGER_FILE), 'utf8');
      expect(ledger.startsWith('{"compacted"'), name).toBe(true);
      expect(ledger).not.toBe(old);
    }
  });

  it('leaves the ledger whole while an export holds the export lock, and refuses a corrupt header', async () => {
    await exportedOnce();
    const old = await readFile(join(state(), LEDGER_FILE), 'utf8');
    const release = await lockStateDirectory(state(), EXPORT_LOCK_FILE);
    await (await open()).close();
    await release();
    expect(await readFile(join(state(), LEDGER_FILE), 'utf8')).toBe(old);

    await writeFile(join(state(), LEDGER_FILE), '{"compacted":{"format":1,"offset":-1,"totals":{}}}\n');
    await expect(open()).rejects.toThrow(/corrupt at line 1 \(a header offset/);
  });
});

describe('options', () => {
  it('does not compile a mix of control-plane and license options', () => {
    const mixed = () =>
      // @ts-expect-error: a license and a control plane's URL do not mix.
      Tenantry.open({ ...options(), url: 'http://localhost:8080' });
    expect(typeof mixed).toBe('function');
  });
});
