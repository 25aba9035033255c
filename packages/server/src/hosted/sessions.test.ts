import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import {
  type AccountsApp,
  alertCode,
  auditTrail,
  type Browser,
  formOf,
  signIn,
  startAccountsApp,
  verifiedUser,
} from '../../test/hosted-support.ts';

let t: AccountsApp;
let laptop: Browser;
let phone: Browser;
beforeEach(async () => {
  t = await startAccountsApp();
  await verifiedUser(t, 'ann@example.com');
  laptop = t.browser('Firefox on Linux');
  phone = t.browser('Safari on iPhone');
  await signIn(laptop, 'ann@example.com');
  t.clock.advance(60_000);
  await signIn(phone, 'ann@example.com');
});
afterEach(() => t.close());

async function userId(email = 'ann@example.com'): Promise<string> {
  const row = await t.services.database.db
    .selectFrom('users')
    .select('id')
    .where('email', '=', email)
    .executeTakeFirstOrThrow();
  return row.id;
}

describe('the session list', () => {
  test('shows each live session with its device, address and times, newest first', async () => {
    const page = await laptop.get('/account/sessions');
    expect(page.status).toBe(200);
    const rows = [...page.body.matchAll(/<tr data-session="(ses_[0-9a-z]+)"><td>([^<]+)/g)].map((m) =>
      m[2]?.trim(),
    );
    expect(rows).toEqual(['Safari on iPhone', 'Firefox on Linux']);
    expect(page.body).toContain('Firefox on Linux <strong>(this one)</strong>');
    expect(page.body).toContain('<td>127.0.0.1</td>');
    const sessions = await t.services.sessions.list(await userId());
    expect(sessions.map((s) => s.userAgent)).toEqual(['Safari on iPhone', 'Firefox on Linux']);
  });

  test("another user's session is not listed, and cannot be ended through the page", async () => {
    await verifiedUser(t, 'eve@example.com');
    const eve = t.browser('Eve');
    await signIn(eve, 'eve@example.com');
    const [annPhone] = await t.services.sessions.list(await userId());
    const { hidden } = formOf((await eve.get('/account/sessions')).body);
    expect((await eve.get('/account/sessions')).body).not.toContain(annPhone?.id ?? 'none');
    const attack = await eve.post(`/account/sessions/${annPhone?.id}/end`, hidden);
    expect(attack.status).toBe(404);
    expect(alertCode(attack.body)).toBe('session_not_found');
    expect((await phone.get('/account/sessions')).status).toBe(200);
  });
});

describe('signing out', () => {
  test('of one other session: that device is signed out, this one stays', async () => {
    const [phoneSession] = await t.services.sessions.list(await userId());
    const page = await laptop.submit('/account/sessions', {}, `/account/sessions/${phoneSession?.id}/end`);
    expect(page.status).toBe(303);
    expect(page.location).toBe('/account/sessions');
    expect((await phone.get('/account/sessions')).status).toBe(303);
    expect((await laptop.get('/account/sessions')).status).toBe(200);
    const ended = (await auditTrail(t)).at(-1);
    expect(ended).toMatchObject({
      action: 'session.ended',
      target_type: 'session',
      target_id: phoneSession?.id,
    });
    expect(ended?.data).toMatchObject({ reason: 'ended_by_user' });
  });

  test('everywhere: every session ends, and an old cookie replayed afterwards is worthless', async () => {
    const phoneCookie = phone.cookies.get('tenantry_session') ?? '';
    const page = await laptop.submit('/account/sessions', {}, '/account/sessions/end-all');
    expect(page.status).toBe(303);
    expect(page.location).toBe('/sign-in');
    expect(laptop.cookies.has('tenantry_session')).toBe(false);
    expect((await phone.get('/account/sessions')).status).toBe(303);
    expect(await t.services.sessions.current({ cookies: { tenantry_session: phoneCookie } })).toBeUndefined();
    // The phone's forms cannot act either.
    const { hidden } = formOf((await phone.get('/sign-out')).body);
    const post = await phone.post('/account/mfa/enrol', hidden);
    expect(post.status).toBe(401);
    const ended = (await auditTrail(t)).filter((e) => e.action === 'session.ended');
    expect(ended.map((e) => (e.data as { reason: string }).reason)).toEqual([
      'signed_out_everywhere',
      'signed_out_everywhere',
    ]);
  });

  test('/sign-out ends this session only, and needs its CSRF token', async () => {
    const refused = await laptop.post('/sign-out', {});
    expect(refused.status).toBe(403);
    expect((await laptop.get('/account/sessions')).status).toBe(200);
    const page = await laptop.submit('/sign-out', {});
    expect(page.status).toBe(303);
    expect((await laptop.get('/account/sessions')).status).toBe(303);
    expect((await phone.get('/account/sessions')).status).toBe(200);
  });

  test('endSessionsOf ends every session of a user (the OpenID provider and members call it)', async () => {
    await verifiedUser(t, 'bob@example.com');
    const bob = t.browser();
    await signIn(bob, 'bob@example.com');
    expect(await t.services.sessions.endSessionsOf(await userId())).toBe(2);
    expect((await laptop.get('/account/sessions')).status).toBe(303);
    expect((await bob.get('/account/sessions')).status).toBe(200);
    const ended = (await auditTrail(t)).filter((e) => e.action === 'session.ended');
    expect(ended.map((e) => [e.actor_type, e.actor_id])).toEqual([
      ['system', 'sessions'],
      ['system', 'sessions'],
    ]);
    expect(await t.services.sessions.endSessionsOf(await userId())).toBe(0);
  });
});

describe('expiry', () => {
  test('use keeps a session alive past many idle periods, but not past its absolute expiry', async () => {
    const { idleMs, absoluteMs } = t.services.sessions.settings;
    const start = t.clock.now().getTime() - 60_000;
    let uses = 0;
    // The laptop is used shortly before each idle period runs out, until it is refused.
    while ((await laptop.get('/account/sessions')).status === 200) {
      uses += 1;
      t.clock.advance(idleMs - 60_000);
    }
    expect(uses).toBeGreaterThan(absoluteMs / idleMs - 1);
    expect(t.clock.now().getTime() - start).toBeGreaterThanOrEqual(absoluteMs);
    // The phone was not used at all, and idled out long ago.
    expect((await phone.get('/account/sessions')).status).toBe(303);
  });

  test('the idle expiry ends a session left alone', async () => {
    expect((await laptop.get('/account/sessions')).status).toBe(200);
    t.clock.advance(t.services.sessions.settings.idleMs - 1);
    expect((await laptop.get('/account/sessions')).status).toBe(200);
    t.clock.advance(t.services.sessions.settings.idleMs - 1);
    expect((await laptop.get('/account/sessions')).status).toBe(200);
    t.clock.advance(t.services.sessions.settings.idleMs);
    expect((await laptop.get('/account/sessions')).status).toBe(303);
  });
});
