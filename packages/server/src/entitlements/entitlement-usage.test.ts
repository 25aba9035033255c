import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otherProcess, startTestApp, type TestApp } from '../../test/harness.ts';
import { applyPlans, fixture, provisionedTenant } from '../../test/tenant-support.ts';
import { until } from '../../test/until.ts';
import { followTenantChanges } from '../changes/index.ts';

// `used` and `remaining` of the limits in a tenant's entitlement snapshot, from its usage.

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t, fixture('quotas.yaml'));
});
afterAll(() => t.close());

let seq = 0;

interface EventSpec {
  meter?: string;
  value?: number;
  subject?: string;
  time?: Date;
}

/** Ingests `n` events through the API; returns their ids. */
async function spend(tenant: string, n: number, spec: EventSpec = {}): Promise<string[]> {
  const time = (spec.time ?? t.clock.now()).toISOString();
  const batch = Array.from({ length: n }, () => {
    seq += 1;
    return {
      id: `ent-${seq}`,
      tenant,
      meter: spec.meter ?? 'meetings',
      time,
      ...(spec.value === undefined ? {} : { value: spec.value }),
      ...(spec.subject === undefined ? {} : { subject: spec.subject }),
    };
  });
  const response = await t.request({ method: 'POST', url: '/v1/events', payload: batch });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  expect(response.body).toMatchObject({ accepted: n, rejected: [] });
  return batch.map((e) => e.id);
}

async function voidEvent(tenant: string, id: string): Promise<void> {
  const voided = await t.request({
    method: 'POST',
    url: `/v1/tenants/${tenant}/events/${id}/void`,
    payload: { reason: 'test' },
  });
  expect(voided.status, JSON.stringify(voided.body)).toBe(200);
}

async function limits(
  tenant: string,
): Promise<Record<string, { limit: number | null; used: number | null; remaining: number | null }>> {
  const response = await t.request({ method: 'GET', url: `/v1/tenants/${tenant}/entitlements` });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.limits;
}

async function version(tenant: string): Promise<string> {
  const response = await t.request({ method: 'GET', url: `/v1/tenants/${tenant}/entitlements` });
  return response.body.version;
}

