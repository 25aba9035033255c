import { createHash, createHmac } from 'node:crypto';
import { CompactSign, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type LicenseClaims,
  type LicenseKeyring,
  licenseKeyring,
  signCheckInResponse,
  signLicense,
} from '../licenses/index.ts';
import {
  type InstallPublicKey,
  MAX_USAGE_REPORT_BYTES,
  reportDigest,
  signUsageReport,
  USAGE_REPORT_TYPE,
  type UsageReportClaims,
  usageReportTotals,
  verifyUsageReport,
} from './index.ts';

const NOW = new Date('2027-02-01T00:05:00Z');
const IAT = Date.parse('2027-01-01T00:00:00Z') / 1000;

interface InstallKey {
  readonly privateJwk: JWK;
  readonly publicKey: InstallPublicKey;
}

let vendor: { kid: string; privateJwk: JWK };
let keyring: LicenseKeyring;
let install: InstallKey;
let license: string;

async function installKey(): Promise<InstallKey> {
  const pair = await generateKeyPair('EdDSA', { extractable: true });
  const jwk = await exportJWK(pair.publicKey);
  return {
    privateJwk: await exportJWK(pair.privateKey),
    publicKey: { kty: 'OKP', crv: 'Ed25519', x: jwk.x ?? '' },
  };
}

function licenseClaims(overrides: Partial<LicenseClaims> = {}): LicenseClaims {
  return {
    iss: 'Acme',
    jti: 'lic_01',
    customer: { id: 'ten_1', name: 'Globex' },
    edition: 'pro',
    seats: 10,
    plan: { key: 'pro', version: 1 },
    entitlements: { features: {}, limits: {}, config: {} },
    iat: IAT,
    nbf: IAT,
    exp: IAT + 365 * 86_400,
    grace_days: 0,
    offline_days: null,
    phone_home: false,
    install: null,
    seq: 1,
    ...overrides,
  };
}

async function signedLicense(claims: LicenseClaims, key = vendor): Promise<string> {
  const signed = await signLicense(claims, key);
  if (!signed.ok) throw new Error(signed.error.message);
  return signed.value;
}

const events = [
  { id: 'e1', meter: 'api_calls', value: 3, time: '2027-01-02T10:00:00Z' },
  { id: 'e2', meter: 'api_calls', value: 0.5, time: '2027-01-03T10:00:00Z', subject: 'user_1' },
  {
    id: 'e3',
    meter: 'storage_gb',
    value: 12,
    time: '2027-01-31T23:59:59.999Z',
    properties: { region: 'eu' },
  },
];

function claims(overrides: Partial<UsageReportClaims> = {}): UsageReportClaims {
  const base = {
    report_id: 'rep_1',
    install_id: 'install-1',
    install_key: install.publicKey,
    license,
    seq: 1,
    previous: null,
    period: { from: '2027-01-01T00:00:00Z', to: '2027-02-01T00:00:00Z' },
    created_at: '2027-02-01T00:00:00Z',
    events,
    ...overrides,
  };
  return { totals: usageReportTotals(base.events), ...base };
}

async function sign(report: UsageReportClaims, key: InstallKey = install): Promise<string> {
  const signed = await signUsageReport(report, key);
  if (!signed.ok) throw new Error(signed.error.message);
  return signed.value;
}

/** Signs any payload and header with `key`, bypassing signUsageReport's checks, as an attacker would. */
async function forge(payload: unknown, header: Record<string, unknown>, key: InstallKey = install) {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'EdDSA', ...header })
    .sign(key.privateJwk);
}

