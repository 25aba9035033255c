import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyBillingPlans,
  billingCounts,
  DAY,
  eventsOf,
  stateOfTenant,
  systemAudit,
} from '../../test/dunning-support.ts';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { act, provisionedTenant } from '../../test/tenant-support.ts';
import { recordChange } from '../changes/index.ts';
import { systemContext } from '../request-context.ts';
import { PaymentEventError } from './dunning.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await applyBillingPlans(t);
});
afterAll(() => t.close());

let invoices = 0;
/** An invoice id of the shape the invoices service gives (`inv_…`), new on each call. */
function invoiceId(): string {
  invoices += 1;
  return `inv_test${String(invoices).padStart(4, '0')}`;
}

/** Reports a failed payment the way the invoices service does: inside its own transaction. */
function paymentFailed(tenantId: string, invoice: string) {
  return t.services.database.db
    .transaction()
    .execute((tx) =>
      t.services.dunning.paymentFailed(tx, { tenantId, invoiceId: invoice, now: t.clock.now() }),
    );
}

/** Reports a payment the way the invoices service does: inside its own transaction. */
function paymentSucceeded(tenantId: string, invoice: string) {
  return t.services.database.db
    .transaction()
    .execute((tx) =>
      t.services.dunning.paymentSucceeded(tx, { tenantId, invoiceId: invoice, now: t.clock.now() }),
    );
}

/** Moves the clock on and runs every job that has fallen due, as the server's worker does. */
async function advance(ms: number): Promise<void> {
  t.clock.advance(ms);
  await t.services.jobs.runDue();
}

/** Moves the clock on a day at a time, running the due jobs after each day. */
async function days(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await advance(DAY);
}

async function activeTenant(plan: string): Promise<string> {
  const tenant = await provisionedTenant(t, { plan });
  expect(tenant.state).toBe('active');
  return tenant.id;
}

const iso = (start: number, days: number) => new Date(start + days * DAY).toISOString();

