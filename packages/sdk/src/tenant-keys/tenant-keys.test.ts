import { randomInt } from 'node:crypto';
import { formatTenantKey, TENANT_KEY_RANDOM_CHARS } from '@tenantry/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backend, startTestApp, type TestApp } from '../../../server/test/harness.ts';
import { act, applyPlans, fixture, provisionedTenant } from '../../../server/test/tenant-support.ts';
import { until as waitFor } from '../../../server/test/until.ts';
import { ControlPlaneClient } from '../control-plane/index.ts';
import { Entitlements } from '../entitlements/index.ts';
import { TenantKeys } from './tenant-keys.ts';

/** The test plans, with IP allow-lists on Pro. */
const PLANS = fixture('plans.yaml')
  .replace('  advanced_analytics: {}\n', '  advanced_analytics: {}\n  ip_allow_list: {}\n')
  .replace('features: [sso]', 'features: [sso, ip_allow_list]');

/** The vendor's permissions, which tenant keys carry. */
const ACCESS =
  'permissions:\n  meetings:read: Read\n  meetings:write: Write\n  reports:read: Reports\n  a:b: Other\n';

async function applyAccess(t: TestApp): Promise<void> {
  const applied = await t.request({ method: 'PUT', url: '/v1/access', payload: { source: ACCESS } });
  expect(applied.status, JSON.stringify(applied.body)).toBe(200);
}

