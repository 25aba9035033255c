import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { applyPlans, createTenant, query } from '../../test/tenant-support.ts';
import { systemContext } from '../request-context.ts';

const PLANS = `
currency: usd
plans:
  pro:
    name: Pro
    rate_limits:
      api: { requests: 90, per: 1s, burst: 180 }
  none:
    name: None
`;

let t: TestApp;
let tenant: { id: string; slug: string };
beforeEach(async () => {
  t = await startTestApp();
  await applyPlans(t, PLANS);
  tenant = await createTenant(t, { plan: 'pro' });
});
afterEach(() => t.close());

function lease(instance: string, body: Record<string, unknown> = {}, id = tenant.id) {
  return t.request({
    method: 'POST',
    url: `/v1/tenants/${id}/rate-limit-shares`,
    payload: { name: 'api', instance_id: instance, ...body },
  });
}

function release(instance: string) {
  return t.request({
    method: 'POST',
    url: `/v1/tenants/${tenant.id}/rate-limit-shares/release`,
    payload: { name: 'api', instance_id: instance },
  });
}

async function openShares(): Promise<number> {
  const rows = await query<{ total: number | null }>(
    t,
    `select sum(share) as total from tenantry.rate_limit_shares where released_at is null and expires_at > '${t.clock.now().toISOString()}'`,
  );
  return Number(rows[0]?.total ?? 0);
}

describe('rate-limit shares', () => {
  test('one instance holds the whole limit; a second gets its fair part once the first renews', async () => {
    const first = await lease('a');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      tenant_id: tenant.id,
      name: 'api',
      instance_id: 'a',
      limit: { requests: 90, per_seconds: 1, burst: 180 },
      share: 1,
      holders: 1,
      released_at: null,
    });
    // The first still holds everything: the second gets nothing rather than more than the limit.
    expect((await lease('b')).body).toMatchObject({ share: 0, holders: 2 });
    expect(await openShares()).toBe(1);
    expect((await lease('a')).body).toMatchObject({ share: 0.5, holders: 2 });
    expect((await lease('b')).body).toMatchObject({ share: 0.5, holders: 2 });
    expect(await openShares()).toBe(1);
    // A third joins: it waits for room, and the others come down to a third as they renew.
    expect((await lease('c')).body.share).toBe(0);
    await lease('a');
    await lease('b');
    const third = await lease('c');
    expect(third.body.share).toBeCloseTo(1 / 3, 6);
    expect(await openShares()).toBeLessThanOrEqual(1);
  });

  test('a released or lapsed share returns to the others', async () => {
    await lease('a');
    await lease('b');
    await lease('a');
    expect((await lease('b')).body.share).toBe(0.5);
    expect((await release('a')).body).toEqual({ released: true });
    expect((await release('a')).body).toEqual({ released: false });
    expect((await lease('b')).body).toMatchObject({ share: 1, holders: 1 });
    // b lapses without renewing (a crashed instance): a takes the whole limit.
    await lease('a', { ttl_seconds: 60 });
    t.clock.advance(16_000);
    expect((await lease('a')).body).toMatchObject({ share: 1, holders: 1 });
  });

  test("one tenant's shares do not take from another's", async () => {
    const other = await createTenant(t, { plan: 'pro' });
    await lease('a');
    expect((await lease('a', {}, other.id)).body).toMatchObject({ tenant_id: other.id, share: 1 });
    expect((await lease('b', {}, other.slug)).body).toMatchObject({ tenant_id: other.id, share: 0 });
  });

  test('a rate limit the plan lacks, or an unknown tenant, is a 404 that writes nothing', async () => {
    const plain = await createTenant(t, { plan: 'none' });
    const missing = await lease('a', {}, plain.id);
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ code: 'rate_limit_not_found', rate_limit: 'api' });
    expect((await lease('a', { name: 'other' })).body.code).toBe('rate_limit_not_found');
    expect((await lease('a', {}, 'ten_doesnotexist')).body.code).toBe('tenant_not_found');
    expect(await query(t, 'select * from tenantry.rate_limit_shares')).toEqual([]);
  });

  test('bad input is a 400 naming the field, and writes nothing', async () => {
    for (const [body, field] of [
      [{ name: 'Not A Key' }, 'name'],
      [{ instance_id: '' }, 'instance_id'],
      [{ ttl_seconds: 1 }, 'ttl_seconds'],
      [{ extra: true }, 'extra'],
    ] as const) {
      const answer = await lease('a', body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.errors.map((e: { path: string }) => e.path).join(' ')).toContain(field);
    }
    expect(await query(t, 'select * from tenantry.rate_limit_shares')).toEqual([]);
  });

  test('needs leases:write, which an app key holds', async () => {
    const reader = await t.services.apiKeys.create(systemContext('test'), {
      name: 'reader',
      scopes: ['tenants:read'],
    });
    const refused = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/rate-limit-shares`,
      headers: { authorization: `Bearer ${reader.secret}` },
      payload: { name: 'api', instance_id: 'a' },
    });
    expect(refused.status).toBe(403);
    expect(refused.body.required_scope).toBe('leases:write');
    const app = await t.services.apiKeys.create(systemContext('test'), { name: 'app', preset: 'app' });
    const granted = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/rate-limit-shares`,
      headers: { authorization: `Bearer ${app.secret}` },
      payload: { name: 'api', instance_id: 'a' },
    });
    expect(granted.status).toBe(200);
  });
});
