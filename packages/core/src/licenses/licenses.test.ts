import { createHmac, createPrivateKey, sign } from 'node:crypto';
import { CompactSign, exportJWK, generateKeyPair, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  LICENSE_TYPE,
  type LicenseClaims,
  type LicenseKeyring,
  type LicenseRefusal,
  licenseEntitlements,
  licenseKeyring,
  MAX_LICENSE_BYTES,
  signLicense,
  verifyLicense,
} from './index.ts';

const DAY = 86_400;
const ISSUED = Date.UTC(2027, 0, 1) / 1000;
const NOW = new Date((ISSUED + 10 * DAY) * 1000);

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
    jti: 'lic_01HZX3Q8',
    customer: { id: 'cus_42', name: 'Ministry of Examples' },
    edition: 'enterprise',
    seats: 250,
    plan: { key: 'enterprise', version: 3 },
    entitlements: licenseEntitlements({
      features: { sso: true, audit_export: true, ai: false },
      limits: {
        seats: {
          kind: 'seats',
          limit: 250,
          used: 12,
          remaining: 238,
          enforcement: 'soft',
          thresholds: [80, 100],
          resets_at: null,
        },
        sessions: {
          kind: 'gauge',
          limit: 50,
          used: null,
          remaining: null,
          enforcement: 'hard',
          thresholds: [80, 100],
          resets_at: null,
          per_subject: 2,
        },
        meetings: {
          kind: 'metered',
          limit: null,
          used: 3,
          remaining: null,
          enforcement: 'hard',
          thresholds: [],
          resets_at: '2027-02-01T00:00:00.000Z',
        },
      },
      config: { retention_days: 365, region: 'eu' },
      meter_features: { meetings: 'audit_export' },
    }),
    iat: ISSUED,
    nbf: ISSUED,
    exp: ISSUED + 365 * DAY,
    grace_days: 14,
    offline_days: null,
    phone_home: false,
    install: null,
    seq: 1,
    ...overrides,
  };
}

const b64 = (value: string | Uint8Array) => Buffer.from(value).toString('base64url');
const json = (value: unknown) => b64(JSON.stringify(value));

/** A JWS over any header and payload, signed by `key` with jose, bypassing signLicense's checks. */
async function signRaw(
  header: Record<string, unknown>,
  payload: unknown,
  key: Parameters<CompactSign['sign']>[0],
): Promise<string> {
  const bytes = payload instanceof Uint8Array ? payload : new TextEncoder().encode(JSON.stringify(payload));
  return new CompactSign(bytes).setProtectedHeader(header as { alg: string }).sign(key);
}

async function issue(key: SigningKey, overrides: Partial<LicenseClaims> = {}): Promise<string> {
  const signed = await signLicense(claims(overrides), key);
  if (!signed.ok) throw new Error(signed.error.message);
  return signed.value;
}

function keyringOf(...keys: JWK[]): LicenseKeyring {
  const built = licenseKeyring(keys);
  if (!built.ok) throw new Error(built.error.message);
  return built.value;
}

async function refusal(token: string, keys: LicenseKeyring, now = NOW): Promise<LicenseRefusal> {
  const result = await verifyLicense(token, keys, { now });
  if (result.ok) throw new Error(`accepted: ${token.slice(0, 60)}…`);
  return result.error;
}

/** `text` with the character at `index` replaced by another base64url character. */
function changeChar(text: string, index: number): string {
  const current = text[index];
  return `${text.slice(0, index)}${current === 'A' ? 'B' : 'A'}${text.slice(index + 1)}`;
}

let vendor: SigningKey;
let rotated: SigningKey;
let attacker: SigningKey;
let keys: LicenseKeyring;
let good: string;
const eddsa = (kid: string) => ({ alg: 'EdDSA', typ: LICENSE_TYPE, kid });

beforeAll(async () => {
  vendor = await ed25519('vendor-2027');
  rotated = await ed25519('vendor-2028');
  attacker = await ed25519('attacker');
  keys = keyringOf(vendor.publicJwk, rotated.publicJwk);
  good = await issue(vendor);
});

