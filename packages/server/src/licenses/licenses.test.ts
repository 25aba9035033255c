import { randomBytes } from 'node:crypto';
import { type LicenseKeyring, licenseKeyring, verifyLicense } from '@tenantry/core';
import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createTestDatabase,
  otherProcess,
  SETTINGS,
  startTestApp,
  type TestApp,
} from '../../test/harness.ts';
import { act, applyPlans, auditCount, DAY_MS, provisionedTenant, query } from '../../test/tenant-support.ts';
import { systemContext } from '../request-context.ts';
import { MASTER_KEY_BYTES, SecretBox } from '../secrets/index.ts';
import { createServices } from '../services.ts';

let t: TestApp;
let acme: any;
/** Every answer of the license routes, to check that none ever carries a private member. */
const answers: unknown[] = [];

beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
  acme = await provisionedTenant(t, { plan: 'pro', seats: 3, overrides: { config: { retention_days: 30 } } });
});
afterAll(() => t.close());

async function call(method: string, url: string, payload?: Record<string, unknown>, key?: string) {
  const response = await t.request({
    method,
    url,
    ...(payload === undefined ? {} : { payload }),
    ...(key === undefined ? {} : { headers: { authorization: `Bearer ${key}` } }),
  });
  answers.push(response.body);
  return response;
}

const issue = (tenant: string, payload: Record<string, unknown> = { days: 365 }) =>
  call('POST', `/v1/tenants/${tenant}/licenses`, payload);

async function issued(tenant: string, payload?: Record<string, unknown>): Promise<any> {
  const response = await issue(tenant, payload);
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body;
}

async function keyring(): Promise<LicenseKeyring> {
  const listed = await call('GET', '/v1/license-keys');
  expect(listed.status).toBe(200);
  const built = licenseKeyring(listed.body.data.map((key: any) => key.public_jwk));
  if (!built.ok) throw new Error(built.error.message);
  return built.value;
}

async function verified(token: string) {
  const result = await verifyLicense(token, await keyring(), { now: t.clock.now() });
  if (!result.ok) throw new Error(result.error.message);
  return result.value;
}

async function listed(tenant: string): Promise<any[]> {
  const response = await call('GET', `/v1/tenants/${tenant}/licenses`);
  expect(response.status).toBe(200);
  return response.body.data;
}

async function licenseCount(): Promise<number> {
  return (await query(t, 'select id from tenantry.licenses')).length;
}

/** The events written for `type`, oldest first, with their payloads. */
function events(type: string) {
  return query<{ tenant_id: string; data: any }>(
    t,
    `select tenant_id, data from tenantry.domain_events where type = '${type}' order by position`,
  );
}

function auditOf(action: string) {
  return query<{ tenant_id: string | null; target_id: string; data: any }>(
    t,
    `select tenant_id, target_id, data from tenantry.audit_events where action = '${action}' order by id`,
  );
}

describe('before any license key exists', () => {
  test('issuing is refused with 409 license_key_missing, and nothing is written', async () => {
    const audit = await auditCount(t);
    const refused = await issue(acme.id);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'license_key_missing' });
    expect(refused.body.detail).toContain('POST /v1/license-keys');
    expect(await licenseCount()).toBe(0);
    expect(await auditCount(t)).toBe(audit);
  });
});

describe('license keys', () => {
  test('keygen makes an active Ed25519 key, sealed at rest, audited; the list shows its public half', async () => {
    const created = await call('POST', '/v1/license-keys');
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: 'active', retired_at: null });
    expect(Object.keys(created.body.public_jwk).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x']);
    expect(created.body.public_jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: created.body.kid });
    const keys = await call('GET', '/v1/license-keys');
    expect(keys.body.data).toEqual([created.body]);
    const [row] = await query<{ private_key_sealed: string }>(
      t,
      'select private_key_sealed from tenantry.license_keys',
    );
    expect(row?.private_key_sealed).not.toContain('"d"');
    expect(await auditOf('license_key.created')).toEqual([
      { tenant_id: null, target_id: created.body.kid, data: { retired: null } },
    ]);
  });
});

