// Tenant billing in a real browser (Debian's Chromium driven by playwright-core), against an
// in-process control plane on a loopback port: an operator opens a tenant's billing view,
// previews an upgrade (when, the proration, the next invoice), confirms it and sees the upcoming
// invoice match the preview; downloads an invoice as HTML and as PDF (fetched with the in-memory
// token, saved through a blob URL); a billing member of the tenant sees the plan, the invoices
// and the payment method on the portal's Plan & billing page, and previews a change there with
// the same component. Every page: no console error, no serious or critical axe violation.
import { readFile } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { applyBillingPlans, billedTenant } from '../../packages/server/test/billing-support.ts';
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

/** Clicks `button` and reads the file it downloads, with the API's answer it was made from. */
async function downloaded(page: Page, button: string, accept: string) {
  const [download, response] = await Promise.all([
    page.waitForEvent('download'),
    page.waitForResponse((r) => r.request().headers().accept === accept && r.url().includes('/invoices/')),
    page.click(button),
  ]);
  const path = await download.path();
  return { name: download.suggestedFilename(), bytes: await readFile(path), response };
}

test(
  'an operator previews and applies a plan change and downloads an invoice; a billing member sees plan, invoices and payment method',
  async () => {
    if (browser === undefined) throw new Error('no browser');
    const marker = Date.now().toString(36);
    const slug = `billed-${marker}`;
    // A month on Starter, invoiced: the tenant lives on a test clock, which is advanced past its
    // first period (the control plane's own clock, which signs the sessions' tokens, stays put).
    const frozen = new Date(Math.floor(t.clock.now().getTime() / 1000) * 1000).toISOString();
    const clock = await t.request({
      method: 'POST',
      url: '/v1/test-clocks',
      payload: { frozen_time: frozen },
    });
    expect(clock.status, JSON.stringify(clock.body)).toBe(201);
    const tenant = await billedTenant(t, {
      plan: 'starter',
      seats: 2,
      slug,
      name: 'Billed Co',
      test_clock: clock.body.id,
    });
    const advanced = await t.request({
      method: 'POST',
      url: `/v1/test-clocks/${clock.body.id}/advance`,
      payload: { frozen_time: new Date(Date.parse(tenant.billing_anchor) + 35 * DAY_MS).toISOString() },
    });
    expect(advanced.status, JSON.stringify(advanced.body)).toBe(200);
    await t.services.jobs.runDue();
    const invoices = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/invoices` });
    expect(invoices.body.data).toHaveLength(1);
    const invoice = invoices.body.data[0];
    const method = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/payment-method`,
      payload: { reference: 'pm_visa', brand: 'visa', last4: '4242' },
    });
    expect(method.status, JSON.stringify(method.body)).toBe(200);

    // --- The operator: the tenant's billing view. ---
    const { context, page, errors } = await operatorConsole(t, browser, `ops-${marker}@example.com`);
    await page.goto(`${t.issuer}/console/tenants/${slug}?view=billing`);
    await eventually(() => page.textContent('[data-testid=billing-plan]')).toBe('starter v1');
    expect(
      await page.locator('nav[aria-label="Tenant views"] [aria-current=page]').allTextContents(),
    ).toEqual(['Billing']);
    await eventually(() => page.textContent('[data-testid=invoices]')).toContain(invoice.number);
    await eventually(() => page.textContent('[data-testid=showback]')).toContain('Total');
    await accessible(page, 'tenant-billing');

    // Preview an upgrade now: the proration, the next invoice; nothing changes until confirmed.
    await page.selectOption('section[aria-labelledby=plan-change-heading] select >> nth=0', 'pro');
    await page.selectOption('section[aria-labelledby=plan-change-heading] select >> nth=1', 'now');
    await page.click('button:has-text("Preview")');
    const preview = page.locator('[data-testid=plan-change-preview]');
    await eventually(() => preview.textContent()).toContain('starter v1 to pro v1');
    expect(await page.textContent('[data-testid=preview-effective]')).toMatch(/^now, /);
    const lines = await preview.locator('table tbody tr').allTextContents();
    expect(lines.some((line) => line.startsWith('Unused time on') && line.includes('-'))).toBe(true);
    expect(lines.some((line) => line.startsWith('Remaining time on'))).toBe(true);
    const nextTotal = (await page.textContent('[data-testid=preview-next-invoice]')) ?? '';
    expect(nextTotal).toMatch(/^\d+\.\d{2} USD$/);
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}` })).body.plan.key).toBe(
      'starter',
    );
    expect(
      await page.textContent('section[aria-labelledby=plan-change-heading] [data-testid=curl]'),
    ).toContain(`/v1/tenants/${slug}/change-plan/preview`);
    await accessible(page, 'tenant-billing-preview');

    await page.click('button:has-text("Confirm: change to pro v1")');
    await eventually(() => page.textContent('[data-testid=plan-changed]')).toBe('The plan is now pro v1.');
    await eventually(() => page.textContent('[data-testid=billing-plan]')).toBe('pro v1');
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}` })).body.plan.key).toBe('pro');
    // The upcoming invoice, read again, totals what the preview said the next invoice would.
    await eventually(() => page.locator('[data-testid=upcoming] tfoot tr').first().textContent()).toContain(
      nextTotal,
    );
    await accessible(page, 'tenant-billing-changed');

    // Download the issued invoice as HTML and as PDF.
    const html = await downloaded(page, `button:has-text("HTML of ${invoice.number}")`, 'text/html');
    expect(html.name).toBe(`${invoice.number}.html`);
    expect(html.response.headers()['content-type']).toBe('text/html; charset=utf-8');
    expect(html.bytes.toString('utf8')).toMatch(/^<!doctype html>/);
    expect(html.bytes.toString('utf8')).toContain(invoice.number);
    const pdf = await downloaded(page, `button:has-text("PDF of ${invoice.number}")`, 'application/pdf');
    expect(pdf.name).toBe(`${invoice.number}.pdf`);
    expect(pdf.response.headers()['content-type']).toBe('application/pdf');
    expect(pdf.bytes.subarray(0, 9).toString('latin1')).toBe('%PDF-1.4\n');
    // The PDF's text is written as hex strings (every byte of the file ASCII).
    expect(pdf.bytes.toString('latin1')).toContain(
      Buffer.from(`${invoice.total} USD`, 'latin1').toString('hex'),
    );
    expect(pdf.bytes.toString('latin1').trimEnd().endsWith('%%EOF')).toBe(true);
    // Opened, an invoice shows its lines.
    await page.click(`button:has-text("Open ${invoice.number}")`);
    await eventually(() =>
      page.textContent('section[aria-labelledby=invoices-heading] [data-testid=invoice-lines]'),
    ).toContain(invoice.total);

    // --- The portal: a billing member's Plan & billing page. ---
    const email = `billing-${marker}@example.com`;
    await person(t, email);
    await invitedMember(t, tenant.id, 'billing', email);
    const portal = await portalMember(t, browser, email);
    await portal.page.click('nav >> text=Plan & billing');
    await portal.page.waitForURL(`${t.issuer}/portal/billing`);
    await eventually(() => portal.page.textContent('[data-testid=portal-plan]')).toBe('pro v1');
    await eventually(() => portal.page.textContent('[data-testid=invoices]')).toContain(invoice.number);
    await eventually(() => portal.page.textContent('[data-testid=payment-method]')).toContain(
      'visa ending in 4242',
    );
    await accessible(portal.page, 'portal-billing');
    // The same preview as the operator's: a downgrade waits for the period end.
    await portal.page.fill('section[aria-labelledby=plan-change-heading] input', 'starter');
    await portal.page.click('button:has-text("Preview")');
    await eventually(() => portal.page.textContent('[data-testid=preview-effective]')).toMatch(
      /^at the period end, /,
    );
    await accessible(portal.page, 'portal-billing-preview');
    // A billing member confirms it with their own token: scheduled for the period end.
    await portal.page.click('button:has-text("Confirm: change to starter v1")');
    await eventually(() => portal.page.textContent('[data-testid=plan-changed]')).toMatch(
      /^The change to starter takes effect on /,
    );
    const scheduled = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}` });
    expect(scheduled.body.scheduled_change.plan.key).toBe('starter');
    const pdfByMember = await downloaded(
      portal.page,
      `button:has-text("PDF of ${invoice.number}")`,
      'application/pdf',
    );
    expect(pdfByMember.bytes.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(portal.errors).toEqual([]);
    await portal.context.close();

    // --- The danger zone on the operator's overview: cancel, then delete, each behind the typed slug. ---
    await page.click('nav[aria-label="Tenant views"] >> text=Overview');
    await page.waitForURL(`${t.issuer}/console/tenants/${slug}`);
    for (const [action, state] of [
      ['Cancel', 'cancelled'],
      ['Delete', 'deleted'],
    ] as const) {
      await page.click(`button:has-text("${action} ${slug}…")`);
      const form = page.locator(`form[aria-label="Confirm: ${action} ${slug}"]`);
      const confirm = form.locator('button[type=submit]');
      expect(await confirm.isDisabled()).toBe(true);
      await accessible(page, `tenant-danger-zone-${state}`);
      await form.locator('input').fill(slug.slice(0, -1));
      expect(await confirm.isDisabled()).toBe(true);
      await form.locator('input').fill(slug);
      await confirm.click();
      await eventually(() => page.textContent('[data-testid=tenant-state]')).toMatch(new RegExp(`^${state}`));
      expect((await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}` })).body.state).toBe(state);
    }
    expect(errors).toEqual([]);
    await context.close();
  },
  E2E_TIMEOUT_MS,
);
