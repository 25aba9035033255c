// The web console in a real browser (Debian's Chromium driven by playwright-core), against an
// in-process control plane listening on a loopback port (its public URL), on both backends:
// an operator signs in on the hosted pages through the console's own OpenID client, reads the
// fleet, finds a tenant by search, suspends it behind the typed slug; a member of that tenant,
// signed in to the portal, sees its usage and then that it is suspended. Each page loads with no
// console error (a CSP violation is one) and no serious or critical axe violation.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { invitedMember } from '../../packages/server/test/member-support.ts';
import type { OidcTestApp } from '../../packages/server/test/oidc-support.ts';
import { applyPlans, provisionedTenant } from '../../packages/server/test/tenant-support.ts';
import { accessible, eventually, person, signIn, startRig, stopRig, tab } from './console-support.ts';
import { E2E_TIMEOUT_MS } from './tenantry-process.ts';

let t: OidcTestApp;
let browser: Browser | undefined;

beforeAll(async () => {
  ({ t, browser } = await startRig(applyPlans));
}, E2E_TIMEOUT_MS);

afterAll(() => stopRig({ t, browser }));

test(
  'an operator signs in, finds a tenant by search and suspends it with the typed slug; the tenant page and the portal show it suspended',
  async () => {
    if (browser === undefined) throw new Error('no browser');
    const marker = `${Date.now().toString(36)}`;
    const target = await provisionedTenant(t, { plan: 'pro', slug: `acme-${marker}`, name: 'Acme Corp' });
    await provisionedTenant(t, { plan: 'pro', slug: `globex-${marker}`, name: 'Globex' });
    await provisionedTenant(t, {
      plan: 'starter',
      slug: `initech-${marker}`,
      name: 'Initech',
      placement: 'schema',
    });
    expect(target.state).toBe('active');
    // Usage of the tenant's metered limit (meetings, 1000 a period on pro), as the vendor's app
    // records it with its key, for the tenant page's usage view.
    const recorded = await t.request({
      method: 'POST',
      url: '/v1/events',
      payload: Array.from({ length: 30 }, (_, i) => ({
        id: `mtg-${marker}-${i}`,
        tenant: target.id,
        meter: 'meetings',
        value: 1,
        time: t.clock.now().toISOString(),
      })),
    });
    expect(recorded.body).toMatchObject({ accepted: 30, rejected: [] });
    // More than a page of the timeline (50 entries): the tenant's creation is on the second page.
    for (let i = 0; i < 25; i++) {
      for (const action of ['suspend', 'resume']) {
        const changed = await t.request({
          method: 'POST',
          url: `/v1/tenants/${target.id}/${action}`,
          payload: {},
        });
        expect(changed.status, JSON.stringify(changed.body)).toBe(200);
      }
    }

    const staff = `ops-${marker}@example.com`;
    await person(t, staff);
    const added = await t.request({
      method: 'POST',
      url: '/v1/staff',
      payload: { email: staff, role: 'admin' },
    });
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    const member = `owner-${marker}@example.com`;
    await person(t, member);
    await invitedMember(t, target.id, 'admin', member);

    // --- The member signs in to the portal while the tenant is active. ---
    const memberContext = await browser.newContext();
    const portal = await tab(memberContext);
    await portal.page.goto(`${t.issuer}/portal/`);
    await signIn(portal.page, member);
    await portal.page.waitForURL(`${t.issuer}/portal/`);
    await eventually(() => portal.page.textContent('[data-testid=portal-state]')).toContain('active');
    const usage = await portal.page.textContent('main table');
    expect(usage).toContain('meetings');
    expect(usage).toContain('1000');
    await accessible(portal.page, 'portal');

    // --- The operator: sign-in through the console's client, the fleet home. ---
    const operatorContext = await browser.newContext({ permissions: ['clipboard-read', 'clipboard-write'] });
    const { page, errors } = await tab(operatorContext);
    // The usage view's chunk (recharts) is loaded only when the view is opened.
    const loaded: string[] = [];
    page.on('request', (request) => loaded.push(new URL(request.url()).pathname));
    const usageChunk = (path: string) => /^\/console\/assets\/usage-[\w-]+\.js$/.test(path);
    await page.goto(`${t.issuer}/console/`);
    await signIn(page, staff);
    await page.waitForURL(`${t.issuer}/console/`);
    // The first Tab reaches the skip link, which leads past the navigation.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await eventually(() => page.textContent('[data-testid=fleet-total]')).toMatch(/\d+ tenants/);
    expect(Number(await page.textContent('[data-testid=placement-schema]'))).toBeGreaterThanOrEqual(1);
    expect(Number(await page.textContent('[data-testid=state-active]'))).toBeGreaterThanOrEqual(2);
    // The token is the page's alone: nothing of it is stored where another script could read it later.
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }));
    expect(stored).not.toMatch(/eyJ/);
    await accessible(page, 'fleet');

    // --- The tenant list: the search goes to the server and into the URL. ---
    await page.click('nav >> text=Tenants');
    await page.waitForURL(`${t.issuer}/console/tenants`);
    await eventually(() => page.textContent('[data-testid=tenant-count]')).toMatch(/tenant/);
    await page.fill('input[name=search]', `acme-${marker}`);
    await page.click('form[aria-label="Search tenants"] button[type=submit]');
    await page.waitForURL((url) => url.searchParams.get('search') === `acme-${marker}`);
    await eventually(() => page.textContent('[data-testid=tenant-count]')).toBe('1 tenant');
    expect(await page.textContent('[data-testid=curl]')).toContain(
      `/v1/tenants?search=acme-${marker}&limit=100`,
    );
    // Copy as curl: the command, the token left to the shell ($TENANTRY_TOKEN), never the token.
    await page.click('button:has-text("Copy as curl")');
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied).toBe(
      `curl -H "authorization: Bearer $TENANTRY_TOKEN" '${t.issuer}/v1/tenants?search=acme-${marker}&limit=100'`,
    );
    const raw = JSON.parse((await page.textContent('[data-testid=raw-json]')) ?? '');
    expect(raw[0].data.map((x: { slug: string }) => x.slug)).toEqual([`acme-${marker}`]);
    await accessible(page, 'tenants');
    // A link with an invalid filter still opens the list, the filter dropped.
    await page.goto(
      `${t.issuer}/console/tenants?state=paused&search=${encodeURIComponent(`globex-${marker}`)}`,
    );
    // A reload forgets the token (memory only); the provider's session signs in again without a form.
    await eventually(() => page.textContent('[data-testid=tenant-count]')).toBe('1 tenant');
    await page.goBack();

    // --- The tenant page: suspend behind the typed slug. ---
    await page.goto(`${t.issuer}/console/tenants?search=acme-${marker}`);
    await page.click(`a:has-text("acme-${marker}")`);
    await page.waitForURL(`${t.issuer}/console/tenants/acme-${marker}`);
    await eventually(() => page.textContent('[data-testid=tenant-state]')).toBe('active');
    await accessible(page, 'tenant');

    // --- The active tenant's usage against its limits: the bar, the chart (a chunk of its own), the forecast. ---
    expect(loaded.filter(usageChunk)).toEqual([]);
    await page.click('nav[aria-label="Tenant views"] >> text=Usage');
    await page.waitForURL((url) => url.searchParams.get('view') === 'usage');
    // The view is the URL's, and the navigation marks it (and it alone) as the current one.
    expect(
      await page.locator('nav[aria-label="Tenant views"] [aria-current=page]').allTextContents(),
    ).toEqual(['Usage']);
    const meetings = page.locator('[data-testid=usage-meetings]');
    await eventually(() => meetings.locator('[data-testid=usage-used]').textContent()).toBe('30');
    expect(await meetings.locator('[data-testid=usage-limit]').textContent()).toBe('1000');
    expect(await meetings.locator('meter').getAttribute('value')).toBe('30');
    await meetings.locator('.recharts-surface').first().waitFor();
    // Loaded now (Vite preloads it and imports it: one request or two, as the browser matches them).
    expect(loaded.filter(usageChunk).length).toBeGreaterThanOrEqual(1);
    expect(await meetings.locator('[data-testid=usage-forecast]').textContent()).toMatch(
      /reaches its limit on \d{4}-\d{2}-\d{2}|not within this period/,
    );
    expect(await meetings.locator('[data-testid=curl]').textContent()).toContain(
      `/v1/tenants/acme-${marker}/usage?meter=meetings&window=day`,
    );
    await accessible(page, 'tenant-usage');
    await page.click('nav[aria-label="Tenant views"] >> text=Overview');
    await page.waitForURL(`${t.issuer}/console/tenants/acme-${marker}`);

    // By keyboard alone: focus the button, open the confirmation (its field takes the focus), type.
    await page.focus('button:has-text("Suspend…")');
    await page.keyboard.press('Enter');
    const confirm = page.locator(`button:has-text("Suspend acme-${marker}")`);
    expect(await confirm.isDisabled()).toBe(true);
    await page.keyboard.type('acme');
    await page.keyboard.press('Enter');
    // A part of the slug is not the slug: Enter does nothing.
    expect(await confirm.isDisabled()).toBe(true);
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${target.id}` })).body.state).toBe('active');
    await page.keyboard.type(`-${marker}`);
    expect(await confirm.isDisabled()).toBe(false);
    await page.keyboard.press('Enter');
    await eventually(() => page.textContent('[data-testid=tenant-state]')).toMatch(/^suspended/);
    const stored2 = await t.request({ method: 'GET', url: `/v1/tenants/${target.id}` });
    expect(stored2.body.state).toBe('suspended');
    await page.reload();
    await eventually(() => page.textContent('[data-testid=tenant-state]')).toMatch(/^suspended/);
    await accessible(page, 'tenant-suspended');

    // --- The tenant's timeline: its audit log, newest first; the suspension is there. ---
    await page.click('nav[aria-label="Tenant views"] >> text=Timeline');
    await page.waitForURL((url) => url.searchParams.get('view') === 'timeline');
    await eventually(() => page.textContent('[data-testid=timeline]')).toContain('tenant.suspended');
    // Newest first: the first page ends before the tenant's creation; Older reads on by the cursor.
    expect(await page.locator('[data-testid=audit-action]').count()).toBe(50);
    expect(await page.locator('[data-testid=audit-action]').allTextContents()).not.toContain(
      'tenant.created',
    );
    await page.focus('button:has-text("Older")');
    await page.keyboard.press('Enter');
    await eventually(() => page.locator('[data-testid=audit-action]').allTextContents()).toContain(
      'tenant.created',
    );
    const actions = await page.locator('[data-testid=audit-action]').allTextContents();
    expect(actions[0]).toBe('tenant.suspended');
    expect(actions.indexOf('tenant.suspended')).toBeLessThan(actions.indexOf('tenant.created'));
    // An entry opens by keyboard to what it recorded.
    // The newest is the operator's own suspension, by their user (the others were the test's key).
    const suspension = page
      .locator('details:has([data-testid=audit-action]:text-is("tenant.suspended"))')
      .first();
    expect(await suspension.locator('summary').textContent()).toMatch(/ user usr_/);
    await suspension.locator('summary').focus();
    await page.keyboard.press('Enter');
    expect(await suspension.getAttribute('open')).not.toBeNull();
    expect(await suspension.locator('pre').textContent()).toContain('"state": "suspended"');
    expect(await page.textContent('[data-testid=curl]')).toContain(
      `/v1/tenants/acme-${marker}/audit?limit=50`,
    );
    await accessible(page, 'tenant-timeline');
    // Reading the log is itself audited, in the tenant's chain: a refresh shows the read on top.
    await page.click('section[aria-labelledby=timeline-heading] button:has-text("Refresh")');
    await eventually(() => page.locator('[data-testid=audit-action]').first().textContent()).toBe(
      'audit.read',
    );
    // A suspended tenant's entitlements grant nothing: the usage view says so rather than show no limit.
    await page.click('nav[aria-label="Tenant views"] >> text=Usage');
    await eventually(() => page.textContent('[data-testid=usage-inactive]')).toContain('tenant_suspended');

    expect(errors).toEqual([]);

    // --- The portal shows it suspended. ---
    await portal.page.click('button:has-text("Refresh")');
    await eventually(() => portal.page.textContent('[data-testid=portal-state]')).toContain('suspended');
    await accessible(portal.page, 'portal-suspended');
    // The refused call is an answer the page shows, not an error of the page.
    expect(portal.errors.filter((e) => !e.includes('409'))).toEqual([]);

    // A tenant's member is no staff: the operator console's sign-in sends them back refused.
    await portal.page.goto(`${t.issuer}/console/`);
    await portal.page.waitForURL((url) => url.pathname === '/console/callback');
    await eventually(() => portal.page.textContent('[role=alert]')).toContain('access_denied');
    expect(await portal.page.textContent('h1')).toBe('Sign-in failed');

    await memberContext.close();
    await operatorContext.close();
  },
  E2E_TIMEOUT_MS,
);