describe('issuing', () => {
  let first: any;

  test("signs the tenant's plan: the token verifies against the published keys and carries its snapshot", async () => {
    first = await issued(acme.id, { days: 365, grace_days: 7, offline_days: 30, install: 'inst-1' });
    expect(first).toMatchObject({
      tenant_id: acme.id,
      seq: 1,
      status: 'active',
      edition: 'pro',
      plan: { key: 'pro', version: 1 },
      grace_days: 7,
      offline_days: 30,
      phone_home: false,
      install: 'inst-1',
      expires_at: new Date(t.clock.now().getTime() + 365 * DAY_MS).toISOString(),
    });
    const license = await verified(first.token);
    expect(license).toMatchObject({ status: 'valid', days_left: 365 });
    expect(license.claims).toMatchObject({
      jti: first.id,
      seq: 1,
      customer: { id: acme.id, name: acme.name },
      plan: { key: 'pro', version: 1 },
    });

    const snapshot = (await call('GET', `/v1/tenants/${acme.id}/entitlements`)).body;
    const { entitlements } = license.claims;
    expect(entitlements.features).toEqual(snapshot.features);
    expect(entitlements.config).toEqual(snapshot.config);
    expect(entitlements.config.retention_days).toBe(30);
    expect(Object.keys(entitlements.limits).sort()).toEqual(Object.keys(snapshot.limits).sort());
    for (const [key, limit] of Object.entries<any>(snapshot.limits)) {
      expect(entitlements.limits[key], key).toMatchObject({
        kind: limit.kind,
        limit: limit.limit,
        enforcement: limit.enforcement,
      });
    }
  });

  test('is recorded: an audit entry and a license.issued event in the tenant, without the token', async () => {
    expect(await auditOf('license.issued')).toMatchObject([{ tenant_id: acme.id, target_id: first.id }]);
    const [event] = await events('license.issued');
    expect(event).toEqual({
      tenant_id: acme.id,
      data: {
        license_id: first.id,
        seq: 1,
        kid: first.kid,
        plan: 'pro',
        version: 1,
        edition: 'pro',
        expires_at: first.expires_at,
        supersedes: null,
      },
    });
    const stored = await query<{ text: string }>(
      t,
      'select to_jsonb(a)::text as text from tenantry.audit_events a',
    );
    expect(stored.some((row) => row.text.includes(first.token))).toBe(false);
  });

  test('after a plan change, re-issuing gives seq 2 with the new plan and supersedes the first', async () => {
    const changed = await call('POST', `/v1/tenants/${acme.id}/change-plan`, { plan: 'starter', at: 'now' });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    const second = await issued(acme.id);
    expect(second).toMatchObject({ seq: 2, status: 'active', plan: { key: 'starter' } });
    const claims = (await verified(second.token)).claims;
    expect(claims.entitlements.features.sso).toBe(false);
    expect(claims.seats).toBe(10);

    const list = await listed(acme.id);
    expect(list.map((l) => [l.seq, l.status])).toEqual([
      [2, 'active'],
      [1, 'superseded'],
    ]);
    expect(list[1].superseded_at).toBe(t.clock.now().toISOString());
    expect(await auditOf('license.superseded')).toMatchObject([
      { tenant_id: acme.id, target_id: first.id, data: { superseded_by: second.id } },
    ]);
    expect((await events('license.issued')).at(-1)?.data).toMatchObject({ seq: 2, supersedes: first.id });
  });

  test('reads the plan as committed, even when another process changed it a moment ago', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    // This process caches the tenant's snapshot; the other one's change reaches it by notification.
    expect((await call('GET', `/v1/tenants/${tenant.id}/entitlements`)).body.plan.key).toBe('pro');
    const changed = await otherProcess(t).tenants.changePlan(systemContext('test'), tenant.id, {
      plan: 'starter',
      at: 'now',
    });
    expect(changed.ok).toBe(true);
    const license = await issued(tenant.id);
    expect(license.plan.key).toBe('starter');
    expect((await verified(license.token)).claims.entitlements.features.sso).toBe(false);
  });

  test('concurrent issues for one tenant take distinct seqs, and one stays active', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const responses = await Promise.all(Array.from({ length: 6 }, () => issue(tenant.id)));
    expect(responses.map((r) => r.status)).toEqual(Array(6).fill(201));
    expect(responses.map((r) => r.body.seq).sort()).toEqual([1, 2, 3, 4, 5, 6]);
    const list = await listed(tenant.id);
    expect(list.map((l) => l.status)).toEqual(['active', ...Array(5).fill('superseded')]);
  });

  test('pages a long list with cursors, newest first', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    for (let i = 0; i < 3; i++) await issued(tenant.id);
    const page1 = await call('GET', `/v1/tenants/${tenant.slug}/licenses?limit=2`);
    expect(page1.body.data.map((l: any) => l.seq)).toEqual([3, 2]);
    const page2 = await call(
      'GET',
      `/v1/tenants/${tenant.id}/licenses?limit=2&cursor=${page1.body.next_cursor}`,
    );
    expect(page2.body).toMatchObject({ data: [{ seq: 1 }], next_cursor: null });
    const bad = await call('GET', `/v1/tenants/${tenant.id}/licenses?cursor=zzz`);
    expect(bad.status).toBe(400);
  });

  test('shows an active license past its expiry as expired', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const license = await issued(tenant.id, { days: 1 });
    t.clock.advance(DAY_MS + 1000);
    expect((await listed(tenant.id))[0]).toMatchObject({ id: license.id, status: 'expired' });
    expect((await call('GET', `/v1/licenses/${license.id}`)).body.status).toBe('expired');
  });

  test('refuses bad input with 400 naming the field, and writes nothing', async () => {
    const audit = await auditCount(t);
    const count = await licenseCount();
    const past = new Date(t.clock.now().getTime() - DAY_MS).toISOString();
    for (const [payload, path] of [
      [{ expires_at: past }, 'expires_at'],
      [{ days: 0 }, 'days'],
      [{ days: 10, grace_days: -1 }, 'grace_days'],
      [{ days: 10, offline_days: -3 }, 'offline_days'],
      [{ days: 10, seats: 1.5 }, 'seats'],
      [{ days: 10, edition: 'Not A Key' }, 'edition'],
      [{ days: 10, expires_at: '2099-01-01T00:00:00Z' }, 'expires_at'],
      [{}, 'expires_at'],
      [{ days: 10, colour: 'red' }, 'colour'],
    ] as const) {
      const refused = await issue(acme.id, payload);
      expect(refused.status, JSON.stringify(payload)).toBe(400);
      expect(refused.body.code).toBe('validation_failed');
      expect(JSON.stringify(refused.body.errors), JSON.stringify(payload)).toContain(path);
    }
    expect(await licenseCount()).toBe(count);
    expect(await auditCount(t)).toBe(audit);
  });

  test('a tenant that does not exist is 404; a suspended one may be issued nothing (409)', async () => {
    expect((await issue('ten_nope')).body).toMatchObject({ code: 'tenant_not_found' });
    expect((await issue('ten_nope')).status).toBe(404);
    expect((await call('GET', '/v1/tenants/ten_nope/licenses')).status).toBe(404);
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    expect((await act(t, tenant.id, 'suspend', { reason: 'test' })).status).toBe(200);
    const refused = await issue(tenant.id);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('tenant_inactive');
  });
});

