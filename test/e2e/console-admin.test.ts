// The operator console's fleet-wide admin pages in a real browser, against an in-process control
// plane (both backends): an invoice opened, its PDF and HTML downloaded with the in-memory token and a
// payment recorded behind its typed number; the audit log filtered (the filter in the URL) and
// exported as JSON Lines; a webhook endpoint created with its event types, its signing secret
// verifying what a local receiver gets, a delivery replayed; an operator API key created (its
// secret shown once: gone after a reload) and rolled; a staff member added and removed behind the
// typed address; the license keys and revocations. Every page: no serious or critical axe
// violation, no console error.
import { readFile } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  applyBillingPlans,
  billedTenant,
  runInvoices,
  setClock,
} from '../../packages/server/test/billing-support.ts';
import type { OidcTestApp } from '../../packages/server/test/oidc-support.ts';
import { startReceiver } from '../../packages/server/test/webhook-receiver.ts';
import { accessible, eventually, operatorConsole, person, startRig, stopRig } from './console-support.ts';
import { E2E_TIMEOUT_MS } from './tenantry-process.ts';

let t: OidcTestApp;
let browser: Browser | undefined;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  receiver = await startReceiver();
  // The local receiver listens on loopback, which webhook URLs may not reach unless allowed.
  ({ t, browser } = await startRig(applyBillingPlans, {
    webhooks: { allowedHosts: ['127.0.0.1'], timeoutMs: 2_000 },
  }));
}, E2E_TIMEOUT_MS);

afterAll(async () => {
  await stopRig({ t, browser });
  await receiver?.close();
});

/** Fans out and delivers webhooks until nothing is left to do now. */
async function drainWebhooks(): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const fanned = await t.services.webhooks.fanOut();
    const sent = await t.services.webhooks.deliverDue();
    if (fanned === 0 && sent === 0) return;
  }
  throw new Error('webhooks did not settle in 50 rounds');
}

/** Clicks what starts a download and waits for both: the API's answer and the saved file's bytes. */
async function downloaded(page: Page, click: () => Promise<void>, api: string) {
  const [response, download] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname.startsWith(api)),
    page.waitForEvent('download'),
    click(),
  ]);
  const bytes = await readFile(await download.path());
  return {
    type: String(response.headers()['content-type'] ?? ''),
    name: download.suggestedFilename(),
    bytes,
    text: bytes.toString('utf8'),
  };
}

