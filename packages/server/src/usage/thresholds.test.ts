import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { applyPlans, fixture, provisionedTenant } from '../../test/tenant-support.ts';

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
  id?: string;
}

/** `n` events (or the given ones) for the tenant, at the clock's time. */
function events(tenant: string, n: number, spec: EventSpec = {}): Record<string, unknown>[] {
  const time = t.clock.now().toISOString();
  return Array.from({ length: n }, () => {
    seq += 1;
    return {
      id: spec.id ?? `th-${seq}`,
      tenant,
      meter: spec.meter ?? 'meetings',
      time,
      ...(spec.value === undefined ? {} : { value: spec.value }),
      ...(spec.subject === undefined ? {} : { subject: spec.subject }),
    };
  });
}

/** Ingests a batch, then lets the threshold checker run, as a server's worker does on each commit. */
async function ingest(batch: Record<string, unknown>[], accepted = batch.length): Promise<void> {
  const result = await t.services.usage.ingest.ingest(batch, 'tenantry');
  expect(result.rejected).toEqual([]);
  expect(result.accepted).toBe(accepted);
  await t.services.usage.thresholds.drain();
}

/** The recorded thresholds of the tenant, by meter and period, in order. */
async function recorded(tenantId: string) {
  await t.services.usage.thresholds.drain();
  const rows = await t.db.database.db
    .selectFrom('usage_thresholds')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .orderBy('period_start')
    .orderBy('meter')
    .orderBy('threshold')
    .execute();
  return rows.map((r) => ({
    meter: r.meter,
    period_start: r.period_start.toISOString(),
    threshold: r.threshold,
    limit: Number(r.limit_value),
    used: Number(r.used),
  }));
}

/** The `usage.threshold_reached` events raised for the tenant, oldest first. */
async function raised(tenantId: string) {
  await t.services.usage.thresholds.drain();
  const rows = await t.db.database.db
    .selectFrom('domain_events')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('type', '=', 'usage.threshold_reached')
    .orderBy('occurred_at')
    .orderBy('id')
    .execute();
  return rows.map(
    (r) =>
      r.data as { meter: string; threshold: number; used: number; limit: number; period: { start: string } },
  );
}

/** The thresholds raised, as `meter@threshold` in order of meter then threshold. */
async function raisedKeys(tenantId: string): Promise<string[]> {
  return (await raised(tenantId)).map((e) => `${e.meter}@${e.threshold}`).sort();
}

