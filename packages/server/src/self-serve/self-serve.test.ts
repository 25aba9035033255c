import type { InjectOptions } from 'fastify';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import {
  type AccountsApp,
  alertCode,
  type Browser,
  formOf,
  PASSWORD,
  signIn,
  startAccountsApp,
  verifiedUser,
} from '../../test/hosted-support.ts';
import { fixture } from '../../test/tenant-support.ts';
import { userToken } from '../../test/user-tokens.ts';
import { systemContext } from '../request-context.ts';

const PNG =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

let t: AccountsApp;
let operator: string;

/** A request with the operator key, or the headers given. */
async function api(options: InjectOptions & { method: string; url: string }) {
  const response = await t.app.inject({
    ...options,
    headers: {
      authorization: `Bearer ${operator}`,
      ...(options.headers as Record<string, string> | undefined),
    },
  } as InjectOptions);
  return { status: response.statusCode, body: response.json() };
}

const OPEN = {
  enabled: true,
  plans: ['pro', 'starter'],
  placements: ['pool'],
  regions: ['eu', 'us'],
  app_url: 'https://app.acme.test/',
  trial_days: 14,
};

beforeEach(async () => {
  t = await startAccountsApp();
  operator = (await t.services.apiKeys.create(systemContext('test'), { name: 'operator' })).secret;
  const applied = await api({
    method: 'POST',
    url: '/v1/plans/apply',
    payload: { source: fixture('plans.yaml') },
  });
  expect(applied.status, JSON.stringify(applied.body)).toBe(200);
});
afterEach(() => t.close());

async function openSelfServe(settings: Record<string, unknown> = OPEN) {
  const put = await api({ method: 'PUT', url: '/v1/settings/self-serve', payload: settings });
  expect(put.status, JSON.stringify(put.body)).toBe(200);
}

/** A verified, signed-in person's browser. */
async function signedInPerson(email: string): Promise<Browser> {
  await verifiedUser(t, email);
  const browser = t.browser();
  await signIn(browser, email);
  return browser;
}

async function startTrial(browser: Browser, fields: Record<string, string> = {}) {
  return browser.submit(
    '/signup?plan=pro',
    { name: 'Ann Co', plan: 'pro', region: 'eu', ...fields },
    '/signup',
  );
}

async function userIdOf(email: string): Promise<string> {
  const row = await t.services.database.db
    .selectFrom('users')
    .select('id')
    .where('email_key', '=', email.toLowerCase())
    .executeTakeFirstOrThrow();
  return row.id;
}

