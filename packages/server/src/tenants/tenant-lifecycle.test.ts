import { allowedActions, type TenantState } from '@tenantry/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, uniqueSlug } from '../../test/harness.ts';
import {
  act,
  applyPlans,
  auditRows,
  createTenant,
  DAY_MS,
  failedTenant,
  getTenant,
  provisionedTenant,
  stateOf,
} from '../../test/tenant-support.ts';
import { systemContext } from '../request-context.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
});
afterAll(() => t.close());

/** The lifecycle actions of the API, by route, and the state each leads to. */
const ACTIONS: Record<string, { to: TenantState; core: string }> = {
  activate: { to: 'active', core: 'activate' },
  suspend: { to: 'suspended', core: 'suspend' },
  resume: { to: 'active', core: 'resume' },
  cancel: { to: 'cancelled', core: 'cancel' },
  'retry-provisioning': { to: 'provisioning', core: 'retry_provisioning' },
  'mark-past-due': { to: 'past_due', core: 'mark_past_due' },
  delete: { to: 'deleted', core: 'delete' },
};

/** What the API lets a tenant in each state do (written out here, not taken from the code under test). */
const ALLOWED: Record<TenantState, string[]> = {
  provisioning: [],
  provisioning_failed: ['retry-provisioning', 'delete'],
  trialing: ['activate', 'suspend', 'cancel'],
  active: ['suspend', 'cancel', 'mark-past-due'],
  past_due: ['activate', 'suspend', 'cancel'],
  suspended: ['resume', 'cancel'],
  cancelled: ['delete'],
  deleted: [],
};

function send(id: string, action: string) {
  return action === 'delete' ? t.request({ method: 'DELETE', url: `/v1/tenants/${id}` }) : act(t, id, action);
}

async function expectState(id: string, state: TenantState): Promise<any> {
  const tenant = await getTenant(t, id);
  expect(tenant.state, JSON.stringify(tenant)).toBe(state);
  return tenant;
}

async function markPastDue(id: string): Promise<void> {
  const result = await t.services.tenants.act(systemContext('billing'), id, 'mark_past_due');
  expect(result.ok, JSON.stringify(result)).toBe(true);
}

/** A fresh tenant in `state`, reached the way a real one gets there. */
async function tenantIn(state: TenantState): Promise<any> {
  switch (state) {
    case 'provisioning':
      return createTenant(t, { plan: 'pro' });
    case 'provisioning_failed':
      return failedTenant(t, { plan: 'pro' });
    case 'trialing':
      return expectState((await provisionedTenant(t, { plan: 'starter' })).id, 'trialing');
    case 'active':
      return expectState((await provisionedTenant(t, { plan: 'pro' })).id, 'active');
    case 'past_due': {
      const tenant = await tenantIn('active');
      await markPastDue(tenant.id);
      return expectState(tenant.id, 'past_due');
    }
    case 'suspended': {
      const tenant = await tenantIn('active');
      expect((await act(t, tenant.id, 'suspend')).status).toBe(200);
      return expectState(tenant.id, 'suspended');
    }
    case 'cancelled': {
      const tenant = await tenantIn('active');
      expect((await act(t, tenant.id, 'cancel')).status).toBe(200);
      return expectState(tenant.id, 'cancelled');
    }
    case 'deleted': {
      const tenant = await tenantIn('cancelled');
      expect((await send(tenant.id, 'delete')).status).toBe(200);
      return expectState(tenant.id, 'deleted');
    }
  }
}