describe('revoking', () => {
  test('marks the license revoked, audited with a license.revoked event; twice is 409, unknown 404', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const license = await issued(tenant.id);
    const revoked = await call('POST', `/v1/licenses/${license.id}/revoke`, { reason: 'contract ended' });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({
      id: license.id,
      status: 'revoked',
      revoke_reason: 'contract ended',
      revoked_at: t.clock.now().toISOString(),
    });
    expect((await listed(tenant.id))[0].status).toBe('revoked');
    expect(await auditOf('license.revoked')).toMatchObject([{ tenant_id: tenant.id, target_id: license.id }]);
    expect(await events('license.revoked')).toEqual([
      { tenant_id: tenant.id, data: { license_id: license.id, seq: 1, reason: 'contract ended' } },
    ]);

    const again = await call('POST', `/v1/licenses/${license.id}/revoke`, {});
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('license_already_revoked');
    expect((await call('POST', '/v1/licenses/lic_nope/revoke')).body.code).toBe('license_not_found');
    expect((await call('GET', '/v1/licenses/lic_nope')).status).toBe(404);
    expect(await events('license.revoked')).toHaveLength(1);
  });
});

describe('key rotation', () => {
  test('a new key signs new licenses; the old one is retired, still published, and its licenses verify', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const old = await issued(tenant.id);
    const before = (await call('GET', '/v1/license-keys')).body.data;
    const rotated = await call('POST', '/v1/license-keys');
    expect(rotated.status).toBe(201);
    const keys = (await call('GET', '/v1/license-keys')).body.data;
    expect(keys.map((k: any) => [k.kid, k.status])).toEqual([
      [rotated.body.kid, 'active'],
      [before[0].kid, 'retired'],
    ]);
    const fresh = await issued(tenant.id);
    expect(decodeProtectedHeader(fresh.token).kid).toBe(rotated.body.kid);
    expect(fresh.kid).toBe(rotated.body.kid);
    expect((await verified(old.token)).kid).toBe(old.kid);
    expect((await verified(fresh.token)).claims.seq).toBe(2);
    expect((await auditOf('license_key.created')).at(-1)?.data).toEqual({ retired: before[0].kid });
    // A retired key signs nothing more: its private half is gone.
    const [retired] = await query(
      t,
      `select private_key_sealed from tenantry.license_keys where kid = '${before[0].kid}'`,
    );
    expect(retired).toEqual({ private_key_sealed: null });
  });
});

