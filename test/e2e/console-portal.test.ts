// The tenant portal in a real browser (Debian's Chromium driven by playwright-core), against an
// in-process control plane on a loopback port, on both backends. A tenant's admin, signed in to
// the portal, sees the usage chart; makes a read-only custom role and invites someone with it,
// who joins through the hosted invitation page and signs in; makes an API key (its secret shown
// once, gone after a reload), rolls it and revokes another behind its typed name; sets a secret
// (never shown again); adds a webhook endpoint for its own events; downloads its license, sees its
// install's check-in and uploads an offline usage report; exports the audit log. The read-only member is offered no write action,
// and the API refuses them. Each page: no serious or critical axe violation, no console error.
import { readFile } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { applyAccess, invitedMember } from '../../packages/server/test/member-support.ts';
import type { OidcTestApp } from '../../packages/server/test/oidc-support.ts';
import { applyPlans, provisionedTenant } from '../../packages/server/test/tenant-support.ts';
import { InstallChain, installKey } from '../../packages/server/test/usage-report-support.ts';
import { userToken } from '../../packages/server/test/user-tokens.ts';
import {
  accessible,
  eventually,
  person,
  portalMember,
  signIn,
  startRig,
  stopRig,
  tab,
} from './console-support.ts';
import { E2E_TIMEOUT_MS } from './tenantry-process.ts';

// A plan with a metered limit (the usage chart) and custom roles (the read-only role).
const PLANS = `
currency: usd
meters:
  meetings:
    aggregation: count
features:
  custom_roles: {}
plans:
  team:
    name: Team
    features: [custom_roles]
    limits:
      meetings: { value: 1000 }
      seats: { value: 10 }
`;

let t: OidcTestApp;
let browser: Browser | undefined;

beforeAll(async () => {
  ({ t, browser } = await startRig(async (app) => {
    await applyPlans(app, PLANS);
    await applyAccess(app);
  }));
}, E2E_TIMEOUT_MS);

afterAll(() => stopRig({ t, browser }));

/**
 * Opens a page from the navigation and waits for its heading, not only its URL: a page is a chunk
 * loaded on demand, and until it is shown the page before stays, with fields of the same labels
 * (the members page's role form has a "Name" and a "meetings:read" too).
 */
async function open(page: Page, name: string, path: string): Promise<void> {
  await page.click(`header nav >> text="${name}"`);
  await page.waitForURL(`${t.issuer}/portal/${path}`);
  await page.getByRole('heading', { level: 1, name, exact: true }).waitFor();
}