describe('the state machine through the API', () => {
  it('walks trialing → active → past_due → active → suspended → active → cancelled → deleted', async () => {
    const created = await createTenant(t, { plan: 'starter' });
    expect(created.state).toBe('provisioning');
    await t.services.jobs.runDue();
    await expectState(created.id, 'trialing');
    expect((await act(t, created.id, 'activate')).body.state).toBe('active');
    await markPastDue(created.id);
    await expectState(created.id, 'past_due');
    expect((await act(t, created.id, 'activate')).body.state).toBe('active');
    expect((await act(t, created.id, 'suspend', { reason: 'abuse report' })).body).toMatchObject({
      state: 'suspended',
      state_reason: 'abuse report',
    });
    expect((await act(t, created.id, 'resume')).body).toMatchObject({ state: 'active', state_reason: null });
    expect((await act(t, created.id, 'cancel', { reason: 'moving on' })).body).toMatchObject({
      state: 'cancelled',
      state_reason: 'moving on',
    });
    const deleted = await send(created.id, 'delete');
    expect(deleted.body).toMatchObject({ state: 'deleted', deleted_at: t.clock.now().toISOString() });

    const actions = (await auditRows(t, created.id)).map((r) => r.action);
    expect(actions).toEqual([
      'tenant.created',
      'tenant.provisioned',
      'tenant.activated',
      'tenant.marked_past_due',
      'tenant.activated',
      'tenant.suspended',
      'tenant.resumed',
      'tenant.cancelled',
      'tenant.deleted',
    ]);
  });

  for (const state of Object.keys(ALLOWED) as TenantState[]) {
    const allowed = ALLOWED[state];
    const refused = Object.keys(ACTIONS).filter((a) => !allowed.includes(a));

    if (refused.length > 0) {
      it(`refuses ${refused.join(', ')} from ${state} with 409 illegal_transition, changing nothing`, async () => {
        const tenant = await tenantIn(state);
        for (const action of refused) {
          const before = await stateOf(t);
          const response = await send(tenant.id, action);
          expect(response.status, `${action}: ${JSON.stringify(response.body)}`).toBe(409);
          expect(response.body).toMatchObject({
            code: 'illegal_transition',
            state,
            action: ACTIONS[action]?.core,
            allowed_actions: allowedActions(state),
          });
          for (const a of allowed) expect(response.body.allowed_actions).toContain(ACTIONS[a]?.core);
          expect(await stateOf(t)).toEqual(before);
        }
        await expectState(tenant.id, state);
      });
    }

    for (const action of allowed) {
      const to = ACTIONS[action]?.to as TenantState;
      it(`${action} moves a tenant from ${state} to ${to}`, async () => {
        const tenant = await tenantIn(state);
        const response = await send(tenant.id, action);
        expect(response.status, JSON.stringify(response.body)).toBe(200);
        expect(response.body.state).toBe(to);
        expect(response.body.updated_at).toBe(t.clock.now().toISOString());
        expect(response.body.deleted_at).toBe(to === 'deleted' ? t.clock.now().toISOString() : null);
        await expectState(tenant.id, to);
      });
    }
  }

  it('marks an active tenant past due on request, and refuses it from any other state', async () => {
    const tenant = await tenantIn('active');
    const marked = await act(t, tenant.id, 'mark-past-due', { reason: 'card declined' });
    expect(marked.status, JSON.stringify(marked.body)).toBe(200);
    expect(marked.body).toMatchObject({ state: 'past_due', state_reason: 'card declined' });
    const again = await act(t, tenant.id, 'mark-past-due');
    expect(again.status).toBe(409);
    expect(again.body.allowed_actions).toEqual(['activate', 'suspend', 'cancel']);
  });
});

describe('deleted tenants', () => {
  it('stay readable by id, free their slug, and refuse every change with 409', async () => {
    const tenant = await tenantIn('deleted');
    const bySlug = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.slug}` });
    expect(bySlug.status).toBe(404);
    expect(bySlug.body.code).toBe('tenant_not_found');

    const before = await stateOf(t);
    const patch = await t.request({
      method: 'PATCH',
      url: `/v1/tenants/${tenant.id}`,
      payload: { name: 'Zombie' },
    });
    expect(patch.status).toBe(409);
    expect(patch.body.code).toBe('tenant_deleted');
    const change = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/change-plan`,
      payload: { plan: 'starter' },
    });
    expect(change.status).toBe(409);
    expect(change.body.code).toBe('tenant_deleted');
    expect(await stateOf(t)).toEqual(before);

    const reused = await createTenant(t, { slug: tenant.slug, plan: 'starter' });
    expect(reused.id).not.toBe(tenant.id);
    expect((await getTenant(t, tenant.slug)).id).toBe(reused.id);
    expect((await getTenant(t, tenant.id)).state).toBe('deleted');
  });
});

describe('trials', () => {
  it("gives a starter tenant the plan's 14-day trial, counted from creation", async () => {
    const created = await createTenant(t, { plan: 'starter' });
    const createdAt = Date.parse(created.created_at);
    expect(created.trial_ends_at).toBe(new Date(createdAt + 14 * DAY_MS).toISOString());
    t.clock.advance(5 * 60_000); // provisioning takes a while
    await t.services.jobs.runDue();
    const tenant = await expectState(created.id, 'trialing');
    expect(tenant.trial_ends_at).toBe(new Date(createdAt + 14 * DAY_MS).toISOString());
    const ent = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
    expect(ent.body).toMatchObject({ state: 'trialing', active: true, trial_ends_at: tenant.trial_ends_at });
  });

  it('starts active without a trial when trial_days is 0', async () => {
    const created = await createTenant(t, { plan: 'starter', trial_days: 0 });
    expect(created.trial_ends_at).toBeNull();
    await t.services.jobs.runDue();
    const tenant = await expectState(created.id, 'active');
    expect(tenant.trial_ends_at).toBeNull();
  });

  it('gives a trial on a plan without one when trial_days asks', async () => {
    const created = await createTenant(t, { plan: 'pro', trial_days: 7 });
    expect(created.trial_ends_at).toBe(new Date(Date.parse(created.created_at) + 7 * DAY_MS).toISOString());
    await t.services.jobs.runDue();
    await expectState(created.id, 'trialing');
  });

  it('starts active when the trial ended before provisioning did', async () => {
    const created = await createTenant(t, { plan: 'pro', trial_days: 1 });
    t.clock.advance(DAY_MS + 1);
    await t.services.jobs.runDue();
    await expectState(created.id, 'active');
  });
});

