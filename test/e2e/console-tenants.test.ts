// The operator's tenant list in a real browser (Debian's Chromium via playwright-core), on both
// backends: the command palette opened by keyboard finds a tenant on the server and opens it; a
// saved view round trip; the filtered list downloaded as CSV (a hostile name defused); a bulk
// suspension of three tenants, one deleted meanwhile, whose failure is shown; a large fleet
// scrolled with only a bounded number of rows in the page. No console error, no serious or
// critical axe violation on any state shown.
import { readFile } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { insertFleet } from '../../packages/server/test/fleet-support.ts';
import type { OidcTestApp } from '../../packages/server/test/oidc-support.ts';
import { applyPlans, provisionedTenant } from '../../packages/server/test/tenant-support.ts';
import { accessible, eventually, operatorConsole, startRig, stopRig } from './console-support.ts';
import { E2E_TIMEOUT_MS } from './tenantry-process.ts';

let t: OidcTestApp;
let browser: Browser | undefined;
/** Tenants enough that the list is read page after page; the virtualised table keeps few rows. */
const FLEET = 3_000;

beforeAll(async () => {
  ({ t, browser } = await startRig(applyPlans));
}, E2E_TIMEOUT_MS);

afterAll(() => stopRig({ t, browser }));

test(
  'an operator finds a tenant with the palette, saves a view, downloads CSV, suspends three tenants in bulk and scrolls a large fleet',
  async () => {
    if (browser === undefined) throw new Error('no browser');
    const marker = Date.now().toString(36);
    const bulk = [];
    for (const letter of ['a', 'b', 'c']) {
      bulk.push(
        await provisionedTenant(t, { plan: 'pro', slug: `bulk-${letter}-${marker}`, name: `Bulk ${letter}` }),
      );
    }
    const hostileName = '=HYPERLINK("http://evil.example","click")';
    await provisionedTenant(t, { plan: 'pro', slug: `evil-${marker}`, name: hostileName });
    const template = await provisionedTenant(t, {
      plan: 'starter',
      slug: `template-${marker}`,
      name: 'Template',
    });
    await insertFleet(t.services.database.db, template.id, FLEET);

    const { page, errors } = await operatorConsole(t, browser, `ops-${marker}@example.com`);
    const refused: string[] = [];
    page.on('response', (response) => {
      if (response.status() >= 400) {
        refused.push(
          `${response.request().method()} ${new URL(response.url()).pathname} ${response.status()}`,
        );
      }
    });
    await eventually(() => page.textContent('[data-testid=fleet-total]')).toMatch(/\d+ tenants/);

    // --- The palette, by keyboard alone: open, find a tenant on the server, open it. ---
    await page.keyboard.press('Control+k');
    const combobox = page.getByRole('combobox');
    await eventually(() => page.evaluate(() => document.activeElement?.getAttribute('role'))).toBe(
      'combobox',
    );
    await page.keyboard.type(`bulk-a-${marker}`);
    const option = page.getByRole('option', { name: new RegExp(`bulk-a-${marker}`) });
    await option.waitFor();
    expect(await combobox.getAttribute('aria-expanded')).toBe('true');
    expect(await combobox.getAttribute('aria-activedescendant')).toBe(await option.getAttribute('id'));
    expect(await option.getAttribute('aria-selected')).toBe('true');
    await accessible(page, 'palette');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${t.issuer}/console/tenants/bulk-a-${marker}`);
    await eventually(() => page.textContent('[data-testid=tenant-state]')).toBe('active');
    // Escape closes it again without doing anything.
    await page.keyboard.press('Control+k');
    await combobox.waitFor();
    await page.keyboard.type('Fleet');
    await page.keyboard.press('Escape');
    await combobox.waitFor({ state: 'hidden' });
    expect(page.url()).toBe(`${t.issuer}/console/tenants/bulk-a-${marker}`);

    // --- A saved view: filter, name it, leave, reopen it from the list. ---
    await page.click('nav[aria-label=Main] >> text=Tenants');
    await page.waitForURL(`${t.issuer}/console/tenants`);
    await page.fill('input[name=search]', marker);
    await page.click('form[aria-label="Search tenants"] button[type=submit]');
    await page.waitForURL((url) => url.searchParams.get('search') === marker);
    // The three, the hostile one and the template.
    await eventually(() => page.textContent('[data-testid=tenant-count]')).toBe('5 tenants');
    await page.fill('input[name=view-name]', `Marked ${marker}`);
    await page.click('button:has-text("Save view")');
    const viewLink = page.locator('.view-list a', { hasText: `Marked ${marker}` });
    await viewLink.waitFor();
    await page.click('nav[aria-label=Main] >> text=Tenants');
    await page.waitForURL(`${t.issuer}/console/tenants`);
    await viewLink.click();
    await page.waitForURL((url) => url.searchParams.get('search') === marker);
    expect(await page.inputValue('input[name=search]')).toBe(marker);
    await eventually(() => page.textContent('[data-testid=tenant-count]')).toBe('5 tenants');
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }));
    expect(stored).toContain(`Marked ${marker}`);
    expect(stored).not.toMatch(/eyJ/);
    await accessible(page, 'tenants-saved-view');

    // --- CSV of the filtered list: from the API, every matching tenant, the hostile name defused. ---
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('button:has-text("Download CSV")'),
    ]);
    expect(download.suggestedFilename()).toBe('tenants.csv');
    const path = await download.path();
    const csv = await readFile(path, 'utf8');
    const lines = csv.split('\r\n');
    expect(lines[0]).toMatch(/^id,slug,name,state,/);
    expect(lines.length).toBe(5 + 2);
    expect(csv).toContain(`bulk-b-${marker},Bulk b,active`);
    expect(csv).toContain(`evil-${marker},"'=HYPERLINK(""http://evil.example"",""click"")",active`);

    // --- Bulk: a, then shift-click c selects the range; b is deleted before the run. ---
    await page.click(`input[aria-label="Select bulk-a-${marker}"]`);
    await page.click(`input[aria-label="Select bulk-c-${marker}"]`, { modifiers: ['Shift'] });
    await eventually(() => page.textContent('[data-testid=selected-count]')).toBe('3 selected');
    const b = bulk[1];
    expect((await t.request({ method: 'POST', url: `/v1/tenants/${b.id}/cancel`, payload: {} })).status).toBe(
      200,
    );
    expect((await t.request({ method: 'DELETE', url: `/v1/tenants/${b.id}` })).status).toBe(200);
    await page.click('button:has-text("Suspend selected…")');
    const go = page.locator('button:has-text("Suspend 3 tenants")');
    expect(await go.isDisabled()).toBe(true);
    await page.keyboard.type('suspend 3 tenants');
    expect(await go.isDisabled()).toBe(false);
    await go.click();
    await eventually(() => page.textContent('[data-testid=bulk-summary]')).toBe('2 of 3 suspended, 1 failed');
    const results = page.locator('[data-testid=bulk-results] tbody tr');
    expect(await results.count()).toBe(3);
    const failedRow = results.filter({ hasText: `bulk-b-${marker}` });
    expect(await failedRow.textContent()).toMatch(/failed: .*deleted.*\[illegal_transition\]/);
    expect(await results.filter({ hasText: `bulk-a-${marker}` }).textContent()).toContain('suspended');
    for (const tenant of [bulk[0], bulk[2]]) {
      expect((await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}` })).body.state).toBe(
        'suspended',
      );
    }
    await accessible(page, 'tenants-bulk');

    // --- A large fleet: pages read as the table scrolls, only the rows in view in the page. ---
    await page.fill('input[name=search]', 'fleet-');
    await page.click('form[aria-label="Search tenants"] button[type=submit]');
    await page.waitForURL((url) => url.searchParams.get('search') === 'fleet-');
    await eventually(() => page.textContent('[data-testid=tenant-count]')).toBe('100+ tenants');
    const scroller = page.locator('section.vt');
    for (const loaded of ['200+', '300+', '400+']) {
      await scroller.evaluate((element) => element.scrollTo(0, element.scrollHeight));
      await eventually(() => page.textContent('[data-testid=tenant-count]')).toBe(`${loaded} tenants`);
    }
    const inPage = await page.locator('section.vt tbody tr').count();
    expect(inPage).toBeGreaterThan(5);
    expect(inPage).toBeLessThan(60);
    await accessible(page, 'tenants-large-fleet');

    // The one refusal is the deleted tenant's suspension, which the test provoked; Chromium logs
    // any 4xx answer to fetch as a console error, so that error and no other is expected.
    expect(refused).toEqual([`POST /v1/tenants/${b.id}/suspend 409`]);
    expect(errors).toEqual([
      expect.stringMatching(/Failed to load resource: .* status of 409 \(Conflict\)$/),
    ]);
  },
  E2E_TIMEOUT_MS,
);
