import { createHash } from 'node:crypto';
import { looksLikeTenantKey } from '@tenantry/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { memberAuthorization } from '../../test/member-support.ts';
import {
  act,
  applyPlans,
  auditCount,
  auditRows,
  createTenant,
  fixture,
  provisionedTenant,
  query,
} from '../../test/tenant-support.ts';
import { systemContext } from '../request-context.ts';
import { TenantKeyService } from './index.ts';

/** The test plans, with IP allow-lists on Pro. */
const PLANS = fixture('plans.yaml')
  .replace('  advanced_analytics: {}\n', '  advanced_analytics: {}\n  ip_allow_list: {}\n')
  .replace('features: [sso]', 'features: [sso, ip_allow_list]');

/** The vendor's permissions: keys carry only these. An admin lacks `a:b`, a viewer holds reading only. */
const ACCESS = `
permissions:
  meetings:read: Read meetings
  meetings:write: Create and edit meetings
  a:b: Something else
roles:
  admin: [meetings:read, meetings:write]
  viewer: [meetings:read]
`;

let t: TestApp;
beforeEach(async () => {
  t = await startTestApp();
  await applyPlans(t, PLANS);
  const access = await t.request({ method: 'PUT', url: '/v1/access', payload: { source: ACCESS } });
  expect(access.status, JSON.stringify(access.body)).toBe(200);
});
afterEach(() => t.close());

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