describe('usage thresholds', () => {
  it('records 80% and 100% of a limit once each, with a usage.threshold_reached event', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    const start = tenant.current_period.start;
    await ingest(events(tenant.id, 79));
    expect(await recorded(tenant.id)).toEqual([]);
    await ingest(events(tenant.id, 1));
    expect(await recorded(tenant.id)).toEqual([
      { meter: 'meetings', period_start: start, threshold: 80, limit: 100, used: 80 },
    ]);
    const [event] = await raised(tenant.id);
    expect(event).toEqual({
      tenant_id: tenant.id,
      meter: 'meetings',
      threshold: 80,
      limit: 100,
      used: 80,
      period: tenant.current_period,
    });
    await ingest(events(tenant.id, 19));
    expect(await raisedKeys(tenant.id)).toEqual(['meetings@80']);
    await ingest(events(tenant.id, 1));
    await ingest(events(tenant.id, 15));
    expect(await recorded(tenant.id)).toEqual([
      { meter: 'meetings', period_start: start, threshold: 80, limit: 100, used: 80 },
      { meter: 'meetings', period_start: start, threshold: 100, limit: 100, used: 100 },
    ]);
    expect(await raisedKeys(tenant.id)).toEqual(['meetings@100', 'meetings@80']);
  });

  it('records both thresholds when one batch jumps over them', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    await ingest(events(tenant.id, 130));
    expect((await recorded(tenant.id)).map((r) => [r.threshold, r.used])).toEqual([
      [80, 130],
      [100, 130],
    ]);
    expect(await raisedKeys(tenant.id)).toEqual(['meetings@100', 'meetings@80']);
  });

  it('records each threshold once when many concurrent batches cross it together', async () => {
    // Several tenants at once, each crossing with 12 batches of distinct subjects (so that no
    // batch waits on another's rollup row): every batch must see the others' usage or its own.
    const tenants = await Promise.all(
      Array.from({ length: 4 }, () => provisionedTenant(t, { plan: 'starter' })),
    );
    await Promise.all(tenants.map((tenant) => ingest(events(tenant.id, 70))));
    await Promise.all(
      tenants.flatMap((tenant) =>
        Array.from({ length: 12 }, (_, i) => ingest(events(tenant.id, 3, { subject: `user-${i}` }))),
      ),
    );
    for (const tenant of tenants) {
      // 70 + 36 = 106: both thresholds reached.
      expect((await recorded(tenant.id)).map((r) => r.threshold)).toEqual([80, 100]);
      expect(await raisedKeys(tenant.id)).toEqual(['meetings@100', 'meetings@80']);
    }
  });

  it('records a threshold once when concurrent batches each cross it on their own', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    await ingest(events(tenant.id, 79));
    await Promise.all(
      Array.from({ length: 16 }, (_, i) => ingest(events(tenant.id, 1, { subject: `s${i}` }))),
    );
    expect((await recorded(tenant.id)).map((r) => r.threshold)).toEqual([80]);
    expect(await raisedKeys(tenant.id)).toEqual(['meetings@80']);
  });

  it('does not raise again on replays, nor after voids and new usage in the same period', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    const batch = events(tenant.id, 85);
    await ingest(batch);
    await ingest(batch, 0);
    expect(await raisedKeys(tenant.id)).toEqual(['meetings@80']);
    // Voiding below the threshold keeps the record: it was reached.
    for (const event of batch.slice(0, 10)) {
      const voided = await t.request({
        method: 'POST',
        url: `/v1/tenants/${tenant.id}/events/${String(event.id)}/void`,
        payload: { reason: 'duplicate meeting' },
      });
      expect(voided.status, JSON.stringify(voided.body)).toBe(200);
    }
    const usage = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/usage?meter=meetings` });
    expect(usage.body.total).toBe(75);
    expect((await recorded(tenant.id)).map((r) => [r.threshold, r.used])).toEqual([[80, 85]]);
    // Crossing it again in the same period raises nothing new.
    await ingest(events(tenant.id, 10));
    await ingest(batch, 0);
    expect((await recorded(tenant.id)).map((r) => [r.threshold, r.used])).toEqual([[80, 85]]);
    expect(await raisedKeys(tenant.id)).toEqual(['meetings@80']);
  });

  it("uses the plan's own thresholds", async () => {
    const tenant = await provisionedTenant(t, { plan: 'team' });
    await ingest(events(tenant.id, 499));
    expect(await recorded(tenant.id)).toEqual([]);
    await ingest(events(tenant.id, 1));
    await ingest(events(tenant.id, 350));
    expect((await recorded(tenant.id)).map((r) => r.threshold)).toEqual([50]);
    await ingest(events(tenant.id, 50));
    await ingest(events(tenant.id, 100));
    expect((await recorded(tenant.id)).map((r) => [r.threshold, r.used])).toEqual([
      [50, 500],
      [90, 900],
      [100, 1000],
    ]);
    expect(await raisedKeys(tenant.id)).toEqual(['meetings@100', 'meetings@50', 'meetings@90']);
  });

  it("uses a tenant's overridden thresholds, of each limited meter separately", async () => {
    const tenant = await provisionedTenant(t, {
      plan: 'team',
      overrides: { limits: { meetings: { value: 40, thresholds: [25, 75] } } },
    });
    await ingest([
      ...events(tenant.id, 10),
      ...events(tenant.id, 8, { meter: 'active_users', subject: 'x', value: 1 }),
    ]);
    expect((await recorded(tenant.id)).map((r) => `${r.meter}@${r.threshold}`)).toEqual(['meetings@25']);
    // 8 events of one user: one active user, 10% of 10.
    await ingest(
      Array.from({ length: 8 }, (_, i) =>
        events(tenant.id, 1, { meter: 'active_users', subject: `u${i}`, value: 1 }),
      ).flat(),
    );
    await ingest(events(tenant.id, 20));
    expect((await recorded(tenant.id)).map((r) => `${r.meter}@${r.threshold}=${r.used}`)).toEqual([
      'active_users@80=9',
      'meetings@25=10',
      'meetings@75=30',
    ]);
  });

  it('checks gauge limits against the current level: the sum of each subject’s last value', async () => {
    // 5 sessions per seat × 2 seats.
    const tenant = await provisionedTenant(t, { plan: 'pro', seats: 2 });
    const gauge = (subject: string, value: number) =>
      events(tenant.id, 1, { meter: 'concurrent_sessions', subject, value });
    await ingest(gauge('node-a', 5));
    await ingest(gauge('node-b', 2));
    expect(await recorded(tenant.id)).toEqual([]);
    t.clock.advance(1_000);
    await ingest(gauge('node-b', 3));
    expect((await recorded(tenant.id)).map((r) => [r.meter, r.threshold, r.limit, r.used])).toEqual([
      ['concurrent_sessions', 80, 10, 8],
    ]);
    t.clock.advance(1_000);
    await ingest(gauge('node-a', 1));
    t.clock.advance(1_000);
    await ingest(gauge('node-a', 4));
    expect((await recorded(tenant.id)).map((r) => r.threshold)).toEqual([80]);
    t.clock.advance(1_000);
    await ingest(gauge('node-a', 7));
    expect((await recorded(tenant.id)).map((r) => [r.threshold, r.used])).toEqual([
      [80, 8],
      [100, 10],
    ]);
  });

  it('records a soft limit past 100% once, and thresholds above 100%', async () => {
    const tenant = await provisionedTenant(t, {
      plan: 'team',
      overrides: { limits: { storage_gb: { thresholds: [80, 100, 150] } } },
    });
    await ingest(events(tenant.id, 1, { meter: 'storage_gb', value: 60 }));
    expect((await recorded(tenant.id)).map((r) => [r.threshold, r.limit, r.used])).toEqual([
      [80, 50, 60],
      [100, 50, 60],
    ]);
    await ingest(events(tenant.id, 1, { meter: 'storage_gb', value: 14.5 }));
    expect((await recorded(tenant.id)).map((r) => r.threshold)).toEqual([80, 100]);
    await ingest(events(tenant.id, 1, { meter: 'storage_gb', value: 0.5 }));
    expect((await recorded(tenant.id)).map((r) => [r.threshold, r.used])).toEqual([
      [80, 60],
      [100, 60],
      [150, 75],
    ]);
    expect(await raisedKeys(tenant.id)).toEqual(['storage_gb@100', 'storage_gb@150', 'storage_gb@80']);
  });

  it('records nothing for unlimited meters and inactive tenants', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    await ingest(events(tenant.id, 1, { meter: 'storage_gb', value: 1e9 }));
    const suspended = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/suspend`,
      payload: {},
    });
    expect(suspended.status, JSON.stringify(suspended.body)).toBe(200);
    await ingest(events(tenant.id, 120));
    expect(await recorded(tenant.id)).toEqual([]);
    expect(await raised(tenant.id)).toEqual([]);
  });

  // Moves the clock a month on: keep it last.
  it('raises again in a new period', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    await ingest(events(tenant.id, 90));
    t.clock.advance(Date.parse(tenant.current_period.end) - t.clock.now().getTime());
    await ingest(events(tenant.id, 79));
    expect((await recorded(tenant.id)).map((r) => [r.period_start, r.threshold])).toEqual([
      [tenant.current_period.start, 80],
    ]);
    await ingest(events(tenant.id, 1));
    const rows = await recorded(tenant.id);
    expect(rows.map((r) => [r.period_start, r.threshold, r.used])).toEqual([
      [tenant.current_period.start, 80, 90],
      [tenant.current_period.end, 80, 80],
    ]);
    const all = await raised(tenant.id);
    expect(all.map((e) => [e.period.start, e.threshold])).toEqual([
      [tenant.current_period.start, 80],
      [tenant.current_period.end, 80],
    ]);
  });

  it('checks usage against the period it belongs to: late events, and a check that runs after the period ended', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    // 85 meetings in the first period, not yet checked when the period ends.
    const late = events(tenant.id, 85);
    expect((await t.services.usage.ingest.ingest(late.slice(0, 40), 'tenantry')).accepted).toBe(40);
    t.clock.advance(Date.parse(tenant.current_period.end) - t.clock.now().getTime() + 3_600_000);
    // The rest arrive late, in the next period, still timed in the first.
    expect((await t.services.usage.ingest.ingest(late.slice(40), 'tenantry')).accepted).toBe(45);
    expect((await recorded(tenant.id)).map((r) => [r.period_start, r.threshold, r.used])).toEqual([
      [tenant.current_period.start, 80, 85],
    ]);
  });

  it('checks each period a drain finds for a tenant: late usage in the last one and new usage in this one', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    const inFirst = events(tenant.id, 60);
    t.clock.advance(Date.parse(tenant.current_period.end) - t.clock.now().getTime() + 3_600_000);
    // Both batches are queued before the checker runs, so one drain sees hours in two periods.
    for (const batch of [
      events(tenant.id, 85),
      inFirst,
      events(tenant.id, 25, { subject: 'late' }).map((e) => ({ ...e, time: inFirst[0]?.time })),
    ]) {
      expect((await t.services.usage.ingest.ingest(batch, 'tenantry')).accepted).toBe(batch.length);
    }
    expect((await recorded(tenant.id)).map((r) => [r.period_start, r.threshold, r.used])).toEqual([
      [tenant.current_period.start, 80, 85],
      [tenant.current_period.end, 80, 85],
    ]);
  });
});
