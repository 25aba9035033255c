import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import {
  type AccountsApp,
  alertCode,
  auditTrail,
  type Browser,
  enrolMfa,
  formOf,
  PASSWORD,
  signIn,
  startAccountsApp,
  totpCode,
  verifiedUser,
} from '../../test/hosted-support.ts';
import { systemContext } from '../request-context.ts';

let t: AccountsApp;
let browser: Browser;
beforeEach(async () => {
  t = await startAccountsApp();
  await verifiedUser(t, 'ann@example.com');
  browser = t.browser();
  await signIn(browser, 'ann@example.com');
});
afterEach(() => t.close());

/** Signs in with the password in a new browser: lands on the second factor. */
async function passwordStep(): Promise<Browser> {
  const other = t.browser('phone');
  const page = await other.submit('/sign-in?return_to=%2Fauthorize%3Fx%3D1', {
    email: 'ann@example.com',
    password: PASSWORD,
  });
  expect(page.status).toBe(303);
  expect(page.location).toBe('/mfa?return_to=%2Fauthorize%3Fx%3D1');
  return other;
}

describe('enrolment', () => {
  test('shows the otpauth URI once, seals the secret at rest, and turns MFA on with 10 recovery codes', async () => {
    const { secret, recoveryCodes } = await enrolMfa(t, browser);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(recoveryCodes).toHaveLength(10);
    expect(new Set(recoveryCodes).size).toBe(10);
    const row = await t.services.database.db.selectFrom('user_totp').selectAll().executeTakeFirstOrThrow();
    expect(row.confirmed_at).not.toBeNull();
    expect(row.secret_sealed).not.toContain(secret);
    // A JWE under the master key, bound to this user.
    expect(row.secret_sealed.split('.')).toHaveLength(5);
    const codes = await t.services.database.db.selectFrom('user_recovery_codes').selectAll().execute();
    expect(codes).toHaveLength(10);
    for (const code of recoveryCodes) expect(JSON.stringify(codes)).not.toContain(code.replaceAll('-', ''));
    expect((await auditTrail(t)).slice(-2).map((e) => e.action)).toEqual([
      'user.mfa_enrolment_started',
      'user.mfa_enrolled',
    ]);
    expect(t.smtp.latest('ann@example.com', /Two-step/)?.text).toContain('an authenticator app was added');
    // The page no longer shows the secret.
    const settings = await browser.get('/account/mfa');
    expect(settings.body).toContain('<strong>on</strong>');
    expect(settings.body).toContain('Recovery codes left: 10');
    expect(settings.body).not.toContain(secret);
  });

  test('the URI names the brand and the user, for the authenticator app', async () => {
    const started = await browser.submit('/account/mfa', {}, '/account/mfa/enrol');
    const uri = /<code id="totp-uri">([^<]+)<\/code>/.exec(started.body)?.[1]?.replaceAll('&amp;', '&') ?? '';
    expect(uri).toMatch(
      /^otpauth:\/\/totp\/Acme%20Minutes:ann%40example\.com\?issuer=Acme%20Minutes&secret=[A-Z2-7]+&algorithm=SHA1&digits=6&period=30$/,
    );
    // The vendor renames its product in the branding settings: the next enrolment's app shows it.
    const renamed = await t.services.selfServe.updateBranding(systemContext('test'), {
      product_name: 'Northwind Meetings',
      color: '#1d4ed8',
      logo: null,
    });
    expect(renamed.ok).toBe(true);
    const again = await browser.submit('/account/mfa', {}, '/account/mfa/enrol');
    const next = /<code id="totp-uri">([^<]+)<\/code>/.exec(again.body)?.[1]?.replaceAll('&amp;', '&') ?? '';
    expect(next).toMatch(
      /^otpauth:\/\/totp\/Northwind%20Meetings:ann%40example\.com\?issuer=Northwind%20Meetings&/,
    );
  });

  test('a wrong code does not turn MFA on', async () => {
    const started = await browser.submit('/account/mfa', {}, '/account/mfa/enrol');
    const form = formOf(started.body, '/account/mfa/confirm');
    const page = await browser.post(form.action, { ...form.hidden, code: '000000' });
    expect(page.status).toBe(400);
    expect(alertCode(page.body)).toBe('mfa_code_invalid');
    expect(
      await t.services.mfa.status(
        (await t.services.database.db.selectFrom('users').select('id').executeTakeFirstOrThrow()).id,
      ),
    ).toEqual({
      enabled: false,
      recoveryCodesLeft: 0,
    });
  });

  test('without a session the MFA pages send the user to sign in, and their posts are refused', async () => {
    const stranger = t.browser();
    const page = await stranger.get('/account/mfa');
    expect(page.status).toBe(303);
    expect(page.location).toBe('/sign-in?return_to=%2Faccount%2Fmfa');
    const { hidden } = formOf((await stranger.get('/sign-in')).body);
    const post = await stranger.post('/account/mfa/enrol', hidden);
    expect(post.status).toBe(401);
    expect(alertCode(post.body)).toBe('sign_in_required');
  });
});