describe('settings', () => {
  test('are read and changed with the settings scopes, audited, and refused to a key without them', async () => {
    const read = await api({ method: 'GET', url: '/v1/settings/self-serve' });
    expect(read.body).toEqual({
      enabled: false,
      plans: [],
      placements: ['pool'],
      regions: [],
      app_url: null,
      trial_days: 14,
    });
    await openSelfServe();
    expect((await api({ method: 'GET', url: '/v1/settings/self-serve' })).body).toEqual(OPEN);
    const audit = await t.services.database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'settings.updated')
      .execute();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ target_type: 'settings', target_id: 'self_serve' });

    const reader = (
      await t.services.apiKeys.create(systemContext('test'), { name: 'r', scopes: ['tenants:read'] })
    ).secret;
    const refused = await api({
      method: 'PUT',
      url: '/v1/settings/branding',
      headers: { authorization: `Bearer ${reader}` },
      payload: { product_name: 'X', color: '#000000', logo: null },
    });
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('insufficient_scope');
    const anonymous = await t.app.inject({ method: 'GET', url: '/v1/settings/self-serve' });
    expect(anonymous.statusCode).toBe(401);
  });

  test('refuse a plan that does not exist and a customer placement, naming the field', async () => {
    const refused = await api({
      method: 'PUT',
      url: '/v1/settings/self-serve',
      payload: { ...OPEN, plans: ['pro', 'gold'] },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toEqual([{ path: 'plans.1', message: 'no plan has the key "gold"' }]);
    const byoi = await api({
      method: 'PUT',
      url: '/v1/settings/self-serve',
      payload: { ...OPEN, placements: ['byoi'] },
    });
    expect(byoi.status).toBe(400);
  });

  test('branding: a colour without AA contrast for white text is refused at its field, an SVG logo too; a good one shows on the hosted pages', async () => {
    const pale = await api({
      method: 'PUT',
      url: '/v1/settings/branding',
      payload: { product_name: 'Acme', color: '#ffcc00', logo: null },
    });
    expect(pale.status).toBe(400);
    expect(pale.body.errors[0].path).toBe('color');
    expect(pale.body.errors[0].message).toMatch(/contrast of 1\.\d\d:1; WCAG AA needs at least 4\.5:1/);
    const svg = await api({
      method: 'PUT',
      url: '/v1/settings/branding',
      payload: {
        product_name: 'Acme',
        color: '#1f4fd8',
        logo: `data:image/svg+xml;base64,${btoa('<svg onload="alert(1)"/>')}`,
      },
    });
    expect(svg.status).toBe(400);
    expect(svg.body.errors[0]).toMatchObject({ path: 'logo' });
    const good = await api({
      method: 'PUT',
      url: '/v1/settings/branding',
      payload: { product_name: 'Brightly', color: '#1F4FD8', logo: PNG },
    });
    expect(good.status, JSON.stringify(good.body)).toBe(200);
    expect(good.body).toEqual({ product_name: 'Brightly', color: '#1f4fd8', logo: PNG });
    const audit = await t.services.database.db
      .selectFrom('audit_events')
      .select('after')
      .where('action', '=', 'settings.updated')
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(audit.after)).not.toContain('iVBOR');
    // The hosted pages read the settings (cached a few seconds per process: this one was told).
    const page = await t.browser().get('/sign-in');
    expect(page.body).toContain('Brightly');
    expect(page.body).toContain('background:#1f4fd8');
    expect(page.body).toContain(`<img src="${PNG}"`);
    // And anyone may read it, as the pages show it to anyone: the portal brands itself from here.
    const open = await t.app.inject({ method: 'GET', url: '/branding.json' });
    expect(open.statusCode).toBe(200);
    expect(open.json()).toEqual({ product_name: 'Brightly', color: '#1f4fd8', logo: PNG });
    expect(open.headers['cache-control']).toBe('public, max-age=60');
  });
});