describe('a failed payment', () => {
  it('makes the tenant past due, retries on the plan’s schedule, suspends after its grace period, and a payment reactivates it', async () => {
    const tenantId = await activeTenant('strict');
    const invoice = invoiceId();
    const start = t.clock.now().getTime();
    await paymentFailed(tenantId, invoice);

    expect(await stateOfTenant(t, tenantId)).toEqual({ state: 'past_due', reason: 'payment_failed' });
    const schedule = {
      invoice_id: invoice,
      round: 1,
      retry_at: [iso(start, 2), iso(start, 4), iso(start, 8)],
      suspend_at: iso(start, 10),
    };
    expect(await eventsOf(t, tenantId, 'dunning.started', 'tenant.past_due')).toEqual([
      { type: 'dunning.started', data: schedule, at: iso(start, 0) },
      {
        type: 'tenant.past_due',
        data: {
          from: 'active',
          to: 'past_due',
          reason: 'payment_failed',
          invoice_id: invoice,
          suspend_at: iso(start, 10),
        },
        at: iso(start, 0),
      },
    ]);
    expect((await systemAudit(t, tenantId)).filter((r) => r.actor_id === 'dunning')).toEqual([
      {
        actor_type: 'system',
        actor_id: 'dunning',
        action: 'dunning.started',
        target_type: 'invoice',
        target_id: invoice,
        data: schedule,
      },
      {
        actor_type: 'system',
        actor_id: 'dunning',
        action: 'tenant.marked_past_due',
        target_type: 'tenant',
        target_id: tenantId,
        data: {
          from: 'active',
          to: 'past_due',
          reason: 'payment_failed',
          invoice_id: invoice,
          suspend_at: iso(start, 10),
        },
      },
    ]);

    // Each retry once, on its day, not before.
    const retries = () => eventsOf(t, tenantId, 'invoice.payment_retry');
    await advance(2 * DAY - 60_000);
    expect(await retries()).toEqual([]);
    await advance(60_000);
    expect((await retries()).map((e) => e.data)).toEqual([
      {
        invoice_id: invoice,
        round: 1,
        attempt: 1,
        attempts: 3,
        next_retry_at: iso(start, 4),
        suspend_at: iso(start, 10),
      },
    ]);
    // Stripe reports the retry's failure too: the schedule stays that of the first failure.
    const before = await billingCounts(t);
    await paymentFailed(tenantId, invoice);
    expect(await billingCounts(t)).toEqual(before);
    await advance(2 * DAY);
    await advance(4 * DAY);
    await advance(60_000);
    expect((await retries()).map((e) => [e.data.attempt, e.at, e.data.next_retry_at])).toEqual([
      [1, iso(start, 2), iso(start, 4)],
      [2, iso(start, 4), iso(start, 8)],
      [3, iso(start, 8), null],
    ]);
    expect(await stateOfTenant(t, tenantId)).toEqual({ state: 'past_due', reason: 'payment_failed' });
    const open = await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/dunning` });
    expect(open.body).toEqual({
      tenant_id: tenantId,
      tenant_state: 'past_due',
      in_dunning: true,
      cases: [
        {
          invoice_id: invoice,
          invoice_number: null,
          round: 1,
          opened_at: iso(start, 0),
          retry_at: [iso(start, 2), iso(start, 4), iso(start, 8)],
          retries_raised: 3,
          next_retry_at: null,
          suspend_at: iso(start, 10),
          suspended_at: null,
          resolved_at: null,
        },
      ],
    });

    // The grace period ends.
    await advance(2 * DAY - 120_000);
    expect((await stateOfTenant(t, tenantId)).state).toBe('past_due');
    await advance(60_000);
    expect(await stateOfTenant(t, tenantId)).toEqual({ state: 'suspended', reason: 'nonpayment' });
    expect(await eventsOf(t, tenantId, 'tenant.suspended')).toEqual([
      {
        type: 'tenant.suspended',
        data: {
          from: 'past_due',
          to: 'suspended',
          reason: 'nonpayment',
          invoice_id: invoice,
          unpaid_since: iso(start, 0),
        },
        at: iso(start, 10),
      },
    ]);
    const entitlements = await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/entitlements` });
    expect(entitlements.body).toMatchObject({ active: false, reason: 'tenant_suspended' });

    // Paid at last.
    await advance(DAY);
    await paymentSucceeded(tenantId, invoice);
    expect(await stateOfTenant(t, tenantId)).toEqual({ state: 'active', reason: null });
    expect(
      (await eventsOf(t, tenantId, 'dunning.resolved', 'tenant.reactivated')).map((e) => e.data),
    ).toEqual([
      {
        invoice_id: invoice,
        round: 1,
        opened_at: iso(start, 0),
        cause: 'invoice_paid',
        reactivated: true,
        still_unpaid: [],
      },
      { from: 'suspended', to: 'active', cause: 'invoice_paid', invoice_id: invoice },
    ]);
    const actions = (await systemAudit(t, tenantId))
      .filter((r) => r.actor_id === 'dunning')
      .map((r) => r.action);
    expect(actions).toEqual([
      'dunning.started',
      'tenant.marked_past_due',
      'invoice.payment_retry_requested',
      'invoice.payment_retry_requested',
      'invoice.payment_retry_requested',
      'tenant.suspended',
      'dunning.resolved',
      'tenant.resumed',
    ]);
    const shown = await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/dunning` });
    expect(shown.status, JSON.stringify(shown.body)).toBe(200);
    expect(shown.body).toMatchObject({ tenant_id: tenantId, tenant_state: 'active', in_dunning: false });
    expect(shown.body.cases).toEqual([
      expect.objectContaining({
        invoice_id: invoice,
        retries_raised: 3,
        next_retry_at: null,
        suspended_at: iso(start, 10),
        resolved_at: t.clock.now().toISOString(),
      }),
    ]);
    // The payment is reported twice (a replayed webhook): nothing more happens.
    const after = await billingCounts(t);
    await paymentSucceeded(tenantId, invoice);
    expect(await billingCounts(t)).toEqual(after);
  });

  it('follows the default schedule for a plan that sets none: retries after 1, 3 and 5 days, suspension after 7', async () => {
    const tenantId = await activeTenant('basic');
    const start = t.clock.now().getTime();
    await paymentFailed(tenantId, invoiceId());
    const [started] = await eventsOf(t, tenantId, 'dunning.started');
    expect(started?.data).toMatchObject({
      retry_at: [iso(start, 1), iso(start, 3), iso(start, 5)],
      suspend_at: iso(start, 7),
    });
    await days(7);
    expect((await eventsOf(t, tenantId, 'invoice.payment_retry')).map((e) => e.at)).toEqual([
      iso(start, 1),
      iso(start, 3),
      iso(start, 5),
    ]);
    expect(await stateOfTenant(t, tenantId)).toEqual({ state: 'suspended', reason: 'nonpayment' });
  });

  it('paid within the grace period: active again, and no retry nor suspension comes after', async () => {
    const tenantId = await activeTenant('basic');
    const invoice = invoiceId();
    await paymentFailed(tenantId, invoice);
    await advance(DAY + 60_000);
    await paymentSucceeded(tenantId, invoice);
    expect(await stateOfTenant(t, tenantId)).toEqual({ state: 'active', reason: null });
    const reactivated = (await systemAudit(t, tenantId)).filter((r) => r.action === 'tenant.activated');
    expect(reactivated.map((r) => r.data)).toEqual([
      { from: 'past_due', to: 'active', cause: 'invoice_paid', invoice_id: invoice },
    ]);
    await advance(10 * DAY);
    expect(await eventsOf(t, tenantId, 'invoice.payment_retry')).toHaveLength(1);
    expect(await eventsOf(t, tenantId, 'tenant.suspended')).toEqual([]);
    expect(await stateOfTenant(t, tenantId)).toEqual({ state: 'active', reason: null });
  });

  it('stays past due until every invoice in dunning is paid', async () => {
    const tenantId = await activeTenant('basic');
    const [first, second] = [invoiceId(), invoiceId()];
    await paymentFailed(tenantId, first);
    await advance(60_000);
    await paymentFailed(tenantId, second);
    expect(await eventsOf(t, tenantId, 'tenant.past_due')).toHaveLength(1);
    expect(await eventsOf(t, tenantId, 'dunning.started')).toHaveLength(2);

    await paymentSucceeded(tenantId, first);
    expect((await stateOfTenant(t, tenantId)).state).toBe('past_due');
    const [resolved] = await eventsOf(t, tenantId, 'dunning.resolved');
    expect(resolved?.data).toMatchObject({ invoice_id: first, reactivated: false, still_unpaid: [second] });
    const shown = await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/dunning` });
    expect(shown.body.in_dunning).toBe(true);
    expect(
      shown.body.cases.map((c: any) => [c.invoice_id, c.resolved_at === null, c.next_retry_at !== null]),
    ).toEqual([
      [first, false, false],
      [second, true, true],
    ]);

    await paymentSucceeded(tenantId, second);
    expect(await stateOfTenant(t, tenantId)).toEqual({ state: 'active', reason: null });
  });

  it('a payment that fails again after being paid starts a new round; the jobs of the old one do nothing', async () => {
    const tenantId = await activeTenant('basic');
    const invoice = invoiceId();
    const start = t.clock.now().getTime();
    await paymentFailed(tenantId, invoice);
    t.clock.advance(DAY / 2);
    await paymentSucceeded(tenantId, invoice);
    t.clock.advance(DAY + DAY / 2);
    await paymentFailed(tenantId, invoice);
    expect((await eventsOf(t, tenantId, 'dunning.started')).map((e) => e.data.round)).toEqual([1, 2]);

    // Round 1's retries (days 1, 3, 5) and suspension (day 7) fall due; only round 2's act.
    await days(5);
    const retries = await eventsOf(t, tenantId, 'invoice.payment_retry');
    expect(retries.map((e) => [e.data.round, e.data.attempt, e.at])).toEqual([
      [2, 1, iso(start, 3)],
      [2, 2, iso(start, 5)],
      [2, 3, iso(start, 7)],
    ]);
    expect((await stateOfTenant(t, tenantId)).state).toBe('past_due');
    await days(2);
    expect(await stateOfTenant(t, tenantId)).toEqual({ state: 'suspended', reason: 'nonpayment' });
    expect((await eventsOf(t, tenantId, 'tenant.suspended'))[0]?.at).toBe(iso(start, 9));
  });
});