describe('sign-in with MFA', () => {
  let secret: string;
  let recoveryCodes: string[];
  beforeEach(async () => {
    ({ secret, recoveryCodes } = await enrolMfa(t, browser));
    // The enrolment used this step's code.
    t.clock.advance(30_000);
  });

  test('the password alone is not a session: the OpenID provider sees no one until the code', async () => {
    const phone = await passwordStep();
    const secretCookie = phone.cookies.get('tenantry_session') ?? '';
    expect(
      await t.services.sessions.current({ cookies: { tenantry_session: secretCookie } }),
    ).toBeUndefined();
    expect((await phone.get('/account/sessions')).status).toBe(303);
    const done = await phone.submit('/mfa?return_to=%2Fauthorize%3Fx%3D1', {
      code: totpCode(secret, t.clock),
    });
    expect(done.status, done.body).toBe(303);
    expect(done.location).toBe('/authorize?x=1');
    // A new cookie secret: the one seen before the second factor is worthless.
    expect(phone.cookies.get('tenantry_session')).not.toBe(secretCookie);
    expect(
      await t.services.sessions.current({ cookies: { tenantry_session: secretCookie } }),
    ).toBeUndefined();
    const current = await t.services.sessions.current({
      cookies: { tenantry_session: phone.cookies.get('tenantry_session') },
    });
    expect(current?.mfaVerifiedAt).toEqual(t.clock.now());
    const signedIn = (await auditTrail(t)).filter((e) => e.action === 'user.signed_in').at(-1);
    expect(signedIn?.data).toMatchObject({ mfa: true });
  });

  test('a code already used is refused within its window (replay)', async () => {
    const code = totpCode(secret, t.clock);
    const first = await passwordStep();
    expect((await first.submit('/mfa', { code })).status).toBe(303);
    const second = await passwordStep();
    const replay = await second.submit('/mfa', { code });
    expect(replay.status).toBe(400);
    expect(alertCode(replay.body)).toBe('mfa_code_invalid');
    // Nor an older step's code.
    const older = await second.submit('/mfa', { code: totpCode(secret, t.clock, -1) });
    expect(older.status).toBe(400);
    // The next step's code works.
    t.clock.advance(30_000);
    expect((await second.submit('/mfa', { code: totpCode(secret, t.clock) })).status).toBe(303);
    const failed = (await auditTrail(t)).filter((e) => e.action === 'user.mfa_failed');
    expect(failed.map((e) => e.data)).toEqual([
      expect.objectContaining({ during: 'sign_in', rate_limited: false }),
      expect.objectContaining({ during: 'sign_in', rate_limited: false }),
    ]);
  });

  test('one code sent by two sign-ins at once signs in only one of them', async () => {
    const code = totpCode(secret, t.clock);
    const [a, b] = [await passwordStep(), await passwordStep()];
    const forms = [formOf((await a.get('/mfa')).body), formOf((await b.get('/mfa')).body)];
    const answers = await Promise.all([
      a.post('/mfa', { ...forms[0]?.hidden, code }),
      b.post('/mfa', { ...forms[1]?.hidden, code }),
    ]);
    expect(answers.map((p) => p.status).sort()).toEqual([303, 400]);
  });

  test('after 5 wrong codes in 15 minutes every code is refused with 429 and Retry-After, until the window passes', async () => {
    const phone = await passwordStep();
    for (let i = 0; i < 5; i++) {
      const wrong = await phone.submit('/mfa', { code: String(100000 + i) });
      expect(wrong.status).toBe(400);
    }
    const limited = await phone.submit('/mfa', { code: totpCode(secret, t.clock) });
    expect(limited.status).toBe(429);
    expect(alertCode(limited.body)).toBe('too_many_attempts');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(900);
    // The limit is the user's, not the browser's: another sign-in is limited too.
    t.clock.advance(60_000);
    const other = await passwordStep();
    expect((await other.submit('/mfa', { code: totpCode(secret, t.clock) })).status).toBe(429);
    // Past the window, a right code works (on a new password step: a pending one lasts 10 minutes).
    t.clock.advance(15 * 60_000);
    expect((await other.get('/mfa')).status).toBe(401);
    expect((await (await passwordStep()).submit('/mfa', { code: totpCode(secret, t.clock) })).status).toBe(
      303,
    );
    const limitedEntries = (await auditTrail(t)).filter(
      (e) => e.action === 'user.mfa_failed' && (e.data as { rate_limited: boolean }).rate_limited,
    );
    expect(limitedEntries).toHaveLength(2);
  });

  test('a recovery code signs in once, is recorded and mailed, and is refused a second time', async () => {
    const code = recoveryCodes[3] ?? '';
    const phone = await passwordStep();
    const done = await phone.submit('/mfa', { code: code.toUpperCase() });
    expect(done.status, done.body).toBe(303);
    const used = (await auditTrail(t)).find((e) => e.action === 'user.recovery_code_used');
    expect(used?.data).toMatchObject({ remaining: 9 });
    expect(t.smtp.latest('ann@example.com', /Two-step/)?.text).toContain('a recovery code was used');
    const again = await (await passwordStep()).submit('/mfa', { code });
    expect(again.status).toBe(400);
  });

  test('the second-factor page needs the password step first', async () => {
    const stranger = t.browser();
    expect((await stranger.get('/mfa')).status).toBe(401);
    // A signed-in session is not a pending one either: it cannot be "completed" again.
    expect((await browser.get('/mfa')).status).toBe(401);
  });
});