async function refusal(token: string, options: { installKey?: InstallPublicKey; now?: Date } = {}) {
  const result = await verifyUsageReport(token, { licenseKeyring: keyring, now: NOW, ...options });
  return result.ok ? { code: 'accepted', message: '' } : result.error;
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { extractable: true });
  vendor = { kid: 'vendor-1', privateJwk: await exportJWK(pair.privateKey) };
  const built = licenseKeyring([{ ...(await exportJWK(pair.publicKey)), kid: 'vendor-1' }]);
  if (!built.ok) throw new Error(built.error.message);
  keyring = built.value;
  install = await installKey();
  license = await signedLicense(licenseClaims());
});

describe('signUsageReport and verifyUsageReport', () => {
  it('round-trips a report: claims, the verified license, the key thumbprint and the digest', async () => {
    const token = await sign(claims());
    const [header = ''] = token.split('.');
    expect(JSON.parse(Buffer.from(header, 'base64url').toString())).toEqual({
      alg: 'EdDSA',
      typ: USAGE_REPORT_TYPE,
      kid: await calculateJwkThumbprint(install.publicKey),
    });
    const result = await verifyUsageReport(token, {
      licenseKeyring: keyring,
      now: NOW,
      installKey: install.publicKey,
    });
    if (!result.ok) throw new Error(result.error.message);
    expect(result.value.claims).toEqual(claims());
    expect(result.value.license.claims.customer).toEqual({ id: 'ten_1', name: 'Globex' });
    expect(result.value.key_thumbprint).toBe(await calculateJwkThumbprint(install.publicKey));
    expect(result.value.digest).toBe(createHash('sha256').update(token).digest('hex'));
    expect(await reportDigest(token)).toBe(result.value.digest);
  });

  it('signs canonical JSON: the same claims in another key order give the same token', async () => {
    const { events: reportEvents, ...rest } = claims();
    const reordered = Object.fromEntries(Object.entries(rest).reverse()) as typeof rest;
    expect(await sign({ ...reordered, events: reportEvents })).toBe(await sign(claims()));
  });

  it('accepts an empty report (a period without usage) and one whose license has expired', async () => {
    expect((await refusal(await sign(claims({ events: [] })))).code).toBe('accepted');
    const old = await signedLicense(licenseClaims({ exp: IAT + 86_400 }));
    expect((await refusal(await sign(claims({ license: old })))).code).toBe('accepted');
  });

  it('refuses to sign content it would refuse to verify, and a key that is not install_key', async () => {
    const signed = await signUsageReport(claims({ totals: {} }), install);
    expect(signed.ok ? null : signed.error.code).toBe('totals_mismatch');
    const other = await installKey();
    await expect(signUsageReport(claims(), other)).rejects.toThrow(/not the one whose public half/);
  });
});