describe('a trial', () => {
  test('a verified user starts one on an offered plan and becomes its owner, provisioned by the normal workflow', async () => {
    await openSelfServe();
    const anonymous = await t.browser().get('/signup?plan=pro');
    expect(anonymous.status).toBe(303);
    expect(anonymous.location).toBe('/sign-up?return_to=%2Fsignup%3Fplan%3Dpro');

    const browser = await signedInPerson('ann@example.com');
    const page = await browser.get('/signup?plan=pro');
    expect(page.body).toContain('<option value="pro" selected>');
    const started = await startTrial(browser);
    expect(started.status, started.body).toBe(303);
    expect(started.location).toBe('/signup');
    const waiting = await browser.get('/signup');
    expect(waiting.body).toContain('<a href="/signup">Continue</a>');

    const userId = await userIdOf('ann@example.com');
    const trial = await t.services.database.db
      .selectFrom('self_serve_trials')
      .selectAll()
      .executeTakeFirstOrThrow();
    expect(trial).toMatchObject({ user_id: userId, plan: 'pro', wizard_completed_at: null });
    const member = await t.services.database.db
      .selectFrom('memberships')
      .selectAll()
      .where('tenant_id', '=', trial.tenant_id)
      .executeTakeFirstOrThrow();
    expect(member).toMatchObject({ user_id: userId, role: 'owner' });
    const actions = await t.services.database.db
      .selectFrom('audit_events')
      .select(['action', 'actor_id'])
      .where('tenant_id', '=', trial.tenant_id)
      .orderBy('seq')
      .execute();
    expect(actions.map((a) => a.action)).toEqual(['tenant.created', 'signup.trial_started']);
    expect(new Set(actions.map((a) => a.actor_id))).toEqual(new Set([userId]));

    await t.services.jobs.runDue();
    const tenant = await api({ method: 'GET', url: `/v1/tenants/${trial.tenant_id}` });
    expect(tenant.body).toMatchObject({
      name: 'Ann Co',
      state: 'trialing',
      region: 'eu',
      placement: 'pool',
      plan: { key: 'pro' },
    });
    const ready = await browser.get('/signup');
    expect(ready.status).toBe(303);
    expect(ready.location).toBe('/portal/welcome');
  });

  test('self-serve off: refused, nothing made', async () => {
    await openSelfServe();
    const browser = await signedInPerson('ann@example.com');
    const form = await browser.get('/signup');
    await openSelfServe({ ...OPEN, enabled: false });
    const hidden = formOf(form.body, '/signup').hidden;
    const refused = await browser.post('/signup', { ...hidden, name: 'Ann Co', plan: 'pro', region: 'eu' });
    expect(refused.status).toBe(403);
    expect(alertCode(refused.body)).toBe('self_serve_disabled');
    expect((await t.browser().get('/signup')).status).toBe(403);
    expect(await t.services.database.db.selectFrom('tenants').selectAll().execute()).toEqual([]);
  });

  test('a plan, placement or region not offered: refused, nothing made', async () => {
    await openSelfServe({ ...OPEN, plans: ['starter'] });
    const browser = await signedInPerson('ann@example.com');
    const plan = await startTrial(browser, { plan: 'pro' });
    expect(plan.status).toBe(422);
    expect(alertCode(plan.body)).toBe('plan_not_offered');
    expect(plan.body).toContain('the plan &quot;pro&quot; is not offered');
    const placement = await startTrial(browser, { plan: 'starter', placement: 'database' });
    expect(placement.status).toBe(422);
    expect(alertCode(placement.body)).toBe('placement_not_offered');
    expect(placement.body).toContain('the placement &quot;database&quot; is not offered');
    const region = await startTrial(browser, { plan: 'starter', region: 'mars' });
    expect(region.status).toBe(400);
    expect(region.body).toContain('choose one of eu, us');
    expect(await t.services.database.db.selectFrom('tenants').selectAll().execute()).toEqual([]);
  });

  test('an unverified user is refused (the service checks, whatever signed them in)', async () => {
    await openSelfServe();
    const browser = t.browser();
    await browser.submit('/sign-up', { email: 'bob@example.com', name: 'Bob', password: PASSWORD });
    const signedIn = await browser.submit('/sign-in', { email: 'bob@example.com', password: PASSWORD });
    expect(alertCode(signedIn.body)).toBe('email_not_verified');
    const started = await t.services.selfServe.startTrial(
      systemContext('test'),
      await userIdOf('bob@example.com'),
      { name: 'Bob Co', plan: 'pro', region: 'eu' },
    );
    expect(started.ok).toBe(false);
    if (!started.ok) expect(started.error.code).toBe('email_not_verified');
    expect(await t.services.database.db.selectFrom('tenants').selectAll().execute()).toEqual([]);
  });

  test('a second trial of one user is refused, even two at once', async () => {
    await openSelfServe();
    const browser = await signedInPerson('ann@example.com');
    const userId = await userIdOf('ann@example.com');
    const both = await Promise.all([
      t.services.selfServe.startTrial(systemContext('test'), userId, {
        name: 'One',
        plan: 'pro',
        region: 'eu',
      }),
      t.services.selfServe.startTrial(systemContext('test'), userId, {
        name: 'Two',
        plan: 'pro',
        region: 'eu',
      }),
    ]);
    expect(both.filter((r) => r.ok)).toHaveLength(1);
    const refusedOne = both.find((r) => !r.ok);
    expect(refusedOne !== undefined && !refusedOne.ok && refusedOne.error.code).toBe('trial_exists');
    const again = await t.services.selfServe.startTrial(systemContext('test'), userId, {
      name: 'Three',
      plan: 'pro',
      region: 'eu',
    });
    expect(!again.ok && again.error.code).toBe('trial_exists');
    expect(await t.services.database.db.selectFrom('tenants').selectAll().execute()).toHaveLength(1);
    // The page shows the trial there is, not the form.
    expect((await browser.get('/signup')).body).not.toContain('Start my trial');
  });

  test('trials from one address are limited to five an hour', async () => {
    await openSelfServe();
    const ctx = (userId: string) => ({
      actor: { type: 'user' as const, id: userId },
      requestId: null,
      sourceIp: '203.0.113.9',
    });
    const start = async (n: number) => {
      const userId = `usr_${String(n).padStart(26, '0')}`;
      const email = `bot${n}@example.com`;
      await t.services.database.db
        .insertInto('users')
        .values({ id: userId, email, email_key: email, name: null, email_verified_at: new Date() })
        .execute();
      return t.services.selfServe.startTrial(ctx(userId), userId, {
        name: `Bot ${n}`,
        plan: 'pro',
        region: 'eu',
      });
    };
    for (let n = 1; n <= 5; n++) expect((await start(n)).ok).toBe(true);
    const sixth = await start(6);
    expect(!sixth.ok && sixth.error.code).toBe('too_many_attempts');
    expect(!sixth.ok && sixth.error.details?.retry_after).toBe(3600);
    t.clock.advance(3_600_001);
    expect((await start(7)).ok).toBe(true);
    expect(await t.services.database.db.selectFrom('tenants').selectAll().execute()).toHaveLength(6);
  });
});

