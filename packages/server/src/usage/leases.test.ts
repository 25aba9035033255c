import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { act, applyPlans, fixture, provisionedTenant } from '../../test/tenant-support.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t, fixture('quotas.yaml'));
});
afterAll(() => t.close());

let seq = 0;

/** Ingests `n` events of `meter` for the tenant through the API, at the clock's time. */
async function spend(tenant: string, n: number, meter = 'meetings', value?: number): Promise<void> {
  const time = t.clock.now().toISOString();
  const events = Array.from({ length: n }, () => {
    seq += 1;
    return { id: `lease-test-${seq}`, tenant, meter, time, ...(value === undefined ? {} : { value }) };
  });
  const response = await t.request({ method: 'POST', url: '/v1/events', payload: events });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  expect(response.body).toMatchObject({ accepted: n, duplicates: 0, rejected: [] });
}

function lease(tenant: string, body: Record<string, unknown>, headers?: Record<string, string>) {
  return t.request({
    method: 'POST',
    url: `/v1/tenants/${tenant}/leases`,
    payload: { instance_id: 'instance-1', ...body },
    ...(headers ? { headers } : {}),
  });
}

function renew(tenant: string, leaseId: string, body: Record<string, unknown>) {
  return t.request({ method: 'POST', url: `/v1/tenants/${tenant}/leases/${leaseId}/renew`, payload: body });
}

function release(tenant: string, leaseId: string, body: Record<string, unknown>) {
  return t.request({ method: 'POST', url: `/v1/tenants/${tenant}/leases/${leaseId}/release`, payload: body });
}

/**
 * Leases `units` of meetings and expects `granted` of them; a grant of nothing is a 409
 * `limit_exhausted` problem naming the meter, the limit and what is used (with open leases).
 */
async function granted(tenant: string, units: number, expected: number, ttl_seconds = 60): Promise<any> {
  const response = await lease(tenant, { meter: 'meetings', units, ttl_seconds });
  if (expected === 0) {
    expect(response.status, JSON.stringify(response.body)).toBe(409);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.body).toMatchObject({
      code: 'limit_exhausted',
      meter: 'meetings',
      limit: 100,
      scope: 'tenant',
    });
    expect(response.body.used + response.body.outstanding).toBeGreaterThanOrEqual(100);
    expect(response.body.detail).toMatch(/across every instance/);
    return response.body;
  }
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  expect(response.body.granted).toBe(expected);
  return response.body;
}

function leaseRow(tenantId: string, id: string) {
  return t.db.database.db
    .selectFrom('usage_leases')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
}

async function starter(): Promise<any> {
  return provisionedTenant(t, { plan: 'starter' });
}

