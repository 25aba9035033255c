import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { auditRows, DAY_MS } from '../../test/tenant-support.ts';
import {
  applyUsageMeters,
  HOUR,
  ingestOk,
  meteredTenant,
  rawEvents,
  rollupState,
  usage,
} from '../../test/usage-support.ts';

let t: TestApp;
let tenant: any;
/** Four whole hours before the clock's hour; the clock stands at base + 4 h 15 min. */
let base: number;

beforeAll(async () => {
  t = await startTestApp();
  await applyUsageMeters(t);
  t.clock.advance(3 * HOUR + 15 * 60_000);
});
afterAll(() => t.close());
beforeEach(async () => {
  // Every test starts with the clock at a quarter past an hour.
  const past = t.clock.now().getTime() % HOUR;
  t.clock.advance((15 * 60_000 - past + HOUR) % HOUR);
  tenant = await meteredTenant(t);
  base = Math.floor(t.clock.now().getTime() / HOUR) * HOUR - 4 * HOUR;
});

/** The ISO time `hours` hours and `minutes` minutes after `base`. */
const h = (hours: number, minutes = 0) => new Date(base + hours * HOUR + minutes * 60_000).toISOString();

function event(id: string, meter: string, time: string, extra: Record<string, unknown> = {}) {
  return { id, tenant: tenant.id, meter, time, ...extra };
}

/** Usage over `[base, base + hours)` by hour: the total and each hour's value (0 when absent). */
async function hourly(meter: string, hours = 5, extra: Record<string, string> = {}) {
  const report = await usage(t, tenant.id, { meter, from: h(0), to: h(hours), window: 'hour', ...extra });
  const values = Array.from({ length: hours }, (_, i) => {
    const point = report.series.find((p: any) => p.start === h(i));
    return point?.value ?? 0;
  });
  for (const point of report.series) expect(Date.parse(point.end) - Date.parse(point.start)).toBe(HOUR);
  return { total: report.total, values, report };
}

function voidEvent(id: string, reason = 'test correction', tenantRef = tenant.id) {
  return t.request({
    method: 'POST',
    url: `/v1/tenants/${tenantRef}/events/${id}/void`,
    payload: { reason },
  });
}

