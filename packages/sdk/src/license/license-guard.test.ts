import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CheckInResponseClaims,
  type LicenseClaims,
  type RevocationListClaims,
  signCheckInResponse,
  signLicense,
  signRevocationList,
} from '@tenantry/core';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LicenseError, LicenseGuard, type LicenseGuardOptions } from './index.ts';

const DAY_MS = 86_400_000;
const ISSUED = Date.UTC(2027, 0, 1);
const EXPIRES = ISSUED + 365 * DAY_MS;

interface SigningKey {
  readonly kid: string;
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
}

async function ed25519(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true });
  return {
    kid,
    privateJwk: await exportJWK(privateKey),
    publicJwk: { ...(await exportJWK(publicKey)), kid },
  };
}

function claims(overrides: Partial<LicenseClaims> = {}): LicenseClaims {
  return {
    iss: 'Acme Software',
    jti: 'lic_guard1',
    customer: { id: 'cus_42', name: 'Ministry of Examples' },
    edition: 'enterprise',
    seats: 50,
    plan: { key: 'enterprise', version: 3 },
    entitlements: {
      features: { sso: true, audit_export: true, ai: false },
      limits: {
        projects: { kind: 'gauge', limit: 100, enforcement: 'hard', thresholds: [80, 100] },
        meetings: { kind: 'metered', limit: null, enforcement: 'soft', thresholds: [] },
      },
      config: { retention_days: 365, region: 'eu' },
    },
    iat: ISSUED / 1000,
    nbf: ISSUED / 1000,
    exp: EXPIRES / 1000,
    grace_days: 10,
    offline_days: null,
    phone_home: false,
    install: null,
    seq: 2,
    ...overrides,
  };
}

async function sign(key: SigningKey, overrides: Partial<LicenseClaims> = {}): Promise<string> {
  const signed = await signLicense(claims(overrides), key);
  if (!signed.ok) throw new Error(signed.error.message);
  return signed.value;
}

/** A clock the test moves by hand. */
function clockAt(time: number): { now(): Date; set(time: number): void } {
  let current = time;
  return { now: () => new Date(current), set: (next) => (current = next) };
}

let vendor: SigningKey;
let successor: SigningKey;
let stranger: SigningKey;
let directory: string;
let stateFile: string;
let warnings: string[];

beforeAll(async () => {
  [vendor, successor, stranger] = await Promise.all([
    ed25519('acme-2027'),
    ed25519('acme-2028'),
    ed25519('x'),
  ]);
});
beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'tenantry-license-guard-'));
  stateFile = join(directory, 'state', 'license-state.json');
  warnings = [];
});
afterEach(() => rm(directory, { recursive: true, force: true }));

function options(
  license: LicenseGuardOptions['license'],
  clock: { now(): Date },
  extra: Partial<LicenseGuardOptions> = {},
): LicenseGuardOptions {
  return {
    license,
    builtInKeys: [vendor.publicJwk],
    stateFile,
    restrictedMode: 'read-only',
    clock,
    onWarning: (message) => warnings.push(message),
    ...extra,
  };
}

async function refusal(opening: Promise<unknown>): Promise<LicenseError> {
  const error = await opening.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(LicenseError);
  const refused = error as LicenseError;
  expect(refused.message).toMatch(/^license refused: [^\n]+$/);
  return refused;
}