describe('scopes and secrets', () => {
  test('licenses:read reads but may not issue or generate keys; a key without it reads nothing', async () => {
    const ctx = systemContext('test');
    const reader = (await t.services.apiKeys.create(ctx, { name: 'reader', scopes: ['licenses:read'] }))
      .secret;
    const other = (await t.services.apiKeys.create(ctx, { name: 'other', scopes: ['tenants:read'] })).secret;
    const count = await licenseCount();
    expect((await call('GET', `/v1/tenants/${acme.id}/licenses`, undefined, reader)).status).toBe(200);
    for (const [method, url, payload] of [
      ['POST', `/v1/tenants/${acme.id}/licenses`, { days: 30 }],
      ['POST', '/v1/license-keys', undefined],
    ] as const) {
      const refused = await call(method, url, payload, reader);
      expect(refused.status, url).toBe(403);
      expect(refused.body).toMatchObject({ code: 'insufficient_scope', required_scope: 'licenses:write' });
    }
    for (const url of ['/v1/license-keys', `/v1/tenants/${acme.id}/licenses`]) {
      const refused = await call('GET', url, undefined, other);
      expect(refused.status, url).toBe(403);
      expect(refused.body).toMatchObject({ required_scope: 'licenses:read' });
    }
    expect(await licenseCount()).toBe(count);
  });

  test('no answer of any license route ever carried a private member', () => {
    expect(answers.length).toBeGreaterThan(40);
    const text = JSON.stringify(answers);
    expect(text).not.toMatch(/"d":/);
    expect(text).not.toContain('private');
    expect(text).not.toContain('sealed');
  });
});

describe('private halves at rest', () => {
  test('are sealed with the master key for their row; a new master key reseals them on start, audited', async () => {
    const db = await createTestDatabase();
    try {
      const box = (...keys: Buffer[]) => new SecretBox(keys);
      const masterA = randomBytes(MASTER_KEY_BYTES);
      const masterB = randomBytes(MASTER_KEY_BYTES);
      const licensesOf = (secrets: SecretBox) =>
        createServices(db.database, { ...SETTINGS, secrets }, t.clock).licenses;
      const sealed = async () =>
        (await db.database.db.selectFrom('license_keys').select(['kid', 'private_key_sealed']).execute())[0];

      const { kid } = await licensesOf(box(masterA)).createKey(systemContext('test'));
      const first = await sealed();
      expect(decodeProtectedHeader(first?.private_key_sealed as string)).toMatchObject({
        kid: box(masterA).currentKeyId,
        purpose: `license_key:${kid}`,
      });
      const { d } = JSON.parse(
        await box(masterA).open(`license_key:${kid}`, first?.private_key_sealed as string),
      );
      expect(d).toMatch(/^[A-Za-z0-9_-]{43}$/);

      await licensesOf(box(masterB, masterA)).resealKeys();
      const resealed = (await sealed())?.private_key_sealed as string;
      expect(decodeProtectedHeader(resealed).kid).toBe(box(masterB).currentKeyId);
      expect(JSON.parse(await box(masterB).open(`license_key:${kid}`, resealed)).d).toBe(d);
      // Nothing left to reseal: nothing more is written.
      await licensesOf(box(masterB)).resealKeys();
      const actions = await db.database.db
        .selectFrom('audit_events')
        .select(['action', 'target_id'])
        .where('action', '=', 'license_key.resealed')
        .execute();
      expect(actions).toEqual([{ action: 'license_key.resealed', target_id: kid }]);
      await expect(licensesOf(box(masterA)).resealKeys()).rejects.toThrow(
        /TENANTRY_MASTER_KEY does not hold/,
      );
    } finally {
      await db.drop();
    }
  });
});