describe('aggregations', () => {
  it('sum adds exact decimals per hour and over the range', async () => {
    await ingestOk(t, [
      event('s1', 'api_calls', h(0, 10), { value: 2.5, subject: 'a' }),
      event('s2', 'api_calls', h(0, 50), { value: 1.25, subject: 'b' }),
      event('s3', 'api_calls', h(1, 5), { value: 4 }),
      event('s4', 'api_calls', h(3, 59), { value: 0.1 }),
      event('s5', 'api_calls', h(3, 0), { value: 0.2 }),
    ]);
    const { total, values } = await hourly('api_calls');
    expect(values).toEqual([3.75, 4, 0, 0.3, 0]);
    expect(total).toBe(8.05);
  });

  it('count counts events, whatever their value', async () => {
    await ingestOk(t, [
      event('c1', 'meetings', h(0, 1)),
      event('c2', 'meetings', h(0, 2), { value: 5 }),
      event('c3', 'meetings', h(2, 0), { value: 0 }),
    ]);
    const { total, values } = await hourly('meetings');
    expect(values).toEqual([2, 0, 1, 0, 0]);
    expect(total).toBe(3);
  });

  it('max is the largest value per hour and over the range, not a sum', async () => {
    await ingestOk(t, [
      event('m1', 'peak_memory', h(0, 1), { value: 3.5 }),
      event('m2', 'peak_memory', h(0, 2), { value: 7 }),
      event('m3', 'peak_memory', h(1, 0), { value: 2 }),
    ]);
    await ingestOk(t, [event('m4', 'peak_memory', h(1, 30), { value: 6.75 })]);
    const { total, values } = await hourly('peak_memory');
    expect(values).toEqual([7, 6.75, 0, 0, 0]);
    expect(total).toBe(7);
  });

  it('unique_count counts distinct subjects per bucket and over the range, not a sum of hours', async () => {
    await ingestOk(t, [
      event('u1', 'active_users', h(0, 1), { subject: 'alice' }),
      event('u2', 'active_users', h(0, 2), { subject: 'bob' }),
      event('u3', 'active_users', h(0, 3), { subject: 'alice' }),
      event('u4', 'active_users', h(2, 0), { subject: 'alice' }),
    ]);
    const { total, values } = await hourly('active_users');
    expect(values).toEqual([2, 0, 1, 0, 0]);
    expect(total).toBe(2);
    const byDay = await usage(t, tenant.id, { meter: 'active_users', from: h(0), to: h(5), window: 'day' });
    // One day bucket, clipped to the range (the clock is mid-afternoon, so the range is in one day).
    expect(byDay.series).toEqual([{ start: h(0), end: h(5), value: 2 }]);
  });

  it('unique_count by a property counts its distinct values across subjects', async () => {
    await ingestOk(t, [
      event('p1', 'active_projects', h(0, 1), { subject: 'alice', properties: { project: 'apollo' } }),
      event('p2', 'active_projects', h(0, 2), { subject: 'bob', properties: { project: 'apollo' } }),
      event('p3', 'active_projects', h(1, 0), { subject: 'bob', properties: { project: 'gemini' } }),
      event('p4', 'active_projects', h(1, 1), { properties: { project: 7 } }),
    ]);
    const { total, values, report } = await hourly('active_projects', 5, { group_by: 'subject' });
    expect(values.slice(0, 2)).toEqual([1, 1]);
    expect(total).toBe(3);
    expect(report.subjects).toEqual([
      { subject: 'bob', value: 2 },
      { subject: '', value: 1 },
      { subject: 'alice', value: 1 },
    ]);
  });

  it('latest is the value of the last event by time, whatever order events arrive in', async () => {
    await ingestOk(t, [
      event('l3', 'storage_level', h(2, 30), { value: 30 }),
      event('l1', 'storage_level', h(0, 10), { value: 10 }),
    ]);
    // Earlier events arriving later change nothing but their own hour.
    await ingestOk(t, [
      event('l2', 'storage_level', h(2, 10), { value: 20 }),
      event('l0', 'storage_level', h(0, 5), { value: 99 }),
      event('l4', 'storage_level', h(1, 0), { value: 5, subject: 'x' }),
    ]);
    const { total, values } = await hourly('storage_level');
    expect(values).toEqual([10, 5, 30, 0, 0]);
    expect(total).toBe(30);
    // Two events at the same instant: the greater id is the later one, in every batch order.
    await ingestOk(t, [event('l9', 'storage_level', h(3, 0), { value: 9 })]);
    await ingestOk(t, [event('l8', 'storage_level', h(3, 0), { value: 8 })]);
    expect((await hourly('storage_level')).total).toBe(9);
  });

  it('time_weighted integrates value × hours: a gauge holds its value until the next event', async () => {
    // Clock at base + 4 h 15 min. 2 from 0:00, 4 from 1:30, 0 from 2:00, 3 from 3:00 up to now.
    await ingestOk(t, [
      event('g1', 'concurrent_sessions', h(0), { value: 2 }),
      event('g2', 'concurrent_sessions', h(1, 30), { value: 4 }),
      event('g3', 'concurrent_sessions', h(2), { value: 0 }),
      event('g4', 'concurrent_sessions', h(3), { value: 3 }),
    ]);
    const { total, values } = await hourly('concurrent_sessions');
    expect(values).toEqual([2, 3, 0, 3, 0.75]);
    expect(total).toBe(8.75);
    // The open segment after the last event runs to the clock's now, and grows with it.
    t.clock.advance(HOUR);
    const later = await hourly('concurrent_sessions', 6);
    expect(later.values).toEqual([2, 3, 0, 3, 3, 0.75]);
    expect(later.total).toBe(11.75);
    // A range that ends before now takes nothing past its end.
    expect((await hourly('concurrent_sessions', 4)).total).toBe(8);
  });

  it('time_weighted gives the same figures whatever order events arrive in, recomputing after a late one', async () => {
    await ingestOk(t, [
      event('g4', 'concurrent_sessions', h(3), { value: 3 }),
      event('g1', 'concurrent_sessions', h(0), { value: 2 }),
    ]);
    expect((await hourly('concurrent_sessions')).values).toEqual([2, 2, 2, 3, 0.75]);
    await ingestOk(t, [event('g3', 'concurrent_sessions', h(2), { value: 0 })]);
    expect((await hourly('concurrent_sessions')).values).toEqual([2, 2, 0, 3, 0.75]);
    // Late, before events already stored: the hours after it are recomputed.
    await ingestOk(t, [event('g2', 'concurrent_sessions', h(1, 30), { value: 4 })]);
    const { total, values } = await hourly('concurrent_sessions');
    expect(values).toEqual([2, 3, 0, 3, 0.75]);
    expect(total).toBe(8.75);
    // An event before every other one: its value holds until the first of them.
    await ingestOk(t, [event('g0', 'concurrent_sessions', h(-1, 30), { value: 1 })]);
    const earlier = await usage(t, tenant.id, {
      meter: 'concurrent_sessions',
      from: h(-1),
      to: h(5),
      window: 'hour',
    });
    expect(earlier.total).toBe(9.25);
  });

  it('time_weighted keeps a level per subject: the levels of subjects add up', async () => {
    await ingestOk(t, [
      event('a1', 'storage_gb', h(0), { value: 10, subject: 'vol-a' }),
      event('b1', 'storage_gb', h(1), { value: 5, subject: 'vol-b' }),
      event('a2', 'storage_gb', h(2), { value: 0, subject: 'vol-a' }),
    ]);
    // vol-a: 10 GB for 2 h; vol-b: 5 GB from 1:00 to now (4:15) = 16.25 GB-h.
    const { total, values, report } = await hourly('storage_gb', 5, { group_by: 'subject' });
    expect(values.length).toBe(5);
    expect(total).toBe(36.25);
    expect(report.subjects).toEqual([
      { subject: 'vol-a', value: 20 },
      { subject: 'vol-b', value: 16.25 },
    ]);
    const totalOnly = await hourly('storage_gb');
    expect(totalOnly.values).toEqual([10, 15, 5, 5, 1.25]);
  });
});

