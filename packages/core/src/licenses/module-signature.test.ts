import { createHash } from 'node:crypto';
import { CompactSign, exportJWK, generateKeyPair, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type LicenseKeyring,
  licenseKeyring,
  MODULE_SIGNATURE_TYPE,
  signCheckInResponse,
  signModule,
  verifyLicense,
  verifyModuleSignature,
} from './index.ts';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const MODULE = 'sso.js';
const DIGEST = sha256('export const sso = true;\n');
const CLAIMS = { module: MODULE, sha256: DIGEST, iat: 1_800_000_000 };

let key: { kid: string; privateJwk: JWK };
let keys: LicenseKeyring;

beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { extractable: true });
  key = { kid: 'vendor', privateJwk: await exportJWK(pair.privateKey) };
  const built = licenseKeyring([{ ...(await exportJWK(pair.publicKey)), kid: 'vendor' }]);
  if (!built.ok) throw new Error(built.error.message);
  keys = built.value;
});

const codeOf = (result: { ok: boolean; error?: { code: string } }) => (result.ok ? 'ok' : result.error?.code);

describe('module signatures', () => {
  it('verify for the module and digest signed, with the claims and the key', async () => {
    const token = await signModule(CLAIMS, key);
    expect(await verifyModuleSignature(token, keys, { module: MODULE, sha256: DIGEST })).toEqual({
      ok: true,
      value: { claims: CLAIMS, kid: 'vendor' },
    });
    expect(JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString())).toEqual({
      alg: 'EdDSA',
      typ: MODULE_SIGNATURE_TYPE,
      kid: 'vendor',
    });
  });

  it('refuse other bytes (digest_mismatch), naming the module', async () => {
    const token = await signModule(CLAIMS, key);
    const result = await verifyModuleSignature(token, keys, { module: MODULE, sha256: sha256('changed') });
    expect(codeOf(result)).toBe('digest_mismatch');
    expect(result.ok ? '' : result.error.message).toMatch(/^module "sso.js" is not the file that was signed/);
  });

  it("refuse another module's signature (wrong_module), even over the same bytes", async () => {
    const token = await signModule({ ...CLAIMS, module: 'audit-export.js' }, key);
    const result = await verifyModuleSignature(token, keys, { module: MODULE, sha256: DIGEST });
    expect(codeOf(result)).toBe('wrong_module');
  });

  it('refuse a key the keyring does not hold (unknown_kid), and a stranger signing under a trusted kid (bad_signature)', async () => {
    const other = await generateKeyPair('EdDSA', { extractable: true });
    const privateJwk = await exportJWK(other.privateKey);
    expect(
      codeOf(
        await verifyModuleSignature(await signModule(CLAIMS, { kid: 'other', privateJwk }), keys, CLAIMS),
      ),
    ).toBe('unknown_kid');
    expect(
      codeOf(
        await verifyModuleSignature(await signModule(CLAIMS, { kid: 'vendor', privateJwk }), keys, CLAIMS),
      ),
    ).toBe('bad_signature');
  });

  it('refuse alg none and HMAC keyed with anything', async () => {
    const payload = Buffer.from(JSON.stringify(CLAIMS)).toString('base64url');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: MODULE_SIGNATURE_TYPE, kid: 'vendor' })).toString('base64url')}.${payload}.`;
    expect(codeOf(await verifyModuleSignature(none, keys, CLAIMS))).toBe('unsigned');
    const hmac = await new CompactSign(new TextEncoder().encode(JSON.stringify(CLAIMS)))
      .setProtectedHeader({ alg: 'HS256', typ: MODULE_SIGNATURE_TYPE, kid: 'vendor' })
      .sign(new TextEncoder().encode('a shared secret of 32 bytes.....'));
    expect(codeOf(await verifyModuleSignature(hmac, keys, CLAIMS))).toBe('alg_hmac');
  });

  it('keep module signatures, licenses and check-in answers apart by typ', async () => {
    const answer = await signCheckInResponse(
      {
        license_id: 'lic_1',
        status: 'active',
        newest: null,
        install_id: 'i',
        iat: 1,
        seats_licensed: null,
        revoked_at: null,
      },
      key,
    );
    expect(codeOf(await verifyModuleSignature(answer, keys, CLAIMS))).toBe('wrong_type');
    const token = await signModule(CLAIMS, key);
    expect(codeOf(await verifyLicense(token, keys, { now: new Date() }))).toBe('wrong_type');
  });

  it('refuse a changed payload and extra claims', async () => {
    const token = await signModule(CLAIMS, key);
    const [header, , signature] = token.split('.');
    const swapped = Buffer.from(JSON.stringify({ ...CLAIMS, sha256: sha256('evil') })).toString('base64url');
    expect(
      codeOf(
        await verifyModuleSignature(`${header}.${swapped}.${signature}`, keys, {
          module: MODULE,
          sha256: sha256('evil'),
        }),
      ),
    ).toBe('bad_signature');
    const extra = await new CompactSign(new TextEncoder().encode(JSON.stringify({ ...CLAIMS, admin: true })))
      .setProtectedHeader({ alg: 'EdDSA', typ: MODULE_SIGNATURE_TYPE, kid: 'vendor' })
      .sign(key.privateJwk);
    expect(codeOf(await verifyModuleSignature(extra, keys, CLAIMS))).toBe('invalid_claim');
  });
});