describe('verifyUsageReport refuses, each fault with its own code and message', () => {
  it('not a JWS', async () => {
    expect(await refusal('not a token')).toMatchObject({ code: 'malformed' });
    expect(await refusal('a.b')).toMatchObject({ code: 'malformed' });
  });

  it('a report larger than MAX_USAGE_REPORT_BYTES', async () => {
    expect(await refusal('a'.repeat(MAX_USAGE_REPORT_BYTES + 1))).toMatchObject({
      code: 'oversized',
      message: expect.stringMatching(/^usage report is \d+ characters long/),
    });
  });

  it('alg none, unsigned', async () => {
    const token = `${b64({ alg: 'none', typ: USAGE_REPORT_TYPE })}.${b64(claims())}.`;
    expect(await refusal(token)).toMatchObject({ code: 'unsigned' });
  });

  it('HS256 keyed with the install public key (algorithm confusion)', async () => {
    const signingInput = `${b64({ alg: 'HS256', typ: USAGE_REPORT_TYPE, kid: await calculateJwkThumbprint(install.publicKey) })}.${b64(claims())}`;
    const mac = createHmac('sha256', Buffer.from(install.publicKey.x, 'base64url'))
      .update(signingInput)
      .digest('base64url');
    expect(await refusal(`${signingInput}.${mac}`)).toMatchObject({
      code: 'alg_hmac',
      message: expect.stringMatching(/HMAC/),
    });
  });

  it('RS256 and ES256', async () => {
    for (const alg of ['RS256', 'ES256'] as const) {
      const pair = await generateKeyPair(alg, { extractable: true });
      const token = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims())))
        .setProtectedHeader({ alg, typ: USAGE_REPORT_TYPE, kid: 'x' })
        .sign(pair.privateKey);
      expect(await refusal(token)).toMatchObject({
        code: 'alg_not_allowed',
        message: `usage report uses alg "${alg}": only EdDSA is accepted`,
      });
    }
  });

  it('a license or a check-in answer passed as a report (wrong typ)', async () => {
    expect(await refusal(license)).toMatchObject({
      code: 'wrong_type',
      message: `usage report typ is "tenantry-license+jwt", not "${USAGE_REPORT_TYPE}"`,
    });
    const answer = await signCheckInResponse(
      {
        license_id: 'lic_01',
        status: 'active',
        newest: null,
        install_id: 'install-1',
        iat: IAT,
        seats_licensed: 10,
      },
      vendor,
    );
    expect(await refusal(answer)).toMatchObject({ code: 'wrong_type' });
  });

  it('a changed byte in the payload, and a changed signature', async () => {
    const token = await sign(claims());
    const [header, , signature = ''] = token.split('.');
    const inflated = claims({
      events: [{ id: 'e1', meter: 'api_calls', value: 1, time: '2027-01-02T10:00:00Z' }],
    });
    expect(await refusal(`${header}.${b64(inflated)}.${signature}`)).toMatchObject({
      code: 'bad_signature',
      message: expect.stringMatching(/^usage report signature does not verify/),
    });
    const flipped = `${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`;
    expect(await refusal(`${token.split('.').slice(0, 2).join('.')}.${flipped}`)).toMatchObject({
      code: 'bad_signature',
    });
  });

  it('a report signed by another install key than the pinned one (foreign report)', async () => {
    const stranger = await installKey();
    const token = await sign(claims({ install_key: stranger.publicKey }), stranger);
    expect((await refusal(token)).code).toBe('accepted');
    expect(await refusal(token, { installKey: install.publicKey })).toMatchObject({
      code: 'foreign_key',
      message: expect.stringMatching(/not by the key this install pinned/),
    });
  });

  it('a report naming the install key but signed with another (kid and key disagree)', async () => {
    const stranger = await installKey();
    const kid = await calculateJwkThumbprint(install.publicKey);
    const token = await forge(claims(), { typ: USAGE_REPORT_TYPE, kid }, stranger);
    expect(await refusal(token)).toMatchObject({ code: 'bad_signature' });
    const otherKid = await forge(claims(), { typ: USAGE_REPORT_TYPE, kid: 'someone' });
    expect(await refusal(otherKid)).toMatchObject({
      code: 'bad_install_key',
      message: expect.stringMatching(/kid is not the thumbprint of its install_key/),
    });
  });

  it('a report whose install_key is missing or not an Ed25519 key', async () => {
    const { install_key: _, ...keyless } = claims();
    const token = await forge(keyless, { typ: USAGE_REPORT_TYPE, kid: 'k' });
    expect(await refusal(token)).toMatchObject({ code: 'bad_install_key' });
  });

  it('a key carried in the header', async () => {
    const token = await forge(claims(), {
      typ: USAGE_REPORT_TYPE,
      kid: await calculateJwkThumbprint(install.publicKey),
      jwk: install.publicKey,
    });
    expect(await refusal(token)).toMatchObject({ code: 'embedded_key' });
  });

  it("another vendor's license, and a license bound to another install", async () => {
    const pair = await generateKeyPair('EdDSA', { extractable: true });
    const otherVendor = await signedLicense(licenseClaims(), {
      kid: 'vendor-1',
      privateJwk: await exportJWK(pair.privateKey),
    });
    expect(await refusal(await sign(claims({ license: otherVendor })))).toMatchObject({
      code: 'license_refused',
      message: 'usage report\'s license is refused: license signature does not verify with key "vendor-1"',
    });
    const bound = await signedLicense(licenseClaims({ install: 'install-2' }));
    expect(await refusal(await sign(claims({ license: bound })))).toMatchObject({
      code: 'install_not_licensed',
    });
  });

  it('a missing, an unknown and an invalid claim, each named', async () => {
    const { report_id: _, ...missing } = claims();
    const kid = await calculateJwkThumbprint(install.publicKey);
    expect(await refusal(await forge(missing, { typ: USAGE_REPORT_TYPE, kid }))).toMatchObject({
      code: 'missing_claim',
      message: 'usage report claim report_id is missing',
    });
    expect(
      await refusal(await forge({ ...claims(), tenant: 'ten_2' }, { typ: USAGE_REPORT_TYPE, kid })),
    ).toMatchObject({
      code: 'unexpected_claim',
      message: 'usage report claim tenant is not part of the report format',
    });
    expect(
      await refusal(await forge({ ...claims(), seq: 2 }, { typ: USAGE_REPORT_TYPE, kid })),
    ).toMatchObject({ code: 'invalid_claim', message: expect.stringMatching(/claim previous is invalid/) });
    const backwards = { ...claims(), period: { from: '2027-02-01T00:00:00Z', to: '2027-01-01T00:00:00Z' } };
    expect(await refusal(await forge(backwards, { typ: USAGE_REPORT_TYPE, kid }))).toMatchObject({
      code: 'invalid_claim',
      message: expect.stringMatching(/period\.to is invalid/),
    });
  });

  it('totals that disagree with the events', async () => {
    const kid = await calculateJwkThumbprint(install.publicKey);
    const lowered = {
      ...claims(),
      totals: { ...usageReportTotals(events), api_calls: { sum: 1, count: 2 } },
    };
    expect(await refusal(await forge(lowered, { typ: USAGE_REPORT_TYPE, kid }))).toMatchObject({
      code: 'totals_mismatch',
      message:
        'usage report totals for meter "api_calls" say 1 in 2 event(s), its events add up to 3.5 in 2 event(s)',
    });
    const extra = { ...claims(), totals: { ...usageReportTotals(events), seats: { sum: 1, count: 1 } } };
    expect(await refusal(await forge(extra, { typ: USAGE_REPORT_TYPE, kid }))).toMatchObject({
      code: 'totals_mismatch',
      message: expect.stringMatching(/"seats" say 1 in 1 event\(s\), its events add up to nothing/),
    });
  });

  it('an event outside the period (its end is excluded), and a duplicate event id', async () => {
    const kid = await calculateJwkThumbprint(install.publicKey);
    const late = [...events, { id: 'e4', meter: 'api_calls', value: 1, time: '2027-02-01T00:00:00Z' }];
    expect(
      await refusal(await forge({ ...claims({ events: late }) }, { typ: USAGE_REPORT_TYPE, kid })),
    ).toMatchObject({ code: 'event_outside_period', message: expect.stringMatching(/event 3 \("e4"\)/) });
    const twice = [...events, { id: 'e1', meter: 'api_calls', value: 1, time: '2027-01-05T00:00:00Z' }];
    expect(
      await refusal(await forge({ ...claims({ events: twice }) }, { typ: USAGE_REPORT_TYPE, kid })),
    ).toMatchObject({
      code: 'duplicate_event',
      message: 'usage report event id "e1" appears more than once',
    });
  });

  it('a report created after now, beyond the clock skew', async () => {
    const token = await sign(claims());
    expect(await refusal(token, { now: new Date('2027-01-31T23:54:00Z') })).toMatchObject({
      code: 'not_yet_valid',
    });
    expect((await refusal(token, { now: new Date('2027-01-31T23:56:00Z') })).code).toBe('accepted');
  });
});