describe('plan changes at the end of the period', () => {
  it('records the change, keeps the plan and entitlements, then applies it once the period ends', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const entBefore = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
    expect(entBefore.body.features.sso).toBe(true);

    const scheduled = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/change-plan`,
      payload: { plan: 'starter', at: 'period_end' },
    });
    expect(scheduled.status, JSON.stringify(scheduled.body)).toBe(200);
    const end = tenant.current_period.end;
    expect(scheduled.body.plan.key).toBe('pro');
    expect(scheduled.body.scheduled_change).toMatchObject({
      plan: { key: 'starter', version: 1 },
      effective_at: end,
    });

    const entScheduled = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
    expect(entScheduled.body).toEqual(entBefore.body);
    expect(entScheduled.headers.etag).toBe(entBefore.headers.etag);

    // Not a moment early.
    t.clock.advance(Date.parse(end) - t.clock.now().getTime() - 1_000);
    await t.services.jobs.runDue();
    expect((await getTenant(t, tenant.id)).plan.key).toBe('pro');

    t.clock.advance(2_000);
    await t.services.jobs.runDue();
    const after = await getTenant(t, tenant.id);
    expect(after.plan.key).toBe('starter');
    expect(after.scheduled_change).toBeNull();
    const entAfter = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
    expect(entAfter.body.plan).toEqual({ key: 'starter', version: 1 });
    expect(entAfter.body.features.sso).toBe(false);
    expect(entAfter.body.version).not.toBe(entBefore.body.version);

    const last = (await auditRows(t, tenant.id)).at(-1);
    expect(last).toMatchObject({ action: 'tenant.plan_changed', actor_type: 'system', target_id: tenant.id });
  });

  it('applies the overrides sent with the change when the change takes effect, not before', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro', overrides: { config: { retention_days: 30 } } });
    const scheduled = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/change-plan`,
      payload: { plan: 'starter', at: 'period_end', overrides: { features: { sso: true } } },
    });
    expect(scheduled.status, JSON.stringify(scheduled.body)).toBe(200);
    expect(scheduled.body.overrides).toEqual({ config: { retention_days: 30 } });
    t.clock.advance(Date.parse(tenant.current_period.end) - t.clock.now().getTime() + 1);
    await t.services.jobs.runDue();
    const after = await getTenant(t, tenant.id);
    expect(after.plan.key).toBe('starter');
    expect(after.overrides).toEqual({ features: { sso: true } });
    const ent = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
    expect(ent.body.features.sso).toBe(true);
    expect(ent.body.config.retention_days).toBe(7);
  });

  it('drops a scheduled change that an immediate change replaced', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/change-plan`,
      payload: { plan: 'starter', at: 'period_end' },
    });
    const now = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/change-plan`,
      payload: { plan: 'pro', at: 'now' },
    });
    expect(now.body.scheduled_change).toBeNull();
    t.clock.advance(Date.parse(tenant.current_period.end) - t.clock.now().getTime() + 1);
    await t.services.jobs.runDue();
    expect((await getTenant(t, tenant.id)).plan.key).toBe('pro');
  });

  it('does not change the plan of a tenant deleted before the period ended', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/change-plan`,
      payload: { plan: 'starter', at: 'period_end' },
    });
    await act(t, tenant.id, 'cancel');
    await send(tenant.id, 'delete');
    t.clock.advance(Date.parse(tenant.current_period.end) - t.clock.now().getTime() + 1);
    await t.services.jobs.runDue();
    const after = await getTenant(t, tenant.id);
    expect(after.state).toBe('deleted');
    expect(after.plan.key).toBe('pro');
  });

  it('keeps the latest of two scheduled changes', async () => {
    const slug = uniqueSlug();
    const tenant = await provisionedTenant(t, { slug, plan: 'starter', trial_days: 0 });
    for (const plan of ['pro', 'starter']) {
      const r = await t.request({
        method: 'POST',
        url: `/v1/tenants/${slug}/change-plan`,
        payload: { plan, at: 'period_end' },
      });
      expect(r.body.scheduled_change.plan.key).toBe(plan);
    }
    const jobs = await t.services.database.db
      .selectFrom('jobs')
      .select('id')
      .where('kind', '=', 'tenant.scheduled_plan_change')
      .where('status', '=', 'pending')
      .where('dedupe_key', 'like', `%${tenant.id}%`)
      .execute();
    expect(jobs).toHaveLength(1);
    t.clock.advance(Date.parse(tenant.current_period.end) - t.clock.now().getTime() + 1);
    await t.services.jobs.runDue();
    const after = await getTenant(t, tenant.id);
    expect(after.plan.key).toBe('starter');
    expect(after.scheduled_change).toBeNull();
  });
});
