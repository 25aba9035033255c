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
import { TRIAL_SWEEP_JOB } from './trials.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await applyBillingPlans(t);
  // What the server does when it starts.
  await t.services.trials.schedule();
});
afterAll(() => t.close());

/** Moves the clock on and runs every job that has fallen due, as the server's worker does. */
async function advance(ms: number): Promise<void> {
  t.clock.advance(ms);
  await t.services.jobs.runDue();
}

/** Moves the clock to `at` in steps of at most an hour (the sweep's longest sleep), running due jobs. */
async function advanceTo(at: number): Promise<void> {
  while (t.clock.now().getTime() < at) await advance(Math.min(3_600_000, at - t.clock.now().getTime()));
}

async function trialingTenant(plan: string): Promise<{ id: string; endsAt: number }> {
  const tenant = await provisionedTenant(t, { plan });
  expect(tenant.state).toBe('trialing');
  return { id: tenant.id, endsAt: Date.parse(tenant.trial_ends_at) };
}

async function pendingSweeps(): Promise<number> {
  const rows = await t.services.database.db
    .selectFrom('jobs')
    .select('id')
    .where('kind', '=', TRIAL_SWEEP_JOB)
    .where('status', 'in', ['pending', 'running'])
    .execute();
  return rows.length;
}

describe('the end of a trial', () => {
  it('converts the tenant to active, after one reminder three days before', async () => {
    const tenant = await trialingTenant('open_trial');
    const reminders = () => eventsOf(t, tenant.id, 'trial.will_end');

    await advanceTo(tenant.endsAt - 3 * DAY - 60_000);
    expect(await reminders()).toEqual([]);
    await advanceTo(tenant.endsAt - 3 * DAY);
    expect(await reminders()).toEqual([
      {
        type: 'trial.will_end',
        data: {
          trial_ends_at: new Date(tenant.endsAt).toISOString(),
          plan: 'open_trial',
          requires_payment_method: false,
          payment_method_on_file: false,
          outcome: 'active',
        },
        at: new Date(tenant.endsAt - 3 * DAY).toISOString(),
      },
    ]);
    await advanceTo(tenant.endsAt - 60_000);
    expect(await reminders()).toHaveLength(1);
    expect((await stateOfTenant(t, tenant.id)).state).toBe('trialing');

    await advanceTo(tenant.endsAt);
    expect(await stateOfTenant(t, tenant.id)).toEqual({ state: 'active', reason: null });
    expect(await eventsOf(t, tenant.id, 'trial.ended')).toEqual([
      {
        type: 'trial.ended',
        data: {
          from: 'trialing',
          to: 'active',
          trial_ends_at: new Date(tenant.endsAt).toISOString(),
          plan: 'open_trial',
          payment_method_on_file: false,
        },
        at: new Date(tenant.endsAt).toISOString(),
      },
    ]);
    expect((await systemAudit(t, tenant.id)).filter((r) => r.actor_id === 'trials')).toEqual([
      {
        actor_type: 'system',
        actor_id: 'trials',
        action: 'trial.will_end',
        target_type: 'tenant',
        target_id: tenant.id,
        data: {
          trial_ends_at: new Date(tenant.endsAt).toISOString(),
          plan: 'open_trial',
          requires_payment_method: false,
          payment_method_on_file: false,
          outcome: 'active',
        },
      },
      {
        actor_type: 'system',
        actor_id: 'trials',
        action: 'tenant.activated',
        target_type: 'tenant',
        target_id: tenant.id,
        data: {
          from: 'trialing',
          to: 'active',
          trial_ends_at: new Date(tenant.endsAt).toISOString(),
          plan: 'open_trial',
          payment_method_on_file: false,
        },
      },
    ]);
    const entitlements = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
    expect(entitlements.body).toMatchObject({ active: true });
  });

  it('suspends the tenant when its plan requires a payment method and none is on file; one put on file resumes it', async () => {
    const tenant = await trialingTenant('card_trial');
    await advanceTo(tenant.endsAt - 3 * DAY);
    const [reminder] = await eventsOf(t, tenant.id, 'trial.will_end');
    expect(reminder?.data).toMatchObject({
      requires_payment_method: true,
      payment_method_on_file: false,
      outcome: 'suspended',
    });

    await advanceTo(tenant.endsAt);
    expect(await stateOfTenant(t, tenant.id)).toEqual({
      state: 'suspended',
      reason: 'trial_ended_without_payment_method',
    });
    const [ended] = await eventsOf(t, tenant.id, 'trial.ended');
    expect(ended?.data).toMatchObject({ to: 'suspended', reason: 'trial_ended_without_payment_method' });
    const audit = (await systemAudit(t, tenant.id)).filter((r) => r.actor_id === 'trials');
    expect(audit.map((r) => [r.action, r.data.reason])).toEqual([
      ['trial.will_end', undefined],
      ['tenant.suspended', 'trial_ended_without_payment_method'],
    ]);
    // The suspension is a tenant.suspended like any other, for subscribers of either event.
    const [suspended] = await eventsOf(t, tenant.id, 'tenant.suspended');
    expect(suspended?.data).toEqual(ended?.data);
    const entitlements = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
    expect(entitlements.body).toMatchObject({ active: false, reason: 'tenant_suspended' });

    const attached = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/payment-method`,
      payload: { reference: 'pm_card_visa', brand: 'visa', last4: '4242' },
    });
    expect(attached.status, JSON.stringify(attached.body)).toBe(200);
    expect(await stateOfTenant(t, tenant.id)).toEqual({ state: 'active', reason: null });
    const [reactivated] = await eventsOf(t, tenant.id, 'tenant.reactivated');
    expect(reactivated?.data).toEqual({ from: 'suspended', to: 'active', cause: 'payment_method_attached' });
    const resumed = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
    expect(resumed.body).toMatchObject({ active: true });
  });

  it('converts a tenant whose plan requires a payment method when one is on file', async () => {
    const tenant = await trialingTenant('card_trial');
    const attached = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/payment-method`,
      payload: { reference: 'pm_1' },
    });
    expect(attached.status).toBe(200);
    // Putting a method on file does not end a trial early.
    expect((await stateOfTenant(t, tenant.id)).state).toBe('trialing');
    await advanceTo(tenant.endsAt - 3 * DAY);
    expect((await eventsOf(t, tenant.id, 'trial.will_end'))[0]?.data).toMatchObject({
      payment_method_on_file: true,
      outcome: 'active',
    });
    await advanceTo(tenant.endsAt);
    expect(await stateOfTenant(t, tenant.id)).toEqual({ state: 'active', reason: null });
  });

  it('leaves alone a trial an operator ended or suspended first', async () => {
    const activated = await trialingTenant('open_trial');
    const suspended = await trialingTenant('card_trial');
    expect((await act(t, activated.id, 'activate')).status).toBe(200);
    expect((await act(t, suspended.id, 'suspend', { reason: 'fraud check' })).status).toBe(200);
    await advanceTo(Math.max(activated.endsAt, suspended.endsAt));
    expect(await stateOfTenant(t, activated.id)).toEqual({ state: 'active', reason: null });
    expect(await stateOfTenant(t, suspended.id)).toEqual({ state: 'suspended', reason: 'fraud check' });
    for (const id of [activated.id, suspended.id]) {
      expect(await eventsOf(t, id, 'trial.will_end', 'trial.ended')).toEqual([]);
    }
  });
});