describe('an invoice in dunning that will not be collected', () => {
  it('voided: out of dunning, and the tenant is active again, as by a payment', async () => {
    const tenantId = await activeTenant('basic');
    const invoice = invoiceId();
    await paymentFailed(tenantId, invoice);
    await t.services.database.db.transaction().execute((tx) =>
      t.services.dunning.invoiceClosed(tx, {
        tenantId,
        invoiceId: invoice,
        now: t.clock.now(),
        as: 'void',
      }),
    );
    expect(await stateOfTenant(t, tenantId)).toEqual({ state: 'active', reason: null });
    expect((await eventsOf(t, tenantId, 'tenant.reactivated'))[0]?.data).toMatchObject({
      cause: 'invoice_voided',
    });
    await days(8);
    expect(await eventsOf(t, tenantId, 'invoice.payment_retry', 'tenant.suspended')).toEqual([]);
  });

  it('uncollectible: no more retries nor suspension, and the tenant keeps its state for an operator', async () => {
    const tenantId = await activeTenant('basic');
    const invoice = invoiceId();
    await paymentFailed(tenantId, invoice);
    await t.services.database.db.transaction().execute((tx) =>
      t.services.dunning.invoiceClosed(tx, {
        tenantId,
        invoiceId: invoice,
        now: t.clock.now(),
        as: 'uncollectible',
      }),
    );
    const [resolved] = await eventsOf(t, tenantId, 'dunning.resolved');
    expect(resolved?.data).toMatchObject({ cause: 'invoice_uncollectible', reactivated: false });
    await days(8);
    expect(await eventsOf(t, tenantId, 'invoice.payment_retry', 'tenant.suspended')).toEqual([]);
    expect(await stateOfTenant(t, tenantId)).toEqual({ state: 'past_due', reason: 'payment_failed' });
  });
});

