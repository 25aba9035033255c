import { createHash } from 'node:crypto';
import { licenseKeyring, verifyModuleSignature } from '@tenantry/core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { auditCount, query } from '../../test/tenant-support.ts';
import { systemContext } from '../request-context.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

const DIGEST = createHash('sha256').update('export const sso = true;\n').digest('hex');

const sign = (payload: Record<string, unknown>, key?: string) =>
  t.request({
    method: 'POST',
    url: '/v1/license-keys/sign-module',
    payload,
    ...(key === undefined ? {} : { headers: { authorization: `Bearer ${key}` } }),
  });

function audited() {
  return query<{ tenant_id: string | null; target_id: string; data: any }>(
    t,
    `select tenant_id, target_id, data from tenantry.audit_events where action = 'license_key.module_signed' order by id`,
  );
}

describe('POST /v1/license-keys/sign-module', () => {
  test('before any license key: 409 license_key_missing, nothing audited', async () => {
    const audit = await auditCount(t);
    const refused = await sign({ module: 'sso.js', sha256: DIGEST });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'license_key_missing' });
    expect(await auditCount(t)).toBe(audit);
  });

  test('signs the name and digest with the active key: it verifies with the published keys, and is audited', async () => {
    const key = await t.request({ method: 'POST', url: '/v1/license-keys' });
    expect(key.status).toBe(201);
    const signed = await sign({ module: 'sso.js', sha256: DIGEST.toUpperCase() });
    expect(signed.status, JSON.stringify(signed.body)).toBe(201);
    expect(signed.body).toMatchObject({ kid: key.body.kid, module: 'sso.js', sha256: DIGEST });
    const keyring = licenseKeyring([key.body.public_jwk]);
    if (!keyring.ok) throw new Error(keyring.error.message);
    const verified = await verifyModuleSignature(signed.body.signature, keyring.value, {
      module: 'sso.js',
      sha256: DIGEST,
    });
    expect(verified.ok ? verified.value.kid : verified.error.message).toBe(key.body.kid);
    expect(await audited()).toEqual([
      { tenant_id: null, target_id: key.body.kid, data: { module: 'sso.js', sha256: DIGEST } },
    ]);
  });

  test('refuses a bad digest, a bad name and extra members with 400 naming the field, writing nothing', async () => {
    const audit = await auditCount(t);
    for (const [payload, field] of [
      [{ module: 'sso.js', sha256: 'abc' }, 'sha256'],
      [{ module: 'sso.js', sha256: `${DIGEST.slice(0, 63)}g` }, 'sha256'],
      [{ module: '../etc/passwd\n', sha256: DIGEST }, 'module'],
      [{ sha256: DIGEST }, 'module'],
      [{ module: 'sso.js', sha256: DIGEST, kid: 'mine' }, 'kid'],
    ] as const) {
      const refused = await sign(payload);
      expect(refused.status, JSON.stringify(payload)).toBe(400);
      expect(JSON.stringify(refused.body.errors ?? refused.body.detail)).toContain(field);
    }
    expect(await auditCount(t)).toBe(audit);
  });

  test('needs licenses:write', async () => {
    const reader = (
      await t.services.apiKeys.create(systemContext('test'), { name: 'reader', scopes: ['licenses:read'] })
    ).secret;
    const refused = await sign({ module: 'sso.js', sha256: DIGEST }, reader);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'insufficient_scope', required_scope: 'licenses:write' });
  });
});
