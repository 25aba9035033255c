// Showback and the payment method in a real browser (Debian's Chromium driven by playwright-core),
// against an in-process control plane on a loopback port: a billing member of a tenant replaces
// the payment method on the portal's Plan & billing page and removes it behind its typed
// reference; the page shows the showback of an invoiced period by subject (table and chart) and
// downloads its CSV; an operator opens the fleet's showback for that month, finds the costliest
// tenant first (linking to its billing view) and downloads the fleet's CSV. Every page: no
// console error, no serious or critical axe violation.
import { readFile } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { applyBillingPlans, billedTenant, ingest } from '../../packages/server/test/billing-support.ts';
import { invitedMember } from '../../packages/server/test/member-support.ts';
import type { OidcTestApp } from '../../packages/server/test/oidc-support.ts';
import {
  accessible,
  eventually,
  operatorConsole,
  person,
  portalMember,
  startRig,
  stopRig,
} from './console-support.ts';
import { E2E_TIMEOUT_MS } from './tenantry-process.ts';

let t: OidcTestApp;
let browser: Browser | undefined;

const DAY_MS = 86_400_000;

beforeAll(async () => {
  ({ t, browser } = await startRig(applyBillingPlans));
}, E2E_TIMEOUT_MS);

afterAll(() => stopRig({ t, browser }));

/** Clicks `button` and reads the CSV file it downloads. */
async function downloadedCsv(page: Page, button: string) {
  const [download, response] = await Promise.all([
    page.waitForEvent('download'),
    page.waitForResponse((r) => r.request().headers().accept === 'text/csv'),
    page.click(button),
  ]);
  const path = await download.path();
  return { name: download.suggestedFilename(), text: await readFile(path, 'utf8'), response };
}