describe('disabling MFA and new recovery codes', () => {
  let secret: string;
  beforeEach(async () => {
    ({ secret } = await enrolMfa(t, browser));
    t.clock.advance(30_000);
  });

  test('needs a right code; then the authenticator and recovery codes are gone and the change is mailed', async () => {
    const settings = await browser.get('/account/mfa');
    const form = formOf(settings.body, '/account/mfa/disable');
    const wrong = await browser.post(form.action, { ...form.hidden, code: '123456' });
    expect(wrong.status).toBe(400);
    expect(await t.services.database.db.selectFrom('user_totp').selectAll().execute()).toHaveLength(1);
    const done = await browser.post(form.action, { ...form.hidden, code: totpCode(secret, t.clock) });
    expect(done.status).toBe(303);
    expect(await t.services.database.db.selectFrom('user_totp').selectAll().execute()).toEqual([]);
    expect(await t.services.database.db.selectFrom('user_recovery_codes').selectAll().execute()).toEqual([]);
    expect(t.smtp.latest('ann@example.com', /Two-step/)?.text).toContain('turned off');
    expect((await auditTrail(t)).at(-1)?.action).toBe('user.mfa_disabled');
    // Signing in needs the password only again.
    expect(
      (await t.browser().submit('/sign-in', { email: 'ann@example.com', password: PASSWORD })).location,
    ).toBe('/account/sessions');
  });

  test('new recovery codes replace the old ones', async () => {
    const old = await t.services.database.db.selectFrom('user_recovery_codes').select('code_hash').execute();
    const settings = await browser.get('/account/mfa');
    const form = formOf(settings.body, '/account/mfa/recovery-codes');
    const page = await browser.post(form.action, { ...form.hidden, code: totpCode(secret, t.clock) });
    expect(page.status).toBe(200);
    expect([...page.body.matchAll(/<li><code>/g)]).toHaveLength(10);
    const fresh = await t.services.database.db
      .selectFrom('user_recovery_codes')
      .select('code_hash')
      .execute();
    expect(fresh).toHaveLength(10);
    expect(fresh.filter((row) => old.some((o) => o.code_hash === row.code_hash))).toEqual([]);
    expect((await auditTrail(t)).at(-1)?.action).toBe('user.recovery_codes_regenerated');
  });

  test('enrolling again while MFA is on is refused', async () => {
    const { hidden } = formOf((await browser.get('/account/mfa')).body);
    const page = await browser.post('/account/mfa/enrol', hidden);
    expect(page.status).toBe(409);
    expect(alertCode(page.body)).toBe('mfa_already_enabled');
  });

  test("a disable form posted with another session's CSRF token is refused", async () => {
    const attacker = t.browser();
    await verifiedUser(t, 'eve@example.com');
    await signIn(attacker, 'eve@example.com');
    const attackerToken = formOf((await attacker.get('/account/mfa')).body).hidden._csrf ?? '';
    const page = await browser.post('/account/mfa/disable', {
      _csrf: attackerToken,
      code: totpCode(secret, t.clock),
    });
    expect(page.status).toBe(403);
    expect(await t.services.database.db.selectFrom('user_totp').selectAll().execute()).toHaveLength(1);
  });
});
