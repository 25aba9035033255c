// Self-serve onboarding in a real browser (Debian's Chromium driven by playwright-core), against an
// in-process control plane on a loopback port, on both backends: a new person opens the vendor's
// sign-up link, creates an account, verifies it from the mailed link, starts a trial, completes the
// portal's setup wizard and lands on the vendor's app (a tiny local page), all under five minutes
// of wall time; the operator's fleet home then counts them in the sign-up funnel, and the settings
// page refuses a brand colour white text cannot be read on, at the field. Each page loads with no
// console error and no serious or critical axe violation.
import { createServer, type Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type OidcTestApp, startOidcTestApp } from '../../packages/server/test/oidc-support.ts';
import { applyPlans } from '../../packages/server/test/tenant-support.ts';
import { launchBrowser } from './browser.ts';
import {
  accessible,
  eventually,
  operatorConsole,
  PASSWORD,
  screenshotsFolder,
  tab,
} from './console-support.ts';
import { E2E_TIMEOUT_MS } from './tenantry-process.ts';

/** A 1×1 PNG: the vendor's logo. */
const LOGO =
  'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

/** The bound on the whole flow, sign-up link to the vendor's app. */
const FIVE_MINUTES_MS = 5 * 60_000;

let t: OidcTestApp;
let browser: Browser | undefined;
let vendorApp: Server | undefined;
let appUrl = '';
/** The links the control plane mailed (mail is not configured here: the mailer logs them). */
const mailed: { to: string; link: string }[] = [];

beforeAll(async () => {
  t = await startOidcTestApp({ real: true });
  await applyPlans(t);
  t.services.mailer.useLog({
    info: (entry) => {
      if (typeof entry.link === 'string') mailed.push({ to: String(entry.to), link: entry.link });
    },
    error: (entry) => {
      throw new Error(`a mail failed: ${JSON.stringify(entry)}`);
    },
  });
  // The vendor's app: one page, on its own origin.
  vendorApp = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(
      '<!doctype html><html lang="en"><head><title>Acme app</title><link rel="icon" href="data:,"></head><body><main><h1>Acme app</h1></main></body></html>',
    );
  });
  await new Promise<void>((resolve) => vendorApp?.listen(0, '127.0.0.1', resolve));
  const address = vendorApp.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  appUrl = `http://127.0.0.1:${address.port}/`;
  const settings = await t.request({
    method: 'PUT',
    url: '/v1/settings/self-serve',
    payload: {
      enabled: true,
      plans: ['pro', 'starter'],
      placements: ['pool'],
      regions: ['eu', 'us'],
      app_url: appUrl,
      trial_days: 14,
    },
  });
  expect(settings.status, JSON.stringify(settings.body)).toBe(200);
  const branding = await t.request({
    method: 'PUT',
    url: '/v1/settings/branding',
    payload: { product_name: 'Acme Cloud', color: '#1f4fd8', logo: LOGO },
  });
  expect(branding.status, JSON.stringify(branding.body)).toBe(200);
  browser = await launchBrowser();
  await screenshotsFolder();
}, E2E_TIMEOUT_MS);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) =>
    vendorApp === undefined ? resolve() : vendorApp.close(() => resolve()),
  );
  await t?.close();
});