/** Waits until `check` holds, asking again every 10 ms as the stream's messages come in. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  await waitFor(what, async () => ((await check()) ? true : undefined), { intervalMs: 10 });
}

describe(`TenantKeys against a live control plane (${backend})`, () => {
  let t: TestApp;
  let url: string;
  let entitlements: Entitlements;
  let keys: TenantKeys;
  /** Requests the SDK sent, by path. */
  const sent: string[] = [];
  /** The SDK's clock, moved by the tests that need expiry. */
  let now = Date.parse('2026-11-10T12:00:00Z');

  async function createKey(tenantId: string, payload: Record<string, unknown> = {}) {
    const created = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenantId}/api-keys`,
      payload: { name: 'ci', permissions: ['meetings:write'], ...payload },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body;
  }

  beforeAll(async () => {
    t = await startTestApp();
    await applyPlans(t, PLANS);
    await applyAccess(t);
    url = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const app = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'app', preset: 'app' },
    });
    const client = new ControlPlaneClient({
      url,
      token: app.body.secret,
      fetch: (input, init) => {
        sent.push(new URL(String(input instanceof Request ? input.url : input)).pathname);
        return fetch(input, init);
      },
    });
    entitlements = new Entitlements(client, {
      reconnect: { initialDelayMs: 20, maxDelayMs: 200 },
      revalidateEveryMs: 3_600_000,
    });
    keys = new TenantKeys(client, entitlements, { batchMs: 5, now: () => now });
  });
  afterAll(async () => {
    await keys.close();
    await entitlements.close();
    await t.close();
  });

  it('verifies a key locally: its tenant and permissions, with no network call per check', async () => {
    const a = await provisionedTenant(t);
    const b = await provisionedTenant(t);
    const keyA = await createKey(a.id, { permissions: ['meetings:write', 'meetings:read'] });
    const keyB = await createKey(b.id, { permissions: ['reports:read'] });
    expect(await keys.verify(keyA.secret)).toEqual({
      ok: true,
      tenantId: a.id,
      keyId: keyA.id,
      permissions: ['meetings:read', 'meetings:write'],
      // The test plans set no rate limits.
      rateLimits: {},
    });
    expect(await keys.verify(keyB.secret)).toMatchObject({
      ok: true,
      tenantId: b.id,
      permissions: ['reports:read'],
    });
    const before = sent.length;
    for (let i = 0; i < 1000; i++) expect((await keys.verify(keyA.secret)).ok).toBe(true);
    expect(sent.slice(before)).toEqual([]);
  });

  it("answers the key's tenant's rate limits, and a change of them once the stream says so", async () => {
    const tenant = await provisionedTenant(t);
    const key = await createKey(tenant.id, { permissions: ['meetings:read'] });
    await until(async () => (await keys.verify(key.secret)).ok, 'the new key reached the SDK');
    expect(await keys.verify(key.secret)).toMatchObject({ ok: true, rateLimits: {} });
    const dealt = await t.request({
      method: 'PATCH',
      url: `/v1/tenants/${tenant.id}`,
      payload: { overrides: { rate_limits: { api: { requests: 5, per: '1s' } } } },
    });
    expect(dealt.status, JSON.stringify(dealt.body)).toBe(200);
    await until(async () => {
      const verdict = await keys.verify(key.secret);
      return verdict.ok && verdict.rateLimits?.api !== undefined;
    }, "the tenant's new rate limit reached the SDK");
    expect(await keys.verify(key.secret)).toMatchObject({
      ok: true,
      tenantId: tenant.id,
      rateLimits: { api: { requests: 5, per_seconds: 1, burst: 5 } },
    });
  });

  it('accepts a key made after loading, and refuses a revoked one, once the stream says so (no restart)', async () => {
    const tenant = await provisionedTenant(t);
    await keys.ready();
    const key = await createKey(tenant.id);
    await until(async () => (await keys.verify(key.secret)).ok, 'the new key accepted');
    const revoked = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/api-keys/${key.id}/revoke`,
    });
    expect(revoked.status).toBe(200);
    await until(async () => !(await keys.verify(key.secret)).ok, 'the revoked key refused');
    expect(await keys.verify(key.secret)).toEqual({ ok: false, reason: 'unknown_key' });
    expect(sent).toContain('/v1/tenant-keys/sets/revalidate');
  });

  it('refuses the keys of a suspended or cancelled tenant, and takes them back when it resumes', async () => {
    const tenant = await provisionedTenant(t);
    const key = await createKey(tenant.id);
    await until(async () => (await keys.verify(key.secret)).ok, 'the key accepted');
    expect((await act(t, tenant.id, 'suspend', { reason: 'unpaid' })).status).toBe(200);
    await until(async () => !(await keys.verify(key.secret)).ok, 'the suspended tenant refused');
    expect(await keys.verify(key.secret)).toEqual({ ok: false, reason: 'tenant_inactive' });
    expect((await act(t, tenant.id, 'resume')).status).toBe(200);
    await until(async () => (await keys.verify(key.secret)).ok, 'the resumed tenant accepted');
    expect((await act(t, tenant.id, 'cancel')).status).toBe(200);
    await until(async () => !(await keys.verify(key.secret)).ok, 'the cancelled tenant refused');
    expect(await keys.verify(key.secret)).toEqual({ ok: false, reason: 'tenant_inactive' });
  });

  it('keeps a rolled key working for the overlap only, and refuses an expired key', async () => {
    const tenant = await provisionedTenant(t);
    const expiring = await createKey(tenant.id, { expires_at: '2026-11-10T13:00:00Z' });
    const old = await createKey(tenant.id);
    const rolled = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/api-keys/${old.id}/roll`,
      payload: { overlap_seconds: 600 },
    });
    expect(rolled.status).toBe(201);
    await until(async () => (await keys.verify(rolled.body.secret)).ok, 'the successor accepted');
    expect((await keys.verify(old.secret)).ok).toBe(true);
    expect((await keys.verify(expiring.secret)).ok).toBe(true);
    now = Date.parse('2026-11-10T12:10:00Z');
    expect(await keys.verify(old.secret)).toEqual({ ok: false, reason: 'expired' });
    expect((await keys.verify(rolled.body.secret)).ok).toBe(true);
    now = Date.parse('2026-11-10T13:00:00Z');
    expect(await keys.verify(expiring.secret)).toEqual({ ok: false, reason: 'expired' });
    now = Date.parse('2026-11-10T12:00:00Z');
  });

  it('refuses a tampered checksum, another prefix and an operator key without a lookup', async () => {
    const tenant = await provisionedTenant(t);
    const key = await createKey(tenant.id);
    await until(async () => (await keys.verify(key.secret)).ok, 'the key accepted');
    const last = key.secret.at(-1) === 'a' ? 'b' : 'a';
    expect(await keys.verify(key.secret.slice(0, -1) + last)).toEqual({ ok: false, reason: 'malformed' });
    const middle = key.secret.charAt(10) === 'a' ? 'b' : 'a';
    expect(await keys.verify(key.secret.slice(0, 10) + middle + key.secret.slice(11))).toEqual({
      ok: false,
      reason: 'malformed',
    });
    const otherPrefix = formatTenantKey(
      'other_',
      Array.from({ length: TENANT_KEY_RANDOM_CHARS }, () => randomInt(62)),
    );
    expect(await keys.verify(otherPrefix)).toEqual({ ok: false, reason: 'unknown_key' });
    // The same random part under the vendor's prefix of another name: the checksum covers the prefix.
    expect(await keys.verify(`mins_${key.secret.slice(5)}`)).toEqual({ ok: false, reason: 'malformed' });
    expect(await keys.verify(t.token)).toEqual({ ok: false, reason: 'malformed' });
    expect(await keys.verify('')).toEqual({ ok: false, reason: 'malformed' });
  });

  it("holds a key to its tenant's IP allow-list, and learns a change of it through the stream", async () => {
    const tenant = await provisionedTenant(t);
    const other = await provisionedTenant(t);
    const key = await createKey(tenant.id);
    const otherKey = await createKey(other.id);
    await until(async () => (await keys.verify(key.secret)).ok, 'the key accepted');
    // No allow-list: any address, or none given.
    expect((await keys.verify(key.secret, { ip: '198.51.100.7' })).ok).toBe(true);
    expect((await keys.verify(key.secret)).ok).toBe(true);
    const setPolicy = (ip_allow_list: string[]) =>
      t.request({
        method: 'PUT',
        url: `/v1/tenants/${tenant.id}/access-policy`,
        payload: { mfa_required: false, ip_allow_list },
      });
    expect((await setPolicy(['203.0.113.0/24', '2001:db8::/32'])).status).toBe(200);
    await until(
      async () => !(await keys.verify(key.secret, { ip: '198.51.100.7' })).ok,
      'the allow-list reached the SDK',
    );
    expect(await keys.verify(key.secret, { ip: '198.51.100.7' })).toEqual({
      ok: false,
      reason: 'ip_not_allowed',
    });
    // Without the address the list cannot be checked: refused rather than let through.
    expect(await keys.verify(key.secret)).toEqual({ ok: false, reason: 'ip_not_allowed' });
    for (const ip of ['203.0.113.9', '::ffff:203.0.113.200', '2001:db8::1']) {
      expect(await keys.verify(key.secret, { ip }), ip).toMatchObject({ ok: true, tenantId: tenant.id });
    }
    // Another tenant's keys are untouched by this tenant's list.
    expect((await keys.verify(otherKey.secret, { ip: '198.51.100.7' })).ok).toBe(true);
    expect((await setPolicy([])).status).toBe(200);
    await until(
      async () => (await keys.verify(key.secret, { ip: '198.51.100.7' })).ok,
      'the lifted allow-list reached the SDK',
    );
  });

  it('reports the keys used, so that their last_used_at moves', async () => {
    const tenant = await provisionedTenant(t);
    const key = await createKey(tenant.id);
    await until(async () => (await keys.verify(key.secret)).ok, 'the key accepted');
    await keys.reportUse();
    const listed = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/api-keys` });
    expect(listed.body.data[0].last_used_at).toBe(new Date(now).toISOString());
  });

  it('tells onError of a report of the keys used that failed, and sends those uses with the next', async () => {
    const tenant = await provisionedTenant(t);
    const key = await createKey(tenant.id);
    const app = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'app3', preset: 'app' },
    });
    let away = true;
    const client = new ControlPlaneClient({
      url,
      token: app.body.secret,
      fetch: (input, init) =>
        away &&
        new URL(String(input instanceof Request ? input.url : input)).pathname === '/v1/tenant-keys/used'
          ? Promise.reject(new TypeError('fetch failed'))
          : fetch(input, init),
    });
    const own = new Entitlements(client);
    const errors: Error[] = [];
    const ownKeys = new TenantKeys(client, own, {
      reportEveryMs: 10,
      now: () => now,
      onError: (e) => errors.push(e),
    });
    try {
      expect((await ownKeys.verify(key.secret)).ok).toBe(true);
      await until(async () => errors.length > 0, 'the failed report told');
      expect(errors[0]?.message).toMatch(/fetch failed/);
      away = false;
      await until(async () => {
        const listed = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/api-keys` });
        return listed.body.data[0].last_used_at === new Date(now).toISOString();
      }, 'the use sent with a later report');
    } finally {
      await ownKeys.close();
      await own.close();
    }
  });

  it('loads every key set again when the stream reconnects, so a change made meanwhile is not missed', async () => {
    const tenant = await provisionedTenant(t);
    const key = await createKey(tenant.id);
    await until(async () => (await keys.verify(key.secret)).ok, 'the key accepted');
    const before = sent.length;
    // Ends every stream; the SDK reconnects and, once live, loads the sets again.
    await t.services.entitlementStream.close();
    expect(
      (await t.request({ method: 'POST', url: `/v1/tenants/${tenant.id}/api-keys/${key.id}/revoke` })).status,
    ).toBe(200);
    await until(async () => !(await keys.verify(key.secret)).ok, 'the revoked key refused');
    await until(async () => sent.slice(before).includes('/v1/tenant-keys/sets'), 'the sets loaded again');
  });

  it('fails closed once the stream that keeps the keys current is gone', async () => {
    const tenant = await provisionedTenant(t);
    const key = await createKey(tenant.id);
    const app = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'app2', preset: 'app' },
    });
    const client = new ControlPlaneClient({ url, token: app.body.secret });
    const own = new Entitlements(client);
    const ownKeys = new TenantKeys(client, own);
    expect((await ownKeys.verify(key.secret)).ok).toBe(true);
    await own.close();
    expect(await ownKeys.verify(key.secret)).toEqual({ ok: false, reason: 'unavailable' });
    await ownKeys.close();
  });
});

describe(`TenantKeys without the scope (${backend})`, () => {
  it('answers unavailable when the app key may not read key sets', async () => {
    const t = await startTestApp();
    try {
      await applyPlans(t, fixture('plans.yaml'));
      await applyAccess(t);
      const url = await t.app.listen({ port: 0, host: '127.0.0.1' });
      const narrow = await t.request({
        method: 'POST',
        url: '/v1/api-keys',
        payload: { name: 'old-app', scopes: ['entitlements:read'] },
      });
      const client = new ControlPlaneClient({ url, token: narrow.body.secret });
      const entitlements = new Entitlements(client);
      const errors: Error[] = [];
      const keys = new TenantKeys(client, entitlements, { onError: (e) => errors.push(e) });
      const tenant = await provisionedTenant(t);
      const created = await t.request({
        method: 'POST',
        url: `/v1/tenants/${tenant.id}/api-keys`,
        payload: { name: 'ci', permissions: ['a:b'] },
      });
      expect(await keys.verify(created.body.secret)).toEqual({ ok: false, reason: 'unavailable' });
      await expect(keys.ready()).rejects.toThrow(/tenant-keys:verify/);
      // The load started in the background when the stream went live failed too, and said so.
      await until(async () => errors.length > 0, 'the failed load told');
      expect(errors[0]?.message).toMatch(/tenant-keys:verify/);
      await keys.close();
      await entitlements.close();
    } finally {
      await t.close();
    }
  });
});

describe('TenantKeys without a control plane', () => {
  it('refuses keys as unavailable at once, rather than holding the request until one answers', async () => {
    // Nothing listens on port 9 of this machine: every connection is refused.
    const client = new ControlPlaneClient({ url: 'http://127.0.0.1:9', token: 'tnt_rk_unused' });
    const entitlements = new Entitlements(client, {
      reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000 },
    });
    const keys = new TenantKeys(client, entitlements);
    const key = formatTenantKey(
      'tkey_',
      Array.from({ length: TENANT_KEY_RANDOM_CHARS }, () => randomInt(62)),
    );
    expect(await keys.verify(key)).toEqual({ ok: false, reason: 'unavailable' });
    // Asked again while the stream waits to reconnect: refused again, without waiting for it.
    expect(await keys.verify(key)).toEqual({ ok: false, reason: 'unavailable' });
    expect(await keys.verify('not a key')).toEqual({ ok: false, reason: 'malformed' });
    await keys.close();
    await entitlements.close();
  });
});
