import { CompactSign, exportJWK, generateKeyPair, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CHECK_IN_CLOCK_SKEW_SECONDS,
  type CheckInResponseClaims,
  type LicenseKeyring,
  licenseKeyring,
  signCheckInResponse,
  signLicense,
  verifyCheckInResponse,
  verifyLicense,
} from './index.ts';

const NOW = new Date(Date.UTC(2027, 0, 10));
const IAT = NOW.getTime() / 1000;

let key: { kid: string; privateJwk: JWK };
let keys: LicenseKeyring;

const claims = (overrides: Partial<CheckInResponseClaims> = {}): CheckInResponseClaims => ({
  license_id: 'lic_01',
  status: 'superseded',
  newest: 'a.b.c',
  install_id: 'install-1',
  iat: IAT,
  seats_licensed: 10,
  revoked_at: null,
  ...overrides,
});

beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { extractable: true });
  key = { kid: 'vendor', privateJwk: await exportJWK(pair.privateKey) };
  const built = licenseKeyring([{ ...(await exportJWK(pair.publicKey)), kid: 'vendor' }]);
  if (!built.ok) throw new Error(built.error.message);
  keys = built.value;
});

describe('verifyCheckInResponse', () => {
  it('accepts an answer signed with a trusted key and gives its claims', async () => {
    const token = await signCheckInResponse(claims(), key);
    const result = await verifyCheckInResponse(token, keys, { now: NOW });
    expect(result).toEqual({ ok: true, value: { claims: claims(), kid: 'vendor' } });
  });

  it('refuses a changed payload, and an answer from a key it does not trust, as bad_signature/unknown_kid', async () => {
    const token = await signCheckInResponse(claims(), key);
    const [header, , signature] = token.split('.');
    const forged = `${header}.${Buffer.from(JSON.stringify(claims({ status: 'active' }))).toString('base64url')}.${signature}`;
    const refused = await verifyCheckInResponse(forged, keys, { now: NOW });
    expect(refused.ok ? null : refused.error.code).toBe('bad_signature');
    const other = await generateKeyPair('EdDSA', { extractable: true });
    const stranger = await signCheckInResponse(claims(), {
      kid: 'other',
      privateJwk: await exportJWK(other.privateKey),
    });
    const unknown = await verifyCheckInResponse(stranger, keys, { now: NOW });
    expect(unknown.ok ? null : unknown.error.message).toMatch(/^check-in response is signed by key "other"/);
  });

  it('keeps answers and licenses apart by typ, both ways', async () => {
    const answer = await signCheckInResponse(claims(), key);
    const asLicense = await verifyLicense(answer, keys, { now: NOW });
    expect(asLicense.ok ? null : asLicense.error.code).toBe('wrong_type');
    const license = await signLicense(
      {
        iss: 'Acme',
        jti: 'lic_01',
        customer: { id: 'cus', name: 'Cus' },
        edition: 'pro',
        seats: null,
        plan: { key: 'pro', version: 1 },
        entitlements: { features: {}, limits: {}, config: {} },
        iat: IAT,
        nbf: IAT,
        exp: IAT + 86_400,
        grace_days: 0,
        offline_days: null,
        phone_home: false,
        install: null,
        seq: 1,
      },
      key,
    );
    if (!license.ok) throw new Error(license.error.message);
    const asAnswer = await verifyCheckInResponse(license.value, keys, { now: NOW });
    expect(asAnswer.ok ? null : asAnswer.error.code).toBe('wrong_type');
  });

  it('refuses an answer issued after now beyond the clock skew, and accepts one within it', async () => {
    const within = await signCheckInResponse(claims({ iat: IAT + CHECK_IN_CLOCK_SKEW_SECONDS }), key);
    expect((await verifyCheckInResponse(within, keys, { now: NOW })).ok).toBe(true);
    const later = await signCheckInResponse(claims({ iat: IAT + CHECK_IN_CLOCK_SKEW_SECONDS + 1 }), key);
    const refused = await verifyCheckInResponse(later, keys, { now: NOW });
    expect(refused.ok ? null : refused.error.code).toBe('not_yet_valid');
  });

  it('refuses claims outside the format, naming the claim', async () => {
    const token = await new CompactSign(
      new TextEncoder().encode(JSON.stringify({ ...claims(), status: 'paused' })),
    )
      .setProtectedHeader({ alg: 'EdDSA', typ: 'tenantry-check-in+jwt', kid: 'vendor' })
      .sign(key.privateJwk);
    const refused = await verifyCheckInResponse(token, keys, { now: NOW });
    expect(refused.ok ? null : refused.error).toMatchObject({ code: 'invalid_claim' });
    expect(refused.ok ? '' : refused.error.message).toMatch(/claim status is invalid/);
  });
});