test(
  'a new person signs up, verifies, starts a trial, completes the wizard and lands on the app in under five minutes; the funnel counts them',
  async () => {
    if (browser === undefined) throw new Error('no browser');
    const email = `new-${Date.now().toString(36)}@example.com`;
    const context = await browser.newContext();
    const { page, errors } = await tab(context);
    const started = performance.now();

    // The vendor's pricing page links here; without an account, the person is sent to make one.
    await page.goto(`${t.issuer}/signup?plan=pro`);
    await page.waitForURL(/\/sign-up\?return_to=/);
    // The hosted pages carry the vendor's branding.
    expect(await page.textContent('header span')).toBe('Acme Cloud');
    expect(await page.getAttribute('header img', 'src')).toBe(LOGO);
    await accessible(page, 'self-serve-sign-up');
    await page.fill('input[name=email]', email);
    await page.fill('input[name=name]', 'Nora New');
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit]');
    await page.waitForSelector('text=Check your email');
    await accessible(page, 'self-serve-check-email');

    // The mailed link, opened in another tab as a mail client would.
    const link = mailed.find((m) => m.to === email && m.link.includes('/verify-email'))?.link;
    expect(link, JSON.stringify(mailed)).toBeDefined();
    const mail = await tab(context);
    await mail.page.goto(link ?? '');
    await accessible(mail.page, 'self-serve-verify');
    await mail.page.click('button[type=submit]');
    await mail.page.waitForSelector('text=is verified');
    await mail.page.close();
    expect(mail.errors).toEqual([]);

    // Back in the first tab: sign in and come back to the trial page.
    await page.click('text=sign in here');
    await page.fill('input[name=email]', email);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('form:has(input[name=password]) button[type=submit]');
    await page.waitForSelector('text=Start your trial');
    expect(await page.inputValue('select[name=plan]')).toBe('pro');
    await accessible(page, 'self-serve-start-trial');
    await page.fill('input[name=name]', 'Nora Labs');
    await page.selectOption('select[name=region]', 'eu');
    await page.click('button[type=submit]');

    // The trial is provisioned by the job runner (here, run by the test as a worker would); the
    // waiting page's Continue opens the portal's wizard once it is ready.
    await page.waitForSelector('text=Setting up your organisation');
    await accessible(page, 'self-serve-provisioning');
    await eventually(async () => {
      await t.services.jobs.runDue();
      if (new URL(page.url()).pathname === '/signup') await page.click('text=Continue');
      return new URL(page.url()).pathname;
    }).toBe('/portal/welcome');
    await page.waitForSelector('text=Set up your organisation');
    await eventually(() => page.inputValue('#organisation-name')).toBe('Nora Labs');
    // So does the portal: the product's name, its logo, its colour as the frame's rule.
    await eventually(() => page.textContent('.top .brand')).toBe('Acme Cloud');
    expect(await page.getAttribute('.brand-logo', 'src')).toBe(LOGO);
    expect(
      await page.evaluate(() => getComputedStyle(document.querySelector('.top') as Element).borderTopColor),
    ).toBe('rgb(31, 79, 216)');
    await accessible(page, 'self-serve-wizard');
    await page.fill('#invite-email', 'teammate@example.com');
    await page.click('button:has-text("Invite")');
    await eventually(() => page.textContent('[data-testid=invited]')).toContain(
      'teammate@example.com is invited',
    );
    await page.fill('#organisation-name', 'Nora Laboratories');
    await page.click('button:has-text("Finish and open the app")');
    await page.waitForURL(appUrl);
    await page.waitForSelector('text=Acme app');
    const elapsed = performance.now() - started;
    process.stderr.write(
      `self-serve onboarding, sign-up link to the vendor app: ${(elapsed / 1000).toFixed(1)} s\n`,
    );
    expect(elapsed).toBeLessThan(FIVE_MINUTES_MS);
    expect(errors).toEqual([]);

    const trial = await t.services.database.db
      .selectFrom('self_serve_trials as s')
      .innerJoin('tenants as tn', 'tn.id', 's.tenant_id')
      .innerJoin('users as u', 'u.id', 's.user_id')
      .select(['tn.id', 'tn.name', 'tn.region', 's.wizard_completed_at', 'u.email'])
      .executeTakeFirstOrThrow();
    expect(trial).toMatchObject({ name: 'Nora Laboratories', region: 'eu', email });
    expect(trial.wizard_completed_at).not.toBeNull();
    // First value: the vendor's app records the new tenant's first usage.
    const used = await t.request({
      method: 'POST',
      url: '/v1/events',
      payload: {
        id: 'first',
        tenant: trial.id,
        meter: 'meetings',
        value: 1,
        time: t.clock.now().toISOString(),
      },
    });
    expect(used.status, JSON.stringify(used.body)).toBe(200);
    await context.close();

    // The operator's fleet home counts the person at every step (the operator signed up too).
    const operator = await operatorConsole(t, browser, 'ops@example.com');
    await eventually(() => operator.page.textContent('[data-testid=funnel-tenants-created]')).toBe('1');
    expect(await operator.page.textContent('[data-testid=funnel-signups]')).toBe('2');
    expect(await operator.page.textContent('[data-testid=funnel-verified]')).toBe('2');
    expect(await operator.page.textContent('[data-testid=funnel-wizard-completed]')).toBe('1');
    expect(await operator.page.textContent('[data-testid=funnel-first-value]')).toBe('1');
    expect(await operator.page.textContent('[data-testid=funnel-median]')).not.toBe('none yet');
    await accessible(operator.page, 'self-serve-funnel');

    // The settings page: a pale colour is refused at its field, with the ratio; a dark one is saved.
    await operator.page.click('nav >> text=Settings');
    await operator.page.waitForSelector('#brand-color');
    await accessible(operator.page, 'self-serve-settings');
    await operator.page.fill('#brand-color', '#ffcc00');
    await operator.page.click('button:has-text("Save branding")');
    await eventually(() => operator.page.getAttribute('#brand-color', 'aria-invalid')).toBe('true');
    const colorError = await operator.page.getAttribute('#brand-color', 'aria-describedby');
    expect(await operator.page.textContent(`[id="${colorError}"]`)).toMatch(/contrast of 1\.\d\d:1/);
    await accessible(operator.page, 'self-serve-settings-contrast-error');
    await operator.page.fill('#brand-color', '#0b57d0');
    await operator.page.fill('#brand-name', 'Acme Cloud Two');
    await operator.page.click('button:has-text("Save branding")');
    await eventually(() => operator.page.isVisible('#branding-heading ~ form >> text=Saved.')).toBe(true);
    const branding = await t.request({ method: 'GET', url: '/v1/settings/branding' });
    expect(branding.body).toMatchObject({ product_name: 'Acme Cloud Two', color: '#0b57d0', logo: LOGO });
    // The 4xx of the refused save is the page's own doing, not an error it failed to handle.
    expect(operator.errors.filter((e) => !e.includes('status of 400'))).toEqual([]);
    await operator.context.close();
  },
  E2E_TIMEOUT_MS,
);
