import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LicenseClaims, MODULE_SIGNATURE_TYPE, signLicense, signModule } from '@tenantry/core';
import { CompactSign, exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LicenseGuard, loadLicensedModule } from './index.ts';

const ISSUED = Date.UTC(2027, 0, 1);

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

const claims: LicenseClaims = {
  iss: 'Acme Software',
  jti: 'lic_modules1',
  customer: { id: 'cus_7', name: 'Globex' },
  edition: 'enterprise',
  seats: 10,
  plan: { key: 'enterprise', version: 1 },
  entitlements: { features: { sso: true, ai: false }, limits: {}, config: {} },
  iat: ISSUED / 1000,
  nbf: ISSUED / 1000,
  exp: ISSUED / 1000 + 365 * 86_400,
  grace_days: 10,
  offline_days: null,
  phone_home: false,
  install: null,
  seq: 1,
};

// Each module counts its evaluations on globalThis, so a test can tell whether it ran at all.
const moduleSource = (name: string) =>
  `globalThis.__licensedModuleRuns = (globalThis.__licensedModuleRuns ?? 0) + 1;\nexport const name = ${JSON.stringify(name)};\nexport const from = import.meta.url;\nexport function greet(who) { return \`\${name} greets \${who}\`; }\n`;
const runs = () => (globalThis as { __licensedModuleRuns?: number }).__licensedModuleRuns ?? 0;
const sha256 = (bytes: string | Buffer) => createHash('sha256').update(bytes).digest('hex');

let vendor: SigningKey;
let stranger: SigningKey;
let guard: LicenseGuard;
let directory: string;
let ssoFile: string;
let aiFile: string;

beforeAll(async () => {
  [vendor, stranger] = await Promise.all([ed25519('acme'), ed25519('acme')]);
  directory = await mkdtemp(join(tmpdir(), 'tenantry-modules-'));
  const signed = await signLicense(claims, vendor);
  if (!signed.ok) throw new Error(signed.error.message);
  guard = await LicenseGuard.open({
    license: signed.value,
    builtInKeys: [vendor.publicJwk],
    stateFile: join(directory, 'state.json'),
    restrictedMode: 'read-only',
    clock: { now: () => new Date(ISSUED + 86_400_000) },
    onWarning: () => {},
  });
  ssoFile = join(directory, 'sso.js');
  aiFile = join(directory, 'ai.js');
  await writeFile(ssoFile, moduleSource('sso'));
  await writeFile(aiFile, moduleSource('ai'));
});
afterAll(() => rm(directory, { recursive: true, force: true }));

const signatureOf = (module: string, digest: string, key: SigningKey = vendor) =>
  signModule({ module, sha256: digest, iat: ISSUED / 1000 }, key);