describe('verifyLicense: accepted licenses', () => {
  it('verifies a license signed by a trusted key, with its claims, kid and days left', async () => {
    const result = await verifyLicense(good, keys, { now: NOW });
    expect(result).toEqual({
      ok: true,
      value: { claims: claims(), kid: 'vendor-2027', status: 'valid', days_left: 355 },
    });
  });

  it('counts a started day as a day left', async () => {
    const now = new Date((ISSUED + 365 * DAY - 60) * 1000);
    const result = await verifyLicense(good, keys, { now });
    expect(result.ok && result.value).toMatchObject({ status: 'valid', days_left: 1 });
  });

  it('is in grace from exp for grace_days, counting the days to the end of the grace', async () => {
    const atExp = await verifyLicense(good, keys, { now: new Date((ISSUED + 365 * DAY) * 1000) });
    expect(atExp.ok && atExp.value).toMatchObject({ status: 'in_grace', days_left: 14 });
    const later = await verifyLicense(good, keys, { now: new Date((ISSUED + 370 * DAY + 5) * 1000) });
    expect(later.ok && later.value).toMatchObject({ status: 'in_grace', days_left: 9 });
  });

  it('is expired once the grace is over, still with its claims for the notice', async () => {
    const result = await verifyLicense(good, keys, { now: new Date((ISSUED + 379 * DAY) * 1000) });
    expect(result.ok && result.value).toMatchObject({ status: 'expired', days_left: 0, claims: { seq: 1 } });
    const noGrace = await issue(vendor, { grace_days: 0 });
    const atExp = await verifyLicense(noGrace, keys, { now: new Date((ISSUED + 365 * DAY) * 1000) });
    expect(atExp.ok && atExp.value).toMatchObject({ status: 'expired', days_left: 0 });
  });

  it('rotates keys: each kid verifies the licenses its key signed, and only those', async () => {
    const next = await issue(rotated, { seq: 2 });
    const result = await verifyLicense(next, keys, { now: NOW });
    expect(result.ok && result.value).toMatchObject({ kid: 'vendor-2028', claims: { seq: 2 } });
    const old = await verifyLicense(good, keys, { now: NOW });
    expect(old.ok && old.value.kid).toBe('vendor-2027');
    // The new key's signature under the old key's kid.
    const swapped = await signRaw(eddsa('vendor-2027'), claims({ seq: 2 }), rotated.privateJwk);
    expect(await refusal(swapped, keys)).toEqual({
      code: 'bad_signature',
      message: 'license signature does not verify with key "vendor-2027"',
    });
  });

  it('carries the entitlements of a snapshot without its usage, install binding and offline allowance', async () => {
    const bound = await issue(vendor, { install: 'ins_7f3a', offline_days: 30, phone_home: true });
    const result = await verifyLicense(bound, keys, { now: NOW });
    expect(result.ok && result.value.claims).toMatchObject({
      install: 'ins_7f3a',
      offline_days: 30,
      phone_home: true,
    });
    expect(claims().entitlements.limits).toEqual({
      seats: { kind: 'seats', limit: 250, enforcement: 'soft', thresholds: [80, 100] },
      sessions: { kind: 'gauge', limit: 50, enforcement: 'hard', thresholds: [80, 100], per_subject: 2 },
      meetings: { kind: 'metered', limit: null, enforcement: 'hard', thresholds: [] },
    });
  });

  it('signs canonical JSON, so the same claims give the same token', async () => {
    const [, payload] = good.split('.');
    expect(Buffer.from(payload ?? '', 'base64url').toString()).toMatch(/^\{"customer":\{"id":"cus_42"/);
    expect(await issue(vendor)).toBe(good);
  });

  it('refuses to sign claims a release would refuse', async () => {
    const signed = await signLicense(claims({ seq: 0 }), vendor);
    expect(signed).toEqual({
      ok: false,
      error: {
        code: 'invalid_claim',
        message: 'license claim seq is invalid: seq must be at least 1, not 0',
      },
    });
  });
});

describe('verifyLicense: the tamper suite', () => {
  it('1. refuses an unsigned license (alg none)', async () => {
    const token = `${json({ alg: 'none', typ: LICENSE_TYPE, kid: 'vendor-2027' })}.${json(claims())}.`;
    expect(await refusal(token, keys)).toEqual({
      code: 'unsigned',
      message: 'license is unsigned (alg "none"): only EdDSA is accepted',
    });
  });

  it('2. refuses HS256 with a random secret', async () => {
    const input = `${json({ alg: 'HS256', typ: LICENSE_TYPE, kid: 'vendor-2027' })}.${json(claims({ seats: null }))}`;
    const token = `${input}.${createHmac('sha256', 'attacker secret').update(input).digest('base64url')}`;
    expect(await refusal(token, keys)).toEqual({
      code: 'alg_hmac',
      message: 'license uses HMAC (alg "HS256"), a shared secret, not a signature: only EdDSA is accepted',
    });
  });

  it('3. refuses HMAC keyed with the public key itself (algorithm confusion), raw bytes or JWK JSON', async () => {
    const raw = Buffer.from(String(vendor.publicJwk.x), 'base64url');
    for (const [alg, hash, secret] of [
      ['HS256', 'sha256', raw],
      ['HS256', 'sha256', Buffer.from(JSON.stringify(vendor.publicJwk))],
      ['HS512', 'sha512', raw],
    ] as const) {
      const input = `${json({ alg, typ: LICENSE_TYPE, kid: 'vendor-2027' })}.${json(claims({ seats: null }))}`;
      const token = `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`;
      expect(await refusal(token, keys)).toEqual({
        code: 'alg_hmac',
        message: `license uses HMAC (alg "${alg}"), a shared secret, not a signature: only EdDSA is accepted`,
      });
    }
  });

  it('4. refuses RS256 and PS256 signed by an RSA key under a trusted kid', async () => {
    for (const alg of ['RS256', 'PS256']) {
      const { privateKey } = await generateKeyPair(alg);
      const token = await signRaw({ alg, typ: LICENSE_TYPE, kid: 'vendor-2027' }, claims(), privateKey);
      expect(await refusal(token, keys)).toEqual({
        code: 'alg_not_allowed',
        message: `license uses alg "${alg}": only EdDSA is accepted`,
      });
    }
  });

  it('5. refuses ES256 signed by a P-256 key under a trusted kid', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const token = await signRaw(
      { alg: 'ES256', typ: LICENSE_TYPE, kid: 'vendor-2027' },
      claims(),
      privateKey,
    );
    expect(await refusal(token, keys)).toEqual({
      code: 'alg_not_allowed',
      message: 'license uses alg "ES256": only EdDSA is accepted',
    });
  });

  it('6. refuses a header without alg, and the fully-specified "Ed25519" the format does not use', async () => {
    const [, payload, signature] = good.split('.');
    const noAlg = `${json({ typ: LICENSE_TYPE, kid: 'vendor-2027' })}.${payload}.${signature}`;
    expect(await refusal(noAlg, keys)).toEqual({
      code: 'alg_not_allowed',
      message: 'license header names no alg: only EdDSA is accepted',
    });
    const listed = `${json({ alg: ['EdDSA'], typ: LICENSE_TYPE, kid: 'vendor-2027' })}.${payload}.${signature}`;
    expect((await refusal(listed, keys)).message).toBe('license uses alg a list: only EdDSA is accepted');
    const ed = await signRaw(
      { alg: 'Ed25519', typ: LICENSE_TYPE, kid: 'vendor-2027' },
      claims(),
      vendor.privateJwk,
    );
    expect(await refusal(ed, keys)).toEqual({
      code: 'alg_not_allowed',
      message: 'license uses alg "Ed25519": only EdDSA is accepted',
    });
  });

  it('7. refuses a key id the keyring does not know', async () => {
    const token = await issue(attacker);
    expect(await refusal(token, keys)).toEqual({
      code: 'unknown_kid',
      message: 'license is signed by key "attacker", which is not trusted here',
    });
    // Names an object's own machinery would answer to, were the keyring a plain object.
    for (const kid of ['__proto__', 'constructor', 'toString']) {
      const inherited = await issue({ ...attacker, kid });
      expect((await refusal(inherited, keys)).message).toBe(
        `license is signed by key "${kid}", which is not trusted here`,
      );
    }
  });

  it('8. refuses a license that names no key', async () => {
    const token = await signRaw({ alg: 'EdDSA', typ: LICENSE_TYPE }, claims(), vendor.privateJwk);
    expect(await refusal(token, keys)).toEqual({
      code: 'missing_kid',
      message: 'license header names no key (kid)',
    });
  });

  it('9. refuses another JWT type, or none, signed by a trusted key', async () => {
    const jwt = await signRaw({ alg: 'EdDSA', typ: 'JWT', kid: 'vendor-2027' }, claims(), vendor.privateJwk);
    expect(await refusal(jwt, keys)).toEqual({
      code: 'wrong_type',
      message: `license typ is "JWT", not "${LICENSE_TYPE}"`,
    });
    const untyped = await signRaw({ alg: 'EdDSA', kid: 'vendor-2027' }, claims(), vendor.privateJwk);
    expect((await refusal(untyped, keys)).message).toBe(
      `license header has no typ: a license's is "${LICENSE_TYPE}"`,
    );
  });

  it("10. refuses a header that carries the attacker's own key (jwk, jku, x5c)", async () => {
    const embedded = await signRaw(
      { ...eddsa('vendor-2027'), jwk: attacker.publicJwk },
      claims({ seats: null }),
      attacker.privateJwk,
    );
    expect(await refusal(embedded, keys)).toEqual({
      code: 'embedded_key',
      message: "license header carries its own key (jwk): only the keyring's keys count",
    });
    const fetched = await signRaw(
      { ...eddsa('attacker'), jku: 'https://evil.example/jwks.json', x5c: ['MIIB'] },
      claims(),
      attacker.privateJwk,
    );
    expect((await refusal(fetched, keys)).message).toBe(
      "license header carries its own key (jku, x5c): only the keyring's keys count",
    );
  });

  it('11. refuses header members a license never carries (crit, b64)', async () => {
    // jose will not sign an unknown critical member, so this one is signed by hand, as an attacker would.
    const input = `${json({ ...eddsa('vendor-2027'), crit: ['b64'], b64: false })}.${json(claims())}`;
    const privateKey = createPrivateKey({ key: { ...vendor.privateJwk }, format: 'jwk' });
    const token = `${input}.${sign(null, Buffer.from(input), privateKey).toString('base64url')}`;
    expect(await refusal(token, keys)).toEqual({
      code: 'unexpected_header',
      message: 'license header has member(s) a license never carries: crit, b64',
    });
  });

  it('12. refuses a changed character anywhere in the header', async () => {
    const [header = '', payload, signature] = good.split('.');
    const codes = new Set<string>();
    for (let i = 0; i < header.length; i++) {
      const result = await verifyLicense(`${changeChar(header, i)}.${payload}.${signature}`, keys, {
        now: NOW,
      });
      expect(result.ok, `header character ${i}`).toBe(false);
      if (!result.ok) codes.add(result.error.code);
    }
    expect(codes.has('bad_header') || codes.has('bad_signature')).toBe(true);
  });

  it('13. refuses a changed character anywhere in the payload', async () => {
    const [header, payload = '', signature] = good.split('.');
    for (const i of [0, 1, 17, Math.floor(payload.length / 2), payload.length - 2, payload.length - 1]) {
      expect(await refusal(`${header}.${changeChar(payload, i)}.${signature}`, keys)).toEqual({
        code: 'bad_signature',
        message: 'license signature does not verify with key "vendor-2027"',
      });
    }
  });

  it("14. refuses a changed character anywhere in the signature, the last one's spare bits included", async () => {
    const [header, payload, signature = ''] = good.split('.');
    for (let i = 0; i < signature.length - 1; i++) {
      expect(
        await refusal(`${header}.${payload}.${changeChar(signature, i)}`, keys),
        `character ${i}`,
      ).toEqual({
        code: 'bad_signature',
        message: 'license signature does not verify with key "vendor-2027"',
      });
    }
    // The last character carries 2 bits of the signature and 4 spare ones, which decoders ignore.
    const last = signature.at(-1) ?? '';
    const spare = 'AQgw'.includes(last) ? String.fromCharCode(last.charCodeAt(0) + 1) : 'A';
    expect(await refusal(`${header}.${payload}.${signature.slice(0, -1)}${spare}`, keys)).toEqual({
      code: 'bad_signature',
      message: 'license signature is not an Ed25519 signature in base64url',
    });
  });

  it('15. refuses a truncated or missing signature', async () => {
    for (const token of [good.slice(0, -2), good.slice(0, good.lastIndexOf('.') + 1)]) {
      expect(await refusal(token, keys)).toEqual({
        code: 'bad_signature',
        message: 'license signature is not an Ed25519 signature in base64url',
      });
    }
  });

  it('16. refuses a token with a part too many or too few, or nothing at all', async () => {
    expect(await refusal(`${good}.${good.split('.')[2]}`, keys)).toEqual({
      code: 'malformed',
      message: 'license has 4 part(s), not 3 (header.payload.signature)',
    });
    expect((await refusal(good.slice(0, good.lastIndexOf('.')), keys)).message).toBe(
      'license has 2 part(s), not 3 (header.payload.signature)',
    );
    expect((await refusal('', keys)).message).toBe('license has 1 part(s), not 3 (header.payload.signature)');
  });

  it('17. refuses parts that are not base64url, or a header that is not JSON', async () => {
    const [header, payload, signature] = good.split('.');
    expect(await refusal(`${header}.${payload}=.${signature}`, keys)).toEqual({
      code: 'malformed',
      message: 'license payload is empty or not base64url',
    });
    expect(await refusal(`${b64('{"alg":"EdDSA"')}.${payload}.${signature}`, keys)).toEqual({
      code: 'bad_header',
      message: 'license header is not a JSON object',
    });
  });

  it('18. refuses a validly signed payload that is not a JSON object', async () => {
    for (const payload of [
      new TextEncoder().encode('seats=1000'),
      new Uint8Array([0xff, 0xfe]),
      [claims()],
    ]) {
      const token = await signRaw(eddsa('vendor-2027'), payload, vendor.privateJwk);
      expect(await refusal(token, keys)).toEqual({
        code: 'bad_payload',
        message: 'license payload is not a JSON object',
      });
    }
  });

  it('19. refuses a license missing any required claim, naming it', async () => {
    const all: Record<string, unknown> = claims();
    for (const name of Object.keys(all)) {
      const { [name]: _dropped, ...rest } = all;
      const token = await signRaw(eddsa('vendor-2027'), rest, vendor.privateJwk);
      expect(await refusal(token, keys), name).toEqual({
        code: 'missing_claim',
        message: `license claim ${name} is missing`,
      });
    }
    const nested = await signRaw(
      eddsa('vendor-2027'),
      { ...claims(), customer: { id: 'cus_42' }, entitlements: { features: {}, limits: {} } },
      vendor.privateJwk,
    );
    expect((await refusal(nested, keys)).message).toBe('license claim customer.name is missing');
  });

  it('20. refuses ill-typed claims, naming the claim', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ seats: '5000' }, 'license claim seats is invalid: seats must be a number, not "5000"'],
      [{ seq: 0 }, 'license claim seq is invalid: seq must be at least 1, not 0'],
      [{ grace_days: -1 }, 'license claim grace_days is invalid: grace_days must be at least 0, not -1'],
      [{ exp: ISSUED }, `license claim exp is invalid: exp (${ISSUED}) must be after nbf (${ISSUED})`],
      [{ seats: 2.5 }, 'license claim seats is invalid: seats must be a whole number, not 2.5'],
      [
        { jti: 'ten_1' },
        'license claim jti is invalid: jti "ten_1" is not valid: Invalid string: must match pattern /^lic_[A-Za-z0-9_-]{1,64}$/',
      ],
    ];
    for (const [change, message] of cases) {
      const token = await signRaw(eddsa('vendor-2027'), { ...claims(), ...change }, vendor.privateJwk);
      expect(await refusal(token, keys)).toEqual({ code: 'invalid_claim', message });
    }
    const badLimit = claims();
    const limits = {
      ...badLimit.entitlements.limits,
      seats: { kind: 'unlimited', limit: null, enforcement: 'hard', thresholds: [] },
    };
    const token = await signRaw(
      eddsa('vendor-2027'),
      { ...badLimit, entitlements: { ...badLimit.entitlements, limits } },
      vendor.privateJwk,
    );
    expect((await refusal(token, keys)).message).toBe(
      'license claim entitlements.limits.seats.kind is invalid: kind must be one of "seats", "metered" or "gauge", not "unlimited"',
    );
  });

  it('21. refuses a claim the format does not have, at the top or nested', async () => {
    const top = await signRaw(eddsa('vendor-2027'), { ...claims(), admin: true }, vendor.privateJwk);
    expect(await refusal(top, keys)).toEqual({
      code: 'unexpected_claim',
      message: 'license claim admin is not part of the license format',
    });
    const nested = await signRaw(
      eddsa('vendor-2027'),
      { ...claims(), customer: { id: 'cus_42', name: 'X', tier: 'gold' } },
      vendor.privateJwk,
    );
    expect((await refusal(nested, keys)).message).toBe(
      'license claim customer.tier is not part of the license format',
    );
  });

  it('22. refuses a license signed by other key material under a trusted kid', async () => {
    const token = await issue({ ...attacker, kid: 'vendor-2027' }, { seats: null });
    expect(await refusal(token, keys)).toEqual({
      code: 'bad_signature',
      message: 'license signature does not verify with key "vendor-2027"',
    });
  });

  it('23. refuses a validly signed license before its nbf', async () => {
    const token = await issue(vendor, { nbf: ISSUED + 30 * DAY });
    expect(await refusal(token, keys)).toEqual({
      code: 'not_yet_valid',
      message: 'license is not valid before 2027-01-31T00:00:00.000Z',
    });
  });

  it("24. refuses a genuine license's payload re-signed with a raised seq by an untrusted key", async () => {
    const [, payload = ''] = good.split('.');
    const raised = { ...JSON.parse(Buffer.from(payload, 'base64url').toString()), seq: 99, seats: null };
    for (const kid of ['attacker', 'vendor-2028']) {
      const token = await signRaw(eddsa(kid), raised, attacker.privateJwk);
      expect((await refusal(token, keys)).code).toBe(kid === 'attacker' ? 'unknown_kid' : 'bad_signature');
    }
  });

  it('25. refuses an oversized token before reading it', async () => {
    const token = await signRaw(
      eddsa('vendor-2027'),
      { ...claims(), customer: { id: 'cus_42', name: 'x'.repeat(MAX_LICENSE_BYTES) } },
      vendor.privateJwk,
    );
    expect(await refusal(token, keys)).toEqual({
      code: 'oversized',
      message: `license is ${token.length} characters long, more than ${MAX_LICENSE_BYTES}`,
    });
  });
});