describe('the sweep', () => {
  it('raises each notice once however often it runs, and keeps exactly one sweep scheduled', async () => {
    const tenant = await trialingTenant('open_trial');
    await advanceTo(tenant.endsAt - 2 * DAY);
    expect(await pendingSweeps()).toBe(1);
    await t.services.trials.schedule();
    await t.services.trials.schedule();
    expect(await pendingSweeps()).toBe(1);

    const before = await billingCounts(t);
    const again = await t.services.trials.sweep();
    expect(again.reminded).toEqual([]);
    expect(again.ended).toEqual([]);
    expect(await billingCounts(t)).toEqual(before);

    await advanceTo(tenant.endsAt);
    await t.services.trials.sweep();
    await advance(DAY);
    expect((await eventsOf(t, tenant.id, 'trial.will_end', 'trial.ended')).map((e) => e.type)).toEqual([
      'trial.will_end',
      'trial.ended',
    ]);
    expect(await pendingSweeps()).toBe(1);
  });

  it('wakes at the next reminder or trial end it knows of, and at least every hour', async () => {
    const tenant = await trialingTenant('open_trial');
    const next = await t.services.trials.sweep();
    expect(next.next.getTime()).toBeLessThanOrEqual(t.clock.now().getTime() + 3_600_000);
    await advanceTo(tenant.endsAt - 3 * DAY - 30 * 60_000);
    const soon = await t.services.trials.sweep();
    expect(soon.next.toISOString()).toBe(new Date(tenant.endsAt - 3 * DAY).toISOString());
  });

  it('reminds a trial shorter than the reminder period at once, and ends it on time', async () => {
    const created = await t.request({
      method: 'POST',
      url: '/v1/tenants',
      payload: { slug: `short-${Date.now().toString(36)}`, name: 'Short', plan: 'open_trial', trial_days: 2 },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await t.services.jobs.runDue();
    const endsAt = Date.parse(created.body.trial_ends_at);
    await advance(60 * 60_000);
    expect(await eventsOf(t, created.body.id, 'trial.will_end')).toHaveLength(1);
    await advanceTo(endsAt);
    expect((await stateOfTenant(t, created.body.id)).state).toBe('active');
  });
});