describe('the wizard', () => {
  async function trialOf(email: string): Promise<{ tenantId: string; userId: string; auth: string }> {
    await openSelfServe();
    const browser = await signedInPerson(email);
    expect((await startTrial(browser, { name: `${email} org` })).status).toBe(303);
    await t.services.jobs.runDue();
    const userId = await userIdOf(email);
    const trial = await t.services.selfServe.trialOf(userId);
    if (trial === undefined) throw new Error('no trial');
    const token = await userToken(t as never, { sub: userId, tid: trial.tenantId });
    return { tenantId: trial.tenantId, userId, auth: `Bearer ${token}` };
  }

  test('the owner completes it once, renaming the organisation; the funnel counts every step', async () => {
    const ann = await trialOf('ann@example.com');
    const shown = await api({
      method: 'GET',
      url: `/v1/tenants/${ann.tenantId}/onboarding`,
      headers: { authorization: ann.auth },
    });
    expect(shown.status, JSON.stringify(shown.body)).toBe(200);
    expect(shown.body).toMatchObject({
      tenant_id: ann.tenantId,
      state: 'trialing',
      wizard_completed_at: null,
      app_url: 'https://app.acme.test/',
    });
    const done = await api({
      method: 'POST',
      url: `/v1/tenants/${ann.tenantId}/onboarding/complete`,
      headers: { authorization: ann.auth },
      payload: { name: 'Ann Industries' },
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.name).toBe('Ann Industries');
    expect(done.body.wizard_completed_at).not.toBeNull();
    const twice = await api({
      method: 'POST',
      url: `/v1/tenants/${ann.tenantId}/onboarding/complete`,
      headers: { authorization: ann.auth },
      payload: {},
    });
    expect(twice.status).toBe(409);
    expect(twice.body.code).toBe('onboarding_completed');

    let funnel = await api({ method: 'GET', url: '/v1/self-serve/funnel' });
    expect(funnel.body).toMatchObject({
      signups: 1,
      verified: 1,
      tenants_created: 1,
      wizard_completed: 1,
      first_value: 0,
      median_seconds_to_first_value: null,
    });
    t.clock.advance(90_000);
    const usage = await api({
      method: 'POST',
      url: '/v1/events',
      payload: {
        id: 'e1',
        tenant: ann.tenantId,
        meter: 'meetings',
        value: 1,
        time: t.clock.now().toISOString(),
      },
    });
    expect(usage.status, JSON.stringify(usage.body)).toBe(200);
    funnel = await api({ method: 'GET', url: '/v1/self-serve/funnel' });
    expect(funnel.body.first_value).toBe(1);
    expect(funnel.body.median_seconds_to_first_value).toBeGreaterThanOrEqual(90);
  });

  test("another user cannot read or complete someone else's wizard; a member without settings:write neither", async () => {
    const ann = await trialOf('ann@example.com');
    const bob = await trialOf('bob@example.com');
    for (const [method, url] of [
      ['GET', `/v1/tenants/${ann.tenantId}/onboarding`],
      ['POST', `/v1/tenants/${ann.tenantId}/onboarding/complete`],
    ] as const) {
      const other = await api({
        method,
        url,
        headers: { authorization: bob.auth },
        ...(method === 'POST' ? { payload: {} } : {}),
      });
      expect(other.status, url).toBe(403);
      expect(other.body.code).toBe('insufficient_permission');
      // Bob's own user, with a token naming Ann's tenant he is no member of.
      const forged = `Bearer ${await userToken(t as never, { sub: bob.userId, tid: ann.tenantId })}`;
      const notMember = await api({
        method,
        url,
        headers: { authorization: forged },
        ...(method === 'POST' ? { payload: {} } : {}),
      });
      expect(notMember.status, url).toBe(401);
      expect(notMember.body.code).toBe('invalid_access_token');
      const none = await t.app.inject({ method, url });
      expect(none.statusCode).toBe(401);
    }
    const invited = await api({
      method: 'POST',
      url: `/v1/tenants/${ann.tenantId}/invitations`,
      headers: { authorization: ann.auth },
      payload: { email: 'carl@example.com', role: 'billing' },
    });
    expect(invited.status, JSON.stringify(invited.body)).toBe(201);
    // Carl joins Ann's trial as a billing member: a member, without settings:write.
    const token = new URL(invited.body.invitation_url).searchParams.get('token') ?? '';
    const joined = await t.services.members.acceptInvitation(
      systemContext('test'),
      token,
      invited.body.invitation.user_id,
    );
    expect(joined.ok, JSON.stringify(joined)).toBe(true);
    const carl = `Bearer ${await userToken(t as never, { sub: invited.body.invitation.user_id, tid: ann.tenantId })}`;
    for (const [method, url] of [
      ['GET', `/v1/tenants/${ann.tenantId}/onboarding`],
      ['POST', `/v1/tenants/${ann.tenantId}/onboarding/complete`],
    ] as const) {
      const refused = await api({
        method,
        url,
        headers: { authorization: carl },
        ...(method === 'POST' ? { payload: {} } : {}),
      });
      expect(refused.status, url).toBe(403);
      expect(refused.body).toMatchObject({
        code: 'insufficient_permission',
        required_permission: 'settings:write',
      });
    }
    const trial = await t.services.database.db
      .selectFrom('self_serve_trials')
      .select('wizard_completed_at')
      .where('tenant_id', '=', ann.tenantId)
      .executeTakeFirstOrThrow();
    expect(trial.wizard_completed_at).toBeNull();
  });

  test('an operator-created tenant has no wizard', async () => {
    const created = await api({
      method: 'POST',
      url: '/v1/tenants',
      payload: { slug: 'ops-made', name: 'Ops', plan: 'pro' },
    });
    expect(created.status).toBe(201);
    const none = await api({ method: 'GET', url: `/v1/tenants/${created.body.id}/onboarding` });
    expect(none.status).toBe(404);
    expect(none.body.code).toBe('onboarding_not_found');
  });
});
