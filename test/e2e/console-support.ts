// What the console's browser tests share: a person who can sign in, a tab that fails the test on
// any console error, the hosted sign-in, polling for what the page fills in, and the accessibility
// check (with a screenshot of each page checked, which CI keeps for a person to look at).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { expect } from 'vitest';
import { type OidcTestApp, startOidcTestApp } from '../../packages/server/test/oidc-support.ts';
import { launchBrowser } from './browser.ts';

export const PASSWORD = 'violet-kettle-sonata-49';
/** Where the pages' screenshots go (gitignored), for a person to look at. */
export const SCREENSHOTS = join(import.meta.dirname, '..', '..', '.ci', '.work', 'console-screenshots');

/** Makes the screenshots' folder; call it in beforeAll. */
export async function screenshotsFolder(): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true });
}

/**
 * What a file of the console's browser tests runs against, started in its beforeAll: a control
 * plane on a loopback port (`prepare` gives it the file's plans and the rest; `options` its webhook
 * settings), Debian's Chromium and the screenshots' folder. {@link stopRig}, in its afterAll, closes them.
 */
export async function startRig(
  prepare: (t: OidcTestApp) => Promise<unknown>,
  options: Omit<NonNullable<Parameters<typeof startOidcTestApp>[0]>, 'real'> = {},
): Promise<{ t: OidcTestApp; browser: Browser }> {
  const t = await startOidcTestApp({ ...options, real: true });
  try {
    await prepare(t);
    const browser = await launchBrowser();
    await screenshotsFolder();
    return { t, browser };
  } catch (error) {
    await t.close();
    throw error;
  }
}

/** Closes what {@link startRig} started, as far as it got. */
export async function stopRig(rig: {
  t?: OidcTestApp | undefined;
  browser?: Browser | undefined;
}): Promise<void> {
  await rig.browser?.close();
  await rig.t?.close();
}

/** A user who signed up with `PASSWORD` and verified the address, as the hosted pages make one. */
export async function person(t: OidcTestApp, email: string): Promise<void> {
  const origin = { requestId: null, ip: '127.0.0.1', userAgent: 'test' };
  const signedUp = await t.services.accounts.signUp(origin, {
    email,
    password: PASSWORD,
    name: 'Ann Example',
  });
  expect(signedUp.ok, JSON.stringify(signedUp)).toBe(true);
  await t.services.database.db
    .updateTable('users')
    .set({ email_verified_at: new Date() })
    .where('email_key', '=', email.toLowerCase())
    .execute();
}

/**
 * `step`, or an error naming `what` once it has not settled in `ms`. For the browser calls that
 * have no timeout of their own (contexts, `evaluate`, axe's analysis): without it, a wedged browser
 * or page holds the test until the suite's safety net, 15 minutes later, and says nothing of where.
 */
export async function within<T>(what: string, step: Promise<T>, ms = 60_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([step, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls until the page shows what is expected: it fills itself in from the API. */
export function eventually<T>(read: () => Promise<T>) {
  return expect.poll(read, { timeout: 20_000, interval: 100 });
}

/** A browser tab that fails the test on any console error or uncaught exception it meets. */
export async function tab(context: BrowserContext): Promise<{ page: Page; errors: string[] }> {
  const page = await within('a new tab', context.newPage());
  // A step that does not happen fails with what it waited for, well before the test's timeout.
  page.setDefaultTimeout(20_000);
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`${page.url()}: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`${page.url()}: ${error.message}`));
  return { page, errors };
}

/** Signs in on the hosted sign-in page the console sent the browser to. */
export async function signIn(page: Page, email: string): Promise<void> {
  await page.waitForSelector('input[name=password]').catch(async (error: unknown) => {
    throw new Error(`no sign-in form at ${page.url()}: ${await page.textContent('body')}`, { cause: error });
  });
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', PASSWORD);
  await page.click('form:has(input[name=password]) button[type=submit]');
}

/** No serious or critical accessibility violation on the page as it is now; a screenshot of it. */
export async function accessible(page: Page, name: string): Promise<void> {
  const results = await within(`axe's analysis of ${name}`, new AxeBuilder({ page }).analyze());
  const grave = results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  expect(grave, name).toEqual([]);
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/**
 * A member of the vendor's staff with `role`, signed in to the operator console in a fresh browser
 * context (clipboard allowed, for "Copy as curl"), on the fleet home.
 */
export async function operatorConsole(
  t: OidcTestApp,
  browser: Browser,
  email: string,
  role = 'admin',
): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  await person(t, email);
  const added = await t.request({ method: 'POST', url: '/v1/staff', payload: { email, role } });
  expect(added.status, JSON.stringify(added.body)).toBe(200);
  const context = await within(
    'a new browser context',
    browser.newContext({ permissions: ['clipboard-read', 'clipboard-write'] }),
  );
  const { page, errors } = await tab(context);
  await page.goto(`${t.issuer}/console/`);
  await signIn(page, email);
  await page.waitForURL(`${t.issuer}/console/`);
  return { context, page, errors };
}

/** A member of the tenant (signed up, invited with `role`), signed in to the portal in a fresh context. */
export async function portalMember(
  t: OidcTestApp,
  browser: Browser,
  email: string,
): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await within(
    'a new browser context',
    browser.newContext({ permissions: ['clipboard-read', 'clipboard-write'] }),
  );
  const { page, errors } = await tab(context);
  await page.goto(`${t.issuer}/portal/`);
  await signIn(page, email);
  await page.waitForURL(`${t.issuer}/portal/`);
  return { context, page, errors };
}