test(
  'an operator reads and acts on invoices, the audit log, webhooks, staff, API keys and licenses',
  async () => {
    if (browser === undefined) throw new Error('no browser');
    const marker = Date.now().toString(36);
    // An invoice: a tenant billed from 40 days ago, for its first month, which has ended. The clock
    // comes back to now before anyone signs in: the sign-in's cookies and tokens are the browser's.
    const now = t.clock.now().toISOString();
    t.clock.advance(-40 * 86_400_000);
    const billed = await billedTenant(t, { plan: 'starter', slug: `inv-${marker}`, name: 'Invoiced Inc' });
    setClock(t, now);
    await runInvoices(t, { tenant: billed.id });
    const listed = await t.request({ method: 'GET', url: `/v1/invoices?tenant=${billed.id}` });
    const invoice = listed.body.data.find((i: { object: string }) => i.object === 'invoice');
    expect(invoice, JSON.stringify(listed.body)).toBeDefined();
    expect(invoice.status).toBe('open');
    // A signing key, so that the revocation list can be signed.
    const key = await t.request({ method: 'POST', url: '/v1/license-keys' });
    expect(key.status, JSON.stringify(key.body)).toBe(201);

    const { page, errors } = await operatorConsole(t, browser, `admin-${marker}@example.com`);

    // --- Invoices: filtered by tenant and period (in the URL), opened, saved as PDF and HTML, paid behind its number. ---
    await page.click('nav >> text=Invoices');
    await page.waitForURL(`${t.issuer}/console/invoices`);
    const month = invoice.period.start.slice(0, 7);
    await page.fill('input[name=tenant]', `inv-${marker}`);
    await page.fill('input[name=period]', month);
    await page.click('form[aria-label="Filter invoices"] button[type=submit]');
    await page.waitForURL(
      (url) => url.searchParams.get('tenant') === `inv-${marker}` && url.searchParams.get('period') === month,
    );
    await eventually(() => page.textContent('[data-testid=invoices]')).toContain(invoice.number);
    expect(await page.textContent('[data-testid=curl]')).toContain(
      `/v1/invoices?tenant=inv-${marker}&period=${month}&limit=50`,
    );
    await accessible(page, 'admin-invoices');
    await page.click(`a:has-text("${invoice.number}")`);
    await page.waitForURL(`${t.issuer}/console/invoices/${invoice.id}`);
    await eventually(() => page.textContent('[data-testid=invoice-total]')).toBe(
      `${invoice.total} ${invoice.currency}`,
    );
    expect(await page.locator('[data-testid=invoice-lines] tbody tr').count()).toBe(invoice.lines.length);
    await accessible(page, 'admin-invoice');
    const html = await downloaded(
      page,
      () => page.click('button:has-text("Download HTML")'),
      '/v1/invoices/',
    );
    expect(html.type).toMatch(/^text\/html/);
    expect(html.name).toBe(`${invoice.number}.html`);
    expect(html.text).toMatch(/^<!doctype html>/i);
    expect(html.text).toContain(invoice.number);
    const pdf = await downloaded(page, () => page.click('button:has-text("Download PDF")'), '/v1/invoices/');
    expect(pdf.type).toBe('application/pdf');
    expect(pdf.name).toBe(`${invoice.number}.pdf`);
    expect(pdf.bytes.subarray(0, 8).toString('latin1')).toBe('%PDF-1.4');
    expect(pdf.bytes.toString('latin1')).toContain(Buffer.from(`Invoice ${invoice.number}`).toString('hex'));
    await page.click('button:has-text("Record payment…")');
    const pay = page.locator(`button:has-text("Record payment of ${invoice.number}")`);
    expect(await pay.isDisabled()).toBe(true);
    await page.fill('form[aria-label^="Confirm"] input', invoice.number);
    await pay.click();
    await eventually(
      async () => (await t.request({ method: 'GET', url: `/v1/invoices/${invoice.id}` })).body.status,
    ).toBe('paid');
    await eventually(() => page.textContent('h1')).toContain('paid');

    // --- The audit log: filtered by action (in the URL), an entry opened, the filtered log exported. ---
    await page.click('nav >> text=Audit log');
    await page.waitForURL(`${t.issuer}/console/audit`);
    await page.fill('input[name=action]', 'invoice.paid');
    await page.click('form[aria-label="Filter the audit log"] button[type=submit]');
    await page.waitForURL((url) => url.searchParams.get('action') === 'invoice.paid');
    await eventually(() => page.locator('[data-testid=audit-action]').allTextContents()).toEqual([
      'invoice.paid',
    ]);
    await page.click('[data-testid=audit-log] summary');
    expect(await page.textContent('[data-testid=audit-log] pre')).toContain(invoice.id);
    await accessible(page, 'admin-audit');
    const exported = await downloaded(
      page,
      () => page.click('button:has-text("Export as JSON Lines")'),
      '/v1/audit/export',
    );
    expect(exported.type).toMatch(/^application\/x-ndjson/);
    const lines = exported.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.map((entry) => entry.action)).toEqual(['invoice.paid']);
    expect(lines[0].target.id).toBe(invoice.id);

    // --- Webhooks: an endpoint for every tenant event, its secret shown once; a delivery replayed. ---
    await page.click('nav >> text=Webhooks');
    await page.waitForURL(`${t.issuer}/console/webhooks`);
    await page.fill('form[aria-label="Add an endpoint"] input[name=url]', receiver.url(`/hook-${marker}`));
    await page.fill('form[aria-label="Add an endpoint"] input[name=description]', 'the test receiver');
    await page.click('form[aria-label="Add an endpoint"] summary:has-text("tenant (")');
    await page.getByRole('checkbox', { name: 'every tenant.*' }).check();
    await page.click('button:has-text("Add endpoint")');
    const secret = (await page.locator('[data-testid=secret]').textContent()) ?? '';
    expect(secret).toMatch(/^whsec_/);
    receiver.secrets.add(secret);
    await eventually(() => page.textContent('[data-testid=endpoints]')).toContain(
      receiver.url(`/hook-${marker}`),
    );
    await accessible(page, 'admin-webhooks');
    const endpoints = await t.request({ method: 'GET', url: '/v1/webhook-endpoints' });
    const endpoint = endpoints.body.data.find(
      (e: { url: string }) => e.url === receiver.url(`/hook-${marker}`),
    );
    expect(endpoint.event_types).toEqual(['tenant.*']);
    const suspended = await t.request({
      method: 'POST',
      url: `/v1/tenants/${billed.id}/suspend`,
      payload: {},
    });
    expect(suspended.status, JSON.stringify(suspended.body)).toBe(200);
    await drainWebhooks();
    const got = () =>
      receiver.received.filter(
        (r) => r.path === `/hook-${marker}` && r.verified?.type === 'tenant.suspended',
      );
    expect(got()).toHaveLength(1);
    await page.click(`a:has-text("${receiver.url(`/hook-${marker}`)}")`);
    await page.waitForURL(`${t.issuer}/console/webhooks/${endpoint.id}`);
    const delivery = page.locator('[data-testid=delivery]', { hasText: 'tenant.suspended' });
    await eventually(() => delivery.textContent()).toContain('succeeded');
    expect(await delivery.textContent()).toContain('HTTP 204');
    await accessible(page, 'admin-webhook');
    await delivery.locator('button:has-text("Replay")').click();
    await eventually(() => page.textContent('main')).toContain('Replay of');
    await drainWebhooks();
    expect(got()).toHaveLength(2);
    // A replay is the same message again: the same webhook-id, for the receiver to deduplicate.
    expect(got()[1]?.headers['webhook-id']).toBe(got()[0]?.headers['webhook-id']);
    await page.click('button:has-text("Refresh")');
    await eventually(() => delivery.textContent()).toMatch(/2\s+attempts/);

    // --- Operator API keys: created (the secret once), working, gone after a reload; rolled. ---
    await page.click('nav >> text=Staff and keys');
    await page.waitForURL(`${t.issuer}/console/staff`);
    await page.fill('form[aria-label="Create an API key"] input[name=name]', `ci-${marker}`);
    await page.getByRole('radio', { name: 'these scopes' }).check();
    await page.getByRole('checkbox', { name: 'tenants:read' }).check();
    await page.click('button:has-text("Create key")');
    const first = (await page.locator('[data-testid=secret]').textContent()) ?? '';
    const works = async (secret: string) =>
      (
        await t.app.inject({
          method: 'GET',
          url: '/v1/tenant-counts',
          headers: { authorization: `Bearer ${secret}` },
        })
      ).statusCode;
    expect(await works(first)).toBe(200);
    // Restricted to what was ticked: reading the staff needs staff:read.
    const beyondScope = await t.app.inject({
      method: 'GET',
      url: '/v1/staff',
      headers: { authorization: `Bearer ${first}` },
    });
    expect(beyondScope.statusCode).toBe(403);
    await eventually(() => page.textContent('[data-testid=api-keys]')).toContain(`ci-${marker}`);
    await accessible(page, 'admin-staff');
    await page.reload();
    await eventually(() => page.textContent('[data-testid=api-keys]')).toContain(`ci-${marker}`);
    expect(await page.locator('[data-testid=secret]').count()).toBe(0);
    expect(await page.textContent('main')).not.toContain(first);
    await page.click(`button[aria-label="Roll ci-${marker}"]`);
    await page.fill('form[aria-label^="Confirm"] input', `ci-${marker}`);
    await page.click(`button:has-text("Roll ci-${marker}")`);
    const rolled = (await page.locator('[data-testid=secret]').textContent()) ?? '';
    expect(rolled).not.toBe(first);
    expect(await works(rolled)).toBe(200);
    // The old secret works through the overlap (a day by default), so it can be replaced everywhere.
    expect(await works(first)).toBe(200);
    await eventually(() => page.textContent('[data-testid=api-keys]')).toContain('rolled, ends');

    // --- Staff: a person added with a role, then removed behind the typed address. ---
    const newcomer = `support-${marker}@example.com`;
    await person(t, newcomer);
    await page.fill('form[aria-label="Add to the staff"] input[name=email]', newcomer);
    await page.selectOption('form[aria-label="Add to the staff"] select[name=role]', 'support');
    await page.click('button:has-text("Add or change role")');
    const row = page.locator('[data-testid=staff] tr', { hasText: newcomer });
    await eventually(() => row.textContent()).toContain('support');
    const staffNow = async () =>
      (await t.request({ method: 'GET', url: '/v1/staff' })).body.data.map((m: { email: string }) => m.email);
    expect(await staffNow()).toContain(newcomer);
    await page.click(`button[aria-label="Remove ${newcomer}"]`);
    const remove = page.locator(`button:has-text("Remove ${newcomer} from the staff")`);
    await page.fill('form[aria-label^="Confirm"] input', newcomer.slice(0, -1));
    expect(await remove.isDisabled()).toBe(true);
    await page.fill('form[aria-label^="Confirm"] input', newcomer);
    await remove.click();
    await eventually(() => row.count()).toBe(0);
    expect(await staffNow()).not.toContain(newcomer);

    // --- Licenses: the signing key and the signed revocation list. ---
    await page.click('nav >> text=Licenses');
    await page.waitForURL(`${t.issuer}/console/licenses`);
    await eventually(() => page.textContent('[data-testid=license-keys]')).toContain(key.body.kid);
    expect(await page.textContent('[data-testid=revoked-count]')).toBe('0');
    await accessible(page, 'admin-licenses');

    expect(errors).toEqual([]);
  },
  E2E_TIMEOUT_MS,
);
