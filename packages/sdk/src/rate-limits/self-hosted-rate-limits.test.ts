import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signLicense } from '@tenantry/core';
import { exportJWK, generateKeyPair } from 'jose';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { runAsTenant } from '../context/index.ts';
import { LicenseTenantError } from '../self-hosted/index.ts';
import { Tenantry } from '../tenantry.ts';

const ISSUED = Date.UTC(2027, 0, 10, 9);
const CUSTOMER = 'ten_ministry';

let directory: string;
beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'tenantry-rate-limits-'));
});
afterEach(() => rm(directory, { recursive: true, force: true }));

it('a self-hosted install counts the rate limits its license carries, whole, for its customer only', async () => {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true });
  const vendor = { kid: 'acme-2027', privateJwk: await exportJWK(privateKey) };
  const signed = await signLicense(
    {
      iss: 'Acme Software',
      jti: 'lic_ratelimits1',
      customer: { id: CUSTOMER, name: 'Ministry of Examples' },
      edition: 'enterprise',
      seats: 5,
      plan: { key: 'enterprise', version: 1 },
      entitlements: {
        features: {},
        limits: {},
        config: {},
        rate_limits: { api: { requests: 1, per_seconds: 3600, burst: 3 } },
      },
      iat: ISSUED / 1000,
      nbf: ISSUED / 1000,
      exp: (ISSUED + 365 * 86_400_000) / 1000,
      grace_days: 10,
      offline_days: null,
      phone_home: false,
      install: null,
      seq: 1,
    },
    vendor,
  );
  if (!signed.ok) throw new Error(signed.error.message);
  const tenantry = await Tenantry.open({
    license: signed.value,
    builtInKeys: [{ ...(await exportJWK(publicKey)), kid: 'acme-2027' }],
    restrictedMode: 'read-only',
    stateDirectory: join(directory, 'state'),
    clock: { now: () => new Date(ISSUED) },
  });
  try {
    const answers = await runAsTenant({ tenantId: CUSTOMER, subject: 'u1', roles: [] }, async () => {
      const all = [];
      for (let i = 0; i < 4; i++) all.push(await tenantry.rateLimit('api'));
      all.push(await tenantry.rateLimit('not_in_the_license'));
      return all;
    });
    expect(answers.map((a) => a.allowed)).toEqual([true, true, true, false, true]);
    expect(answers[0]?.headers['RateLimit-Policy']).toBe('"api";q=1;w=3600');
    expect(answers[3]?.retryAfterSeconds).toBe(3600);
    expect(answers[4]?.limit).toBeNull();
    await expect(
      runAsTenant({ tenantId: 'ten_other', subject: 'u1', roles: [] }, () => tenantry.rateLimit('api')),
    ).rejects.toThrow(LicenseTenantError);
  } finally {
    await tenantry.close();
  }
});
