import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { DAY_MS } from '../../test/tenant-support.ts';
import {
  applyUsageMeters,
  checkReport,
  HOUR,
  ingestOk,
  meteredTenant,
  rawEvents,
  usage,
} from '../../test/usage-support.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
  await applyUsageMeters(t);
  // 2026-11-10T12:00Z + 4 h 20 min: tenants made now are anchored at 16:00.
  t.clock.advance(4 * HOUR + 20 * 60_000);
});
afterAll(() => t.close());

const iso = (ms: number) => new Date(ms).toISOString();

function get(tenant: string, query: Record<string, string>) {
  return t.request({ method: 'GET', url: `/v1/tenants/${tenant}/usage?${new URLSearchParams(query)}` });
}

describe('GET /v1/tenants/{id}/usage: windows', () => {
  it('defaults to the current billing period, by day, and takes the tenant by slug', async () => {
    const tenant = await meteredTenant(t);
    await ingestOk(t, [
      { id: 'e', tenant: tenant.id, meter: 'api_calls', value: 3, time: t.clock.now().toISOString() },
    ]);
    const report = await usage(t, tenant.slug, { meter: 'api_calls' });
    expect(report).toMatchObject({
      tenant_id: tenant.id,
      meter: 'api_calls',
      aggregation: 'sum',
      from: tenant.current_period.start,
      to: tenant.current_period.end,
      window: 'day',
      total: 3,
    });
    expect(report.subjects).toBeUndefined();
    // The period starts at 16:00, so its first day bucket is cut there.
    expect(report.series).toEqual([
      { start: tenant.current_period.start, end: '2026-11-11T00:00:00.000Z', value: 3 },
    ]);
  });

  it('cuts hours, UTC days and billing periods, clipping the buckets to [from, to)', async () => {
    const tenant = await meteredTenant(t);
    const anchor = Date.parse(tenant.billing_anchor);
    // Events a little before the anchor (late events of the period before the first), and after.
    const times = [-26 * HOUR - 1, -20 * HOUR, -3 * HOUR, -1, 0, 25 * 60_000 - 1];
    await ingestOk(
      t,
      times.map((offset, i) => ({
        id: `w${i}`,
        tenant: tenant.id,
        meter: 'api_calls',
        value: i + 1,
        time: iso(anchor + offset),
      })),
    );
    const events = await rawEvents(t, tenant.id);
    const now = t.clock.now().getTime();
    const from = anchor - 40 * DAY_MS;
    for (const [window, to] of [
      ['hour', anchor + 3 * HOUR],
      ['day', anchor + 2 * DAY_MS + 5 * HOUR],
      ['month', anchor + 70 * DAY_MS],
    ] as const) {
      const report = await usage(t, tenant.id, { meter: 'api_calls', from: iso(from), to: iso(to), window });
      expect(report.total).toBe(21);
      for (const point of report.series) {
        expect(Date.parse(point.start)).toBeGreaterThanOrEqual(from);
        expect(Date.parse(point.end)).toBeLessThanOrEqual(to);
      }
      checkReport(report, events, 'sum', {
        from,
        to,
        window,
        bySubject: false,
        now,
        anchor: new Date(anchor),
      });
    }
    // Billing periods run on backwards from the anchor: the events before it are in the month
    // before the first period, cut at the anchor, not merged into the first period.
    const months = await usage(t, tenant.id, {
      meter: 'api_calls',
      from: iso(from),
      to: iso(anchor + 70 * DAY_MS),
      window: 'month',
    });
    expect(months.series).toEqual([
      { start: '2026-10-10T16:00:00.000Z', end: tenant.billing_anchor, value: 1 + 2 + 3 + 4 },
      { start: tenant.billing_anchor, end: '2026-12-10T16:00:00.000Z', value: 5 + 6 },
    ]);
    const days = await usage(t, tenant.id, {
      meter: 'api_calls',
      from: iso(anchor - 27 * HOUR),
      to: iso(anchor + HOUR),
      window: 'day',
    });
    expect(days.series).toEqual([
      { start: '2026-11-09T13:00:00.000Z', end: '2026-11-10T00:00:00.000Z', value: 1 + 2 },
      { start: '2026-11-10T00:00:00.000Z', end: '2026-11-10T17:00:00.000Z', value: 3 + 4 + 5 + 6 },
    ]);
  });

  it('groups by subject: a series per subject and the subjects largest first', async () => {
    const tenant = await meteredTenant(t);
    const now = t.clock.now().getTime();
    await ingestOk(t, [
      { id: 'a1', tenant: tenant.id, meter: 'api_calls', value: 1, time: iso(now), subject: 'alice' },
      { id: 'b1', tenant: tenant.id, meter: 'api_calls', value: 5, time: iso(now), subject: 'bob' },
      { id: 'b2', tenant: tenant.id, meter: 'api_calls', value: 2, time: iso(now - HOUR), subject: 'bob' },
      { id: 'n1', tenant: tenant.id, meter: 'api_calls', value: 3, time: iso(now) },
    ]);
    const hour = Math.floor(now / HOUR) * HOUR;
    const report = await usage(t, tenant.id, {
      meter: 'api_calls',
      from: iso(hour - HOUR),
      to: iso(hour + HOUR),
      window: 'hour',
      group_by: 'subject',
    });
    expect(report.subjects).toEqual([
      { subject: 'bob', value: 7 },
      { subject: '', value: 3 },
      { subject: 'alice', value: 1 },
    ]);
    expect(report.total).toBe(11);
    expect(report.series).toEqual([
      { start: iso(hour - HOUR), end: iso(hour), subject: 'bob', value: 2 },
      { start: iso(hour), end: iso(hour + HOUR), subject: '', value: 3 },
      { start: iso(hour), end: iso(hour + HOUR), subject: 'alice', value: 1 },
      { start: iso(hour), end: iso(hour + HOUR), subject: 'bob', value: 5 },
    ]);
  });

  it('answers a range without usage with an empty series and a total of 0', async () => {
    const tenant = await meteredTenant(t);
    for (const meter of ['api_calls', 'peak_memory', 'active_users', 'storage_level', 'storage_gb']) {
      const report = await usage(t, tenant.id, { meter, window: 'hour', group_by: 'subject' });
      expect(report).toMatchObject({ series: [], total: 0, subjects: [] });
    }
  });
});