describe('POST /v1/tenants/{id}/leases', () => {
  it('grants up to what remains of a hard limit: limit − period usage − units on open leases', async () => {
    const tenant = await starter();
    await spend(tenant.id, 30);
    const first = await granted(tenant.id, 50, 50);
    expect(first).toMatchObject({
      tenant_id: tenant.id,
      meter: 'meetings',
      instance_id: 'instance-1',
      granted: 50,
      consumed: 0,
      returned: 0,
      released_at: null,
      limit: 100,
      enforcement: 'hard',
      overage: false,
      period: tenant.current_period,
      expires_at: new Date(t.clock.now().getTime() + 60_000).toISOString(),
    });
    expect(first.id).toMatch(/^lse_/);
    // 100 − 30 used − 50 on the first lease.
    await granted(tenant.id, 50, 20);
    await granted(tenant.id, 1, 0);
    const rows = await t.db.database.db
      .selectFrom('usage_leases')
      .select(['granted', 'consumed'])
      .where('tenant_id', '=', tenant.id)
      .orderBy('created_at')
      .execute();
    // The refused request stored no lease.
    expect(rows.map((r) => Number(r.granted)).sort((a, b) => b - a)).toEqual([50, 20]);
  });

  it('answers by slug as by id, and grants nothing once usage alone reaches the limit', async () => {
    const tenant = await starter();
    await spend(tenant.slug, 100);
    const none = await granted(tenant.slug, 10, 0);
    expect(none).toMatchObject({ used: 100, limit: 100 });
    expect(none.detail).toContain(tenant.id);
  });

  it('grants everything under a soft limit and flags the overage', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    await spend(tenant.id, 10);
    const within = await lease(tenant.id, { meter: 'meetings', units: 900 });
    expect(within.status, JSON.stringify(within.body)).toBe(201);
    expect(within.body).toMatchObject({ granted: 900, limit: 1000, enforcement: 'soft', overage: false });
    // 90 remain: a grant of 91 goes past the limit, and is made all the same.
    const past = await lease(tenant.id, { meter: 'meetings', units: 91 });
    expect(past.body).toMatchObject({ granted: 91, limit: 1000, enforcement: 'soft', overage: true });
  });

  it('grants everything of an unlimited limit, and of a meter the plan does not limit', async () => {
    const tenant = await starter();
    const unlimited = await lease(tenant.id, { meter: 'storage_gb', units: 1_000_000 });
    expect(unlimited.status, JSON.stringify(unlimited.body)).toBe(201);
    expect(unlimited.body).toMatchObject({ granted: 1_000_000, limit: null, overage: false });
    const unlisted = await lease(tenant.id, { meter: 'active_users', units: 500 });
    expect(unlisted.status, JSON.stringify(unlisted.body)).toBe(201);
    expect(unlisted.body).toMatchObject({ granted: 500, limit: null });
  });

  it('stops counting a lease once it expires', async () => {
    const tenant = await starter();
    const held = await granted(tenant.id, 100, 100, 60);
    await granted(tenant.id, 10, 0);
    t.clock.advance(59_999);
    await granted(tenant.id, 10, 0);
    // Expired at expires_at exactly: the half-open [granted, expires_at).
    t.clock.advance(1);
    const renewed = await renew(tenant.id, held.id, { consumed: 0 });
    expect(renewed.status).toBe(409);
    expect(renewed.body.code).toBe('lease_closed');
    await granted(tenant.id, 100, 100);
  });

  it('returns the unconsumed units of a released lease at once', async () => {
    const tenant = await starter();
    const held = await granted(tenant.id, 100, 100);
    await spend(tenant.id, 30);
    await granted(tenant.id, 1, 0);
    const released = await release(tenant.id, held.id, { consumed: 30 });
    expect(released.status, JSON.stringify(released.body)).toBe(200);
    expect(released.body).toMatchObject({
      granted: 100,
      consumed: 30,
      returned: 70,
      released_at: t.clock.now().toISOString(),
    });
    await granted(tenant.id, 100, 70);
    const row = await leaseRow(tenant.id, held.id);
    expect(Number(row.consumed)).toBe(30);
    expect(row.released_at).toEqual(t.clock.now());
  });

  it('renews: reports consumption, extends the lease and takes more, counting its own outstanding units', async () => {
    const tenant = await starter();
    const held = await granted(tenant.id, 60, 60);
    // Asking the same lease for 60 more may only give the 40 that no lease holds.
    const more = await renew(tenant.id, held.id, { consumed: 0, units: 60, ttl_seconds: 120 });
    expect(more.status, JSON.stringify(more.body)).toBe(200);
    expect(more.body).toMatchObject({ granted: 100, consumed: 0, returned: 0, overage: false });
    expect(more.body.expires_at).toBe(new Date(t.clock.now().getTime() + 120_000).toISOString());
    await granted(tenant.id, 1, 0);
    const again = await renew(tenant.id, held.id, { consumed: 0, units: 1 });
    expect(again.body.granted).toBe(100);

    await spend(tenant.id, 30);
    const reported = await renew(tenant.id, held.id, { consumed: 30, units: 50 });
    expect(reported.status, JSON.stringify(reported.body)).toBe(200);
    expect(reported.body).toMatchObject({ granted: 100, consumed: 30 });
    await granted(tenant.id, 1, 0);

    // Released with 60 consumed: 40 go back.
    await spend(tenant.id, 30);
    const released = await release(tenant.id, held.id, { consumed: 60 });
    expect(released.body).toMatchObject({ granted: 100, consumed: 60, returned: 40 });
    await granted(tenant.id, 50, 40);
  });

  it('renews through expiry time when renewed before it, keeping the lease open', async () => {
    const tenant = await starter();
    const held = await granted(tenant.id, 100, 100, 60);
    t.clock.advance(50_000);
    const renewed = await renew(tenant.id, held.id, { consumed: 0, ttl_seconds: 60 });
    expect(renewed.status).toBe(200);
    t.clock.advance(50_000);
    // 100 s after the grant, the renewed lease still holds every unit.
    await granted(tenant.id, 1, 0);
    const released = await release(tenant.id, held.id, { consumed: 0 });
    expect(released.status).toBe(200);
  });

  it('refuses a consumption that goes backwards or past the grant, naming consumed, and changes nothing', async () => {
    const tenant = await starter();
    const held = await granted(tenant.id, 40, 40);
    const before = await leaseRow(tenant.id, held.id);
    for (const [call, body] of [
      [renew, { consumed: 41 }],
      [release, { consumed: 41 }],
      [renew, { consumed: 41, units: 10 }],
    ] as const) {
      const refused = await call(tenant.id, held.id, body);
      expect(refused.status, JSON.stringify(refused.body)).toBe(400);
      expect(refused.body.code).toBe('validation_failed');
      expect(refused.body.errors.map((e: { path: string }) => e.path)).toEqual(['consumed']);
    }
    expect(await leaseRow(tenant.id, held.id)).toEqual(before);

    await spend(tenant.id, 10);
    expect((await renew(tenant.id, held.id, { consumed: 10 })).status).toBe(200);
    const backwards = await renew(tenant.id, held.id, { consumed: 9 });
    expect(backwards.status).toBe(400);
    expect(backwards.body.errors[0].path).toBe('consumed');
    const backwardsRelease = await release(tenant.id, held.id, { consumed: 5 });
    expect(backwardsRelease.status).toBe(400);
    const row = await leaseRow(tenant.id, held.id);
    expect(Number(row.consumed)).toBe(10);
    expect(row.released_at).toBeNull();

    const negative = await renew(tenant.id, held.id, { consumed: -1 });
    expect(negative.status).toBe(400);
    expect(negative.body.errors[0].path).toBe('consumed');
  });

  it('refuses to renew or release a released or expired lease (409 lease_closed)', async () => {
    const tenant = await starter();
    const released = await granted(tenant.id, 10, 10);
    expect((await release(tenant.id, released.id, { consumed: 0 })).status).toBe(200);
    const expired = await granted(tenant.id, 10, 10, 5);
    t.clock.advance(5_000);
    for (const id of [released.id, expired.id]) {
      for (const response of [
        await renew(tenant.id, id, { consumed: 0, units: 10 }),
        await release(tenant.id, id, { consumed: 0 }),
      ]) {
        expect(response.status, JSON.stringify(response.body)).toBe(409);
        expect(response.body.code).toBe('lease_closed');
      }
    }
    // The refused renewal took nothing.
    expect(Number((await leaseRow(tenant.id, expired.id)).granted)).toBe(10);
    await granted(tenant.id, 100, 100);
  });

  it('answers 404 for an unknown lease, and for a lease of another tenant', async () => {
    const tenant = await starter();
    const other = await starter();
    const theirs = await granted(other.id, 10, 10);
    for (const id of ['lse_nope', theirs.id]) {
      const renewed = await renew(tenant.id, id, { consumed: 0 });
      expect(renewed.status).toBe(404);
      expect(renewed.body.code).toBe('lease_not_found');
      const released = await release(tenant.id, id, { consumed: 0 });
      expect(released.status).toBe(404);
      expect(released.body.code).toBe('lease_not_found');
    }
    expect((await leaseRow(other.id, theirs.id)).released_at).toBeNull();
  });

  it('refuses grants and renewals to an inactive tenant (409 tenant_inactive), but lets it release', async () => {
    const tenant = await starter();
    const held = await granted(tenant.id, 50, 50);
    await spend(tenant.id, 5);
    const suspended = await act(t, tenant.id, 'suspend', { reason: 'unpaid' });
    expect(suspended.status, JSON.stringify(suspended.body)).toBe(200);
    const refused = await lease(tenant.id, { meter: 'meetings', units: 10 });
    expect(refused.status, JSON.stringify(refused.body)).toBe(409);
    expect(refused.body.code).toBe('tenant_inactive');
    const renewal = await renew(tenant.id, held.id, { consumed: 5, units: 10 });
    expect(renewal.status).toBe(409);
    expect(renewal.body.code).toBe('tenant_inactive');
    expect(Number((await leaseRow(tenant.id, held.id)).granted)).toBe(50);
    // Handing units back is always allowed: they return to the limit for when the tenant resumes.
    const released = await release(tenant.id, held.id, { consumed: 5 });
    expect(released.status, JSON.stringify(released.body)).toBe(200);
    expect(released.body).toMatchObject({ consumed: 5, returned: 45 });
    expect((await act(t, tenant.id, 'resume')).status).toBe(200);
    await granted(tenant.id, 100, 95);
  });

  it('refuses a meter the plan does not declare, or seats, with 400 naming meter', async () => {
    const tenant = await starter();
    for (const meter of ['nope', 'seats']) {
      const refused = await lease(tenant.id, { meter, units: 1 });
      expect(refused.status, JSON.stringify(refused.body)).toBe(400);
      expect(refused.body.code).toBe('validation_failed');
      expect(refused.body.errors.map((e: { path: string }) => e.path)).toEqual(['meter']);
    }
    const count = await t.db.database.db
      .selectFrom('usage_leases')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('tenant_id', '=', tenant.id)
      .executeTakeFirstOrThrow();
    expect(Number(count.n)).toBe(0);
  });

  it('refuses bad bodies, naming the field', async () => {
    const tenant = await starter();
    for (const [body, path] of [
      [{ meter: 'meetings', units: -1 }, 'units'],
      [{ meter: 'meetings', units: 1, ttl_seconds: 3601 }, 'ttl_seconds'],
      [{ meter: 'meetings', units: 1, ttl_seconds: 0 }, 'ttl_seconds'],
      [{ meter: 'meetings', units: 1, instance_id: '' }, 'instance_id'],
      [{ meter: 'meetings', units: 1, extra: true }, 'extra'],
    ] as const) {
      const refused = await lease(tenant.id, body);
      expect(refused.status, JSON.stringify(refused.body)).toBe(400);
      expect(refused.body.errors.map((e: { path: string }) => e.path)).toContain(path);
    }
  });

  it('answers 404 for an unknown tenant', async () => {
    const granted = await lease('ten_nope', { meter: 'meetings', units: 1 });
    expect(granted.status).toBe(404);
    expect(granted.body.code).toBe('tenant_not_found');
    for (const response of [
      await renew('ten_nope', 'lse_x', { consumed: 0 }),
      await release('ten_nope', 'lse_x', { consumed: 0 }),
    ]) {
      expect(response.status).toBe(404);
      expect(response.body.code).toBe('tenant_not_found');
    }
  });

  it('requires an API key (401)', async () => {
    const tenant = await starter();
    const held = await granted(tenant.id, 10, 10);
    for (const authorization of ['', 'Bearer not-a-key']) {
      const headers = { authorization };
      const responses = await Promise.all([
        lease(tenant.id, { meter: 'meetings', units: 1 }, headers),
        t.request({
          method: 'POST',
          url: `/v1/tenants/${tenant.id}/leases/${held.id}/renew`,
          payload: { consumed: 0, units: 50 },
          headers,
        }),
        t.request({
          method: 'POST',
          url: `/v1/tenants/${tenant.id}/leases/${held.id}/release`,
          payload: { consumed: 0 },
          headers,
        }),
      ]);
      for (const response of responses) expect(response.status).toBe(401);
    }
    const row = await leaseRow(tenant.id, held.id);
    expect(Number(row.granted)).toBe(10);
    expect(row.released_at).toBeNull();
    const leases = await t.db.database.db
      .selectFrom('usage_leases')
      .select('id')
      .where('tenant_id', '=', tenant.id)
      .execute();
    expect(leases).toHaveLength(1);
  });

  it('never grants past a hard limit when many grants race', async () => {
    const tenant = await starter();
    await spend(tenant.id, 10);
    const answers = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        lease(tenant.id, { meter: 'meetings', units: 7, instance_id: `i${i}` }),
      ),
    );
    for (const answer of answers) expect([201, 409], JSON.stringify(answer.body)).toContain(answer.status);
    const total = answers.reduce((sum, a) => sum + (a.status === 201 ? a.body.granted : 0), 0);
    expect(total).toBe(90);
    // 90 / 7: twelve full grants and one of 6; the other eleven find nothing left.
    expect(answers.filter((a) => a.status === 409).every((a) => a.body.code === 'limit_exhausted')).toBe(
      true,
    );
  });

  it('never grants past a hard limit when many renewals of one lease race', async () => {
    const tenant = await starter();
    const held = await granted(tenant.id, 10, 10);
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => renew(tenant.id, held.id, { consumed: 0, units: 15 })),
    );
    for (const answer of answers) expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(Number((await leaseRow(tenant.id, held.id)).granted)).toBe(100);
    expect(Math.max(...answers.map((a) => a.body.granted))).toBe(100);
  });

  // Moves the clock a month on: keep it last.
  it('counts a lease still open from the previous period against the new one, also when renewed', async () => {
    const tenant = await starter();
    await spend(tenant.id, 60);
    const end = Date.parse(tenant.current_period.end);
    t.clock.advance(end - 10 * 60_000 - t.clock.now().getTime());
    const held = await granted(tenant.id, 100, 40, 3600);
    t.clock.advance(20 * 60_000);
    // The new period has no usage yet, but the open lease may spend its 40 units in it.
    await granted(tenant.id, 70, 60);
    const renewed = await renew(tenant.id, held.id, { consumed: 0, units: 50 });
    expect(renewed.status, JSON.stringify(renewed.body)).toBe(200);
    expect(renewed.body).toMatchObject({ granted: 40, period: { start: tenant.current_period.end } });
    await granted(tenant.id, 1, 0);
    expect((await release(tenant.id, held.id, { consumed: 0 })).status).toBe(200);
    await granted(tenant.id, 100, 40);
  });
});
