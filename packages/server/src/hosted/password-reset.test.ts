import { Writable } from 'node:stream';
import { afterEach, beforeEach, expect, test } from 'vitest';
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
import { buildApp } from '../http/app.ts';

let t: AccountsApp;
beforeEach(async () => {
  t = await startAccountsApp();
  await verifiedUser(t, 'ann@example.com');
});
afterEach(() => t.close());

const NEW_PASSWORD = 'harbour-lantern-quince-83';

async function askForReset(email = 'ann@example.com') {
  const page = await t.browser().submit('/forgot-password', { email });
  expect(page.status, page.body).toBe(200);
  return page;
}

test('a reset link sets a new password, ends every session, and records user.password_reset', async () => {
  const laptop = t.browser('laptop');
  const phone = t.browser('phone');
  await signIn(laptop, 'ann@example.com');
  await signIn(phone, 'ann@example.com');
  await askForReset();
  const link = t.smtp.link('ann@example.com', /Reset/);
  const browser = t.browser();
  const form = await browser.get(link);
  expect(form.status).toBe(200);
  expect(form.headers['referrer-policy']).toBe('no-referrer');
  const done = await browser.submit(link, { password: NEW_PASSWORD });
  expect(done.status, done.body).toBe(200);
  expect(done.body).toContain('Password changed');

  // Everyone holding a session is signed out.
  for (const device of [laptop, phone]) {
    const page = await device.get('/account/sessions');
    expect(page.status).toBe(303);
    expect(page.location).toBe('/sign-in?return_to=%2Faccount%2Fsessions');
  }
  // The old password no longer works; the new one does.
  expect(
    (await t.browser().submit('/sign-in', { email: 'ann@example.com', password: PASSWORD })).status,
  ).toBe(401);
  await signIn(t.browser(), 'ann@example.com', NEW_PASSWORD);

  const trail = (await auditTrail(t)).map((e) => e.action);
  expect(trail).toContain('user.password_reset_requested');
  const reset = (await auditTrail(t)).find((e) => e.action === 'user.password_reset');
  expect(reset?.data).toMatchObject({ sessions_ended: 2 });
  expect(trail.filter((a) => a === 'session.ended')).toHaveLength(2);
  expect(JSON.stringify(await auditTrail(t))).not.toContain(NEW_PASSWORD);

  // Reused: refused.
  const again = await t.browser().get(link);
  expect(again.status).toBe(400);
  expect(again.body).toContain('already used');
});

test('forgot-password answers the same for an unknown email, and mails nothing', async () => {
  const known = await askForReset('ann@example.com');
  const unknown = await askForReset('nobody@example.com');
  expect(unknown.body.replace('nobody@example.com', 'X')).toBe(known.body.replace('ann@example.com', 'X'));
  expect(t.smtp.latest('nobody@example.com')).toBeUndefined();
});

test('a malformed email is refused with a 400 naming it, and nothing is written', async () => {
  const before = await accountState(t);
  const page = await t.browser().submit('/forgot-password', { email: 'not an email' });
  expect(page.status).toBe(400);
  expect(page.body).toContain('id="f-email-error"');
  expect(await accountState(t)).toEqual(before);
});

test('an expired reset link is refused, and the password stays', async () => {
  await askForReset();
  const link = t.smtp.link('ann@example.com', /Reset/);
  const browser = t.browser();
  const form = formOf((await browser.get(link)).body);
  t.clock.advance(3_600_000 + 1);
  const late = await browser.post(form.action, { ...form.hidden, password: NEW_PASSWORD });
  expect(late.status).toBe(400);
  expect(alertCode(late.body)).toBe('link_invalid');
  expect(late.body).toContain('expired');
  await signIn(t.browser(), 'ann@example.com', PASSWORD);
});

test('a weak new password is refused naming why, and the link still works', async () => {
  await askForReset();
  const link = t.smtp.link('ann@example.com', /Reset/);
  const browser = t.browser();
  const weak = await browser.submit(link, { password: 'qwerty123' });
  expect(weak.status).toBe(400);
  expect(weak.body).toMatch(/id="f-password-error">[^<]*too easy to guess/);
  const strong = await browser.submit(link, { password: NEW_PASSWORD });
  expect(strong.status).toBe(200);
});

test('a reset form posted without its CSRF token is refused and the link is not spent', async () => {
  await askForReset();
  const link = t.smtp.link('ann@example.com', /Reset/);
  const browser = t.browser();
  const form = formOf((await browser.get(link)).body);
  const refused = await browser.post('/reset-password', {
    token: form.hidden.token ?? '',
    password: NEW_PASSWORD,
  });
  expect(refused.status).toBe(403);
  expect((await browser.submit(link, { password: NEW_PASSWORD })).status).toBe(200);
});

test('one reset link posted twice at once sets the password once', async () => {
  await askForReset();
  const link = t.smtp.link('ann@example.com', /Reset/);
  const [a, b] = [t.browser(), t.browser()];
  const forms = [formOf((await a.get(link)).body), formOf((await b.get(link)).body)];
  const answers = await Promise.all([
    a.post('/reset-password', { ...forms[0]?.hidden, password: NEW_PASSWORD }),
    b.post('/reset-password', { ...forms[1]?.hidden, password: 'second-attempt-Lamp-42' }),
  ]);
  expect(answers.map((p) => p.status).sort()).toEqual([200, 400]);
  expect((await auditTrail(t)).filter((e) => e.action === 'user.password_reset')).toHaveLength(1);
});

test("the request log keeps a link's URL without its token", async () => {
  await askForReset();
  const link = t.smtp.link('ann@example.com', /Reset/);
  const token = new URL(`http://x${link}`).searchParams.get('token') ?? '';
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const logged = await buildApp(t.services, { logger: { level: 'info', stream } });
  try {
    const page = await logged.inject({ method: 'GET', url: link });
    expect(page.statusCode).toBe(200);
    const log = lines.join('');
    expect(log).toContain('/reset-password?token=[redacted]');
    expect(log).not.toContain(token);
  } finally {
    await logged.close();
  }
});