async function createKey(tenantId: string, payload: Record<string, unknown> = {}) {
  const created = await t.request({
    method: 'POST',
    url: `/v1/tenants/${tenantId}/api-keys`,
    payload: { name: 'ci', permissions: ['meetings:write', 'meetings:read'], ...payload },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body;
}

async function listKeys(tenantId: string) {
  const listed = await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/api-keys` });
  expect(listed.status).toBe(200);
  return listed.body.data as any[];
}

/** The tenant's key set as the SDK would get it after a change. */
async function setOf(tenantId: string) {
  const answer = await t.request({
    method: 'POST',
    url: '/v1/tenant-keys/sets/revalidate',
    payload: { tenants: { [tenantId]: 'held-before' } },
  });
  expect(answer.status).toBe(200);
  return answer.body.changed[0];
}

async function tenantKeyRows() {
  return query<{ id: string; n: number }>(t, 'select count(*)::int as n from tenantry.tenant_api_keys');
}

describe('creating and listing', () => {
  it('shows the key once, stores only its SHA-256, and lists it by prefix and last four', async () => {
    const tenant = await createTenant(t);
    const key = await createKey(tenant.id, { expires_at: '2027-01-01T00:00:00Z' });
    expect(key.secret).toMatch(/^tkey_[0-9A-Za-z]{38}$/);
    expect(looksLikeTenantKey(key.secret)).toBe(true);
    expect(key).toMatchObject({
      id: expect.stringMatching(/^tak_/),
      tenant_id: tenant.id,
      prefix: 'tkey_',
      last_four: key.secret.slice(-4),
      permissions: ['meetings:read', 'meetings:write'],
      expires_at: '2027-01-01T00:00:00.000Z',
      revoked_at: null,
      last_used_at: null,
    });

    const [stored] = await query<Record<string, unknown>>(
      t,
      `select * from tenantry.tenant_api_keys where id = '${key.id}'`,
    );
    expect(stored?.secret_hash).toBe(sha256(key.secret));
    expect(JSON.stringify(stored)).not.toContain(key.secret.slice(5));

    const listed = await listKeys(tenant.id);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toEqual({ ...key, secret: undefined, created_at: listed[0].created_at });
    expect(JSON.stringify(listed)).not.toContain(key.secret.slice(5));
    expect(JSON.stringify(listed)).not.toContain(sha256(key.secret));

    const audit = (await auditRows(t, tenant.id)).filter((row) => row.action === 'tenant_key.created');
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ target_type: 'tenant_api_key', target_id: key.id });
    const events = await query<{ data: unknown }>(
      t,
      `select data from tenantry.domain_events where type = 'tenant_key.created'`,
    );
    expect(events).toHaveLength(1);
    for (const written of [audit[0], events[0]]) {
      expect(JSON.stringify(written)).not.toContain(key.secret.slice(5));
      expect(JSON.stringify(written)).not.toContain(sha256(key.secret));
    }
  });

  it("makes keys with the vendor's prefix (TENANTRY_TENANT_KEY_PREFIX)", async () => {
    const tenant = await createTenant(t);
    const service = new TenantKeyService({
      db: t.services.database.db,
      clock: t.clock,
      tenants: t.services.tenants,
      access: t.services.access,
      accessPolicies: t.services.accessPolicies,
      prefix: 'mins_live_',
    });
    const created = await service.create(
      systemContext('test'),
      tenant.id,
      { name: 'x', permissions: ['a:b'] },
      null,
    );
    expect(created.ok && created.value.secret).toMatch(/^mins_live_[0-9A-Za-z]{38}$/);
    expect(created.ok && created.value.prefix).toBe('mins_live_');
    expect(created.ok && looksLikeTenantKey(created.value.secret)).toBe(true);
  });

  it('takes a tenant by slug, and pages the list newest first', async () => {
    const tenant = await createTenant(t);
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push((await createKey(tenant.slug, { name: `k${i}` })).id);
    const first = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/api-keys?limit=2` });
    expect(first.body.data.map((k: any) => k.id)).toEqual([ids[2], ids[1]]);
    const second = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/api-keys?limit=2&cursor=${first.body.next_cursor}`,
    });
    expect(second.body).toMatchObject({ data: [{ id: ids[0] }], next_cursor: null });
  });

  it.each([
    [{ name: 'x', permissions: ['meetings'] }, 'permissions.0', /resource:action/],
    [{ name: 'x', permissions: ['Meetings:Write'] }, 'permissions.0', /resource:action/],
    [
      { name: 'x', permissions: ['meetings:read', 'rockets:launch'] },
      'permissions.1',
      /"rockets:launch".*access file/,
    ],
    // Tenantry's own permissions reach Tenantry, never the vendor's API: not for keys.
    [{ name: 'x', permissions: ['members:read'] }, 'permissions.0', /"members:read".*access file/],
    [{ name: 'x', permissions: [] }, 'permissions', /1/],
    [{ name: '', permissions: ['a:b'] }, 'name', /./],
    [{ name: 'x', permissions: ['a:b'], expires_at: '2026-01-01T00:00:00Z' }, 'expires_at', /after/],
    [{ name: 'x', permissions: ['a:b'], expires_at: 'tomorrow' }, 'expires_at', /./],
    [{ name: 'x', permissions: ['a:b'], secret: 'mine' }, 'secret', /known field/],
  ])('%j is refused naming %s, and nothing is written', async (payload, path, message) => {
    const tenant = await createTenant(t);
    const before = await auditCount(t);
    const refused = await t.request({ method: 'POST', url: `/v1/tenants/${tenant.id}/api-keys`, payload });
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('validation_failed');
    const error = refused.body.errors.find((e: any) => e.path === path);
    expect(error, JSON.stringify(refused.body.errors)).toBeDefined();
    expect(error.message).toMatch(message);
    if (/access file/.test(String(message)))
      expect(refused.body.detail).toContain(payload.permissions.at(-1));
    expect(await auditCount(t)).toBe(before);
    expect(await tenantKeyRows()).toEqual([{ n: 0 }]);
  });

  it('answers 404 for an unknown tenant, and 409 for a deleted one', async () => {
    const missing = await t.request({
      method: 'POST',
      url: '/v1/tenants/ten_00000000000000000000000000/api-keys',
      payload: { name: 'x', permissions: ['a:b'] },
    });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('tenant_not_found');
    const tenant = await provisionedTenant(t);
    expect((await act(t, tenant.id, 'cancel')).status).toBe(200);
    expect((await t.request({ method: 'DELETE', url: `/v1/tenants/${tenant.id}` })).status).toBe(200);
    const deleted = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/api-keys`,
      payload: { name: 'x', permissions: ['a:b'] },
    });
    expect(deleted.status).toBe(409);
    expect(deleted.body.code).toBe('tenant_deleted');
    expect(await tenantKeyRows()).toEqual([{ n: 0 }]);
  });
});