describe('LicenseGuard', () => {
  it('answers can, limit and config from a valid license, with no warning', async () => {
    const guard = await LicenseGuard.open(options(await sign(vendor), clockAt(ISSUED + 30 * DAY_MS)));
    expect(guard.can('sso')).toBe(true);
    expect(guard.can('ai')).toBe(false);
    expect(guard.can('unknown')).toBe(false);
    expect(guard.can('constructor')).toBe(false);
    expect(guard.limit('projects')).toMatchObject({
      kind: 'gauge',
      limit: 100,
      enforcement: 'hard',
      used: null,
    });
    expect(guard.limit('meetings')?.limit).toBeNull();
    expect(guard.limit('unknown')).toBeUndefined();
    expect(guard.config('retention_days')).toBe(365);
    expect(guard.config('unknown')).toBeUndefined();
    expect(guard.readOnly).toBe(false);
    expect(guard.status).toEqual({
      state: 'valid',
      days_left: 335,
      license_id: 'lic_guard1',
      seq: 2,
      customer: { id: 'cus_42', name: 'Ministry of Examples' },
      edition: 'enterprise',
      expires_at: '2028-01-01T00:00:00.000Z',
      grace_ends_at: '2028-01-11T00:00:00.000Z',
      refusal: null,
    });
    expect(warnings).toEqual([]);
  });

  it('warns with the days left once 14 or fewer remain', async () => {
    const clock = clockAt(EXPIRES - 15 * DAY_MS);
    const guard = await LicenseGuard.open(options(await sign(vendor), clock));
    expect(guard.status.state).toBe('valid');
    clock.set(EXPIRES - 14 * DAY_MS);
    expect((await guard.check()).state).toBe('expiring');
    clock.set(EXPIRES - DAY_MS + 1);
    await guard.check();
    expect(warnings).toEqual([
      'license lic_guard1 of Ministry of Examples expires in 14 days, on 2028-01-01T00:00:00.000Z: renew it',
      'license lic_guard1 of Ministry of Examples expires in 1 day, on 2028-01-01T00:00:00.000Z: renew it',
    ]);
    expect(guard.can('sso')).toBe(true);
  });

  it('warns on each check in grace with the grace days left, entitlements unchanged', async () => {
    const clock = clockAt(EXPIRES + 1);
    const guard = await LicenseGuard.open(options(await sign(vendor), clock));
    clock.set(EXPIRES + 9 * DAY_MS);
    const status = await guard.check();
    expect(status).toMatchObject({ state: 'in_grace', days_left: 1 });
    expect(warnings).toEqual([
      'license lic_guard1 of Ministry of Examples expired on 2028-01-01T00:00:00.000Z: 10 days of grace left, then the app runs read-only',
      'license lic_guard1 of Ministry of Examples expired on 2028-01-01T00:00:00.000Z: 1 day of grace left, then the app runs read-only',
    ]);
    expect(guard.can('sso')).toBe(true);
    expect(guard.readOnly).toBe(false);
  });

  it('past the grace, read-only: the readOnly flag, entitlements as licensed', async () => {
    const clock = clockAt(EXPIRES + 9 * DAY_MS);
    const guard = await LicenseGuard.open(options(await sign(vendor), clock));
    expect(guard.readOnly).toBe(false);
    clock.set(EXPIRES + 10 * DAY_MS);
    expect(await guard.check()).toMatchObject({ state: 'restricted', days_left: 0 });
    expect(guard.readOnly).toBe(true);
    expect(guard.can('sso')).toBe(true);
    expect(guard.limit('projects')?.limit).toBe(100);
    expect(warnings.at(-1)).toBe(
      'license lic_guard1 of Ministry of Examples expired on 2028-01-01T00:00:00.000Z and its 10 days of grace are over: the app runs read-only until it is renewed',
    );
  });

  it('past the grace, features-off: every feature off, every limit 0, config kept, writes allowed', async () => {
    const guard = await LicenseGuard.open(
      options(await sign(vendor), clockAt(EXPIRES + 20 * DAY_MS), { restrictedMode: 'features-off' }),
    );
    expect(guard.status.state).toBe('restricted');
    expect(guard.can('sso')).toBe(false);
    expect(guard.limit('projects')?.limit).toBe(0);
    expect(guard.limit('meetings')?.limit).toBe(0);
    expect(guard.config('retention_days')).toBe(365);
    expect(guard.readOnly).toBe(false);
    expect(warnings).toEqual([
      'license lic_guard1 of Ministry of Examples expired on 2028-01-01T00:00:00.000Z and its 10 days of grace are over: its features are off until it is renewed',
    ]);
  });

  it('past the grace, refuse: open throws, and a running guard flips to refused', async () => {
    const token = await sign(vendor);
    const late = await refusal(
      LicenseGuard.open(options(token, clockAt(EXPIRES + 10 * DAY_MS), { restrictedMode: 'refuse' })),
    );
    expect(late.code).toBe('expired');
    expect(late.message).toBe(
      'license refused: license lic_guard1 of Ministry of Examples expired on 2028-01-01T00:00:00.000Z and its 10 days of grace are over: renew it',
    );

    // A fresh install, so that its clock may start within the grace again.
    await rm(stateFile);
    const clock = clockAt(EXPIRES + 5 * DAY_MS);
    const guard = await LicenseGuard.open(options(token, clock, { restrictedMode: 'refuse' }));
    clock.set(EXPIRES + 10 * DAY_MS);
    expect((await refusal(guard.check())).code).toBe('expired');
    expect(guard.status.state).toBe('refused');
    expect(guard.status.refusal).toMatch(/grace are over/);
    expect(guard.can('sso')).toBe(false);
    expect(guard.limit('projects')?.limit).toBe(0);
    expect(guard.readOnly).toBe(true);
  });

  it('refuses a clock turned back past the latest time seen, naming both; accepts one going forward', async () => {
    const token = await sign(vendor);
    const clock = clockAt(ISSUED + 100 * DAY_MS);
    const guard = await LicenseGuard.open(options(token, clock));
    clock.set(ISSUED + 101 * DAY_MS);
    await guard.check();

    // Within the tolerance: clocks of one install differ by seconds.
    clock.set(ISSUED + 101 * DAY_MS - 4 * 60_000);
    await LicenseGuard.open(options(token, clock));

    clock.set(ISSUED + 90 * DAY_MS);
    const back = await refusal(LicenseGuard.open(options(token, clock)));
    expect(back.code).toBe('clock_rollback');
    expect(back.message).toBe(
      `license refused: the clock says 2027-04-01T00:00:00.000Z, earlier than 2027-04-12T00:00:00.000Z, the latest time this install has seen (${stateFile}): set the clock right`,
    );
    // A running guard whose clock is turned back is refused as well.
    expect((await refusal(guard.check())).code).toBe('clock_rollback');
    expect(guard.status.state).toBe('refused');

    clock.set(ISSUED + 102 * DAY_MS);
    const forward = await LicenseGuard.open(options(token, clock));
    expect(forward.status.state).toBe('valid');
  });

  it('refuses a license with a lower seq than one seen for its customer; records a higher one', async () => {
    const clock = clockAt(ISSUED + DAY_MS);
    await LicenseGuard.open(options(await sign(vendor, { seq: 2 }), clock));
    const newer = await LicenseGuard.open(options(await sign(vendor, { seq: 5, jti: 'lic_guard5' }), clock));
    expect(newer.status.seq).toBe(5);
    expect(JSON.parse(await readFile(stateFile, 'utf8')).seq).toEqual({ cus_42: 5 });

    const older = await refusal(LicenseGuard.open(options(await sign(vendor, { seq: 4 }), clock)));
    expect(older.code).toBe('sequence_rollback');
    expect(older.message).toBe(
      'license refused: license lic_guard1 of Ministry of Examples has seq 4, lower than seq 5 this install has already run with: install the newer license',
    );
    // The same license again is no rollback; another customer's seqs are its own.
    await LicenseGuard.open(options(await sign(vendor, { seq: 5, jti: 'lic_guard5' }), clock));
    await LicenseGuard.open(
      options(await sign(vendor, { seq: 1, customer: { id: 'cus_7', name: 'Other' } }), clock),
    );
    expect(JSON.parse(await readFile(stateFile, 'utf8')).seq).toEqual({ cus_42: 5, cus_7: 1 });
  });

  it('writes the state file atomically, mode 0600, leaving no temp file, and only ever forward', async () => {
    const clock = clockAt(ISSUED + 3 * DAY_MS);
    const guard = await LicenseGuard.open(options(await sign(vendor), clock));
    expect((await stat(stateFile)).mode & 0o777).toBe(0o600);
    expect(await readdir(join(directory, 'state'))).toEqual(['license-state.json']);
    expect(JSON.parse(await readFile(stateFile, 'utf8'))).toEqual({
      format: 2,
      latest_seen: '2027-01-04T00:00:00.000Z',
      seq: { cus_42: 2 },
      last_check_in: null,
      revocation_list: null,
      revoked: {},
    });
    clock.set(ISSUED + 4 * DAY_MS);
    await guard.check();
    expect(JSON.parse(await readFile(stateFile, 'utf8')).latest_seen).toBe('2027-01-05T00:00:00.000Z');
    // A time within the tolerance but behind the latest seen does not move it back.
    clock.set(ISSUED + 4 * DAY_MS - 60_000);
    await guard.check();
    expect(JSON.parse(await readFile(stateFile, 'utf8')).latest_seen).toBe('2027-01-05T00:00:00.000Z');
  });

  it('reads a state file of format 1 (before check-ins) and keeps its clock and seqs', async () => {
    await mkdir(join(directory, 'state'));
    await writeFile(
      stateFile,
      JSON.stringify({ format: 1, latest_seen: '2027-03-01T00:00:00.000Z', seq: { cus_42: 3 } }),
    );
    const older = await refusal(
      LicenseGuard.open(options(await sign(vendor), clockAt(ISSUED + 70 * DAY_MS))),
    );
    expect(older.code).toBe('sequence_rollback');
    const back = await refusal(
      LicenseGuard.open(options(await sign(vendor, { seq: 3 }), clockAt(ISSUED + 10 * DAY_MS))),
    );
    expect(back.code).toBe('clock_rollback');
    await LicenseGuard.open(options(await sign(vendor, { seq: 3 }), clockAt(ISSUED + 70 * DAY_MS)));
    expect(JSON.parse(await readFile(stateFile, 'utf8'))).toMatchObject({
      format: 2,
      latest_seen: '2027-03-12T00:00:00.000Z',
      seq: { cus_42: 3 },
      last_check_in: null,
    });
  });

  it('refuses to run on a corrupt state file rather than resetting it', async () => {
    const token = await sign(vendor);
    const clock = clockAt(ISSUED + DAY_MS);
    await LicenseGuard.open(options(token, clock));
    for (const corrupt of ['{"format":1,', '[]', '{"format":1,"latest_seen":"soon","seq":{}}']) {
      await writeFile(stateFile, corrupt);
      const error = await refusal(LicenseGuard.open(options(token, clock)));
      expect(error.code).toBe('state_unreadable');
      expect(error.message).toContain(`the state file ${stateFile} is corrupt`);
      expect(error.message).toContain('it is not reset, as that would undo the clock and sequence checks');
      expect(await readFile(stateFile, 'utf8')).toBe(corrupt);
    }
  });

  it('warns when the seats in use exceed the license, naming both, and refuses nothing', async () => {
    let seats = 50;
    const guard = await LicenseGuard.open(
      options(await sign(vendor), clockAt(ISSUED + DAY_MS), { seatsInUse: () => seats }),
    );
    expect(warnings).toEqual([]);
    seats = 61;
    expect((await guard.check()).state).toBe('valid');
    expect(warnings).toEqual([
      '61 seats in use, more than the 50 license lic_guard1 of Ministry of Examples allows: add seats to it',
    ]);
    expect(guard.can('sso')).toBe(true);
  });

  it('refuses to start on a tampered license or one signed by an unknown key, in one line', async () => {
    const token = await sign(vendor);
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const altered = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as LicenseClaims;
    altered.seats = 5000;
    const tampered = `${header}.${Buffer.from(JSON.stringify(altered)).toString('base64url')}.${signature}`;
    const clock = clockAt(ISSUED + DAY_MS);

    const forged = await refusal(LicenseGuard.open(options(tampered, clock)));
    expect(forged.code).toBe('bad_signature');
    const unknown = await refusal(LicenseGuard.open(options(await sign(stranger), clock)));
    expect(unknown.code).toBe('unknown_kid');
    expect(unknown.message).toContain('"x"');
    expect((await refusal(LicenseGuard.open(options('not a license', clock)))).code).toBe('malformed');
  });

  it('reads the license from a file, and says so when it cannot', async () => {
    const file = join(directory, 'license.jwt');
    await writeFile(file, `${await sign(vendor)}\n`);
    const guard = await LicenseGuard.open(options({ file }, clockAt(ISSUED + DAY_MS)));
    expect(guard.can('sso')).toBe(true);

    const missing = await refusal(
      LicenseGuard.open(options({ file: `${file}.gone` }, clockAt(ISSUED + DAY_MS))),
    );
    expect(missing.code).toBe('license_unreadable');
    expect(missing.message).toContain(`cannot read ${file}.gone`);
  });

  it('trusts the built-in keys plus configured ones: a rotated key works once configured', async () => {
    const clock = clockAt(ISSUED + DAY_MS);
    const rotated = await sign(successor);
    expect((await refusal(LicenseGuard.open(options(rotated, clock)))).code).toBe('unknown_kid');
    const guard = await LicenseGuard.open(options(rotated, clock, { keys: [successor.publicJwk] }));
    expect(guard.can('sso')).toBe(true);
    // The old key still verifies its licenses, and configuring a built-in key again is harmless.
    await LicenseGuard.open(
      options(await sign(vendor), clock, { keys: [successor.publicJwk, vendor.publicJwk] }),
    );

    const privateKey = await refusal(
      LicenseGuard.open(options(rotated, clock, { keys: [successor.privateJwk] })),
    );
    expect(privateKey.code).toBe('private_key');
  });

  it('startChecks runs check on an unref’d timer; a refusal goes to onWarning', async () => {
    const clock = clockAt(EXPIRES + 9 * DAY_MS);
    const guard = await LicenseGuard.open(options(await sign(vendor), clock, { restrictedMode: 'refuse' }));
    clock.set(EXPIRES + 11 * DAY_MS);
    guard.startChecks(5);
    await expect.poll(() => guard.status.state).toBe('refused');
    await guard.stop();
    expect(warnings.at(-1)).toMatch(/^license refused: .* grace are over: renew it$/);
  });

  it('rewrites a state file others were let read as 0600', async () => {
    const clock = clockAt(ISSUED + DAY_MS);
    await LicenseGuard.open(options(await sign(vendor), clock));
    await chmod(stateFile, 0o644);
    await LicenseGuard.open(options(await sign(vendor), clock));
    expect((await stat(stateFile)).mode & 0o777).toBe(0o600);
  });

  describe('a renewed license file', () => {
    it('is verified on the next check and adopted: same customer, a seq no lower than seen', async () => {
      const file = join(directory, 'license.jwt');
      await writeFile(file, await sign(vendor, { seq: 2 }));
      const clock = clockAt(ISSUED + DAY_MS);
      const guard = await LicenseGuard.open(options({ file }, clock));
      await writeFile(
        file,
        `${await sign(vendor, { seq: 3, jti: 'lic_guard3', entitlements: { features: { ai: true }, limits: {}, config: {} } })}\n`,
      );
      expect(await guard.check()).toMatchObject({ license_id: 'lic_guard3', seq: 3, state: 'valid' });
      expect(guard.can('ai')).toBe(true);
      expect(guard.can('sso')).toBe(false);
      expect(JSON.parse(await readFile(stateFile, 'utf8')).seq).toEqual({ cus_42: 3 });
      expect(warnings).toEqual([]);
    });

    it('attack: a tampered, older or foreign license file keeps the current one running, with a warning on each check', async () => {
      const file = join(directory, 'license.jwt');
      const current = await sign(vendor, { seq: 3, jti: 'lic_guard3' });
      await writeFile(file, current);
      const clock = clockAt(ISSUED + DAY_MS);
      const guard = await LicenseGuard.open(options({ file }, clock));

      const [header, payload, signature] = current.split('.') as [string, string, string];
      const altered = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as LicenseClaims;
      altered.seats = 5000;
      const cases: [string, string][] = [
        [
          `${header}.${Buffer.from(JSON.stringify(altered)).toString('base64url')}.${signature}`,
          'does not verify',
        ],
        [await sign(vendor, { seq: 2 }), 'has seq 2, lower than seq 3'],
        [
          await sign(vendor, { seq: 9, customer: { id: 'cus_7', name: 'Other' } }),
          'for customer cus_7, not cus_42',
        ],
        [await sign(stranger, { seq: 9 }), 'not trusted here'],
      ];
      for (const [token, reason] of cases) {
        await writeFile(file, token);
        warnings = [];
        expect(await guard.check()).toMatchObject({ license_id: 'lic_guard3', seq: 3, state: 'valid' });
        await guard.check();
        expect(warnings).toHaveLength(2);
        expect(warnings[0]).toContain(`the license file ${file} changed, but the new license is refused (`);
        expect(warnings[0]).toContain(reason);
        expect(warnings[0]).toMatch(/; running on license lic_guard3$/);
      }
      await rm(file);
      warnings = [];
      expect((await guard.check()).seq).toBe(3);
      expect(warnings).toEqual([
        `cannot read ${file}: ENOENT: no such file or directory, open '${file}'; running on license lic_guard3`,
      ]);
    });
  });

  describe('the revocation list', () => {
    const list = (overrides: Partial<RevocationListClaims> = {}): RevocationListClaims => ({
      iat: ISSUED / 1000 + DAY_MS / 1000,
      seq: 4,
      revoked: [{ license_id: 'lic_other', revoked_at: ISSUED / 1000 }],
      ...overrides,
    });
    const listFile = () => join(directory, 'revocations.jwt');
    const withList = (clock: { now(): Date }) =>
      options(token, clock, { revocationList: { file: listFile() } });
    let token: string;
    beforeEach(async () => {
      token = await sign(vendor);
    });

    it('attack: the license named in it is refused, saying when; deleting the list afterwards does not help', async () => {
      const clock = clockAt(ISSUED + 2 * DAY_MS);
      await writeFile(listFile(), await signRevocationList(list(), vendor));
      const guard = await LicenseGuard.open(withList(clock));
      expect(JSON.parse(await readFile(stateFile, 'utf8')).revocation_list).toEqual({
        seq: 4,
        iat: '2027-01-02T00:00:00.000Z',
      });
      const revokedAt = ISSUED / 1000 + 3600;
      await writeFile(
        listFile(),
        await signRevocationList(
          list({ seq: 5, revoked: [...list().revoked, { license_id: 'lic_guard1', revoked_at: revokedAt }] }),
          vendor,
        ),
      );
      const refused = await refusal(guard.check());
      expect(refused.code).toBe('revoked');
      expect(refused.message).toBe(
        'license refused: license lic_guard1 of Ministry of Examples was revoked on 2027-01-01T01:00:00.000Z: install a new license',
      );
      expect(guard.status.state).toBe('refused');
      expect(guard.can('sso')).toBe(false);

      // The install remembers it: without the list option, and with the file gone, still refused.
      await rm(listFile());
      expect((await refusal(LicenseGuard.open(options(token, clock)))).code).toBe('revoked');
    });

    it('attack: a list older than one already read is refused as a rollback', async () => {
      const clock = clockAt(ISSUED + 2 * DAY_MS);
      await writeFile(listFile(), await signRevocationList(list({ seq: 5 }), vendor));
      await LicenseGuard.open(withList(clock));
      await writeFile(listFile(), await signRevocationList(list({ seq: 4, iat: list().iat + 60 }), vendor));
      const rollback = await refusal(LicenseGuard.open(withList(clock)));
      expect(rollback.code).toBe('revocation_list_rollback');
      expect(rollback.message).toBe(
        `license refused: the revocation list ${listFile()} has seq 4, older than seq 5 this install has already read: install the newest list`,
      );
      // The same seq again is the same revocations: accepted.
      await writeFile(listFile(), await signRevocationList(list({ seq: 5 }), vendor));
      await LicenseGuard.open(withList(clock));
    });

    it('attack: a tampered list, one signed by another key, or another kind of token is refused with its reason', async () => {
      const clock = clockAt(ISSUED + 2 * DAY_MS);
      const genuine = await signRevocationList(
        list({ revoked: [{ license_id: 'lic_guard1', revoked_at: ISSUED / 1000 }] }),
        vendor,
      );
      const [header, , signature] = genuine.split('.');
      const emptied = `${header}.${Buffer.from(JSON.stringify(list({ revoked: [] }))).toString('base64url')}.${signature}`;
      const cases: [string, string][] = [
        [emptied, 'revocation list signature does not verify with key "acme-2027"'],
        [
          await signRevocationList(list(), stranger),
          'revocation list is signed by key "x", which is not trusted here',
        ],
        [token, 'revocation list typ is "tenantry-license+jwt", not "tenantry-revocations+jwt"'],
        ['', 'revocation list has 1 part(s), not 3 (header.payload.signature)'],
      ];
      for (const [text, reason] of cases) {
        await writeFile(listFile(), text);
        const refused = await refusal(LicenseGuard.open(withList(clock)));
        expect(refused.code).toBe('revocation_list_invalid');
        expect(refused.message).toBe(
          `license refused: the revocation list ${listFile()} is refused: ${reason}`,
        );
      }
    });

    it('a missing file is no list before one was read, and refused after', async () => {
      const clock = clockAt(ISSUED + 2 * DAY_MS);
      const guard = await LicenseGuard.open(withList(clock));
      expect(guard.status.state).toBe('valid');
      await writeFile(listFile(), await signRevocationList(list(), vendor));
      await guard.check();
      await rm(listFile());
      const missing = await refusal(guard.check());
      expect(missing.code).toBe('revocation_list_missing');
      expect(missing.message).toBe(
        `license refused: the revocation list ${listFile()} is missing, though this install has read one (seq 4): put the newest list back`,
      );
    });
  });

  describe('check-ins, against answers signed with the vendor key', () => {
    const install = { id: 'inst-1', publicJwk: { kty: 'OKP', crv: 'Ed25519', x: 'A'.repeat(43) } };
    /** A fetch answering every check-in with `claims`, signed by the vendor's key. */
    const answering =
      (claims: () => CheckInResponseClaims): typeof fetch =>
      async () =>
        new Response(JSON.stringify({ response: await signCheckInResponse(claims(), vendor) }), {
          status: 200,
          headers: { 'content-type': 'application/json' },
        });

    it('refuses an install key that is not an Ed25519 public key, before any check-in', async () => {
      const token = await sign(vendor);
      const clock = clockAt(ISSUED + DAY_MS);
      for (const [publicJwk, code] of [
        [vendor.privateJwk, 'private_key'],
        [{ kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }, 'key_not_ed25519'],
      ] as const) {
        const checkIn = {
          url: 'http://control-plane.invalid',
          version: '1',
          install: { id: 'inst-1', publicJwk },
        };
        const refused = await refusal(LicenseGuard.open(options(token, clock, { checkIn })));
        expect(refused.code).toBe(code);
        expect(refused.message).toMatch(/^license refused: checkIn\.install\.publicJwk: /);
      }
    });

    it('a license with offline_days and no checkIn warns at open, and is refused once the days since its issue are over', async () => {
      const token = await sign(vendor, { offline_days: 2 });
      const clock = clockAt(ISSUED + DAY_MS);
      const guard = await LicenseGuard.open(options(token, clock));
      expect(warnings).toEqual([
        'license lic_guard1 expects check-ins (offline_days 2) but no checkIn is configured',
      ]);
      clock.set(ISSUED + 2 * DAY_MS + 1000);
      const refused = await refusal(guard.check());
      expect(refused.code).toBe('offline_too_long');
      expect(refused.message).toBe(
        'license refused: license lic_guard1 of Ministry of Examples allows 2 days without a check-in; there has been no successful check-in since it was issued on 2027-01-01T00:00:00.000Z: connect the install to the control plane',
      );
    });

    it('attack: a superseding answer whose newest license is not a successor (another customer, a lower seq) is ignored, with a warning', async () => {
      const clock = clockAt(ISSUED + DAY_MS);
      const file = join(directory, 'license.jwt');
      const current = await sign(vendor, { seq: 4, jti: 'lic_guard4' });
      await writeFile(file, current);
      for (const newest of [
        await sign(vendor, { seq: 9, jti: 'lic_other', customer: { id: 'cus_7', name: 'Other' } }),
        await sign(vendor, { seq: 3, jti: 'lic_guard3' }),
      ]) {
        warnings = [];
        const guard = await LicenseGuard.open(
          options({ file }, clock, {
            checkIn: {
              url: 'http://control-plane.invalid',
              version: '1',
              install,
              fetch: answering(() => ({
                license_id: 'lic_guard4',
                status: 'superseded',
                newest,
                install_id: 'inst-1',
                iat: Math.floor(clock.now().getTime() / 1000),
                seats_licensed: 50,
                revoked_at: null,
              })),
            },
          }),
        );
        expect(guard.status).toMatchObject({ license_id: 'lic_guard4', seq: 4 });
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatch(
          /^license lic_guard4 of Ministry of Examples was superseded, but the newer license (lic_other|lic_guard3) is not its successor/,
        );
        expect(await readFile(file, 'utf8')).toBe(current);
      }
    });
  });
});

