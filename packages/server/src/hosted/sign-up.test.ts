import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import {
  type AccountsApp,
  accountState,
  alertCode,
  auditTrail,
  formOf,
  PASSWORD,
  startAccountsApp,
  verifiedUser,
} from '../../test/hosted-support.ts';

let t: AccountsApp;
beforeEach(async () => {
  t = await startAccountsApp();
});
afterEach(() => t.close());

describe('sign-up', () => {
  test('makes a user with an argon2id password, mails a verification link, and records user.signed_up', async () => {
    const browser = t.browser();
    const form = await browser.get('/sign-up');
    expect(form.status).toBe(200);
    expect(form.headers['content-type']).toMatch(/text\/html/);
    // Accessible labels, no script, branding.
    expect(form.body).toContain('<label for="f-email">Email</label>');
    expect(form.body).toContain('<label for="f-password">Password</label>');
    expect(form.body).not.toContain('<script');
    expect(form.body).toContain('Acme Minutes');
    expect(form.headers['content-security-policy']).toMatch(/default-src 'none'/);
    expect(form.headers['x-frame-options']).toBe('DENY');

    const done = await browser.submit('/sign-up', {
      email: 'Ann@Example.com',
      name: 'Ann',
      password: PASSWORD,
    });
    expect(done.status, done.body).toBe(200);
    expect(done.body).toContain('Check your email');
    expect(done.body).not.toContain('Mail is not configured');
    const user = await t.services.database.db.selectFrom('users').selectAll().executeTakeFirstOrThrow();
    expect(user).toMatchObject({
      email: 'Ann@Example.com',
      email_key: 'ann@example.com',
      name: 'Ann',
      email_verified_at: null,
    });
    const password = await t.services.database.db
      .selectFrom('user_passwords')
      .selectAll()
      .executeTakeFirstOrThrow();
    expect(password.hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const mail = t.smtp.latest('Ann@Example.com');
    expect(mail?.subject).toBe('Verify your email for Acme Minutes');
    const trail = await auditTrail(t);
    expect(trail.map((e) => [e.action, e.actor_type, e.actor_id])).toEqual([
      ['user.signed_up', 'user', user.id],
    ]);
    expect(JSON.stringify(trail)).not.toContain(PASSWORD);
    // The link's token is stored only as its hash.
    const token = new URL(`http://x${t.smtp.link('Ann@Example.com')}`).searchParams.get('token') ?? '';
    const links = await t.services.database.db.selectFrom('user_links').selectAll().execute();
    expect(links).toHaveLength(1);
    expect(links[0]?.token_hash).not.toBe(token);
    expect(JSON.stringify(links)).not.toContain(token);
  });

  test.each([
    ['a weak password', { email: 'ann@example.com', password: 'password1' }, 'password', /too easy to guess/],
    ['a short password', { email: 'ann@example.com', password: 'Xy7!' }, 'password', /at least 8/],
    [
      "a password that is the user's email",
      { email: 'ann.smith@example.com', password: 'ann.smith@example.com' },
      'password',
      /email address or name/,
    ],
    ['a malformed email', { email: 'ann@@example', password: PASSWORD }, 'email', /email address/],
    ['no email', { password: PASSWORD }, 'email', /email address/],
  ])('refuses %s with a 400 naming the field, and writes nothing', async (_, fields, name, message) => {
    const before = await accountState(t);
    const page = await t.browser().submit('/sign-up', fields as Record<string, string>);
    expect(page.status).toBe(400);
    expect(alertCode(page.body)).toBe('validation_failed');
    expect(page.body).toContain(`aria-describedby="f-${name}-error"`);
    expect(page.body).toMatch(new RegExp(`<p class="error" id="f-${name}-error">[^<]*${message.source}`));
    // The password is never echoed back into the page.
    expect(page.body).not.toMatch(/id="f-password"[^>]*value=/);
    expect(await accountState(t)).toEqual(before);
    expect(t.smtp.received).toHaveLength(0);
  });

  test('an email already signed up gets the same answer, and its owner a reset link instead (no account enumeration)', async () => {
    await verifiedUser(t, 'ann@example.com');
    const fresh = await t.browser().submit('/sign-up', { email: 'new@example.com', password: PASSWORD });
    const taken = await t
      .browser()
      .submit('/sign-up', { email: 'ANN@example.com', password: 'another-Strong-pass-77' });
    expect(taken.status).toBe(fresh.status);
    expect(taken.body.replace('ANN@example.com', 'X')).toBe(fresh.body.replace('new@example.com', 'X'));
    expect(
      await t.services.database.db.selectFrom('users').select('email').orderBy('email').execute(),
    ).toEqual([{ email: 'ann@example.com' }, { email: 'new@example.com' }]);
    expect(t.smtp.latest('ANN@example.com', /Reset your/)?.text).toContain('/reset-password?token=');
    expect((await auditTrail(t)).at(-1)?.action).toBe('user.password_reset_requested');
  });

  test('a form post without a CSRF token, or with a wrong one, is refused with 403 and writes nothing', async () => {
    const browser = t.browser();
    const page = await browser.get('/sign-up');
    const { hidden } = formOf(page.body);
    const before = await accountState(t);
    const missing = await browser.post('/sign-up', { email: 'ann@example.com', password: PASSWORD });
    expect(missing.status).toBe(403);
    expect(alertCode(missing.body)).toBe('csrf_token_invalid');
    const wrong = await browser.post('/sign-up', {
      _csrf: `${hidden._csrf?.slice(0, -2)}xx`,
      email: 'ann@example.com',
      password: PASSWORD,
    });
    expect(wrong.status).toBe(403);
    // A cross-site form: the attacker's own token, without the victim's cookie.
    const attacker = t.browser();
    const attackerToken = formOf((await attacker.get('/sign-up')).body).hidden._csrf ?? '';
    const forged = await browser.post('/sign-up', {
      _csrf: attackerToken,
      email: 'ann@example.com',
      password: PASSWORD,
    });
    expect(forged.status).toBe(403);
    expect(await accountState(t)).toEqual(before);
  });

  test('a NUL character in a field is refused with a 400 problem naming it, not a 500', async () => {
    const browser = t.browser();
    const { hidden } = formOf((await browser.get('/sign-up')).body);
    const page = await browser.post('/sign-up', {
      ...hidden,
      email: 'ann\u0000@example.com',
      password: PASSWORD,
    });
    expect(page.status).toBe(400);
    expect(JSON.parse(page.body).errors).toEqual([{ path: 'email', message: expect.stringMatching(/NUL/) }]);
  });
});

describe('email verification', () => {
  test('the mailed link verifies the email once (a GET only shows the button), and records user.email_verified', async () => {
    const browser = t.browser();
    await browser.submit('/sign-up', { email: 'ann@example.com', password: PASSWORD });
    const link = t.smtp.link('ann@example.com');
    // Opening the link (as a mail scanner would) spends nothing.
    expect((await t.browser().get(link)).status).toBe(200);
    expect((await t.browser().get(link)).status).toBe(200);
    const verified = await browser.submit(link, {});
    expect(verified.status).toBe(200);
    expect(verified.body).toContain('is verified');
    const user = await t.services.database.db.selectFrom('users').selectAll().executeTakeFirstOrThrow();
    expect(user.email_verified_at).toEqual(t.clock.now());
    expect((await auditTrail(t)).map((e) => e.action)).toEqual(['user.signed_up', 'user.email_verified']);

    // Reused: refused, nothing changes.
    const again = await t.browser().get(link);
    expect(again.status).toBe(400);
    expect(alertCode(again.body)).toBe('link_invalid');
    expect(again.body).toContain('already used');
  });

  test('an expired link is refused', async () => {
    await t.browser().submit('/sign-up', { email: 'ann@example.com', password: PASSWORD });
    const link = t.smtp.link('ann@example.com');
    const browser = t.browser();
    const page = await browser.get(link);
    const form = formOf(page.body);
    t.clock.advance(24 * 3_600_000 + 1);
    const late = await browser.post(form.action, form.hidden);
    expect(late.status).toBe(400);
    expect(late.body).toContain('expired');
    const user = await t.services.database.db
      .selectFrom('users')
      .select('email_verified_at')
      .executeTakeFirstOrThrow();
    expect(user.email_verified_at).toBeNull();
  });

  test.each([
    ['a forged token', 'A'.repeat(43)],
    ['a malformed token', "x' or 1=1 --"],
    ['no token', ''],
  ])('%s is refused without looking further', async (_, token) => {
    const page = await t.browser().get(`/verify-email?token=${encodeURIComponent(token)}`);
    expect(page.status).toBe(400);
    expect(alertCode(page.body)).toBe('link_invalid');
  });
});
