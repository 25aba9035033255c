import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import {
  type AccountsApp,
  accountState,
  alertCode,
  auditTrail,
  formOf,
  PASSWORD,
  signIn,
  startAccountsApp,
  verifiedUser,
} from '../../test/hosted-support.ts';
import { safeReturnTo } from './return-to.ts';

let t: AccountsApp;
beforeEach(async () => {
  t = await startAccountsApp();
});
afterEach(() => t.close());

describe('sign-in', () => {
  test('starts a session in an HTTP-only SameSite=Lax cookie, records user.signed_in, and lands on the sessions page', async () => {
    await verifiedUser(t, 'ann@example.com');
    const browser = t.browser('Firefox on Linux');
    const page = await signIn(browser, 'ann@example.com');
    expect(page.location).toBe('/account/sessions');
    const cookies = ([] as string[]).concat(page.headers['set-cookie'] as string | string[]);
    const session = cookies.find((c) => c.startsWith('tenantry_session='));
    expect(session).toMatch(/; HttpOnly/);
    expect(session).toMatch(/; SameSite=Lax/);
    expect(session).toMatch(/; Path=\//);
    // The public URL is http here: a Secure cookie would never come back.
    expect(session).not.toMatch(/; Secure/);
    const secret = browser.cookies.get('tenantry_session') ?? '';
    const stored = await t.services.database.db.selectFrom('sessions').selectAll().executeTakeFirstOrThrow();
    expect(stored.secret_hash).not.toBe(secret);
    expect(stored).toMatchObject({ state: 'active', user_agent: 'Firefox on Linux', ip: '127.0.0.1' });
    const trail = await auditTrail(t);
    expect(trail.at(-1)).toMatchObject({
      action: 'user.signed_in',
      actor_type: 'user',
      source_ip: '127.0.0.1',
    });
    expect(trail.at(-1)?.data).toEqual({ user_id: stored.user_id, session_id: stored.id, mfa: false });

    // What the OpenID provider sees.
    const current = await t.services.sessions.current({ cookies: { tenantry_session: secret } });
    expect(current).toEqual({
      sessionId: stored.id,
      userId: stored.user_id,
      email: 'ann@example.com',
      mfaVerifiedAt: null,
      createdAt: t.clock.now(),
    });
    expect(await t.services.sessions.current({ cookies: {} })).toBeUndefined();
    expect(
      await t.services.sessions.current({ cookies: { tenantry_session: 'A'.repeat(43) } }),
    ).toBeUndefined();
  });

  test('with an https public URL the cookies are Secure and __Host- prefixed', async () => {
    await t.close();
    t = await startAccountsApp({ publicUrl: 'https://id.acme.test' });
    await verifiedUser(t, 'ann@example.com');
    const browser = t.browser();
    const form = await browser.get('/sign-in');
    expect(String(form.headers['set-cookie'])).toMatch(
      /^__Host-tenantry_csrf=[^;]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
    );
    const page = await signIn(browser, 'ann@example.com');
    expect(String(page.headers['set-cookie'])).toMatch(
      /__Host-tenantry_session=[^;]+;.*; HttpOnly; Secure; SameSite=Lax/,
    );
    expect((await browser.get('/account/sessions')).status).toBe(200);
  });

  test('an unknown email and a wrong password get the same status and the same page, each recorded as user.sign_in_failed', async () => {
    await verifiedUser(t, 'ann@example.com');
    const browser = t.browser();
    const unknown = await browser.submit('/sign-in', { email: 'nobody@example.com', password: PASSWORD });
    const wrong = await browser.submit('/sign-in', {
      email: 'ann@example.com',
      password: 'not-the-password-1',
    });
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(alertCode(wrong.body)).toBe('invalid_credentials');
    // Byte for byte: one browser, so one CSRF token, and the email is not echoed.
    expect(wrong.body).toBe(unknown.body);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    const failed = (await auditTrail(t)).filter((e) => e.action === 'user.sign_in_failed');
    const user = await t.services.database.db.selectFrom('users').select('id').executeTakeFirstOrThrow();
    expect(failed.map((e) => [e.target_id, e.data, e.actor_type])).toEqual([
      ['unknown', { user_id: null, reason: 'invalid_credentials' }, 'system'],
      [user.id, { user_id: user.id, reason: 'invalid_credentials' }, 'system'],
    ]);
    // Neither the email tried nor the password is in the log.
    expect(JSON.stringify(failed)).not.toMatch(/nobody@example\.com|not-the-password/);
    expect(await t.services.database.db.selectFrom('sessions').selectAll().execute()).toEqual([]);
  });

  test('a user whose email is not verified is refused, and mailed a new link', async () => {
    await t.browser().submit('/sign-up', { email: 'ann@example.com', password: PASSWORD });
    const first = t.smtp.link('ann@example.com');
    const page = await t.browser().submit('/sign-in', { email: 'ann@example.com', password: PASSWORD });
    expect(page.status).toBe(403);
    expect(alertCode(page.body)).toBe('email_not_verified');
    const second = t.smtp.link('ann@example.com');
    expect(second).not.toBe(first);
    // The newest link is the one: the first no longer works.
    expect((await t.browser().get(first)).status).toBe(400);
    expect((await t.browser().get(second)).status).toBe(200);
    expect((await auditTrail(t)).slice(-2).map((e) => e.action)).toEqual([
      'user.sign_in_failed',
      'user.verification_sent',
    ]);
  });

  test('without a CSRF token, or with a token of another browser, sign-in is refused and nothing is written', async () => {
    await verifiedUser(t, 'ann@example.com');
    const before = await accountState(t);
    const victim = t.browser();
    await victim.get('/sign-in');
    const missing = await victim.post('/sign-in', { email: 'ann@example.com', password: PASSWORD });
    expect(missing.status).toBe(403);
    const attacker = t.browser();
    const token = formOf((await attacker.get('/sign-in')).body).hidden._csrf ?? '';
    const forged = await victim.post('/sign-in', {
      _csrf: token,
      email: 'ann@example.com',
      password: PASSWORD,
    });
    expect(forged.status).toBe(403);
    expect(alertCode(forged.body)).toBe('csrf_token_invalid');
    expect(await accountState(t)).toEqual(before);
  });

  test('return_to sends the user back to a path on this server', async () => {
    await verifiedUser(t, 'ann@example.com');
    const browser = t.browser();
    const page = await browser.submit('/sign-in?return_to=%2Fauthorize%3Fclient_id%3Dminutes%26state%3Dx', {
      email: 'ann@example.com',
      password: PASSWORD,
    });
    expect(page.status).toBe(303);
    expect(page.location).toBe('/authorize?client_id=minutes&state=x');
  });

  test.each([
    'https://evil.test/',
    '//evil.test/path',
    '/\\evil.test',
    '\\\\evil.test',
    'http:/evil.test',
    'javascript:alert(1)',
    '/\r\nLocation: https://evil.test',
    ' /account',
    'evil.test',
  ])('return_to %j is ignored (no open redirect): home instead', async (target) => {
    await verifiedUser(t, 'ann@example.com');
    const browser = t.browser();
    const form = await browser.get(`/sign-in?return_to=${encodeURIComponent(target)}`);
    expect(form.body).not.toContain('name="return_to"');
    const { hidden } = formOf(form.body);
    // Posted straight in the form too, as an attacker's page would.
    const page = await browser.post('/sign-in', {
      ...hidden,
      return_to: target,
      email: 'ann@example.com',
      password: PASSWORD,
    });
    expect(page.status).toBe(303);
    expect(page.location).toBe('/account/sessions');
  });
});

describe('safeReturnTo', () => {
  test('keeps same-origin relative paths, with query and fragment', () => {
    expect(safeReturnTo('/authorize?x=1#y')).toBe('/authorize?x=1#y');
    expect(safeReturnTo('/a/../b')).toBe('/b');
  });
  test.each([
    '//evil.test',
    '/\\evil.test',
    '/\tevil',
    'https://x.test/',
    '',
    'x',
    42,
    undefined,
    `/${'a'.repeat(2048)}`,
  ])('refuses %j', (raw) => {
    expect(safeReturnTo(raw)).toBeUndefined();
  });
});
