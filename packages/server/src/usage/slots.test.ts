import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { applyPlans, fixture, provisionedTenant } from '../../test/tenant-support.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t, fixture('slots.yaml'));
});
afterAll(() => t.close());

async function holder(ttl_seconds = 30): Promise<string> {
  const created = await t.request({
    method: 'POST',
    url: '/v1/slot-holders',
    payload: { instance_id: 'test-instance', ttl_seconds },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  expect(created.body.id).toMatch(/^shd_/);
  return created.body.id;
}

function acquire(tenant: string, body: Record<string, unknown>, headers?: Record<string, string>) {
  return t.request({
    method: 'POST',
    url: `/v1/tenants/${tenant}/slots`,
    payload: body,
    ...(headers ? { headers } : {}),
  });
}

function release(tenant: string, slot: string) {
  return t.request({ method: 'DELETE', url: `/v1/tenants/${tenant}/slots/${slot}` });
}

function heartbeat(holderId: string) {
  return t.request({ method: 'POST', url: `/v1/slot-holders/${holderId}/heartbeat` });
}

/** The level as the entitlements API reports it. */
async function used(tenant: string, meter: string): Promise<number> {
  const read = await t.request({ method: 'GET', url: `/v1/tenants/${tenant}/entitlements` });
  expect(read.status, JSON.stringify(read.body)).toBe(200);
  return read.body.limits[meter].used;
}

/** The level as the usage API reports it. */
async function level(tenant: string, meter: string): Promise<number> {
  const read = await t.request({ method: 'GET', url: `/v1/tenants/${tenant}/usage?meter=${meter}` });
  expect(read.status, JSON.stringify(read.body)).toBe(200);
  return read.body.level;
}

async function slotRows(): Promise<number> {
  const row = await t.db.database.db
    .selectFrom('usage_slots')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

const team = () => provisionedTenant(t, { plan: 'team' });

describe('slots', () => {
  it('hold the pool and each subject cap; the entitlements and usage APIs report the open slots', async () => {
    const tenant = await team();
    const h = await holder();
    const a1 = await acquire(tenant.id, { meter: 'sessions', subject: 'u1', holder_id: h });
    expect(a1.status, JSON.stringify(a1.body)).toBe(201);
    expect(a1.body).toMatchObject({
      tenant_id: tenant.id,
      meter: 'sessions',
      subject: 'u1',
      holder_id: h,
      limit: 4,
      per_subject: 2,
      used: 1,
      subject_used: 1,
      enforcement: 'hard',
      overage: false,
    });
    expect(a1.body.id).toMatch(/^slt_/);
    expect((await acquire(tenant.id, { meter: 'sessions', subject: 'u1', holder_id: h })).status).toBe(201);
    const capped = await acquire(tenant.id, { meter: 'sessions', subject: 'u1', holder_id: h });
    expect(capped.status).toBe(409);
    expect(capped.body).toMatchObject({
      code: 'limit_exhausted',
      meter: 'sessions',
      limit: 2,
      used: 2,
      scope: 'subject',
      subject: 'u1',
    });
    expect(capped.body.detail).not.toMatch(/instance/);
    for (let i = 0; i < 2; i++) {
      expect((await acquire(tenant.id, { meter: 'sessions', subject: 'u2', holder_id: h })).status).toBe(201);
    }
    const pool = await acquire(tenant.id, { meter: 'sessions', subject: 'u3', holder_id: h });
    expect(pool.status).toBe(409);
    expect(pool.body).toMatchObject({ code: 'limit_exhausted', limit: 4, used: 4, scope: 'tenant' });
    expect(await used(tenant.id, 'sessions')).toBe(4);
    expect(await level(tenant.id, 'sessions')).toBe(4);

    const released = await release(tenant.id, a1.body.id);
    expect(released.status, JSON.stringify(released.body)).toBe(200);
    expect(released.body).toMatchObject({ id: a1.body.id, subject: 'u1', released_at: expect.any(String) });
    expect(await used(tenant.id, 'sessions')).toBe(3);
    expect(await level(tenant.id, 'sessions')).toBe(3);
    const again = await release(tenant.id, a1.body.id);
    expect(again.status).toBe(404);
    expect(again.body.code).toBe('slot_not_found');
    expect((await acquire(tenant.id, { meter: 'sessions', subject: 'u3', holder_id: h })).status).toBe(201);
  });

  it("stop counting when their holder's heartbeat lapses, and never come back with it", async () => {
    const tenant = await team();
    const h = await holder(2);
    for (let i = 0; i < 3; i++) {
      expect((await acquire(tenant.id, { meter: 'devices', holder_id: h })).status).toBe(201);
    }
    expect(await used(tenant.id, 'devices')).toBe(3);
    // Heartbeats keep the slots past the first TTL.
    t.clock.advance(1_500);
    const beat = await heartbeat(h);
    expect(beat.status, JSON.stringify(beat.body)).toBe(200);
    expect(beat.body.expires_at).toBe(new Date(t.clock.now().getTime() + 2_000).toISOString());
    t.clock.advance(1_500);
    expect(await used(tenant.id, 'devices')).toBe(3);
    const other = await holder(2);
    expect((await acquire(tenant.id, { meter: 'devices', holder_id: other })).status).toBe(409);
    // The holder lapses at expires_at exactly; the cached snapshot does not outlive it.
    t.clock.advance(500);
    expect(await used(tenant.id, 'devices')).toBe(0);
    expect(await level(tenant.id, 'devices')).toBe(0);
    const late = await acquire(tenant.id, { meter: 'devices', holder_id: h });
    expect(late.status).toBe(409);
    expect(late.body.code).toBe('slot_holder_expired');
    const revived = await heartbeat(h);
    expect(revived.status).toBe(409);
    expect(revived.body.code).toBe('slot_holder_expired');
    expect((await heartbeat(h)).body.code).toBe('slot_holder_not_found');
    const fresh = await holder();
    for (let i = 0; i < 3; i++) {
      expect((await acquire(tenant.id, { meter: 'devices', holder_id: fresh })).status).toBe(201);
    }
    expect(await used(tenant.id, 'devices')).toBe(3);
  });

  it('are all released when their holder is deleted', async () => {
    const tenant = await team();
    const h = await holder();
    await acquire(tenant.id, { meter: 'devices', holder_id: h });
    await acquire(tenant.id, { meter: 'sessions', subject: 'u', holder_id: h });
    const deleted = await t.request({ method: 'DELETE', url: `/v1/slot-holders/${h}` });
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
    expect(deleted.body).toEqual({ id: h, released_slots: 2 });
    expect(await used(tenant.id, 'devices')).toBe(0);
    expect(await used(tenant.id, 'sessions')).toBe(0);
    expect((await t.request({ method: 'DELETE', url: `/v1/slot-holders/${h}` })).status).toBe(404);
  });

  it('admit past a soft limit with overage', async () => {
    const tenant = await provisionedTenant(t, { plan: 'loose' });
    const h = await holder();
    expect((await acquire(tenant.id, { meter: 'sessions', holder_id: h })).body.overage).toBe(false);
    const past = await acquire(tenant.id, { meter: 'sessions', holder_id: h });
    expect(past.status).toBe(201);
    expect(past.body).toMatchObject({ overage: true, used: 2, limit: 1, enforcement: 'soft' });
  });

  it('refuse bad requests with a problem naming the field, and write nothing', async () => {
    const tenant = await team();
    const h = await holder();
    const before = await slotRows();
    const cases: [Record<string, unknown>, number, string, string | undefined][] = [
      [{ meter: 'nope', holder_id: h }, 400, 'validation_failed', 'meter'],
      [{ meter: 'meetings', holder_id: h }, 400, 'validation_failed', 'meter'],
      [{ meter: 'sessions', holder_id: h }, 400, 'validation_failed', 'subject'],
      [{ meter: 'sessions', subject: '', holder_id: h }, 400, 'validation_failed', 'subject'],
      [{ meter: 'sessions', subject: 'a\u0007b', holder_id: h }, 400, 'validation_failed', 'subject'],
      [{ meter: 'sessions', subject: 'x'.repeat(201), holder_id: h }, 400, 'validation_failed', 'subject'],
      [{ meter: 'devices', holder_id: 'shd_unknown' }, 404, 'slot_holder_not_found', 'holder_id'],
      [{ meter: 'devices', holder_id: h, units: 2 }, 400, 'validation_failed', undefined],
    ];
    for (const [body, status, code, path] of cases) {
      const answer = await acquire(tenant.id, body);
      expect(answer.status, JSON.stringify([body, answer.body])).toBe(status);
      expect(answer.body.code).toBe(code);
      if (path !== undefined) expect(answer.body.errors.map((e: { path: string }) => e.path)).toContain(path);
    }
    expect((await acquire('ten_unknown', { meter: 'devices', holder_id: h })).body.code).toBe(
      'tenant_not_found',
    );
    for (const ttl_seconds of [1, 601, 2.5]) {
      const bad = await t.request({
        method: 'POST',
        url: '/v1/slot-holders',
        payload: { instance_id: 'i', ttl_seconds },
      });
      expect(bad.status).toBe(400);
      expect(bad.body.errors[0].path).toBe('ttl_seconds');
    }
    expect(await slotRows()).toBe(before);
  });

  it("cannot release another tenant's slot by naming a different tenant in the path", async () => {
    const victim = await team();
    const attacker = await team();
    const h = await holder();
    const slot = await acquire(victim.id, { meter: 'devices', holder_id: h });
    expect(slot.status).toBe(201);
    const attack = await release(attacker.id, slot.body.id);
    expect(attack.status).toBe(404);
    expect(attack.body.code).toBe('slot_not_found');
    expect(await used(victim.id, 'devices')).toBe(1);
    // The same id under its own tenant is released: only the tenant in the path stopped the attack.
    expect((await release(victim.id, slot.body.id)).status).toBe(200);
    expect(await used(victim.id, 'devices')).toBe(0);
  });

  it('refuse a meter whose feature is off, for slots and for leases alike, and leases refuse gauges', async () => {
    const tenant = await team();
    const h = await holder();
    const lease = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/leases`,
      payload: { meter: 'exports', units: 1, instance_id: 'i' },
    });
    expect(lease.status).toBe(409);
    expect(lease.body).toMatchObject({ code: 'feature_disabled', meter: 'exports', feature: 'exporting' });
    const gauge = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/leases`,
      payload: { meter: 'devices', units: 1, instance_id: 'i' },
    });
    expect(gauge.status).toBe(400);
    expect(gauge.body.errors[0].path).toBe('meter');
    const off = await t.request({
      method: 'PATCH',
      url: `/v1/tenants/${tenant.id}`,
      payload: { overrides: { features: { desktops: false } } },
    });
    expect(off.status, JSON.stringify(off.body)).toBe(200);
    const slot = await acquire(tenant.id, { meter: 'sessions', subject: 'u', holder_id: h });
    expect(slot.status).toBe(409);
    expect(slot.body).toMatchObject({ code: 'feature_disabled', meter: 'sessions', feature: 'desktops' });
  });

  it('honours Idempotency-Key on acquire: one slot for a retried request', async () => {
    const tenant = await team();
    const h = await holder();
    const headers = { 'idempotency-key': `slot-${tenant.id}` };
    const first = await acquire(tenant.id, { meter: 'devices', holder_id: h }, headers);
    const retry = await acquire(tenant.id, { meter: 'devices', holder_id: h }, headers);
    expect(first.status).toBe(201);
    expect(retry.status).toBe(201);
    expect(retry.body.id).toBe(first.body.id);
    expect(await used(tenant.id, 'devices')).toBe(1);
  });

  it('never pass the pool or a subject cap when many acquires race', async () => {
    const tenant = await team();
    const holders = await Promise.all(Array.from({ length: 4 }, () => holder()));
    const devices = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        acquire(tenant.id, { meter: 'devices', holder_id: holders[i % 4] }),
      ),
    );
    expect(devices.filter((a) => a.status === 201)).toHaveLength(3);
    expect(devices.filter((a) => a.status === 409).every((a) => a.body.code === 'limit_exhausted')).toBe(
      true,
    );
    const sessions = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        acquire(tenant.id, { meter: 'sessions', subject: `u${i % 2}`, holder_id: holders[i % 4] }),
      ),
    );
    const admitted = sessions.filter((a) => a.status === 201).map((a) => a.body.subject);
    expect(admitted.sort()).toEqual(['u0', 'u0', 'u1', 'u1']);
    expect(await used(tenant.id, 'devices')).toBe(3);
    expect(await used(tenant.id, 'sessions')).toBe(4);
  });
});
