// The whole sign-in, as a person does it, in a real browser (Debian's Chromium driven by
// playwright-core): `tenantry serve` mailing through a real SMTP sink, examples/minutes registered
// as its OpenID client, a person who signs up on the hosted pages, verifies the address from the
// mail, turns on TOTP, then signs in to minutes with password and code and uses it in two
// organisations with two roles. PostgreSQL only: minutes connects as its own database role, which
// PGlite cannot serve (as in minutes.postgres.test.ts).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Secret, TOTP } from 'otpauth';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { firstLink, type SmtpSink, startSmtpSink } from '../../packages/server/test/smtp-sink.ts';
import { launchBrowser } from './browser.ts';
import { example, type MinutesStack, startMinutesStack } from './minutes-stack.ts';
import { E2E_TIMEOUT_MS, freePort, until } from './tenantry-process.ts';

let stack: MinutesStack;
let sink: SmtpSink;
let browser: Browser | undefined;
/** The control plane (the OpenID provider), on 127.0.0.1. */
let url: string;
let token: string;
/** minutes, on `localhost`: another site than the provider, as in production, with its own cookies. */
let appUrl: string;

const cli = (...args: string[]) => stack.cli(...args);

/** A call to the control plane's API as the operator. */
async function operator(method: string, path: string, body: unknown): Promise<any> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  expect(response.ok, JSON.stringify(answer)).toBe(true);
  return answer;
}

/** A tenant on `plan`, provisioned. */
async function tenant(slug: string, name: string, plan: string): Promise<{ id: string; slug: string }> {
  const created = await cli('tenants', 'create', '--slug', slug, '--name', name, '--plan', plan);
  const shown =
    created.state === 'provisioning'
      ? await until(`${slug} leaves provisioning`, async () => {
          const now = await cli('tenants', 'show', slug);
          return now.state === 'provisioning' ? undefined : now;
        })
      : created;
  expect(shown.state, JSON.stringify(shown)).toBe('active');
  return { id: shown.id, slug };
}

/** Invites `email` to `tenantId` with `role` (the CLI prints the link) and accepts it as the user. */
async function invite(tenantId: string, email: string, role: string): Promise<void> {
  const invited = await cli('members', 'invite', tenantId, '--email', email, '--role', role);
  // The vendor's own onboarding accepts for the signed-up user (docs/identity.md).
  await operator('POST', '/v1/invitations/accept', {
    token: new URL(invited.invitation_url).searchParams.get('token'),
    user_id: invited.invitation.user_id,
  });
}

beforeAll(async () => {
  sink = await startSmtpSink();
  stack = await startMinutesStack({
    TENANTRY_SMTP_URL: sink.url,
    TENANTRY_MAIL_FROM: 'Minutes <accounts@minutes.example>',
  });
  ({ url, token } = stack);
  browser = await launchBrowser();
}, E2E_TIMEOUT_MS);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await sink?.close();
});

/**
 * Waits until `locator`'s texts (joined by ` | `) are `expected` (a string: exactly; `contains`:
 * as part; a RegExp: matching), then asserts it: the page fills itself in from the API after it
 * loads. On a page that never gets there, the assertion fails with the last texts seen.
 */
async function shows(locator: Locator, expected: string | RegExp | { contains: string }): Promise<void> {
  const matches = (text: string) =>
    typeof expected === 'string'
      ? text === expected
      : expected instanceof RegExp
        ? expected.test(text)
        : text.includes(expected.contains);
  let seen = '';
  await until(
    `${String(expected)} on the page`,
    async () => {
      seen = (await locator.allTextContents()).map((t) => t.trim()).join(' | ');
      return matches(seen) || undefined;
    },
    { timeoutMs: 60_000 },
    // Its timeout is not the failure to report: the assertion below fails with the texts seen.
  ).catch((error: unknown) => {
    if (!(error instanceof Error)) throw error;
  });
  if (typeof expected === 'string') expect(seen).toBe(expected);
  else if (expected instanceof RegExp) expect(seen).toMatch(expected);
  else expect(seen).toContain(expected.contains);
}

/** Submits the page's form that holds `selector`'s button and waits for the page it leads to. */
async function submit(page: Page, button: string): Promise<void> {
  await Promise.all([page.waitForURL(() => true, { waitUntil: 'load' }), page.click(button)]);
}

