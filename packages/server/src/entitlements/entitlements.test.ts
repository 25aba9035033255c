import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otherProcess, startTestApp, type TestApp } from '../../test/harness.ts';
import { act, applyPlans, createTenant, provisionedTenant } from '../../test/tenant-support.ts';
import { until } from '../../test/until.ts';
import { followTenantChanges } from '../changes/index.ts';
import { systemContext } from '../request-context.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
});
afterAll(() => t.close());

function entitlements(id: string, headers: Record<string, string> = {}) {
  return t.request({ method: 'GET', url: `/v1/tenants/${id}/entitlements`, headers });
}

const SNAPSHOT_KEYS = [
  'active',
  'config',
  'features',
  'limits',
  'period',
  'plan',
  'reason',
  'seats',
  'state',
  'tenant_id',
  'trial_ends_at',
  'version',
];

describe('GET /v1/tenants/{id}/entitlements', () => {
  it("evaluates the plan's features, limits and config, per-seat limits times seats", async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro', seats: 3 });
    const response = await entitlements(tenant.id);
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const body = response.body;
    expect(Object.keys(body).sort()).toEqual(SNAPSHOT_KEYS);
    expect(body).toEqual({
      tenant_id: tenant.id,
      state: 'active',
      active: true,
      reason: null,
      plan: { key: 'pro', version: 1 },
      seats: 3,
      period: tenant.current_period,
      trial_ends_at: null,
      features: { sso: true, advanced_analytics: false },
      limits: {
        meetings: {
          kind: 'metered',
          limit: 1000,
          used: 0,
          remaining: 1000,
          enforcement: 'soft',
          thresholds: expect.any(Array),
          resets_at: tenant.current_period.end,
        },
        concurrent_sessions: {
          kind: 'gauge',
          limit: 15,
          used: 0,
          remaining: 15,
          enforcement: 'hard',
          thresholds: expect.any(Array),
          resets_at: null,
        },
      },
      config: { retention_days: 90 },
      version: expect.stringMatching(/^[\w-]+$/),
    });
    expect(response.headers.etag).toBe(`"${body.version}"`);
    expect(String(response.headers['cache-control'])).toContain('no-cache');
  });

  it('reports seats as a limit with usage', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter', seats: 4, trial_days: 0 });
    const { body } = await entitlements(tenant.id);
    expect(body.limits.seats).toMatchObject({
      kind: 'seats',
      limit: 10,
      used: 4,
      remaining: 6,
      enforcement: 'hard',
    });
    expect(body.limits.meetings).toMatchObject({ kind: 'metered', limit: 100, enforcement: 'hard' });
    expect(body.features).toEqual({ sso: false, advanced_analytics: false });
    expect(body.config).toEqual({ retention_days: 7 });
  });

  it('applies overrides over the plan', async () => {
    const tenant = await provisionedTenant(t, {
      plan: 'pro',
      seats: 2,
      overrides: {
        features: { sso: false, advanced_analytics: true },
        limits: {
          meetings: { value: 5000, enforcement: 'hard' },
          concurrent_sessions: { value: 8 },
          seats: { value: 3 },
        },
        config: { retention_days: 365 },
      },
    });
    const { body } = await entitlements(tenant.id);
    expect(body.features).toEqual({ sso: false, advanced_analytics: true });
    expect(body.limits.meetings).toMatchObject({ limit: 5000, enforcement: 'hard' });
    expect(body.limits.concurrent_sessions).toMatchObject({ limit: 16 });
    expect(body.limits.seats).toMatchObject({ kind: 'seats', limit: 3, used: 2, remaining: 1 });
    expect(body.config).toEqual({ retention_days: 365 });
  });

  it('answers 304 with an empty body to If-None-Match with the current ETag', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const first = await entitlements(tenant.id);
    const etag = String(first.headers.etag);
    for (const match of [etag, `W/${etag}`, `"nope", ${etag}`]) {
      const again = await entitlements(tenant.id, { 'if-none-match': match });
      expect(again.status, match).toBe(304);
      expect(again.body).toBe('');
      expect(again.headers.etag).toBe(etag);
    }
    const other = await entitlements(tenant.id, { 'if-none-match': '"something-else"' });
    expect(other.status).toBe(200);
    expect(other.body.version).toBe(first.body.version);
  });

  it('gives the same snapshot by id and by slug', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const byId = await entitlements(tenant.id);
    const bySlug = await entitlements(tenant.slug);
    expect(bySlug.status).toBe(200);
    expect(bySlug.body).toEqual(byId.body);
  });

  it('changes the version when suspension, overrides or seats change it', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro', seats: 2 });
    const versions: string[] = [];
    const etags: string[] = [];
    const record = async () => {
      const r = await entitlements(tenant.id);
      versions.push(r.body.version);
      etags.push(String(r.headers.etag));
      return r;
    };
    await record();

    await t.request({
      method: 'PATCH',
      url: `/v1/tenants/${tenant.id}`,
      payload: { overrides: { features: { advanced_analytics: true } } },
    });
    expect((await record()).body.features.advanced_analytics).toBe(true);

    await t.request({ method: 'PATCH', url: `/v1/tenants/${tenant.id}`, payload: { seats: 5 } });
    expect((await record()).body.limits.concurrent_sessions.limit).toBe(25);

    await act(t, tenant.id, 'suspend');
    expect((await record()).body.active).toBe(false);

    await act(t, tenant.id, 'resume');
    expect((await record()).body.active).toBe(true);
    expect(new Set(versions.slice(0, 4)).size).toBe(4);
    // Resuming restores exactly the snapshot before the suspension.
    expect(versions[4]).toBe(versions[2]);

    // The old ETag no longer matches.
    const stale = await entitlements(tenant.id, { 'if-none-match': etags[0] as string });
    expect(stale.status).toBe(200);
  });

  it('keeps the version when nothing it depends on changes', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const before = await entitlements(tenant.id);
    await t.request({
      method: 'PATCH',
      url: `/v1/tenants/${tenant.id}`,
      payload: { name: 'Renamed', metadata: { crm: '1' } },
    });
    const after = await entitlements(tenant.id);
    expect(after.body.version).toBe(before.body.version);
  });

  it('reflects a plan change made now at once', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter', trial_days: 0 });
    const before = await entitlements(tenant.id);
    expect(before.body.features.sso).toBe(false);
    await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/change-plan`,
      payload: { plan: 'pro' },
    });
    const after = await entitlements(tenant.id);
    expect(after.body.plan).toEqual({ key: 'pro', version: 1 });
    expect(after.body.features.sso).toBe(true);
    expect(after.body.version).not.toBe(before.body.version);
    const conditional = await entitlements(tenant.id, { 'if-none-match': String(before.headers.etag) });
    expect(conditional.status).toBe(200);
  });

  it('reflects a system transition (past due) and provisioning without a request', async () => {
    const created = await createTenant(t, { plan: 'pro' });
    const provisioning = await entitlements(created.id);
    expect(provisioning.body).toMatchObject({
      state: 'provisioning',
      active: false,
      reason: 'tenant_provisioning',
    });
    await t.services.jobs.runDue();
    const active = await entitlements(created.id);
    expect(active.body).toMatchObject({ state: 'active', active: true });
    await t.services.tenants.act(systemContext('billing'), created.id, 'mark_past_due');
    const pastDue = await entitlements(created.id);
    expect(pastDue.body).toMatchObject({ state: 'past_due', active: true, reason: null });
    expect(pastDue.body.features.sso).toBe(true);
  });

  for (const [action, state] of [
    ['suspend', 'suspended'],
    ['cancel', 'cancelled'],
  ] as const) {
    it(`gives a ${state} tenant nothing: active false, reason tenant_${state}`, async () => {
      const tenant = await provisionedTenant(t, { plan: 'pro', seats: 2 });
      expect((await entitlements(tenant.id)).body.features.sso).toBe(true);
      expect((await act(t, tenant.id, action)).status).toBe(200);
      const response = await entitlements(tenant.id);
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({
        tenant_id: tenant.id,
        state,
        active: false,
        reason: `tenant_${state}`,
        plan: null,
        features: {},
        limits: {},
        config: {},
      });
      expect(response.headers.etag).toBe(`"${response.body.version}"`);
    });
  }

  it('gives a deleted tenant nothing, and its old slug no snapshot', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    await act(t, tenant.id, 'cancel');
    await t.request({ method: 'DELETE', url: `/v1/tenants/${tenant.id}` });
    const byId = await entitlements(tenant.id);
    expect(byId.body).toMatchObject({ active: false, reason: 'tenant_deleted', features: {} });
    const bySlug = await entitlements(tenant.slug);
    expect(bySlug.status).toBe(404);
  });

  it("never serves one tenant's snapshot for another", async () => {
    const a = await provisionedTenant(t, { plan: 'pro' });
    const b = await provisionedTenant(t, { plan: 'starter', trial_days: 0 });
    const ea = await entitlements(a.id);
    const eb = await entitlements(b.id);
    expect(ea.body.tenant_id).toBe(a.id);
    expect(eb.body.tenant_id).toBe(b.id);
    expect(eb.body.features.sso).toBe(false);
    // B's ETag is not A's.
    expect((await entitlements(a.id, { 'if-none-match': String(eb.headers.etag) })).status).toBe(200);
  });

  it('answers 404 for an unknown tenant and 401 without a valid key', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const missing = await entitlements('ten_00000000000000000000000000');
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('tenant_not_found');
    const noKey = await t.app.inject({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
    expect(noKey.statusCode).toBe(401);
    expect(noKey.json().code).toBe('missing_api_key');
    expect(noKey.body).not.toContain('"features"');
    const badKey = await t.app.inject({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/entitlements`,
      headers: { authorization: 'Bearer tnt_op_not-a-real-key-at-all-000000' },
    });
    expect(badKey.statusCode).toBe(401);
    expect(badKey.json().code).toBe('invalid_api_key');
  });

  it('serves a snapshot changed by another control-plane process for at most entitlementMaxAgeMs', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const before = await entitlements(tenant.id);
    expect(before.body.active).toBe(true);
    // A second process over the same database; its changes cannot tell this process's cache.
    const other = otherProcess(t);
    const suspended = await other.tenants.act(systemContext('other-process'), tenant.id, 'suspend');
    expect(suspended.ok).toBe(true);
    expect(await other.entitlements.get(tenant.id)).toMatchObject({
      ok: true,
      value: { snapshot: { active: false } },
    });
    t.clock.advance(5_000);
    const after = await entitlements(tenant.id);
    expect(after.body).toMatchObject({ active: false, reason: 'tenant_suspended' });
    expect(after.body.version).not.toBe(before.body.version);
  });

  it('hears at once, through NOTIFY, of a change another control-plane process committed', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    expect((await entitlements(tenant.id)).body.active).toBe(true);
    const unfollow = await followTenantChanges(t.services.database, (id) =>
      t.services.entitlements.invalidate(id),
    );
    try {
      const other = otherProcess(t);
      expect((await other.tenants.act(systemContext('other-process'), tenant.id, 'suspend')).ok).toBe(true);
      // The clock stands still, so only the notification can refresh this process's snapshot.
      const seen = await until(
        'the suspension is seen',
        async () => {
          const body = (await entitlements(tenant.id)).body;
          return body.active === false ? body : undefined;
        },
        { intervalMs: 10 },
      );
      expect(seen).toMatchObject({ active: false, reason: 'tenant_suspended' });
    } finally {
      await unfollow();
    }
  });

  it('moves to the next period when the period ends', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const before = await entitlements(tenant.id);
    t.clock.advance(Date.parse(before.body.period.end) - t.clock.now().getTime());
    const after = await entitlements(tenant.id);
    expect(after.body.period.start).toBe(before.body.period.end);
    expect(after.body.limits.meetings.resets_at).toBe(after.body.period.end);
    expect(after.body.version).not.toBe(before.body.version);
  });
});
