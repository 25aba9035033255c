import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyBillingPlans, billingState, invoicesOf } from '../../test/billing-support.ts';
import { eventsOf, stateOfTenant } from '../../test/dunning-support.ts';
import { backend, startTestApp, type TestApp } from '../../test/harness.ts';
import {
  applyPlans,
  auditRows,
  createTenant,
  getTenant,
  provisionedTenant,
} from '../../test/tenant-support.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await applyBillingPlans(t);
});
afterAll(() => t.close());

async function createClock(frozenTime: string): Promise<any> {
  const created = await t.request({
    method: 'POST',
    url: '/v1/test-clocks',
    payload: { frozen_time: frozenTime, name: 'Trial conversion' },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body;
}

/** Advances the clock and runs the worker until the advance is done; returns the clock then. */
async function advance(clockId: string, frozenTime: string): Promise<any> {
  const started = await t.request({
    method: 'POST',
    url: `/v1/test-clocks/${clockId}/advance`,
    payload: { frozen_time: frozenTime },
  });
  expect(started.status, JSON.stringify(started.body)).toBe(200);
  expect(started.body).toMatchObject({
    status: 'advancing',
    advancing_to: new Date(frozenTime).toISOString(),
  });
  await t.services.jobs.runDue();
  const shown = await t.request({ method: 'GET', url: `/v1/test-clocks/${clockId}` });
  expect(shown.body).toMatchObject({ status: 'ready', frozen_time: new Date(frozenTime).toISOString() });
  return shown.body;
}

describe(`test clocks (${backend})`, () => {
  it('runs a test tenant through its trial, its first full period and its invoice; a live tenant sees none of it', async () => {
    // The live tenant's trial ends on the wall clock on 2026-11-24, long before the test clock's
    // time: were the advance to reach live tenants, it would end that trial.
    const live = await provisionedTenant(t, { plan: 'cloud', seats: 1 });
    expect(live.state).toBe('trialing');

    const clock = await createClock('2027-03-01T00:00:00Z');
    const tenant = await provisionedTenant(t, { plan: 'cloud', seats: 1, test_clock: clock.id });
    expect(tenant).toMatchObject({
      state: 'trialing',
      test_clock: clock.id,
      trial_ends_at: '2027-03-15T00:00:00.000Z',
      current_period: { start: '2027-03-01T00:00:00.000Z', end: '2027-04-01T00:00:00.000Z' },
    });

    // Cached before the advance: the advance must not leave the trial's snapshot behind.
    const before = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
    expect(before.body).toMatchObject({ state: 'trialing', period: { start: '2027-03-01T00:00:00.000Z' } });
    await advance(clock.id, '2027-03-20T00:00:00Z');
    const after = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
    expect(after.body).toMatchObject({ state: 'active', period: { start: '2027-03-15T00:00:00.000Z' } });
    expect(await getTenant(t, tenant.id)).toMatchObject({
      state: 'active',
      billing_anchor: '2027-03-15T00:00:00.000Z',
      current_period: { start: '2027-03-15T00:00:00.000Z', end: '2027-04-15T00:00:00.000Z' },
    });
    // Raised at the clock's moments, as real time would have: the reminder three days before.
    expect(
      (await eventsOf(t, tenant.id, 'trial.will_end', 'trial.ended')).map((e) => [e.type, e.at]),
    ).toEqual([
      ['trial.will_end', '2027-03-12T00:00:00.000Z'],
      ['trial.ended', '2027-03-15T00:00:00.000Z'],
    ]);
    expect(await invoicesOf(t, tenant.id)).toEqual([]);

    await advance(clock.id, '2027-04-16T00:00:00Z');
    const [invoice, ...more] = await invoicesOf(t, tenant.id);
    expect(more).toEqual([]);
    expect(invoice).toMatchObject({
      status: 'open',
      total: '30.00',
      period: { start: '2027-03-15T00:00:00.000Z', end: '2027-04-15T00:00:00.000Z' },
    });

    expect(await getTenant(t, live.id)).toMatchObject({ state: 'trialing', test_clock: null });
    expect(await eventsOf(t, live.id, 'trial.will_end', 'trial.ended')).toEqual([]);
    expect(await invoicesOf(t, live.id)).toEqual([]);
  });

  it('fires dunning retries and the suspension when advanced past them', async () => {
    const clock = await createClock('2027-05-01T00:00:00Z');
    const tenant = await provisionedTenant(t, {
      plan: 'cloud',
      seats: 2,
      trial_days: 0,
      test_clock: clock.id,
    });
    await advance(clock.id, '2027-06-01T00:00:00Z');
    const [invoice] = await invoicesOf(t, tenant.id);
    expect(invoice).toMatchObject({ status: 'open', total: '60.00' });

    const failed = await t.request({ method: 'POST', url: `/v1/invoices/${invoice.id}/payment-failed` });
    expect(failed.status, JSON.stringify(failed.body)).toBe(200);
    expect(await stateOfTenant(t, tenant.id)).toEqual({ state: 'past_due', reason: 'payment_failed' });
    // Scheduled in the clock's time; the wall clock's worker does not run them.
    await t.services.jobs.runDue();
    expect(await eventsOf(t, tenant.id, 'invoice.payment_retry')).toEqual([]);

    await advance(clock.id, '2027-06-04T00:00:00Z');
    const retries = await eventsOf(t, tenant.id, 'invoice.payment_retry');
    expect(retries.map((e) => e.at)).toEqual(['2027-06-02T00:00:00.000Z', '2027-06-04T00:00:00.000Z']);
    expect((await stateOfTenant(t, tenant.id)).state).toBe('past_due');

    await advance(clock.id, '2027-06-09T00:00:00Z');
    expect(await stateOfTenant(t, tenant.id)).toEqual({ state: 'suspended', reason: 'nonpayment' });
    const [suspended] = await eventsOf(t, tenant.id, 'tenant.suspended');
    expect(suspended?.at).toBe('2027-06-08T00:00:00.000Z');
  });

  it('takes usage dated in the clock’s time, and checks thresholds in its period', async () => {
    await applyPlans(
      t,
      `currency: usd
meters:
  builds: { aggregation: count }
plans:
  capped:
    name: Capped
    limits:
      builds: { value: 10 }
`,
    );
    const clock = await createClock('2028-01-01T00:00:00Z');
    const tenant = await provisionedTenant(t, { plan: 'capped', trial_days: 0, test_clock: clock.id });
    await advance(clock.id, '2028-01-10T00:00:00Z');
    // Far in the wall clock's future, yet now for the tenant; the wall clock's "now" is too late.
    const events = Array.from({ length: 8 }, (_, i) => ({
      id: `b${i}`,
      tenant: tenant.id,
      meter: 'builds',
      time: '2028-01-09T12:00:00Z',
    }));
    const posted = await t.request({
      method: 'POST',
      url: '/v1/events',
      payload: JSON.stringify([
        ...events,
        { id: 'late', tenant: tenant.id, meter: 'builds', time: t.clock.now().toISOString() },
      ]),
      headers: { 'content-type': 'application/json' },
    });
    expect(posted.status, JSON.stringify(posted.body)).toBe(200);
    expect(posted.body.accepted).toBe(8);
    expect(posted.body.rejected.map((r: any) => r.id)).toEqual(['late']);
    await t.services.usage.thresholds.drain();
    const reached = await eventsOf(t, tenant.id, 'usage.threshold_reached');
    expect(reached.map((e) => [e.data.threshold, e.data.period.start])).toEqual([
      [80, '2028-01-01T00:00:00.000Z'],
    ]);
  });

  it('moves only forward, one advance at a time, and refuses bad input without writing', async () => {
    const clock = await createClock('2027-01-01T00:00:00Z');
    const before = await billingState(t);
    const backwards = await t.request({
      method: 'POST',
      url: `/v1/test-clocks/${clock.id}/advance`,
      payload: { frozen_time: '2026-12-31T00:00:00Z' },
    });
    expect(backwards.status).toBe(400);
    expect(backwards.body).toMatchObject({ code: 'validation_failed', errors: [{ path: 'frozen_time' }] });
    const malformed = await t.request({
      method: 'POST',
      url: `/v1/test-clocks/${clock.id}/advance`,
      payload: { frozen_time: 'next tuesday' },
    });
    expect(malformed.status).toBe(400);
    const unknown = await t.request({
      method: 'POST',
      url: '/v1/test-clocks/clk_nope/advance',
      payload: { frozen_time: '2027-02-01T00:00:00Z' },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('test_clock_not_found');
    const noClock = await t.request({
      method: 'POST',
      url: '/v1/tenants',
      payload: { slug: 'no-clock', name: 'No clock', plan: 'cloud', test_clock: 'clk_nope' },
    });
    expect(noClock.status).toBe(400);
    expect(noClock.body.errors).toEqual([{ path: 'test_clock', message: 'no such test clock' }]);
    expect(await billingState(t)).toEqual(before);

    const started = await t.request({
      method: 'POST',
      url: `/v1/test-clocks/${clock.id}/advance`,
      payload: { frozen_time: '2027-02-01T00:00:00Z' },
    });
    expect(started.body.status).toBe('advancing');
    for (const request of [
      {
        method: 'POST' as const,
        url: `/v1/test-clocks/${clock.id}/advance`,
        payload: { frozen_time: '2027-03-01T00:00:00Z' },
      },
      { method: 'DELETE' as const, url: `/v1/test-clocks/${clock.id}` },
      {
        method: 'POST' as const,
        url: '/v1/tenants',
        payload: { slug: 'busy', name: 'Busy', plan: 'cloud', test_clock: clock.id },
      },
    ]) {
      const refused = await t.request(request);
      expect(refused.status, JSON.stringify(refused.body)).toBe(409);
      expect(refused.body.code).toBe('test_clock_advancing');
    }
    await t.services.jobs.runDue();
    const listed = await t.request({ method: 'GET', url: '/v1/test-clocks' });
    expect(listed.body.data.find((c: any) => c.id === clock.id)).toMatchObject({
      status: 'ready',
      frozen_time: '2027-02-01T00:00:00.000Z',
    });
    const audit = (await auditRows(t)).filter((r) => r.target_id === clock.id).map((r) => r.action);
    expect(audit).toEqual(['test_clock.created', 'test_clock.advanced', 'test_clock.ready']);
  });

  it('advances at most two billing intervals of its shortest plan at once (two years with none), as Stripe does', async () => {
    const clock = await createClock('2027-01-31T00:00:00Z');
    async function tooFar(frozenTime: string, max: string, interval: string) {
      const refused = await t.request({
        method: 'POST',
        url: `/v1/test-clocks/${clock.id}/advance`,
        payload: { frozen_time: frozenTime },
      });
      expect(refused.status, JSON.stringify(refused.body)).toBe(422);
      expect(refused.body).toMatchObject({
        code: 'test_clock_advance_too_far',
        errors: [{ path: 'frozen_time' }],
        max_frozen_time: max,
        interval,
      });
      expect(refused.body.detail).toContain(max);
    }
    // No tenant on it: two years; eight thousand years is refused, not worked through.
    await tooFar('9999-12-31T23:59:59Z', '2029-01-31T00:00:00.000Z', 'year');
    await tooFar('2029-01-31T00:00:00.001Z', '2029-01-31T00:00:00.000Z', 'year');
    // A tenant on a yearly plan keeps two years; one on a monthly plan makes it two months,
    // counted as its periods are (January 31 + one month is February 28).
    await provisionedTenant(t, { plan: 'annual', test_clock: clock.id });
    await tooFar('2029-02-01T00:00:00Z', '2029-01-31T00:00:00.000Z', 'year');
    await provisionedTenant(t, { plan: 'cloud', seats: 1, test_clock: clock.id });
    const withTenants = await billingState(t);
    await tooFar('2027-04-01T00:00:00Z', '2027-03-31T00:00:00.000Z', 'month');
    // Refused with nothing written: the clock stands where it was, ready.
    expect(await billingState(t)).toEqual(withTenants);
    const shown = await t.request({ method: 'GET', url: `/v1/test-clocks/${clock.id}` });
    expect(shown.body).toMatchObject({ status: 'ready', frozen_time: '2027-01-31T00:00:00.000Z' });
    // Up to the cap, in steps: each goes.
    await advance(clock.id, '2027-03-31T00:00:00Z');
    await advance(clock.id, '2027-05-31T00:00:00Z');
  });

  it('deletes the clock with its tenants', async () => {
    const clock = await createClock('2027-01-01T00:00:00Z');
    const tenant = await provisionedTenant(t, { plan: 'cloud', test_clock: clock.id });
    const kept = await createTenant(t, { plan: 'cloud' });
    const deleted = await t.request({ method: 'DELETE', url: `/v1/test-clocks/${clock.id}` });
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
    expect(deleted.body).toEqual({ id: clock.id, deleted: true, tenants: [tenant.id] });
    expect(await getTenant(t, tenant.id)).toMatchObject({
      state: 'deleted',
      state_reason: 'test_clock_deleted',
    });
    expect((await getTenant(t, kept.id)).state).not.toBe('deleted');
    const gone = await t.request({ method: 'GET', url: `/v1/test-clocks/${clock.id}` });
    expect(gone.status).toBe(404);
    const audit = (await auditRows(t)).filter((r) => r.target_id === clock.id || r.target_id === tenant.id);
    expect(audit.map((r) => r.action).slice(-3)).toEqual([
      'tenant.cancelled',
      'tenant.deleted',
      'test_clock.deleted',
    ]);
  });
});

describe(`GET /v1/test-clocks pages (${backend})`, () => {
  it('reads every clock once, newest first, page by page to a null cursor', async () => {
    const made = [];
    for (const day of ['01', '02', '03']) made.push((await createClock(`2027-02-${day}T00:00:00Z`)).id);
    const all = await t.request({ method: 'GET', url: '/v1/test-clocks?limit=100' });
    expect(all.status).toBe(200);
    const ids: string[] = all.body.data.map((c: any) => c.id);
    // Newest first: the three just made lead, the last made at the top.
    expect(ids.slice(0, 3)).toEqual([...made].reverse());
    expect(ids).toEqual([...ids].sort().reverse());

    const paged: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/v1/test-clocks?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`;
      const page = await t.request({ method: 'GET', url });
      expect(page.status, JSON.stringify(page.body)).toBe(200);
      expect(page.body.data.length).toBeLessThanOrEqual(2);
      paged.push(...page.body.data.map((c: any) => c.id));
      cursor = page.body.next_cursor;
      pages++;
    } while (cursor !== null && pages < 100);
    expect(paged).toEqual(ids);
    expect(pages).toBe(Math.ceil(ids.length / 2));
    // Twenty by default.
    const first = await t.request({ method: 'GET', url: '/v1/test-clocks' });
    expect(first.body.data.map((c: any) => c.id)).toEqual(ids.slice(0, 20));
  });

  it('refuses a bad limit, a cursor it did not give and any other parameter, with a 400 naming it, and never a 500', async () => {
    const cases: [query: string, parameter: string][] = [
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['limit=-1', 'limit'],
      ['limit=2.5', 'limit'],
      ['limit=1e400', 'limit'],
      ['limit=123456789012345678901234567890', 'limit'],
      ['limit[]=1&limit[]=2', 'limit'],
      ['limit=1&limit=2', 'limit'],
      ['cursor=', 'cursor'],
      ['cursor=clk_x', 'cursor'],
      [`cursor=${encodeURIComponent("clk_' or 1=1 --")}`, 'cursor'],
      [`cursor=${'x'.repeat(5000)}`, 'cursor'],
      ['starting_after=clk_x', 'starting_after'],
      ['a[b][c]=1', 'a'],
      ['__proto__=1', '__proto__'],
      ['constructor=1', 'constructor'],
      [`${encodeURIComponent("' or 1=1 --")}=1`, "' or 1=1 --"],
      [`name=${encodeURIComponent('💩\u202e')}`, 'name'],
    ];
    for (const [query, parameter] of cases) {
      const answer = await t.request({ method: 'GET', url: `/v1/test-clocks?${query}` });
      expect(answer.status, `${query} → ${JSON.stringify(answer.body)}`).toBe(400);
      expect(answer.body.code).toBe('validation_failed');
      expect(JSON.stringify([answer.body.detail, answer.body.errors]), query).toContain(parameter);
    }
  });
});