describe('voids', () => {
  it('keeps a voided event, marked, audits it once, and stops counting it; voiding twice changes nothing', async () => {
    await ingestOk(t, [
      event('v1', 'api_calls', h(0, 10), { value: 5 }),
      event('v2', 'api_calls', h(0, 20), { value: 7 }),
    ]);
    t.clock.advance(60_000);
    const voided = await voidEvent('v2', 'sent twice by the client', tenant.slug);
    expect(voided.status, JSON.stringify(voided.body)).toBe(200);
    expect(voided.body).toMatchObject({
      tenant_id: tenant.id,
      id: 'v2',
      meter: 'api_calls',
      value: 7,
      time: h(0, 20),
      voided_at: t.clock.now().toISOString(),
      void_reason: 'sent twice by the client',
    });
    expect((await hourly('api_calls')).total).toBe(5);
    const audit = (await auditRows(t, tenant.id)).filter((r) => r.action === 'usage_event.voided');
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ target_type: 'usage_event', target_id: 'v2' });
    const rollups = await rollupState(t, tenant.id);

    t.clock.advance(60_000);
    const again = await voidEvent('v2', 'another reason');
    expect(again.status).toBe(200);
    expect(again.body).toEqual(voided.body);
    expect((await auditRows(t, tenant.id)).filter((r) => r.action === 'usage_event.voided')).toHaveLength(1);
    expect(await rollupState(t, tenant.id)).toEqual(rollups);

    // The event is still stored; re-sending it is a duplicate and does not bring it back.
    const events = await rawEvents(t, tenant.id);
    expect(events.map((e) => [e.id, e.voided]).sort()).toEqual([
      ['v1', false],
      ['v2', true],
    ]);
    const resent = await ingestOk(t, [event('v2', 'api_calls', h(0, 20), { value: 7 })]);
    expect(resent).toEqual({ accepted: 0, duplicates: 1, rejected: [] });
    expect((await hourly('api_calls')).total).toBe(5);
  });

  it('answers 404 for an unknown event or tenant, and 400 without a reason', async () => {
    const unknown = await voidEvent('nope');
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('usage_event_not_found');
    const other = await meteredTenant(t);
    await ingestOk(t, [{ id: 'theirs', tenant: other.id, meter: 'meetings', time: h(4) }]);
    // An event of another tenant is not found through this one.
    expect((await voidEvent('theirs')).status).toBe(404);
    const noTenant = await voidEvent('theirs', 'x', 'no-such-tenant');
    expect(noTenant.status).toBe(404);
    expect(noTenant.body.code).toBe('tenant_not_found');
    const noReason = await t.request({
      method: 'POST',
      url: `/v1/tenants/${other.id}/events/theirs/void`,
      payload: { reason: '  ' },
    });
    expect(noReason.status).toBe(400);
    expect(noReason.body.errors[0].path).toBe('reason');
    expect((await rawEvents(t, other.id))[0]?.voided).toBe(false);
  });

  it('stops a voided event counting in count, max, latest and unique_count', async () => {
    await ingestOk(t, [
      event('c1', 'meetings', h(0, 1)),
      event('c2', 'meetings', h(0, 2)),
      event('x1', 'peak_memory', h(0, 1), { value: 4 }),
      event('x2', 'peak_memory', h(0, 2), { value: 9 }),
      event('l1', 'storage_level', h(0, 1), { value: 4 }),
      event('l2', 'storage_level', h(1, 2), { value: 9 }),
      event('u1', 'active_users', h(0, 1), { subject: 'alice' }),
      event('u2', 'active_users', h(0, 2), { subject: 'bob' }),
      event('u3', 'active_users', h(1, 2), { subject: 'bob' }),
      event('p1', 'active_projects', h(0, 1), { properties: { project: 'apollo' } }),
      event('p2', 'active_projects', h(0, 2), { properties: { project: 'gemini' } }),
    ]);
    for (const id of ['c2', 'x2', 'l2', 'u2', 'u1', 'p2']) expect((await voidEvent(id)).status).toBe(200);
    expect((await hourly('meetings')).total).toBe(1);
    expect((await hourly('peak_memory')).total).toBe(4);
    expect((await hourly('storage_level')).values).toEqual([4, 0, 0, 0, 0]);
    expect((await hourly('storage_level')).total).toBe(4);
    // bob is still active through u3; alice is not any more.
    const users = await hourly('active_users');
    expect(users.values).toEqual([0, 1, 0, 0, 0]);
    expect(users.total).toBe(1);
    expect((await hourly('active_projects')).total).toBe(1);
  });

  it('stops a voided gauge event counting: the previous value holds until the next event', async () => {
    await ingestOk(t, [
      event('g1', 'concurrent_sessions', h(0), { value: 2 }),
      event('g2', 'concurrent_sessions', h(1, 30), { value: 4 }),
      event('g3', 'concurrent_sessions', h(2), { value: 0 }),
      event('g4', 'concurrent_sessions', h(3), { value: 3 }),
    ]);
    expect((await voidEvent('g2')).status).toBe(200);
    expect((await hourly('concurrent_sessions')).values).toEqual([2, 2, 0, 3, 0.75]);
    // Voiding the last event: the level of the one before runs on to now.
    expect((await voidEvent('g4')).status).toBe(200);
    expect((await hourly('concurrent_sessions')).values).toEqual([2, 2, 0, 0, 0]);
    expect((await voidEvent('g3')).status).toBe(200);
    const { values, total } = await hourly('concurrent_sessions');
    expect(values).toEqual([2, 2, 2, 2, 0.5]);
    expect(total).toBe(8.5);
    expect((await voidEvent('g1')).status).toBe(200);
    expect((await hourly('concurrent_sessions')).total).toBe(0);
  });
});

describe('late events', () => {
  it('land in the billing period they belong to, not the current one', async () => {
    // A month and two days on, the tenant is in its second period; the first is 33 days back,
    // within the 35-day late window.
    t.clock.advance(32 * DAY_MS);
    const shown = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}` });
    const current = shown.body.current_period;
    expect(current.start).not.toBe(tenant.current_period.start);
    const previous = tenant.current_period;
    const lastDayOfPrevious = new Date(Date.parse(current.start) - DAY_MS).toISOString();
    await ingestOk(t, [
      event('late', 'api_calls', lastDayOfPrevious, { value: 40 }),
      event('now', 'api_calls', t.clock.now().toISOString(), { value: 2 }),
    ]);
    expect((await usage(t, tenant.id, { meter: 'api_calls' })).total).toBe(2);
    const byPeriod = await usage(t, tenant.id, {
      meter: 'api_calls',
      from: previous.start,
      to: current.end,
      window: 'month',
    });
    expect(byPeriod.series).toEqual([
      { start: previous.start, end: previous.end, value: 40 },
      { start: current.start, end: current.end, value: 2 },
    ]);
    expect(byPeriod.total).toBe(42);
  });
});