describe('GET /v1/tenants/{id}/dunning', () => {
  it('shows a tenant that never failed a payment out of dunning, by id or slug; an unknown tenant is 404', async () => {
    const tenant = await provisionedTenant(t, { plan: 'basic' });
    for (const key of [tenant.id, tenant.slug]) {
      const shown = await t.request({ method: 'GET', url: `/v1/tenants/${key}/dunning` });
      expect(shown.status).toBe(200);
      expect(shown.body).toEqual({
        tenant_id: tenant.id,
        tenant_state: 'active',
        in_dunning: false,
        cases: [],
      });
    }
    const unknown = await t.request({ method: 'GET', url: '/v1/tenants/ten_nobody/dunning' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('tenant_not_found');
  });
});

describe('a tenant suspended for another reason', () => {
  it('stays suspended, with its reason, through the grace period and the payment', async () => {
    const tenantId = await activeTenant('basic');
    const invoice = invoiceId();
    await paymentFailed(tenantId, invoice);
    const suspended = await act(t, tenantId, 'suspend', { reason: 'abuse report' });
    expect(suspended.status).toBe(200);

    await advance(8 * DAY);
    expect(await stateOfTenant(t, tenantId)).toEqual({ state: 'suspended', reason: 'abuse report' });
    // The operator's suspension only: billing suspended nothing more.
    expect((await eventsOf(t, tenantId, 'tenant.suspended')).map((e) => e.data.reason)).toEqual([
      'abuse report',
    ]);

    await paymentSucceeded(tenantId, invoice);
    expect(await stateOfTenant(t, tenantId)).toEqual({ state: 'suspended', reason: 'abuse report' });
    expect(await eventsOf(t, tenantId, 'tenant.reactivated')).toEqual([]);
    const [resolved] = await eventsOf(t, tenantId, 'dunning.resolved');
    expect(resolved?.data).toMatchObject({ invoice_id: invoice, reactivated: false });
  });

  it('an operator who suspends a tenant with a reason of their own is not overruled by a later payment', async () => {
    // Suspended by billing for nonpayment first, then again by hand for something else.
    const tenantId = await activeTenant('basic');
    const invoice = invoiceId();
    await paymentFailed(tenantId, invoice);
    await advance(7 * DAY + 60_000);
    expect(await stateOfTenant(t, tenantId)).toEqual({ state: 'suspended', reason: 'nonpayment' });
    expect((await act(t, tenantId, 'resume')).status).toBe(200);
    expect((await act(t, tenantId, 'suspend', { reason: 'terms of service' })).status).toBe(200);
    await paymentSucceeded(tenantId, invoice);
    expect(await stateOfTenant(t, tenantId)).toEqual({ state: 'suspended', reason: 'terms of service' });
  });
});

describe('bad input', () => {
  it('an unknown tenant is refused with tenant_not_found, and the whole transaction is rolled back', async () => {
    const before = await billingCounts(t);
    const attempt = t.services.database.db.transaction().execute(async (tx) => {
      // What the invoices service writes first in the same transaction.
      await recordChange(tx, systemContext('invoices'), {
        action: 'invoice.payment_failed',
        tenantId: null,
        target: { type: 'invoice', id: 'inv_orphan' },
        data: { invoice: 'inv_orphan', number: 'INV-000000', from: 'open', to: 'open' },
        occurredAt: t.clock.now(),
      });
      await t.services.dunning.paymentFailed(tx, {
        tenantId: 'ten_doesnotexist',
        invoiceId: 'inv_orphan',
        now: t.clock.now(),
      });
    });
    const error = await attempt.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PaymentEventError);
    expect((error as PaymentEventError).error).toEqual({
      code: 'tenant_not_found',
      detail: 'no tenant has the id or slug "ten_doesnotexist"',
    });
    expect(await billingCounts(t)).toEqual(before);

    const paid = t.services.database.db.transaction().execute((tx) =>
      t.services.dunning.paymentSucceeded(tx, {
        tenantId: 'nobody',
        invoiceId: 'inv_x',
        now: t.clock.now(),
      }),
    );
    await expect(paid).rejects.toMatchObject({ error: { code: 'tenant_not_found' } });
    expect(await billingCounts(t)).toEqual(before);
  });

  it('a blank invoice id is refused with validation_failed naming it, and nothing is written', async () => {
    const tenantId = await activeTenant('basic');
    const before = await billingCounts(t);
    for (const invoice of ['', '   ']) {
      await expect(paymentFailed(tenantId, invoice)).rejects.toMatchObject({
        name: 'PaymentEventError',
        error: { code: 'validation_failed', errors: [{ path: 'invoiceId' }] },
      });
      await expect(paymentSucceeded(tenantId, invoice)).rejects.toMatchObject({
        error: { code: 'validation_failed' },
      });
    }
    expect(await billingCounts(t)).toEqual(before);
    expect(await stateOfTenant(t, tenantId)).toEqual({ state: 'active', reason: null });
  });

  it('a payment for an invoice that never failed changes nothing', async () => {
    const tenantId = await activeTenant('basic');
    const before = await billingCounts(t);
    await paymentSucceeded(tenantId, invoiceId());
    expect(await billingCounts(t)).toEqual(before);
  });
});

describe('plan files', () => {
  it('store grace_period_days and payment_retry_days only when set, and refuse bad values with their line', async () => {
    const strict = await t.request({ method: 'GET', url: '/v1/plans/strict' });
    expect(strict.body.definition).toMatchObject({ grace_period_days: 10, payment_retry_days: [2, 4, 8] });
    const basic = await t.request({ method: 'GET', url: '/v1/plans/basic' });
    expect(basic.body.definition).not.toHaveProperty('grace_period_days');
    expect(basic.body.definition).not.toHaveProperty('payment_retry_days');

    const refused = await t.request({
      method: 'POST',
      url: '/v1/plans/apply',
      payload: {
        source: [
          'currency: usd',
          'plans:',
          '  late:',
          '    name: Late',
          '    grace_period_days: -1',
          '    payment_retry_days: [3, 1, 400]',
          '',
        ].join('\n'),
      },
    });
    expect(refused.status).toBe(400);
    const errors = refused.body.errors.map((e: any) => [e.path, e.line]);
    expect(errors).toEqual(
      expect.arrayContaining([
        ['plans.late.grace_period_days', 5],
        ['plans.late.payment_retry_days.1', 6],
        ['plans.late.payment_retry_days.2', 6],
      ]),
    );
  });
});

describe('the worked example of docs/billing.md', () => {
  let w: TestApp;
  beforeAll(async () => {
    w = await startTestApp();
    await applyBillingPlans(w);
  });
  afterAll(() => w.close());

  const at = async (when: string) => {
    w.clock.advance(Date.parse(when) - w.clock.now().getTime());
    await w.services.jobs.runDue();
  };
  const report = (kind: 'paymentFailed' | 'paymentSucceeded', tenantId: string) =>
    w.services.database.db
      .transaction()
      .execute((tx) => w.services.dunning[kind](tx, { tenantId, invoiceId: 'inv_0042', now: w.clock.now() }));

  it('a card declined on a plan with the default policy, paid after the suspension', async () => {
    const tenant = await provisionedTenant(w, { plan: 'basic' });
    const state = async () => (await stateOfTenant(w, tenant.id)).state;
    await at('2026-12-01T09:00:00Z');
    await report('paymentFailed', tenant.id);
    expect((await eventsOf(w, tenant.id, 'dunning.started'))[0]?.data).toMatchObject({
      retry_at: ['2026-12-02T09:00:00.000Z', '2026-12-04T09:00:00.000Z', '2026-12-06T09:00:00.000Z'],
      suspend_at: '2026-12-08T09:00:00.000Z',
    });
    expect(await state()).toBe('past_due');
    for (const [day, attempt] of [
      ['02', 1],
      ['04', 2],
      ['06', 3],
    ] as const) {
      await at(`2026-12-${day}T09:00:00Z`);
      const retries = await eventsOf(w, tenant.id, 'invoice.payment_retry');
      expect(retries.at(-1)?.data).toMatchObject({ attempt, attempts: 3 });
      expect(retries).toHaveLength(attempt);
      await report('paymentFailed', tenant.id);
      expect(await state()).toBe('past_due');
    }
    expect((await eventsOf(w, tenant.id, 'invoice.payment_retry')).at(-1)?.data.next_retry_at).toBeNull();
    await at('2026-12-08T08:59:59Z');
    expect(await state()).toBe('past_due');
    await at('2026-12-08T09:00:00Z');
    expect(await stateOfTenant(w, tenant.id)).toEqual({ state: 'suspended', reason: 'nonpayment' });
    const entitlements = await w.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
    expect(entitlements.body.active).toBe(false);
    await at('2026-12-09T14:30:00Z');
    await report('paymentSucceeded', tenant.id);
    expect(await stateOfTenant(w, tenant.id)).toEqual({ state: 'active', reason: null });
    expect((await eventsOf(w, tenant.id, 'dunning.resolved', 'tenant.reactivated')).map((e) => e.at)).toEqual(
      ['2026-12-09T14:30:00.000Z', '2026-12-09T14:30:00.000Z'],
    );
  });
});
