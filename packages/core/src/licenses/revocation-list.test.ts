import { CompactSign, exportJWK, generateKeyPair, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CHECK_IN_CLOCK_SKEW_SECONDS,
  type LicenseKeyring,
  licenseKeyring,
  MAX_REVOCATION_LIST_BYTES,
  type RevocationListClaims,
  signCheckInResponse,
  signRevocationList,
  verifyCheckInResponse,
  verifyLicense,
  verifyRevocationList,
} from './index.ts';

const NOW = new Date(Date.UTC(2027, 0, 10));
const IAT = NOW.getTime() / 1000;

let key: { kid: string; privateJwk: JWK };
let keys: LicenseKeyring;

const list = (overrides: Partial<RevocationListClaims> = {}): RevocationListClaims => ({
  iat: IAT,
  seq: 3,
  revoked: [
    { license_id: 'lic_01', revoked_at: IAT - 86_400 },
    { license_id: 'lic_02', revoked_at: IAT - 3600 },
  ],
  ...overrides,
});

const refusalOf = async (token: string) => {
  const result = await verifyRevocationList(token, keys, { now: NOW });
  return result.ok ? null : result.error;
};

beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { extractable: true });
  key = { kid: 'vendor', privateJwk: await exportJWK(pair.privateKey) };
  const built = licenseKeyring([{ ...(await exportJWK(pair.publicKey)), kid: 'vendor' }]);
  if (!built.ok) throw new Error(built.error.message);
  keys = built.value;
});

describe('revocation lists', () => {
  it('verifies a list signed with a trusted key and gives its claims', async () => {
    const token = await signRevocationList(list(), key);
    expect(JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString())).toEqual({
      alg: 'EdDSA',
      typ: 'tenantry-revocations+jwt',
      kid: 'vendor',
    });
    expect(await verifyRevocationList(token, keys, { now: NOW })).toEqual({
      ok: true,
      value: { claims: list(), kid: 'vendor' },
    });
    const empty = await signRevocationList(list({ seq: 0, revoked: [] }), key);
    expect((await verifyRevocationList(empty, keys, { now: NOW })).ok).toBe(true);
  });

  it('attack: an entry dropped from a signed list breaks its signature', async () => {
    const token = await signRevocationList(list(), key);
    const [header, , signature] = token.split('.');
    const shortened = Buffer.from(JSON.stringify(list({ revoked: [] }))).toString('base64url');
    expect(await refusalOf(`${header}.${shortened}.${signature}`)).toMatchObject({
      code: 'bad_signature',
      message: 'revocation list signature does not verify with key "vendor"',
    });
  });

  it('attack: a list signed by a key the release does not trust is refused', async () => {
    const other = await generateKeyPair('EdDSA', { extractable: true });
    const token = await signRevocationList(list(), {
      kid: 'other',
      privateJwk: await exportJWK(other.privateKey),
    });
    expect(await refusalOf(token)).toMatchObject({ code: 'unknown_kid' });
  });

  it('attack: a check-in answer or a license cannot pass for a list, nor a list for either', async () => {
    const answer = await signCheckInResponse(
      {
        license_id: 'lic_01',
        status: 'active',
        newest: null,
        install_id: 'i',
        iat: IAT,
        seats_licensed: null,
        revoked_at: null,
      },
      key,
    );
    expect(await refusalOf(answer)).toMatchObject({
      code: 'wrong_type',
      message: 'revocation list typ is "tenantry-check-in+jwt", not "tenantry-revocations+jwt"',
    });
    const token = await signRevocationList(list(), key);
    const asAnswer = await verifyCheckInResponse(token, keys, { now: NOW });
    expect(asAnswer.ok ? null : asAnswer.error.code).toBe('wrong_type');
    const asLicense = await verifyLicense(token, keys, { now: NOW });
    expect(asLicense.ok ? null : asLicense.error.code).toBe('wrong_type');
  });

  it('attack: a list signed in the future beyond the clock skew is refused; within it, accepted', async () => {
    const within = await signRevocationList(list({ iat: IAT + CHECK_IN_CLOCK_SKEW_SECONDS }), key);
    expect(await refusalOf(within)).toBeNull();
    const later = await signRevocationList(list({ iat: IAT + CHECK_IN_CLOCK_SKEW_SECONDS + 1 }), key);
    expect(await refusalOf(later)).toMatchObject({ code: 'not_yet_valid' });
  });

  it('refuses claims outside the format, naming the claim', async () => {
    const signRaw = (claims: unknown) =>
      new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
        .setProtectedHeader({ alg: 'EdDSA', typ: 'tenantry-revocations+jwt', kid: 'vendor' })
        .sign(key.privateJwk);
    const bad = await refusalOf(
      await signRaw({ ...list(), revoked: [{ license_id: 'nope', revoked_at: 1 }] }),
    );
    expect(bad).toMatchObject({ code: 'invalid_claim' });
    expect(bad?.message).toMatch(/^revocation list claim revoked\.0\.license_id is invalid/);
    const extra = await refusalOf(await signRaw({ ...list(), customers: [] }));
    expect(extra).toMatchObject({ code: 'invalid_claim' });
    const noSeq = await refusalOf(await signRaw({ iat: IAT, revoked: [] }));
    expect(noSeq?.message).toMatch(/claim seq is invalid/);
  });

  it('takes lists far longer than a license, up to its own bound', async () => {
    const revoked = Array.from({ length: 2000 }, (_, n) => ({ license_id: `lic_${n}`, revoked_at: IAT }));
    const long = await signRevocationList(list({ revoked }), key);
    expect(long.length).toBeGreaterThan(64 * 1024);
    expect(await refusalOf(long)).toBeNull();
    expect(await refusalOf('x'.repeat(MAX_REVOCATION_LIST_BYTES + 1))).toMatchObject({ code: 'oversized' });
  });
});