describe('a license bound to an install', () => {
  it('runs on its install, and is refused on another, naming both', async () => {
    const token = await sign(vendor, { install: 'inst_a' });
    const clock = clockAt(ISSUED + DAY_MS);
    const guard = await LicenseGuard.open(options(token, clock, { installId: 'inst_a' }));
    expect(guard.status.state).toBe('valid');
    const error = await LicenseGuard.open(options(token, clock, { installId: 'inst_b' })).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(LicenseError);
    expect((error as LicenseError).code).toBe('install_mismatch');
    expect((error as Error).message).toBe(
      'license refused: license lic_guard1 of Ministry of Examples is bound to install "inst_a", not to this install "inst_b": install the license issued for this install',
    );
  });

  it('keeps running on its license when the file is renewed with one bound to another install', async () => {
    const file = join(directory, 'license.jwt');
    await writeFile(file, await sign(vendor));
    const clock = clockAt(ISSUED + DAY_MS);
    const guard = await LicenseGuard.open(options({ file }, clock, { installId: 'inst_a' }));
    await writeFile(file, await sign(vendor, { jti: 'lic_guard2', seq: 3, install: 'inst_b' }));
    await guard.check();
    expect(guard.status).toMatchObject({ license_id: 'lic_guard1', state: 'valid' });
    expect(warnings).toEqual([
      `the license file ${file} changed, but the new license is refused (license lic_guard2 of Ministry of Examples is bound to install "inst_b", not to this install "inst_a": install the license issued for this install); running on license lic_guard1`,
    ]);
  });

  it('warns that the binding is unchecked when the guard is given no install id', async () => {
    const token = await sign(vendor, { install: 'inst_a' });
    await LicenseGuard.open(options(token, clockAt(ISSUED + DAY_MS)));
    expect(warnings).toEqual([
      'license lic_guard1 is bound to install "inst_a" but the guard was given no install id (installId or checkIn.install.id): the binding is not checked',
    ]);
  });
});