test('a person signs up, verifies the address from the mail, turns on TOTP, signs in to minutes with password and code, and is held to the role of each organisation until removed', async () => {
  // --- The vendor: plans, access file, tables, two customers, minutes as an OpenID client. ---
  await stack.tenantry('plans', 'apply', join(example, 'plans.yaml'));
  const access = await cli('access', 'apply', join(example, 'access.yaml'));
  expect(access).toMatchObject({ change: 'created', version: 1 });
  await stack.migrateApp();
  const suffix = randomBytes(3).toString('hex');
  const acme = await tenant(`acme-${suffix}`, 'Acme', 'team');
  const globex = await tenant(`globex-${suffix}`, 'Globex', 'free');

  const appPort = await freePort();
  appUrl = `http://localhost:${appPort}`;
  const client = await cli(
    'oidc-clients',
    'create',
    '--name',
    'Minutes',
    '--redirect-uri',
    `${appUrl}/callback`,
  );
  const appKey = await cli('keys', 'create', '--name', 'minutes', '--preset', 'app');
  await stack.startMinutes({
    HOST: '127.0.0.1',
    PORT: String(appPort),
    TENANTRY_TOKEN: appKey.secret,
    MINUTES_OIDC_CLIENT_ID: client.id,
    MINUTES_OIDC_CLIENT_SECRET: client.client_secret,
    MINUTES_PUBLIC_URL: appUrl,
  });

  // --- The person: sign up, verify from the mail, sign in, turn on TOTP. ---
  const email = `ann.${suffix}@example.com`;
  const password = `correct horse battery ${randomBytes(6).toString('hex')}`;
  const setup = await browser?.newContext();
  if (!setup) throw new Error('no browser');
  const page = await setup.newPage();
  await page.goto(`${url}/sign-up`);
  await page.fill('input[name=email]', email);
  await page.fill('input[name=name]', 'Ann Example');
  await page.fill('input[name=password]', password);
  await submit(page, 'form[action="/sign-up"] button[type=submit]');
  await shows(page.locator('h1'), 'Check your email');

  const mail = await until('the verification mail arrives', async () => sink.latest(email));
  expect(mail.from).toBe('accounts@minutes.example');
  const link = firstLink(mail);
  expect(link.startsWith(`${url}/verify-email?token=`)).toBe(true);
  await page.goto(link);
  await submit(page, 'form[action="/verify-email"] button[type=submit]');
  expect(await page.locator('h1').textContent()).toBe('Email verified');

  await page.goto(`${url}/sign-in`);
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await submit(page, 'form[action="/sign-in"] button[type=submit]');
  await page.goto(`${url}/account/mfa`);
  await submit(page, 'form[action="/account/mfa/enrol"] button[type=submit]');
  const secret = (await page.locator('#totp-secret').textContent()) ?? '';
  const totp = new TOTP({ secret: Secret.fromBase32(secret.trim()) });
  const enrolledStep = totp.counter();
  const enrolmentCode = totp.generate();
  await page.fill('form[action="/account/mfa/confirm"] input[name=code]', enrolmentCode);
  await submit(page, 'form[action="/account/mfa/confirm"] button[type=submit]');
  expect(await page.locator('#recovery-codes li').count()).toBeGreaterThan(0);
  await setup.close();

  // --- The vendor's customers take Ann in: a member of Acme, a viewer of Globex. ---
  await invite(acme.id, email, 'member');
  await invite(globex.id, email, 'viewer');

  // --- Ann, in a fresh browser, signs in to minutes through Tenantry. ---
  const context = await browser?.newContext();
  if (!context) throw new Error('no browser');
  const app = await context.newPage();
  const callbacks: string[] = [];
  app.on('request', (request) => {
    if (request.url().startsWith(`${appUrl}/callback?`)) callbacks.push(request.url());
  });
  await app.goto(`${appUrl}/`);
  await shows(app.locator('#who'), 'You are not signed in.');
  await app.click('#sign-in');
  await app.waitForURL((at) => at.pathname === '/sign-in');
  expect(new URL(app.url()).origin).toBe(url);
  await app.fill('input[name=email]', email);
  await app.fill('input[name=password]', password);
  await submit(app, 'form[action="/sign-in"] button[type=submit]');
  expect(new URL(app.url()).pathname).toBe('/mfa');
  // The code used to turn TOTP on is spent: replayed, it is refused and the page asks again.
  await app.fill('input[name=code]', enrolmentCode);
  await submit(app, 'form[action="/mfa"] button[type=submit]');
  expect(new URL(app.url()).pathname).toBe('/mfa');
  expect(await app.locator('[role=alert]').getAttribute('data-code')).toBe('mfa_code_invalid');
  // A code of a later time step signs in.
  await until('a new TOTP time step', async () => totp.counter() > enrolledStep || undefined);
  await app.fill('input[name=code]', totp.generate());
  await submit(app, 'form[action="/mfa"] button[type=submit]');

  // Two organisations: the provider asks which one.
  await shows(app.locator('h1'), 'Choose an organisation');
  await Promise.all([
    app.waitForURL((at) => at.origin === appUrl && at.pathname === '/'),
    app.click(`button[name=organization][value="${acme.id}"]`),
  ]);
  await shows(app.locator('#tenant'), { contains: acme.id });
  await shows(app.locator('#roles'), 'member');
  await shows(app.locator('#permissions'), { contains: 'meetings:write' });
  await shows(app.locator('#who'), { contains: 'Signed in as usr_' });
  // The token is in an HTTP-only cookie: no script on the page can read it.
  const cookies = await context.cookies(appUrl);
  expect(cookies.find((c) => c.name === 'minutes_token')).toMatchObject({ httpOnly: true, sameSite: 'Lax' });

  // A member of Acme creates a meeting (meetings:write).
  await app.fill('#meeting-title', 'Kick-off');
  await app.click('#new-meeting button[type=submit]');
  await shows(app.locator('#result'), 'Created "Kick-off"');
  await shows(app.locator('#meetings li'), 'Kick-off');

  // The callback URL (its code) is worth nothing a second time, nor in another browser that
  // started a sign-in of its own (its state and PKCE verifier are not the ones the code is for).
  const callback = callbacks[0] ?? '';
  const replayed = await app.goto(callback);
  expect(replayed?.status()).toBe(400);
  const attacker = await browser?.newContext();
  if (!attacker) throw new Error('no browser');
  const other = await attacker.newPage();
  await other.goto(`${appUrl}/login`);
  expect(new URL(other.url()).pathname).toBe('/sign-in');
  const injected = await other.goto(callback);
  expect(injected?.status()).toBe(400);
  expect(await other.textContent('body')).toContain('sign-in could not finish');
  expect((await attacker.cookies(appUrl)).map((c) => c.name)).not.toContain('minutes_token');
  await attacker.close();
  await app.goto(`${appUrl}/`);
  await shows(app.locator('#tenant'), { contains: acme.id });

  // A state-changing call that rides on the cookie without the page's CSRF header is refused.
  const forged = await app.evaluate(async () => {
    const response = await fetch('/v1/meetings', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'Forged' }),
    });
    return response.status;
  });
  expect(forged).toBe(403);

  // The organisation switcher: Globex, where Ann is a viewer, with no second password or code.
  await app.fill('input[name=organization]', globex.slug);
  await Promise.all([
    app.waitForURL((at) => at.origin === appUrl && at.pathname === '/' && at.search === ''),
    app.click('form[action="/login"] button[type=submit]'),
  ]);
  await shows(app.locator('#tenant'), { contains: globex.id });
  await shows(app.locator('#roles'), 'viewer');
  // Globex sees none of Acme's meetings.
  await shows(app.locator('#meetings li'), '');
  await app.fill('#meeting-title', 'Not allowed');
  await app.click('#new-meeting button[type=submit]');
  await shows(app.locator('#result'), /^403 permission_denied: .*"meetings:write"/);
  await shows(app.locator('#meetings li'), '');

  // And back to Acme through the provider's picker.
  await app.goto(`${appUrl}/login?select`);
  await shows(app.locator('h1'), 'Choose an organisation');
  await Promise.all([
    app.waitForURL((at) => at.origin === appUrl && at.pathname === '/'),
    app.click(`button[name=organization][value="${acme.id}"]`),
  ]);
  await shows(app.locator('#tenant'), { contains: acme.id });
  await shows(app.locator('#meetings li'), 'Kick-off');

  // Acme removes Ann: her unexpired token in minutes stops counting as soon as the SDK hears of
  // it through the entitlement stream, with no call per request.
  const userId = ((await app.locator('#who').textContent()) ?? '').replace('Signed in as ', '').trim();
  await cli('members', 'remove', acme.id, userId);
  const refusedAfterRemoval = await until('minutes refuses the removed member', async () => {
    const status = await app.evaluate(async () => {
      const response = await fetch('/v1/meetings', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-minutes-csrf': '1' },
        body: JSON.stringify({ title: 'After removal' }),
      });
      return response.status;
    });
    return status === 201 ? undefined : status;
  });
  expect(refusedAfterRemoval).toBe(403);
  await context.close();
}, 900_000); // E2E_TIMEOUT_MS, a safety net only