describe('used and remaining in entitlement snapshots', () => {
  it('follow ingested usage and voids at once, though the snapshot was cached', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    expect((await limits(tenant.id)).meetings).toMatchObject({ limit: 100, used: 0, remaining: 100 });
    const before = await version(tenant.id);
    const ids = await spend(tenant.id, 30);
    expect((await limits(tenant.id)).meetings).toMatchObject({ limit: 100, used: 30, remaining: 70 });
    expect(await version(tenant.id)).not.toBe(before);
    // Through the ingestion service too, and by slug.
    const result = await t.services.usage.ingest.ingest(
      [{ id: 'ent-direct', tenant: tenant.slug, meter: 'meetings', time: t.clock.now().toISOString() }],
      'tenantry',
    );
    expect(result.accepted).toBe(1);
    expect((await limits(tenant.id)).meetings).toMatchObject({ used: 31, remaining: 69 });
    expect((await limits(tenant.slug)).meetings).toMatchObject({ used: 31, remaining: 69 });
    await voidEvent(tenant.id, ids[0] as string);
    await voidEvent(tenant.id, ids[1] as string);
    expect((await limits(tenant.id)).meetings).toMatchObject({ used: 29, remaining: 71 });
    // Duplicates change nothing.
    const replay = await t.services.usage.ingest.ingest(
      [{ id: 'ent-direct', tenant: tenant.id, meter: 'meetings', time: t.clock.now().toISOString() }],
      'tenantry',
    );
    expect(replay.duplicates).toBe(1);
    expect((await limits(tenant.id)).meetings).toMatchObject({ used: 29, remaining: 71 });
  });

  it('never shows remaining below 0, for hard and soft limits', async () => {
    const hard = await provisionedTenant(t, { plan: 'starter' });
    await spend(hard.id, 130);
    expect((await limits(hard.id)).meetings).toMatchObject({ limit: 100, used: 130, remaining: 0 });
    const soft = await provisionedTenant(t, { plan: 'pro' });
    await spend(soft.id, 1001);
    expect((await limits(soft.id)).meetings).toMatchObject({ limit: 1000, used: 1001, remaining: 0 });
  });

  it('show the current level of a gauge: the sum of each subject’s last value', async () => {
    // 5 sessions per seat × 3 seats.
    const tenant = await provisionedTenant(t, { plan: 'pro', seats: 3 });
    expect((await limits(tenant.id)).concurrent_sessions).toMatchObject({
      limit: 15,
      used: 0,
      remaining: 15,
    });
    const gauge = (subject: string, value: number) =>
      spend(tenant.id, 1, { meter: 'concurrent_sessions', subject, value });
    await gauge('node-a', 4);
    await gauge('node-b', 6);
    expect((await limits(tenant.id)).concurrent_sessions).toMatchObject({ used: 10, remaining: 5 });
    t.clock.advance(60_000);
    const [latest] = await gauge('node-a', 1);
    expect((await limits(tenant.id)).concurrent_sessions).toMatchObject({ used: 7, remaining: 8 });
    t.clock.advance(60_000);
    await gauge('node-c', 12);
    expect((await limits(tenant.id)).concurrent_sessions).toMatchObject({ used: 19, remaining: 0 });
    // Voiding a subject's last value brings back the one before it.
    await voidEvent(tenant.id, latest as string);
    expect((await limits(tenant.id)).concurrent_sessions).toMatchObject({ used: 22, remaining: 0 });
    t.clock.advance(60_000);
    await gauge('node-c', 0);
    expect((await limits(tenant.id)).concurrent_sessions).toMatchObject({ used: 10, remaining: 5 });
    // Metered limits of the same tenant are unaffected.
    expect((await limits(tenant.id)).meetings).toMatchObject({ used: 0, remaining: 1000 });
  });

  it('count distinct values for unique_count limits', async () => {
    const tenant = await provisionedTenant(t, { plan: 'team' });
    await spend(tenant.id, 5, { meter: 'active_users', subject: 'ann', value: 1 });
    await spend(tenant.id, 2, { meter: 'active_users', subject: 'bob', value: 1 });
    expect((await limits(tenant.id)).active_users).toMatchObject({ limit: 10, used: 2, remaining: 8 });
  });

  it('show the seat count for seats, following seat changes', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter', seats: 4 });
    expect((await limits(tenant.id)).seats).toMatchObject({ limit: 10, used: 4, remaining: 6 });
    const updated = await t.request({
      method: 'PATCH',
      url: `/v1/tenants/${tenant.id}`,
      payload: { seats: 10 },
    });
    expect(updated.status, JSON.stringify(updated.body)).toBe(200);
    expect((await limits(tenant.id)).seats).toMatchObject({ limit: 10, used: 10, remaining: 0 });
  });

  it('leave unlimited limits without remaining, and count overridden limits', async () => {
    const tenant = await provisionedTenant(t, {
      plan: 'starter',
      overrides: { limits: { active_users: { value: 3 } } },
    });
    await spend(tenant.id, 1, { meter: 'storage_gb', value: 2.5 });
    await spend(tenant.id, 1, { meter: 'active_users', subject: 'ann', value: 1 });
    const shown = await limits(tenant.id);
    expect(shown.storage_gb).toMatchObject({ limit: null, used: 2.5, remaining: null });
    expect(shown.active_users).toMatchObject({ limit: 3, used: 1, remaining: 2 });
  });

  it('count only the current period: usage before the tenant’s period does not count', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    const start = Date.parse(tenant.current_period.start);
    // Up to the late window, events before the period are accepted, and belong to no period of this tenant's.
    await spend(tenant.id, 3, { time: new Date(start - 1) });
    await spend(tenant.id, 2, { time: new Date(start) });
    expect((await limits(tenant.id)).meetings).toMatchObject({ used: 2, remaining: 98 });
  });

  // Moves the clock a month on: keep it last.
  it('start again in a new period', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    await spend(tenant.id, 40);
    expect((await limits(tenant.id)).meetings).toMatchObject({ used: 40, remaining: 60 });
    t.clock.advance(Date.parse(tenant.current_period.end) - t.clock.now().getTime());
    expect((await limits(tenant.id)).meetings).toMatchObject({ used: 0, remaining: 100 });
    await spend(tenant.id, 5);
    expect((await limits(tenant.id)).meetings).toMatchObject({ used: 5, remaining: 95 });
  });
});

describe('usage recorded by another control-plane process', () => {
  it('reaches this process through NOTIFY, long before the snapshot would expire', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    t.clock.advance(60_000);
    const read = async () =>
      (await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` })).body;
    expect((await read()).limits.meetings.used).toBe(0);
    const unfollow = await followTenantChanges(t.services.database, (id) =>
      t.services.entitlements.invalidate(id),
    );
    try {
      // Another process over the same database: its ingestion cannot touch this process's cache.
      const other = otherProcess(t);
      const time = t.clock.now().toISOString();
      const batch = [1, 2, 3].map((n) => ({
        id: `other-${tenant.id}-${n}`,
        tenant: tenant.id,
        meter: 'meetings',
        time,
      }));
      expect(await other.usage.ingest.ingest(batch, 'tenantry')).toMatchObject({ accepted: 3 });
      // The clock stands still, so only the notification can refresh this process's snapshot.
      const used = await until(
        "the other process's usage is seen",
        async () => {
          const seen = (await read()).limits.meetings.used;
          return seen >= 3 ? seen : undefined;
        },
        { intervalMs: 10 },
      );
      expect(used).toBe(3);
    } finally {
      await unfollow();
    }
  });
});