describe('GET /v1/tenants/{id}/usage: validation', () => {
  it('names query.from and query.to when they are not whole hours, or to is not after from', async () => {
    const tenant = await meteredTenant(t);
    const hour = Math.floor(t.clock.now().getTime() / HOUR) * HOUR;
    const notWhole = await get(tenant.id, {
      meter: 'api_calls',
      from: iso(hour + 1000),
      to: iso(hour + 90 * 60_000),
    });
    expect(notWhole.status).toBe(400);
    expect(notWhole.body.code).toBe('validation_failed');
    expect(notWhole.body.errors.map((e: any) => e.path)).toEqual(['query.from', 'query.to']);
    for (const to of [hour, hour - HOUR]) {
      const backwards = await get(tenant.id, { meter: 'api_calls', from: iso(hour), to: iso(to) });
      expect(backwards.status).toBe(400);
      expect(backwards.body.errors).toEqual([{ path: 'query.to', message: 'must be after from' }]);
    }
    const tooLong = await get(tenant.id, {
      meter: 'api_calls',
      from: iso(hour - 401 * DAY_MS),
      to: iso(hour),
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.errors[0].path).toBe('query.to');
    const notADate = await get(tenant.id, { meter: 'api_calls', from: 'yesterday' });
    expect(notADate.status).toBe(400);
    expect(notADate.body.errors[0].path).toBe('query.from');
  });

  it('names query.meter for an unknown meter and query.window for an unknown window', async () => {
    const tenant = await meteredTenant(t);
    const meter = await get(tenant.id, { meter: 'nope' });
    expect(meter.status).toBe(400);
    expect(meter.body.errors).toEqual([{ path: 'query.meter', message: 'no meter "nope" is declared' }]);
    const missing = await get(tenant.id, {});
    expect(missing.status).toBe(400);
    expect(missing.body.errors[0].path).toBe('query.meter');
    const window = await get(tenant.id, { meter: 'api_calls', window: 'week' });
    expect(window.status).toBe(400);
    expect(window.body.errors[0].path).toBe('query.window');
    const groupBy = await get(tenant.id, { meter: 'api_calls', group_by: 'tenant' });
    expect(groupBy.status).toBe(400);
    expect(groupBy.body.errors[0].path).toBe('query.group_by');
  });

  it('answers 404 tenant_not_found for an unknown tenant', async () => {
    const response = await get('no-such-tenant', { meter: 'api_calls' });
    expect(response.status).toBe(404);
    expect(response.body.code).toBe('tenant_not_found');
  });
});