describe('rolling and revoking', () => {
  it('rolls: the new key is shown once, the old one works until the overlap ends', async () => {
    const tenant = await createTenant(t);
    const old = await createKey(tenant.id);
    const rolled = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/api-keys/${old.id}/roll`,
      payload: { overlap_seconds: 3600 },
    });
    expect(rolled.status).toBe(201);
    const successor = rolled.body;
    expect(successor.secret).not.toBe(old.secret);
    expect(successor).toMatchObject({ name: 'ci', permissions: old.permissions, expires_at: null });
    const overlapEnd = new Date(t.clock.now().getTime() + 3600_000).toISOString();
    const listed = await listKeys(tenant.id);
    expect(listed.find((k) => k.id === old.id)).toMatchObject({
      rolled_to: successor.id,
      expires_at: overlapEnd,
    });

    // Both work during the overlap; only the successor after it.
    const during = await setOf(tenant.id);
    expect(during.keys.map((k: any) => k.hash).sort()).toEqual(
      [sha256(old.secret), sha256(successor.secret)].sort(),
    );
    t.clock.advance(3600_000);
    const after = await setOf(tenant.id);
    expect(after.keys.map((k: any) => k.hash)).toEqual([sha256(successor.secret)]);
    expect(after.version).not.toBe(during.version);

    const again = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/api-keys/${old.id}/roll`,
    });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('tenant_key_inactive');
    expect(again.body.detail).toContain(successor.id);

    const actions = (await auditRows(t, tenant.id)).map((row) => row.action);
    expect(actions.filter((a) => a.startsWith('tenant_key.'))).toEqual([
      'tenant_key.created',
      'tenant_key.created',
      'tenant_key.rolled',
    ]);
  });

  it('never lengthens the life of a key that expires before the overlap ends', async () => {
    const tenant = await createTenant(t);
    const expiresAt = new Date(t.clock.now().getTime() + 60_000).toISOString();
    const old = await createKey(tenant.id, { expires_at: expiresAt });
    const rolled = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/api-keys/${old.id}/roll`,
      payload: { overlap_seconds: 86_400 },
    });
    expect(rolled.body.expires_at).toBe(expiresAt);
    const listed = await listKeys(tenant.id);
    expect(listed.find((k) => k.id === old.id)?.expires_at).toBe(expiresAt);
  });

  it('revokes: the key leaves the set at once; revoking twice is harmless; a revoked key cannot be rolled', async () => {
    const tenant = await createTenant(t);
    const key = await createKey(tenant.id);
    const kept = await createKey(tenant.id, { name: 'kept' });
    const revoked = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/api-keys/${key.id}/revoke`,
    });
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).not.toBeNull();
    expect((await setOf(tenant.id)).keys.map((k: any) => k.id)).toEqual([kept.id]);
    const before = await auditCount(t);
    const twice = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/api-keys/${key.id}/revoke`,
    });
    expect(twice.status).toBe(200);
    expect(twice.body.revoked_at).toBe(revoked.body.revoked_at);
    expect(await auditCount(t)).toBe(before);
    const roll = await t.request({ method: 'POST', url: `/v1/tenants/${tenant.id}/api-keys/${key.id}/roll` });
    expect(roll.status).toBe(409);
    expect(roll.body.code).toBe('tenant_key_inactive');
  });

  it('refuses to roll an expired key', async () => {
    const tenant = await createTenant(t);
    const key = await createKey(tenant.id, {
      expires_at: new Date(t.clock.now().getTime() + 1000).toISOString(),
    });
    t.clock.advance(1000);
    const roll = await t.request({ method: 'POST', url: `/v1/tenants/${tenant.id}/api-keys/${key.id}/roll` });
    expect(roll.status).toBe(409);
    expect(roll.body.detail).toContain('expired');
  });
});

describe('attacks', () => {
  it("does not find another tenant's key on this tenant's path: nothing is rolled or revoked", async () => {
    const mine = await createTenant(t);
    const theirs = await createTenant(t);
    const their = await createKey(theirs.id);
    const before = await auditCount(t);
    for (const action of ['roll', 'revoke']) {
      const attempt = await t.request({
        method: 'POST',
        url: `/v1/tenants/${mine.id}/api-keys/${their.id}/${action}`,
      });
      expect(attempt.status).toBe(404);
      expect(attempt.body.code).toBe('tenant_key_not_found');
    }
    expect(await auditCount(t)).toBe(before);
    const listed = await listKeys(theirs.id);
    expect(listed[0]).toMatchObject({ id: their.id, revoked_at: null, rolled_to: null });
    expect(await listKeys(mine.id)).toEqual([]);
  });

  it('refuses keys without the scope: an app key verifies but cannot issue, a reader cannot write', async () => {
    const tenant = await createTenant(t);
    const app = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'app', preset: 'app' },
    });
    const reader = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'reader', scopes: ['tenant-keys:read'] },
    });
    const as = (key: any) => ({ authorization: `Bearer ${key.body.secret}` });
    const create = { name: 'x', permissions: ['a:b'] };
    for (const key of [app, reader]) {
      const refused = await t.request({
        method: 'POST',
        url: `/v1/tenants/${tenant.id}/api-keys`,
        payload: create,
        headers: as(key),
      });
      expect(refused.status).toBe(403);
      expect(refused.body.required_scope).toBe('tenant-keys:write');
    }
    expect(
      (await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/api-keys`, headers: as(app) })).status,
    ).toBe(403);
    expect(
      (await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/api-keys`, headers: as(reader) }))
        .status,
    ).toBe(200);
    expect(
      (await t.request({ method: 'GET', url: '/v1/tenant-keys/sets', headers: as(reader) })).status,
    ).toBe(403);
    expect((await t.request({ method: 'GET', url: '/v1/tenant-keys/sets', headers: as(app) })).status).toBe(
      200,
    );
    expect(await tenantKeyRows()).toEqual([{ n: 0 }]);
  });
});

describe('key sets for the SDK', () => {
  it("pages every tenant's working keys, and marks a suspended tenant's set inactive", async () => {
    const tenants = [await provisionedTenant(t), await provisionedTenant(t), await provisionedTenant(t)];
    const keys = [];
    for (const tenant of tenants) keys.push(await createKey(tenant.id));
    await createTenant(t); // no key: not listed
    const first = await t.request({ method: 'GET', url: '/v1/tenant-keys/sets?limit=2' });
    const second = await t.request({
      method: 'GET',
      url: `/v1/tenant-keys/sets?limit=2&cursor=${first.body.next_cursor}`,
    });
    const sets = [...first.body.data, ...second.body.data];
    expect(second.body.next_cursor).toBeNull();
    expect(sets.map((s: any) => s.tenant_id)).toEqual(tenants.map((x) => x.id).sort());
    for (const set of sets) {
      expect(set.active).toBe(true);
      const key = keys.find((k) => k.tenant_id === set.tenant_id);
      expect(set.keys).toEqual([
        { id: key.id, hash: sha256(key.secret), permissions: key.permissions, expires_at: null },
      ]);
    }

    const tenant = tenants[0] as any;
    const held = sets.find((s: any) => s.tenant_id === tenant.id);
    const unchanged = await t.request({
      method: 'POST',
      url: '/v1/tenant-keys/sets/revalidate',
      payload: { tenants: { [tenant.id]: held.version, ten_00000000000000000000000000: '' } },
    });
    expect(unchanged.body).toEqual({ changed: [] });
    expect((await act(t, tenant.id, 'suspend', { reason: 'unpaid' })).status).toBe(200);
    const suspended = await setOf(tenant.id);
    expect(suspended).toMatchObject({ active: false, keys: held.keys });
    expect(suspended.version).not.toBe(held.version);
  });

  it('moves last_used_at forward, at most once a minute, never past now', async () => {
    const tenant = await createTenant(t);
    const key = await createKey(tenant.id);
    const report = (used_at: string) =>
      t.request({
        method: 'POST',
        url: '/v1/tenant-keys/used',
        payload: { keys: [{ id: key.id, used_at }] },
      });
    const now = t.clock.now().getTime();
    expect((await report(new Date(now - 120_000).toISOString())).status).toBe(200);
    const usedAt = async () => (await listKeys(tenant.id))[0].last_used_at;
    expect(await usedAt()).toBe(new Date(now - 120_000).toISOString());
    await report(new Date(now - 90_000).toISOString()); // within the minute: not written
    expect(await usedAt()).toBe(new Date(now - 120_000).toISOString());
    await report(new Date(now - 200_000).toISOString()); // older: never backwards
    expect(await usedAt()).toBe(new Date(now - 120_000).toISOString());
    await report(new Date(now + 3_600_000).toISOString()); // the future: held to now
    expect(await usedAt()).toBe(new Date(now).toISOString());
    const bad = await t.request({
      method: 'POST',
      url: '/v1/tenant-keys/used',
      payload: { keys: [{ id: key.id, used_at: 'yesterday' }] },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe('keys.0.used_at');
  });
});

describe('retries', () => {
  it('replays a create with the same Idempotency-Key without the secret, and makes one key', async () => {
    const tenant = await createTenant(t);
    const send = () =>
      t.request({
        method: 'POST',
        url: `/v1/tenants/${tenant.id}/api-keys`,
        payload: { name: 'ci', permissions: ['a:b'] },
        headers: { 'idempotency-key': 'create-ci-1' },
      });
    const first = await send();
    const replay = await send();
    expect(first.status).toBe(201);
    expect(first.body.secret).toMatch(/^tkey_/);
    expect(replay.status).toBe(201);
    expect(replay.body).toEqual({ ...first.body, secret: null });
    expect(await tenantKeyRows()).toEqual([{ n: 1 }]);
  });
});

/** A member of `tenantId` with `role`, invited and accepted over the API, and a user token of theirs. */
/** A new member's `authorization` header (member-support.ts). */
const memberToken = (tenantId: string, role: string) => memberAuthorization(t, tenantId, role);

describe("a tenant's admins manage its keys with their own token", () => {
  it('creates, lists, rolls and revokes within the permissions the admin holds, audited as the user', async () => {
    const tenant = await provisionedTenant(t);
    const admin = await memberToken(tenant.id, 'admin');
    const url = `/v1/tenants/${tenant.slug}/api-keys`;
    const created = await t.request({
      method: 'POST',
      url,
      payload: { name: 'ci', permissions: ['meetings:write'] },
      headers: admin,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.secret).toMatch(/^tkey_/);
    const listed = await t.request({ method: 'GET', url, headers: admin });
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((k: any) => k.id)).toEqual([created.body.id]);
    const rolled = await t.request({
      method: 'POST',
      url: `${url}/${created.body.id}/roll`,
      payload: { overlap_seconds: 0 },
      headers: admin,
    });
    expect(rolled.status, JSON.stringify(rolled.body)).toBe(201);
    const revoked = await t.request({
      method: 'POST',
      url: `${url}/${rolled.body.id}/revoke`,
      headers: admin,
    });
    expect(revoked.status).toBe(200);
    const rows = (await auditRows(t, tenant.id)).filter((r) => r.action.startsWith('tenant_key.'));
    expect(rows.map((r) => r.action)).toEqual([
      'tenant_key.created',
      'tenant_key.created',
      'tenant_key.rolled',
      'tenant_key.revoked',
    ]);
    expect(new Set(rows.map((r) => r.actor_type))).toEqual(new Set(['user']));
  });

  it("refuses another tenant's admin on every key route, and writes nothing", async () => {
    const tenant = await provisionedTenant(t);
    const other = await provisionedTenant(t);
    const key = await createKey(tenant.id, { permissions: ['meetings:read'] });
    const intruder = await memberToken(other.id, 'owner');
    const before = await auditCount(t);
    for (const ref of [tenant.id, tenant.slug]) {
      const url = `/v1/tenants/${ref}/api-keys`;
      for (const [method, path, payload] of [
        ['GET', url, undefined],
        ['POST', url, { name: 'stolen', permissions: ['meetings:read'] }],
        ['POST', `${url}/${key.id}/roll`, { overlap_seconds: 0 }],
        ['POST', `${url}/${key.id}/revoke`, undefined],
      ] as const) {
        const refused = await t.request({
          method,
          url: path,
          headers: intruder,
          ...(payload ? { payload } : {}),
        });
        expect(refused.status, `${method} ${path}`).toBe(403);
        expect(refused.body.code).toBe('insufficient_permission');
      }
    }
    // Its own tenant's path with the other tenant's key id: not found, nothing rolled.
    const own = await t.request({
      method: 'POST',
      url: `/v1/tenants/${other.id}/api-keys/${key.id}/roll`,
      payload: { overlap_seconds: 0 },
      headers: intruder,
    });
    expect(own.status).toBe(404);
    expect(own.body.code).toBe('tenant_key_not_found');
    expect(await auditCount(t)).toBe(before);
    expect((await listKeys(tenant.id)).map((k) => [k.id, k.revoked_at, k.rolled_to])).toEqual([
      [key.id, null, null],
    ]);
  });

  it('refuses a viewer, who holds neither api_keys:read nor api_keys:write', async () => {
    const tenant = await provisionedTenant(t);
    const viewer = await memberToken(tenant.id, 'viewer');
    const url = `/v1/tenants/${tenant.id}/api-keys`;
    const list = await t.request({ method: 'GET', url, headers: viewer });
    expect(list.status).toBe(403);
    expect(list.body).toMatchObject({
      code: 'insufficient_permission',
      required_permission: 'api_keys:read',
    });
    const create = await t.request({
      method: 'POST',
      url,
      payload: { name: 'x', permissions: ['meetings:read'] },
      headers: viewer,
    });
    expect(create.status).toBe(403);
    expect(create.body).toMatchObject({
      code: 'insufficient_permission',
      required_permission: 'api_keys:write',
    });
    expect(await tenantKeyRows()).toEqual([{ n: 0 }]);
  });

  it('refuses an admin a key, or the roll of a key, carrying a permission the admin lacks', async () => {
    const tenant = await provisionedTenant(t);
    const admin = await memberToken(tenant.id, 'admin');
    const url = `/v1/tenants/${tenant.id}/api-keys`;
    const before = await auditCount(t);
    const create = await t.request({
      method: 'POST',
      url,
      payload: { name: 'x', permissions: ['meetings:read', 'a:b'] },
      headers: admin,
    });
    expect(create.status).toBe(403);
    expect(create.body).toMatchObject({ code: 'insufficient_permission', missing_permissions: ['a:b'] });
    expect(await auditCount(t)).toBe(before);
    expect(await tenantKeyRows()).toEqual([{ n: 0 }]);
    // The operator's key for a:b: rolling it would hand the admin its successor's secret.
    const key = await createKey(tenant.id, { permissions: ['a:b'] });
    const marker = await auditCount(t);
    const roll = await t.request({
      method: 'POST',
      url: `${url}/${key.id}/roll`,
      payload: { overlap_seconds: 0 },
      headers: admin,
    });
    expect(roll.status).toBe(403);
    expect(roll.body).toMatchObject({ code: 'insufficient_permission', missing_permissions: ['a:b'] });
    expect(await auditCount(t)).toBe(marker);
    expect((await listKeys(tenant.id)).map((k) => k.rolled_to)).toEqual([null]);
    // Revoking takes nothing from anyone but the key: allowed.
    const revoke = await t.request({ method: 'POST', url: `${url}/${key.id}/revoke`, headers: admin });
    expect(revoke.status).toBe(200);
  });
});

describe("the tenant's IP allow-list in its key set", () => {
  it('travels with the set and changes its version, and only while the plan has the feature', async () => {
    const tenant = await provisionedTenant(t);
    const key = await createKey(tenant.id);
    const open = await setOf(tenant.id);
    expect(open.ip_allow_list).toEqual([]);
    const policy = await t.request({
      method: 'PUT',
      url: `/v1/tenants/${tenant.id}/access-policy`,
      payload: { mfa_required: false, ip_allow_list: ['203.0.113.0/24', '2001:db8::/32'] },
    });
    expect(policy.status, JSON.stringify(policy.body)).toBe(200);
    const listed = await setOf(tenant.id);
    expect(listed).toMatchObject({
      ip_allow_list: ['203.0.113.0/24', '2001:db8::/32'],
      keys: [{ id: key.id }],
    });
    expect(listed.version).not.toBe(open.version);
    const all = await t.request({ method: 'GET', url: '/v1/tenant-keys/sets' });
    expect(all.body.data.find((s: any) => s.tenant_id === tenant.id)).toEqual(listed);
    // Moved to a plan without the feature, the stored list stops applying to the keys too.
    const moved = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/change-plan`,
      payload: { plan: 'starter', at: 'now' },
    });
    expect(moved.status, JSON.stringify(moved.body)).toBeLessThan(300);
    expect((await setOf(tenant.id)).ip_allow_list).toEqual([]);
  });
});