test(
  "a tenant's admin uses the portal's pages; a member with a read-only role is offered no write, and the API refuses them",
  async () => {
    if (browser === undefined) throw new Error('no browser');
    const marker = Date.now().toString(36);
    const tenant = await provisionedTenant(t, { plan: 'team', slug: `umbrella-${marker}`, name: 'Umbrella' });
    const recorded = await t.request({
      method: 'POST',
      url: '/v1/events',
      payload: Array.from({ length: 30 }, (_, i) => ({
        id: `mtg-${marker}-${i}`,
        tenant: tenant.id,
        meter: 'meetings',
        value: 1,
        time: t.clock.now().toISOString(),
      })),
    });
    expect(recorded.body).toMatchObject({ accepted: 30, rejected: [] });
    // Self-hosted too: a license issued to it, and an install that checked in with it.
    expect((await t.request({ method: 'POST', url: '/v1/license-keys' })).status).toBe(201);
    const issued = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/licenses`,
      payload: { days: 365 },
    });
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    const checkedIn = await t.request({
      method: 'POST',
      url: '/v1/licenses/check-in',
      payload: { license: issued.body.token, install_id: 'edge-1', version: '3.1.0', seats_in_use: 4 },
      headers: { authorization: '' },
    });
    expect(checkedIn.status, JSON.stringify(checkedIn.body)).toBe(200);
    const admin = `admin-${marker}@example.com`;
    await person(t, admin);
    await invitedMember(t, tenant.id, 'admin', admin);
    const { context, page, errors } = await portalMember(t, browser, admin);
    // The usage page's chunk (recharts) is loaded only when the page is opened.
    const loaded: string[] = [];
    page.on('request', (request) => loaded.push(new URL(request.url()).pathname));
    const usageChunk = (path: string) => /^\/console\/assets\/usage-[\w-]+\.js$/.test(path);

    // --- Usage: the operator's view itself, its bar, chart and forecast. ---
    await eventually(() => page.textContent('[data-testid=portal-state]')).toContain('active');
    expect(loaded.filter(usageChunk)).toEqual([]);
    await open(page, 'Usage', 'usage');
    const meetings = page.locator('[data-testid=usage-meetings]');
    await eventually(() => meetings.locator('[data-testid=usage-used]').textContent()).toBe('30');
    expect(await meetings.locator('[data-testid=usage-limit]').textContent()).toBe('1000');
    await meetings.locator('figure.chart svg.recharts-surface').waitFor();
    expect(loaded.filter(usageChunk).length).toBeGreaterThanOrEqual(1);
    expect(await meetings.locator('[data-testid=usage-forecast]').textContent()).toMatch(/period/);
    expect(await meetings.locator('[data-testid=curl]').textContent()).toContain(
      `/v1/tenants/${tenant.id}/usage?meter=meetings&window=day`,
    );
    await accessible(page, 'portal-usage');

    // --- Members: a read-only custom role, someone invited with it, another invitation revoked. ---
    await open(page, 'Members', 'members');
    await page.getByLabel('Key', { exact: true }).fill('auditor');
    await page.getByLabel('Name', { exact: true }).fill('Auditor');
    await page
      .getByLabel(/^Permissions \(comma separated/)
      .fill('members:read, api_keys:read, audit:read, billing:read');
    await page.click('button:has-text("Create role")');
    await eventually(() => page.textContent('[data-testid=role-auditor]')).toContain('api_keys:read');
    const auditor = `auditor-${marker}@example.com`;
    await person(t, auditor);
    await page.getByLabel('Email', { exact: true }).fill(auditor);
    await page.getByLabel('Role', { exact: true }).selectOption('auditor');
    await page.click('button:has-text("Invite")');
    await eventually(() => page.textContent('[data-testid=secret-value]')).toContain(
      '/sign-in/invitation?token=',
    );
    const link = (await page.textContent('[data-testid=secret-value]')) ?? '';
    await page.click('button:has-text("Done")');
    await eventually(() => page.textContent(`[data-testid="invitation-${auditor}"]`)).toContain('auditor');
    const stranger = `stranger-${marker}@example.com`;
    await page.getByLabel('Email', { exact: true }).fill(stranger);
    await page.getByLabel('Role', { exact: true }).selectOption('viewer');
    await page.click('button:has-text("Invite")');
    await page.locator(`[data-testid="invitation-${stranger}"] button:has-text("Revoke invitation")`).click();
    await eventually(() => page.locator(`[data-testid="invitation-${stranger}"]`).count()).toBe(0);
    expect(await page.textContent(`[data-testid="member-${admin}"] [data-testid=member-role]`)).toBe('admin');
    await accessible(page, 'portal-members');

    // --- API keys: the secret shown once, gone after a reload; rolled; another revoked, typed. ---
    await open(page, 'API keys', 'api-keys');
    await page.getByLabel('Name', { exact: true }).fill('ci');
    await page.getByLabel('meetings:read').check();
    await page.click('button:has-text("Create key")');
    await page.locator('[data-testid=secret-value]').waitFor();
    const secret = (await page.textContent('[data-testid=secret-value]')) ?? '';
    expect(secret.length).toBeGreaterThan(20);
    await page.click('button:has-text("Copy key")');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    await eventually(() => page.textContent('[data-testid=key-ci] [data-testid=key-state]')).toBe('active');
    expect(await page.textContent('[data-testid=key-ci]')).toContain(secret.slice(-4));
    await accessible(page, 'portal-api-keys');
    // A reload signs in again (the token lives in memory) and the secret is nowhere: not on the page,
    // not in the list's raw JSON.
    await page.reload();
    await eventually(() => page.textContent('[data-testid=key-ci] [data-testid=key-state]')).toBe('active');
    expect(await page.locator('[data-testid=secret-once]').count()).toBe(0);
    expect(await page.content()).not.toContain(secret);
    await page.click('[data-testid=key-ci] button:has-text("Roll…")');
    await page.getByLabel('The old key keeps working for').selectOption('3600');
    await page.click('button:has-text("Roll ci")');
    await page.locator('[data-testid=secret-value]').waitFor();
    const rolled = (await page.textContent('[data-testid=secret-value]')) ?? '';
    expect(rolled).not.toBe(secret);
    await page.click('button:has-text("Done")');
    // The old key works for the overlap, beside its successor.
    await eventually(() => page.textContent('[data-testid=key-ci] >> nth=1')).toContain('rolled to');
    const keys = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/api-keys` });
    const [successor, rolledFrom] = keys.body.data;
    expect(rolledFrom.rolled_to).toBe(successor.id);
    expect(Date.parse(rolledFrom.expires_at) - t.clock.now().getTime()).toBeGreaterThan(3500_000);
    await page.getByLabel('Name', { exact: true }).fill('temporary');
    await page.getByLabel('meetings:read').check();
    await page.click('button:has-text("Create key")');
    await page.click('button:has-text("Done")');
    await page.click('[data-testid=key-temporary] button:has-text("Revoke…")');
    const revoke = page.locator('form[aria-label="Confirm: Revoke temporary"]');
    expect(await revoke.locator('button[type=submit]').isDisabled()).toBe(true);
    await revoke.locator('input').fill('temporary');
    await revoke.locator('button[type=submit]').click();
    await eventually(() => page.textContent('[data-testid=key-temporary] [data-testid=key-state]')).toMatch(
      /^revoked/,
    );

    // --- Secrets: set, rotated, never shown. ---
    await open(page, 'Secrets', 'secrets');
    const value = `sk-${marker}-never-shown`;
    for (const version of ['1', '2']) {
      await page.getByLabel('Name', { exact: true }).fill('openai.api_key');
      await page.getByLabel('Value', { exact: true }).fill(value);
      await page.click('button:has-text("Set secret")');
      await eventually(() => page.textContent('[data-testid="secret-openai.api_key"] td')).toBe(version);
    }
    expect(await page.getByLabel('Value', { exact: true }).inputValue()).toBe('');
    expect(await page.content()).not.toContain(value);
    await accessible(page, 'portal-secrets');

    // --- Webhooks: an endpoint for the tenant's own events, its secret shown once; disabled. ---
    await open(page, 'Webhooks', 'webhooks');
    const hook = 'https://93.184.216.34/hooks/umbrella';
    await page.getByLabel('URL', { exact: true }).fill(hook);
    await page.click('button:has-text("Add endpoint")');
    await eventually(() => page.textContent('[data-testid=secret-value]')).toMatch(/^whsec_/);
    const signing = (await page.textContent('[data-testid=secret-value]')) ?? '';
    await page.click('button:has-text("Done")');
    const row = page.locator(`[data-testid="webhook-${hook}"]`);
    await eventually(() => row.locator('[data-testid=webhook-status]').textContent()).toBe('enabled');
    await row.locator('button:has-text("Disable")').click();
    await eventually(() => row.locator('[data-testid=webhook-status]').textContent()).toMatch(/^disabled/);
    expect(await page.content()).not.toContain(signing);
    const hooks = await t.request({ method: 'GET', url: `/v1/webhook-endpoints?tenant_id=${tenant.id}` });
    expect(hooks.body.data).toMatchObject([{ url: hook, tenant_id: tenant.id, status: 'disabled' }]);
    await accessible(page, 'portal-webhooks');

    // --- Self-hosted: the license downloaded, the install's check-in, a usage report uploaded. ---
    await open(page, 'Self-hosted', 'self-hosted');
    await eventually(() => page.textContent('[data-testid=install-edge-1]')).toContain('3.1.0');
    const [licenseFile] = await Promise.all([
      page.waitForEvent('download'),
      page.click('button[aria-label="Download license 1"]'),
    ]);
    expect(await readFile((await licenseFile.path()) ?? '', 'utf8')).toBe(issued.body.token);
    const hour = Math.floor(t.clock.now().getTime() / 3_600_000) * 3_600_000;
    const chain = new InstallChain({
      installId: 'edge-2',
      install: await installKey(),
      license: issued.body.token,
      from: new Date(hour - 3_600_000).toISOString(),
    });
    const reportToken = await chain.next(new Date(hour).toISOString(), [
      { id: `edge-${marker}`, meter: 'meetings', value: 5, time: new Date(hour - 1_800_000).toISOString() },
    ]);
    await page.setInputFiles('input[type=file]', {
      name: 'edge-2-1.jwt',
      mimeType: 'application/jwt',
      buffer: Buffer.from(reportToken),
    });
    await page.click('button:has-text("Upload report")');
    await eventually(() => page.textContent('[data-testid=upload-status]')).toBe(
      'Imported report 1 of edge-2: 1 events, 0 already known',
    );
    await eventually(() => page.textContent('[data-testid=usage-reports]')).toContain('edge-2');
    await accessible(page, 'portal-self-hosted');

    // --- Audit log: the timeline, and the export as JSON Lines. ---
    await open(page, 'Audit log', 'audit');
    await eventually(() => page.locator('[data-testid=audit-action]').allTextContents()).toContain(
      'tenant_secret.set',
    );
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('button:has-text("Export JSON Lines")'),
    ]);
    const lines = (await readFile((await download.path()) ?? '', 'utf8')).split('\n').filter(Boolean);
    const actions = lines.map((line) => JSON.parse(line).action);
    expect(actions).toEqual(
      expect.arrayContaining([
        'tenant.created',
        'tenant_key.created',
        'tenant_secret.set',
        'webhook_endpoint.created',
      ]),
    );
    expect(lines.join('\n')).not.toContain(value);
    expect(lines.join('\n')).not.toContain(secret);
    await eventually(() => page.textContent('[data-testid=export-status]')).toBe(
      `Exported ${lines.length} entries`,
    );
    await accessible(page, 'portal-audit');
    expect(errors).toEqual([]);
    await context.close();

    // --- The read-only member: joins from the link, signs in to the portal. ---
    const readerContext = await browser.newContext();
    const reader = await tab(readerContext);
    await reader.page.goto(link);
    await reader.page.click('a:has-text("Sign in")');
    await signIn(reader.page, auditor);
    await reader.page.click('button:has-text("Join Umbrella")');
    await reader.page.waitForSelector('text=You joined Umbrella');
    await reader.page.goto(`${t.issuer}/portal/members`);
    await eventually(() => reader.page.textContent('[data-testid=read-only]')).toContain('members:write');
    expect(await reader.page.textContent(`[data-testid="member-${auditor}"]`)).toContain('auditor');
    expect(await reader.page.locator('button:has-text("Invite")').count()).toBe(0);
    expect(await reader.page.locator('button:has-text("Remove…")').count()).toBe(0);
    expect(await reader.page.locator('button:has-text("Create role")').count()).toBe(0);
    // Secrets need secrets:write, which the role lacks: not in the navigation, and the page says so.
    expect(await reader.page.locator('header nav a').allTextContents()).toEqual([
      'Overview',
      'Plan & billing',
      'Usage',
      'Members',
      'API keys',
      'Audit log',
    ]);
    await accessible(reader.page, 'portal-members-read-only');
    await open(reader.page, 'API keys', 'api-keys');
    await eventually(() => reader.page.textContent('[data-testid=read-only]')).toContain('api_keys:write');
    await reader.page.locator('[data-testid=key-ci]').first().waitFor();
    expect(await reader.page.locator('button:has-text("Create key"), button:has-text("Roll…")').count()).toBe(
      0,
    );
    await accessible(reader.page, 'portal-api-keys-read-only');
    await reader.page.goto(`${t.issuer}/portal/secrets`);
    await eventually(() => reader.page.textContent('[data-testid=needs-permission]')).toContain(
      'secrets:write',
    );
    await accessible(reader.page, 'portal-secrets-refused');
    expect(reader.errors).toEqual([]);
    await readerContext.close();

    // The API refuses the writes the pages do not offer, whatever the page shows.
    const members = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/members` });
    const auditorId = members.body.data.find((m: { email: string }) => m.email === auditor).user_id;
    const as = { authorization: `Bearer ${await userToken(t, { sub: auditorId, tid: tenant.id })}` };
    const refusals = [
      {
        method: 'POST' as const,
        url: `/v1/tenants/${tenant.id}/api-keys`,
        payload: { name: 'mine', permissions: ['meetings:read'] },
        permission: 'api_keys:write',
      },
      {
        method: 'POST' as const,
        url: `/v1/tenants/${tenant.id}/api-keys/${successor.id}/revoke`,
        payload: {},
        permission: 'api_keys:write',
      },
      {
        method: 'POST' as const,
        url: `/v1/tenants/${tenant.id}/invitations`,
        payload: { email: `more-${marker}@example.com`, role: 'admin' },
        permission: 'members:write',
      },
      {
        method: 'PUT' as const,
        url: `/v1/tenants/${tenant.id}/secrets/openai.api_key`,
        payload: { value: 'x' },
        permission: 'secrets:write',
      },
      { method: 'GET' as const, url: `/v1/tenants/${tenant.id}/secrets`, permission: 'secrets:write' },
    ];
    for (const { permission, ...call } of refusals) {
      const refused = await t.request({ ...call, headers: as });
      expect(refused.status, `${call.method} ${call.url}`).toBe(403);
      expect(refused.body).toMatchObject({
        code: 'insufficient_permission',
        required_permission: permission,
      });
    }
    // …while what the role holds is answered.
    const read = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/api-keys`, headers: as });
    expect(read.status).toBe(200);
  },
  E2E_TIMEOUT_MS,
);
