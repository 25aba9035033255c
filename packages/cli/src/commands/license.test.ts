import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LicenseClaims, licenseEntitlements, signLicense } from '@tenantry/core';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, localApiPerTest, problem } from '../../test/local-api.ts';

const { api, run, url } = localApiPerTest();

const PUBLIC_JWK = { kty: 'OKP', crv: 'Ed25519', x: 'x', kid: 'kid-1', alg: 'EdDSA', use: 'sig' };
const KEY = {
  kid: 'kid-1',
  status: 'active',
  created_at: '2026-11-01T00:00:00.000Z',
  retired_at: null,
  public_jwk: PUBLIC_JWK,
};

const LICENSE = {
  id: 'lic_1',
  tenant_id: 'ten_1',
  seq: 2,
  kid: 'kid-1',
  status: 'active',
  edition: 'pro',
  plan: { key: 'pro', version: 3 },
  seats: 25,
  issued_at: '2026-11-01T00:00:00.000Z',
  expires_at: '2027-11-01T00:00:00.000Z',
  grace_days: 14,
  offline_days: null,
  phone_home: false,
  install: null,
  superseded_at: null,
  revoked_at: null,
  revoke_reason: null,
};
const ISSUED = { ...LICENSE, token: 'eyJhbGciOiJFZERTQSJ9.eyJzZXEiOjJ9.c2ln' };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tenantry-cli-license-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('license keygen and keys', () => {
  it('keygen posts to /v1/license-keys and prints the public key', async () => {
    api.handler = (_req, res) => json(res, 201, KEY);
    const result = await run(['license', 'keygen']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('kid:        kid-1');
    expect(result.stdout).toContain(JSON.stringify(PUBLIC_JWK));
    expect(api.seen[0]).toMatchObject({ method: 'POST', url: '/v1/license-keys' });
  });

  it('keys lists them; --jwks prints the keyring installs take', async () => {
    api.handler = (_req, res) => json(res, 200, { data: [KEY] });
    const table = await run(['license', 'keys']);
    expect(table.stdout).toMatch(/^KID\s+STATUS\s+CREATED\s+RETIRED\nkid-1\s+active/);
    const jwks = await run(['license', 'keys', '--jwks']);
    expect(JSON.parse(jwks.stdout)).toEqual({ keys: [PUBLIC_JWK] });
  });
});

describe('license issue', () => {
  it('posts the tenant, the expiry in days and every option given, and prints the token', async () => {
    api.handler = (_req, res) => json(res, 201, ISSUED);
    const result = await run([
      'license',
      'issue',
      '--tenant',
      'acme',
      '--expires',
      '365',
      '--grace-days',
      '7',
      '--offline-days',
      '30',
      '--edition',
      'enterprise',
      '--install',
      'inst-1',
      '--seats',
      '25',
      '--phone-home',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(api.seen[0]).toMatchObject({ method: 'POST', url: '/v1/tenants/acme/licenses' });
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({
      days: 365,
      grace_days: 7,
      offline_days: 30,
      edition: 'enterprise',
      install: 'inst-1',
      seats: 25,
      phone_home: true,
    });
    expect(result.stdout).toContain('seq:          2');
    expect(result.stdout.trim().split('\n').at(-1)).toBe(ISSUED.token);
  });

  it('takes a date as the start of that day in UTC, and writes the token to --out', async () => {
    api.handler = (_req, res) => json(res, 201, ISSUED);
    const out = join(dir, 'acme.license');
    const result = await run([
      'license',
      'issue',
      '--tenant',
      'acme',
      '--expires',
      '2027-12-31',
      '--out',
      out,
    ]);
    expect(result.code).toBe(0);
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({ expires_at: '2027-12-31T00:00:00Z' });
    expect(await readFile(out, 'utf8')).toBe(`${ISSUED.token}\n`);
    expect(result.stdout).toContain(`wrote the license to ${out}`);
    expect(result.stdout).not.toContain(ISSUED.token);
  });

  it.each([
    [['--expires', 'soon'], '--expires'],
    [['--expires', '0'], '--expires'],
    [['--expires', '2027-12-31T00:00:00'], '--expires'],
    [['--expires', '30', '--grace-days', '-1'], '--grace-days'],
  ])('refuses %j before asking the server, exit 2', async (extra, option) => {
    const result = await run(['license', 'issue', '--tenant', 'acme', ...extra]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(option);
    expect(api.seen).toHaveLength(0);
  });

  it("prints the server's refusal on one line, exit 2", async () => {
    api.handler = (_req, res) =>
      problem(res, 409, 'license_key_missing', 'no license signing key exists yet');
    const result = await run(['license', 'issue', '--tenant', 'acme', '--expires', '30']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('error: no license signing key exists yet [license_key_missing]\n');
  });
});

describe('license list and revoke', () => {
  it("lists a tenant's licenses with their status, and says where more are", async () => {
    api.handler = (_req, res) =>
      json(res, 200, {
        data: [LICENSE, { ...LICENSE, id: 'lic_0', seq: 1, status: 'superseded' }],
        next_cursor: '1',
      });
    const result = await run(['license', 'list', '--tenant', 'acme', '--limit', '2']);
    expect(result.code).toBe(0);
    expect(api.seen[0]?.url).toBe('/v1/tenants/acme/licenses?limit=2');
    expect(result.stdout).toMatch(/lic_1\s+2\s+active\s+pro v3/);
    expect(result.stdout).toMatch(/lic_0\s+1\s+superseded/);
    expect(result.stderr).toBe('more licenses: pass --all, or --cursor 1\n');
  });

  it("installs lists a tenant's installs, marking those on a license no longer active", async () => {
    const install = {
      install_id: 'inst-a',
      license_id: 'lic_1',
      license_status: 'active',
      license_current: true,
      version: '1.4.2',
      seats_in_use: 7,
      first_seen_at: '2026-11-01T00:00:00.000Z',
      last_check_in_at: '2026-11-20T00:00:00.000Z',
      check_ins: 12,
    };
    api.handler = (_req, res) =>
      json(res, 200, {
        data: [
          install,
          {
            ...install,
            install_id: 'inst-b',
            license_id: 'lic_0',
            license_status: 'superseded',
            license_current: false,
            seats_in_use: null,
          },
        ],
        next_cursor: 'inst-b',
      });
    const result = await run(['license', 'installs', '--tenant', 'acme', '--limit', '2']);
    expect(result.code).toBe(0);
    expect(api.seen[0]?.url).toBe('/v1/tenants/acme/license-installs?limit=2');
    expect(result.stdout).toMatch(/inst-a\s+1\.4\.2\s+7\s+lic_1\s+current\s+.*\s+12/);
    expect(result.stdout).toMatch(/inst-b\s+1\.4\.2\s+-\s+lic_0\s+superseded/);
    expect(result.stderr).toBe('more installs: pass --all, or --cursor inst-b\n');
  });

  it('revoke posts the reason', async () => {
    api.handler = (_req, res) => json(res, 200, { ...LICENSE, status: 'revoked' });
    const result = await run(['license', 'revoke', 'lic_1', '--reason', 'contract ended']);
    expect(result.code).toBe(0);
    expect(api.seen[0]).toMatchObject({ method: 'POST', url: '/v1/licenses/lic_1/revoke' });
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({ reason: 'contract ended' });
    expect(result.stdout).toBe('revoked lic_1 (seq 2 of ten_1)\n');
  });

  it('revocations writes the signed list to --out, or prints it', async () => {
    const body = {
      list: 'eyJhbGciOiJFZERTQSJ9.eyJzZXEiOjN9.c2ln',
      seq: 3,
      signed_at: '2026-12-01T00:00:00.000Z',
      revoked: 2,
    };
    api.handler = (_req, res) => json(res, 200, body);
    const file = join(dir, 'revocations.jwt');
    const written = await run(['license', 'revocations', '--out', file]);
    expect(written.code).toBe(0);
    expect(api.seen[0]).toMatchObject({ method: 'GET', url: '/v1/license-revocations' });
    expect(await readFile(file, 'utf8')).toBe(`${body.list}\n`);
    expect(written.stdout).toMatch(
      new RegExp(`^wrote the revocation list to ${file}: seq 3, 2 revoked, signed `),
    );
    const printed = await run(['license', 'revocations']);
    expect(printed.stdout).toBe(`${body.list}\n`);
    const failed = await run(['license', 'revocations', '--out', join(dir, 'missing', 'list.jwt')]);
    expect(failed.code).toBe(2);
    expect(failed.stderr).toContain('cannot write');
  });
});

describe('license verify', () => {
  const DAY = 86_400;
  let publicJwk: JWK;
  let licenseFile: string;
  let jwksFile: string;

  beforeAll(async () => {
    const pair = await generateKeyPair('EdDSA', { extractable: true });
    publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'vendor-1' };
    const now = Math.floor(Date.now() / 1000);
    const claims: LicenseClaims = {
      iss: 'Acme Software',
      jti: 'lic_42',
      customer: { id: 'ten_42', name: 'Globex' },
      edition: 'pro',
      seats: 10,
      plan: { key: 'pro', version: 3 },
      entitlements: licenseEntitlements({ features: { sso: true }, limits: {}, config: {} }),
      iat: now,
      nbf: now,
      exp: now + 30 * DAY - 60,
      grace_days: 14,
      offline_days: null,
      phone_home: false,
      install: null,
      seq: 4,
    };
    const signed = await signLicense(claims, {
      kid: 'vendor-1',
      privateJwk: await exportJWK(pair.privateKey),
    });
    if (!signed.ok) throw new Error(signed.error.message);
    licenseFile = join(dir, 'globex.license');
    jwksFile = join(dir, 'keyring.json');
    await writeFile(licenseFile, `${signed.value}\n`);
    await writeFile(jwksFile, JSON.stringify({ keys: [publicJwk] }));
  });

  it('verifies offline against a keyring file: status, days left, customer', async () => {
    const result = await run(['license', 'verify', licenseFile, '--jwks', jwksFile]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^status:\s+valid\ndays left:\s+30\n/);
    expect(result.stdout).toContain('Globex (ten_42)');
    expect(result.stdout).toMatch(/seq:\s+4/);
    expect(api.seen).toHaveLength(0);
  });

  it('fetches the keyring from a URL', async () => {
    api.handler = (_req, res) => json(res, 200, { keys: [publicJwk] });
    const result = await run(['license', 'verify', licenseFile, '--jwks', `${url()}/keyring.json`, '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'valid', kid: 'vendor-1', claims: { seq: 4 } });
  });

  it("exits 2 with the refusal's message when no key of the keyring signed it", async () => {
    const other = await generateKeyPair('EdDSA', { extractable: true });
    const otherFile = join(dir, 'other.json');
    await writeFile(
      otherFile,
      JSON.stringify({ keys: [{ ...(await exportJWK(other.publicKey)), kid: 'other' }] }),
    );
    const result = await run(['license', 'verify', licenseFile, '--jwks', otherFile]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^error: license refused \(\w+\): .*vendor-1/);
  });

  it('exits 2 when the signature does not hold, or the keyring holds a private key', async () => {
    const token = (await readFile(licenseFile, 'utf8')).trim();
    const tampered = join(dir, 'tampered.license');
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString());
    const changed = Buffer.from(JSON.stringify({ ...claims, seats: 1000 })).toString('base64url');
    await writeFile(tampered, `${header}.${changed}.${signature}`);
    const refused = await run(['license', 'verify', tampered, '--jwks', jwksFile]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^error: license refused/);

    const privateFile = join(dir, 'private.json');
    await writeFile(privateFile, JSON.stringify({ keys: [{ ...publicJwk, d: 'secret' }] }));
    const unsafe = await run(['license', 'verify', licenseFile, '--jwks', privateFile]);
    expect(unsafe.code).toBe(2);
    expect(unsafe.stderr).toContain('private key');
  });

  it('inspect prints the header and claims without verifying, and says so', async () => {
    const result = await run(['license', 'inspect', licenseFile]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^not verified: /);
    expect(result.stdout).toMatch(/kid:\s+vendor-1/);
    expect(result.stdout).toMatch(/customer:\s+\{"id":"ten_42","name":"Globex"\}/);
    const json = await run(['license', 'inspect', licenseFile, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      header: { alg: 'EdDSA', kid: 'vendor-1' },
      claims: { jti: 'lic_42', seq: 4 },
    });
    const garbage = join(dir, 'garbage.license');
    await writeFile(garbage, 'not a license');
    const refused = await run(['license', 'inspect', garbage]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('is not a license');
  });
});