test(
  'a billing member replaces and removes the payment method and reads the showback by subject; an operator reads the fleet showback',
  async () => {
    if (browser === undefined) throw new Error('no browser');
    const marker = Date.now().toString(36);
    // Two tenants on Starter on one test clock, one of them using CPU hours by two subjects; the
    // clock is then advanced past their first period, which is invoiced.
    const frozen = new Date(Math.floor(t.clock.now().getTime() / 1000) * 1000).toISOString();
    const clock = await t.request({
      method: 'POST',
      url: '/v1/test-clocks',
      payload: { frozen_time: frozen },
    });
    expect(clock.status, JSON.stringify(clock.body)).toBe(201);
    const big = await billedTenant(t, {
      plan: 'starter',
      seats: 2,
      slug: `big-${marker}`,
      name: 'Big Spender Co',
      test_clock: clock.body.id,
    });
    const small = await billedTenant(t, {
      plan: 'starter',
      seats: 1,
      slug: `small-${marker}`,
      name: 'Small Co',
      test_clock: clock.body.id,
    });
    // At the period's start: the control plane's own clock (no later) takes no event from its future.
    const used = big.billing_anchor;
    await ingest(t, big.id, [
      { id: `a-${marker}`, meter: 'cpu_hours', value: 300, time: used, subject: 'ana' },
      { id: `b-${marker}`, meter: 'cpu_hours', value: 100, time: used, subject: 'ben' },
    ]);
    const advanced = await t.request({
      method: 'POST',
      url: `/v1/test-clocks/${clock.body.id}/advance`,
      payload: { frozen_time: new Date(Date.parse(big.billing_anchor) + 35 * DAY_MS).toISOString() },
    });
    expect(advanced.status, JSON.stringify(advanced.body)).toBe(200);
    await t.services.jobs.runDue();
    const [invoice] = (await t.request({ method: 'GET', url: `/v1/tenants/${big.id}/invoices` })).body.data;
    // 19.00 + 2 × 10.00 + 400 h × 0.05.
    expect(invoice.total).toBe('59.00');
    expect(
      (await t.request({ method: 'GET', url: `/v1/tenants/${small.id}/invoices` })).body.data,
    ).toHaveLength(1);
    const month = String(invoice.period.start).slice(0, 7);
    const method = await t.request({
      method: 'POST',
      url: `/v1/tenants/${big.id}/payment-method`,
      payload: { reference: 'pm_old', brand: 'visa', last4: '4242' },
    });
    expect(method.status, JSON.stringify(method.body)).toBe(200);

    // --- The portal: a billing member replaces the payment method, then removes it. ---
    const email = `billing-${marker}@example.com`;
    await person(t, email);
    await invitedMember(t, big.id, 'billing', email);
    const portal = await portalMember(t, browser, email);
    const page = portal.page;
    await page.click('nav >> text=Plan & billing');
    await page.waitForURL(`${t.issuer}/portal/billing`);
    await eventually(() => page.textContent('[data-testid=payment-method]')).toContain('visa ending in 4242');
    const form = page.locator('form[aria-label="Replace payment method"]');
    await form.getByLabel('Reference').fill('pm_new');
    await form.getByLabel('Brand').fill('mastercard');
    await form.getByLabel('Last four digits').fill('5555');
    await form.locator('button[type=submit]').click();
    await eventually(() => page.textContent('[data-testid=payment-method]')).toContain(
      'mastercard ending in 5555 (pm_new)',
    );
    const replaced = await t.request({ method: 'GET', url: `/v1/tenants/${big.id}/payment-method` });
    expect(replaced.body).toMatchObject({ reference: 'pm_new', brand: 'mastercard', last4: '5555' });
    await accessible(page, 'portal-payment-method');

    await page.click('button:has-text("Remove payment method…")');
    const confirm = page.locator('form[aria-label="Confirm: Remove pm_new"]');
    expect(await confirm.locator('button[type=submit]').isDisabled()).toBe(true);
    await confirm.locator('input').fill('pm_new');
    await confirm.locator('button[type=submit]').click();
    await eventually(() => page.textContent('[data-testid=payment-method]')).toBe(
      'No payment method on file.',
    );
    const gone = await t.request({ method: 'GET', url: `/v1/tenants/${big.id}/payment-method` });
    expect(gone.body.code).toBe('payment_method_not_found');

    // --- The portal's showback of the invoiced period: by category and by subject. ---
    await page.locator('section[aria-labelledby=showback-heading] input[type=month]').fill(month);
    await eventually(() => page.textContent('[data-testid=showback] caption')).toContain(
      `from invoice ${invoice.number}`,
    );
    const consumers = page.locator('[data-testid=showback-consumers] tbody tr');
    await eventually(() => consumers.allTextContents()).toEqual([
      expect.stringMatching(/^ana15\.00 USD75\.00 %/),
      expect.stringMatching(/^ben5\.00 USD25\.00 %/),
    ]);
    expect(
      await page.locator('section[aria-labelledby=showback-heading] figure svg').count(),
    ).toBeGreaterThan(0);
    const csv = await downloadedCsv(
      page,
      'section[aria-labelledby=showback-heading] button:has-text("Download CSV")',
    );
    expect(csv.name).toBe(`showback-${big.id}-${month}.csv`);
    expect(csv.response.url()).toContain(`period=${month}`);
    expect(csv.text.split('\r\n')).toContain('consumer,,,ana,,,15.00,75.00');
    await accessible(page, 'portal-showback');
    expect(portal.errors).toEqual([]);
    await portal.context.close();

    // --- The operator: the fleet's showback for that month. ---
    const ops = await operatorConsole(t, browser, `ops-${marker}@example.com`);
    // The month form is made anew once the first answer shows (it starts from the answer's month),
    // so until then it takes no typing: held back here, the answer finds the form disabled.
    let answer = () => {};
    const held = new Promise<void>((resolve) => {
      answer = resolve;
    });
    await ops.page.route('**/v1/showback?*', async (route) => {
      await held;
      await route.continue();
    });
    await ops.page.click('nav >> text=Showback');
    await ops.page.waitForURL(`${t.issuer}/console/showback`);
    const monthInput = ops.page.locator('form[aria-label="Choose the month"] input[type=month]');
    expect(await monthInput.isDisabled()).toBe(true);
    expect(
      await ops.page.locator('form[aria-label="Choose the month"] button:has-text("Show")').isDisabled(),
    ).toBe(true);
    answer();
    await ops.page.locator('[data-testid=fleet-showback-categories]').waitFor();
    await ops.page.unroute('**/v1/showback?*');
    expect(await monthInput.isDisabled()).toBe(false);
    await monthInput.fill(month);
    await ops.page.click('form[aria-label="Choose the month"] button:has-text("Show")');
    await ops.page.waitForURL(`${t.issuer}/console/showback?period=${month}`);
    const top = ops.page.locator('[data-testid=fleet-showback-tenants] tbody tr').first();
    await eventually(() => top.textContent()).toContain('Big Spender Co');
    expect(await top.textContent()).toContain('59.00 USD');
    expect(await top.locator('a').first().getAttribute('href')).toBe(
      `/console/tenants/${big.slug}?view=billing`,
    );
    expect(await ops.page.textContent('[data-testid=fleet-showback-tenants]')).toContain('Small Co');
    expect(await ops.page.textContent('[data-testid=fleet-showback-categories]')).toContain('compute');
    expect(await ops.page.textContent('section[aria-label="Showback API"] [data-testid=curl]')).toContain(
      `/v1/showback?period=${month}`,
    );
    await accessible(ops.page, 'fleet-showback');
    const fleetCsv = await downloadedCsv(ops.page, 'button:has-text("Download CSV")');
    expect(fleetCsv.name).toBe(`showback-fleet-${month}.csv`);
    const rows = fleetCsv.text.split('\r\n');
    expect(rows[0]).toBe('row,category,tenant_id,tenant_slug,tenant_name,invoice,amount,share');
    expect(rows.find((row) => row.startsWith('tenant,'))).toContain(`${big.id},${big.slug},Big Spender Co`);
    // The link opens the tenant's billing view.
    await top.locator('a').first().click();
    await ops.page.waitForURL(`${t.issuer}/console/tenants/${big.slug}?view=billing`);
    await eventually(() => ops.page.textContent('[data-testid=billing-plan]')).toBe('starter v1');
    expect(ops.errors).toEqual([]);
    await ops.context.close();
  },
  E2E_TIMEOUT_MS,
);