describe('licenseKeyring', () => {
  it('26. refuses a private key offered as a trust root', () => {
    expect(licenseKeyring([{ ...vendor.privateJwk, kid: 'vendor-2027' }])).toEqual({
      ok: false,
      error: {
        code: 'private_key',
        message: 'key "vendor-2027" is a private key: configure its public half only (drop "d")',
      },
    });
  });

  it('27. refuses two keys under one kid', () => {
    expect(licenseKeyring([vendor.publicJwk, { ...attacker.publicJwk, kid: 'vendor-2027' }])).toEqual({
      ok: false,
      error: {
        code: 'duplicate_kid',
        message: 'kid "vendor-2027" names two keys: each key needs a kid of its own',
      },
    });
  });

  it('28. refuses keys of another type, without a kid, malformed or declared for another use', async () => {
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const p256 = { ...(await exportJWK(publicKey)), kid: 'p256' };
    expect(licenseKeyring([p256])).toEqual({
      ok: false,
      error: {
        code: 'key_not_ed25519',
        message: 'key "p256" is an EC P-256 key, not an Ed25519 key (kty "OKP", crv "Ed25519")',
      },
    });
    const hmac = { kty: 'oct', k: b64(Buffer.from(String(vendor.publicJwk.x), 'base64url')), kid: 'oct' };
    expect(licenseKeyring([hmac])).toMatchObject({ ok: false, error: { code: 'key_not_ed25519' } });
    const { kid: _kid, ...anonymous } = vendor.publicJwk;
    expect(licenseKeyring([anonymous])).toEqual({
      ok: false,
      error: { code: 'key_without_kid', message: 'key 0 has no kid: licenses name their key by kid' },
    });
    expect(licenseKeyring([{ ...vendor.publicJwk, x: 'short' }])).toEqual({
      ok: false,
      error: { code: 'key_malformed', message: 'key "vendor-2027" has no valid x: 32 bytes in base64url' },
    });
    expect(licenseKeyring([{ ...vendor.publicJwk, use: 'enc' }])).toEqual({
      ok: false,
      error: {
        code: 'key_malformed',
        message: 'key "vendor-2027" is declared for enc, not EdDSA signatures',
      },
    });
  });

  it('keeps only what verification needs of each key', () => {
    const built = keyringOf({ ...vendor.publicJwk, alg: 'EdDSA', use: 'sig', key_ops: ['verify'] });
    expect([...built.keys.values()]).toEqual([
      { kty: 'OKP', crv: 'Ed25519', x: vendor.publicJwk.x, kid: 'vendor-2027' },
    ]);
  });
});