describe('loadLicensedModule', () => {
  it('loads a licensed, signed module from the verified bytes, usable, and leaves no copy behind', async () => {
    const signature = await signatureOf('sso.js', sha256(await readFile(ssoFile)));
    await writeFile(`${ssoFile}.sig`, signature);
    const loaded = await loadLicensedModule<{ greet(who: string): string; from: string }>(guard, {
      feature: 'sso',
      file: ssoFile,
      signature: { file: `${ssoFile}.sig` },
      keys: [vendor.publicJwk],
    });
    if (loaded.status !== 'loaded') throw new Error(loaded.message);
    expect(loaded.module.greet('Ada')).toBe('sso greets Ada');
    // It ran from the private copy of the verified bytes, not from the file that was checked.
    expect(loaded.module.from).toMatch(/\/\.tenantry-verified-[^/]+\/sso\.js$/);
    expect(loaded.verified).toEqual({ kid: 'acme', sha256: sha256(await readFile(ssoFile)) });
    expect((await readdir(directory)).filter((f) => f.startsWith('.tenantry-verified-'))).toEqual([]);
  });

  it("verifies with the guard's own keys when no keys are given; explicit keys replace them", async () => {
    const signature = await signatureOf('sso.js', sha256(await readFile(ssoFile)));
    // A copy: emptying it leaves what the guard trusts as it was.
    (guard.keyring.keys as Map<string, unknown>).clear();
    const loaded = await loadLicensedModule(guard, { feature: 'sso', file: ssoFile, signature });
    expect(loaded.status === 'loaded' && loaded.verified).toEqual({
      kid: 'acme',
      sha256: sha256(await readFile(ssoFile)),
    });
    // The vendor's genuine signature, checked against keys the app named instead: not among them.
    const before = runs();
    const other = await loadLicensedModule(guard, {
      feature: 'sso',
      file: ssoFile,
      signature,
      keys: [stranger.publicJwk],
    });
    expect(other).toMatchObject({ status: 'refused', code: 'bad_signature' });
    // A gate with no keyring, and no keys: nothing to verify with, so nothing runs.
    const bare = await loadLicensedModule({ can: () => true }, { feature: 'sso', file: ssoFile, signature });
    expect(bare).toEqual({
      status: 'refused',
      code: 'keys_missing',
      message:
        'module "sso.js" refused: it is signed, but neither keys nor a gate with a keyring was given to verify it',
    });
    expect(runs()).toBe(before);
  });

  it('does not read or run a module whose feature the license does not grant', async () => {
    const before = runs();
    const result = await loadLicensedModule(guard, { feature: 'ai', file: aiFile });
    expect(result).toEqual({
      status: 'unlicensed',
      message: 'module "ai.js" not loaded: the license does not grant feature "ai"',
    });
    const unknown = await loadLicensedModule(guard, { feature: 'quantum', specifier: 'node:os' });
    expect(unknown.status).toBe('unlicensed');
    expect(runs()).toBe(before);
  });

  it('loads a licensed module by specifier, unverified, when the vendor does not sign it', async () => {
    const loaded = await loadLicensedModule<typeof import('node:os')>(guard, {
      feature: 'sso',
      specifier: 'node:os',
    });
    expect(loaded.status === 'loaded' && typeof loaded.module.hostname).toBe('function');
    expect(loaded.status === 'loaded' && loaded.verified).toBeNull();
  });

  describe('refuses, without running the module, naming it', () => {
    const refusal = async (options: { signature: string; file?: string; name?: string }) => {
      const before = runs();
      const result = await loadLicensedModule(guard, {
        feature: 'sso',
        file: options.file ?? ssoFile,
        signature: options.signature,
        keys: [vendor.publicJwk],
        ...(options.name === undefined ? {} : { name: options.name }),
      });
      expect(runs()).toBe(before);
      if (result.status !== 'refused') throw new Error(`expected a refusal, got ${result.status}`);
      expect(result.message).toMatch(/^module "[^"]+" refused: /);
      return result;
    };

    it('a signature by another key under the same kid', async () => {
      const result = await refusal({
        signature: await signatureOf('sso.js', sha256(await readFile(ssoFile)), stranger),
      });
      expect(result.code).toBe('bad_signature');
    });

    it('a module changed by one byte after signing', async () => {
      const tampered = join(directory, 'tampered', 'sso.js');
      const original = await readFile(ssoFile, 'utf8');
      const signature = await signatureOf('sso.js', sha256(original));
      await mkdir(join(directory, 'tampered'));
      await writeFile(tampered, original.replace('greets', 'greetz'));
      const result = await refusal({ signature, file: tampered });
      expect(result.code).toBe('digest_mismatch');
      expect(result.message).toContain(
        'module "sso.js" refused: module "sso.js" is not the file that was signed',
      );
    });

    it("another module's signature: its digest, or its name over these bytes", async () => {
      const forAi = await signatureOf('ai.js', sha256(await readFile(aiFile)));
      expect((await refusal({ signature: forAi })).code).toBe('wrong_module');
      expect((await refusal({ signature: forAi, name: 'ai.js' })).code).toBe('digest_mismatch');
    });

    it('alg none', async () => {
      const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const payload = { module: 'sso.js', sha256: sha256(await readFile(ssoFile)), iat: ISSUED / 1000 };
      const none = `${encode({ alg: 'none', typ: MODULE_SIGNATURE_TYPE, kid: 'acme' })}.${encode(payload)}.`;
      expect((await refusal({ signature: none })).code).toBe('unsigned');
      const hmac = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
        .setProtectedHeader({ alg: 'HS256', typ: MODULE_SIGNATURE_TYPE, kid: 'acme' })
        .sign(new TextEncoder().encode(JSON.stringify(vendor.publicJwk)));
      expect((await refusal({ signature: hmac })).code).toBe('alg_hmac');
    });

    it('a license passed off as a module signature', async () => {
      const signed = await signLicense(claims, vendor);
      if (!signed.ok) throw new Error(signed.error.message);
      expect((await refusal({ signature: signed.value })).code).toBe('wrong_type');
    });
  });
});
