// "Copy as CLI" in a real browser (Debian's Chromium via playwright-core), on both backends: the
// tenant list and a tenant page offer the `tenantry` command of the call they show, which the
// clipboard receives without any token; a call the CLI has no command of its own for (a name
// search, the fleet's counts) is offered as `tenantry api`. No console error, no serious or critical axe
// violation.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { OidcTestApp } from '../../packages/server/test/oidc-support.ts';
import { applyPlans, provisionedTenant } from '../../packages/server/test/tenant-support.ts';
import { accessible, eventually, operatorConsole, startRig, stopRig } from './console-support.ts';
import { E2E_TIMEOUT_MS } from './tenantry-process.ts';

let t: OidcTestApp;
let browser: Browser | undefined;

beforeAll(async () => {
  ({ t, browser } = await startRig(applyPlans));
}, E2E_TIMEOUT_MS);

afterAll(() => stopRig({ t, browser }));

test(
  'the tenant list and a tenant page copy their call as a tenantry command; a call without one as tenantry api',
  async () => {
    if (browser === undefined) throw new Error('no browser');
    const marker = Date.now().toString(36);
    const slug = `cli-${marker}`;
    await provisionedTenant(t, { plan: 'pro', slug, name: 'CLI Corp' });
    const { page, errors } = await operatorConsole(t, browser, `ops-${marker}@example.com`);

    // The fleet's counts: no command of its own does that call; `tenantry api` does.
    await eventually(() => page.textContent('[data-testid=fleet-total]')).toMatch(/\d+ tenants?\b/);
    expect(await page.locator('[data-testid=cli]').allTextContents()).toContain(
      'tenantry api GET /v1/tenant-counts',
    );

    // The list filtered by state: `tenants list` with the same filter and page size.
    await page.goto(`${t.issuer}/console/tenants?state=active`);
    await eventually(() => page.textContent('[data-testid=tenant-count]')).toMatch(/tenant/);
    expect(await page.textContent('[data-testid=curl]')).toContain('/v1/tenants?state=active&limit=100');
    expect(await page.textContent('[data-testid=cli]')).toBe(
      'tenantry tenants list --state active --limit 100',
    );
    await page.click('button:has-text("Copy as CLI")');
    await eventually(() => page.textContent('.api-panel [role=status]')).toBe('Copied CLI command');
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied).toBe('tenantry tenants list --state active --limit 100');
    await page.locator('summary:has-text("CLI")').first().click();
    await eventually(() => page.locator('.api-panel').first().textContent()).toContain('TENANTRY_TOKEN');
    await accessible(page, 'cli-copy-tenants');

    // A name search: the CLI's `tenants list` has no --search, so the call is `tenantry api`'s.
    await page.goto(`${t.issuer}/console/tenants?search=${slug}`);
    await eventually(() => page.textContent('[data-testid=tenant-count]')).toBe('1 tenant');
    expect(await page.textContent('[data-testid=cli]')).toBe(
      `tenantry api GET /v1/tenants -q search=${slug} -q limit=100`,
    );

    // The tenant page: `tenants show <slug>`.
    await page.goto(`${t.issuer}/console/tenants/${slug}`);
    await eventually(() => page.textContent('[data-testid=cli]')).toBe(`tenantry tenants show ${slug}`);
    await page.click('button:has-text("Copy as CLI")');
    await eventually(() => page.evaluate(() => navigator.clipboard.readText())).toBe(
      `tenantry tenants show ${slug}`,
    );
    await accessible(page, 'cli-copy-tenant');
    expect(errors).toEqual([]);
  },
  E2E_TIMEOUT_MS,
);
