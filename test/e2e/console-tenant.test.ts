// The operator's tenant page, its views beyond the overview, in a real browser against an
// in-process control plane (both backends): where each entitlement comes from and "may this
// tenant…?" answered (allowed, over the limit, overridden off, a meter whose feature is off);
// members, invitations and API keys with the operator's actions behind typed confirmation; a
// license issued, checked in with and revoked; a webhook delivery replayed. Each view loads with
// no console error and no serious or critical axe violation.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { applyAccess, invitedMember } from '../../packages/server/test/member-support.ts';
import type { OidcTestApp } from '../../packages/server/test/oidc-support.ts';
import { applyPlans, provisionedTenant } from '../../packages/server/test/tenant-support.ts';
import { startReceiver } from '../../packages/server/test/webhook-receiver.ts';
import { accessible, eventually, operatorConsole, person, startRig, stopRig } from './console-support.ts';
import { E2E_TIMEOUT_MS } from './tenantry-process.ts';

// A meter tied to a feature (recordings needs recording), a hard limit on meetings, a config value.
const PLANS = `
currency: usd
meters:
  meetings:
    aggregation: count
  recordings:
    aggregation: count
    feature: recording
features:
  sso: {}
  recording: {}
config:
  retention_days: { type: integer, default: 7 }
plans:
  pro:
    name: Pro
    features: [sso, recording]
    limits:
      meetings: { value: 10 }
    config:
      retention_days: 90
    prices:
      - type: per_seat
        unit_amount: "12.00"
`;

let t: OidcTestApp;
let browser: Browser | undefined;
let receiver: Awaited<ReturnType<typeof startReceiver>>;

beforeAll(async () => {
  receiver = await startReceiver();
  const prepare = async (app: OidcTestApp) => {
    await applyPlans(app, PLANS);
    await applyAccess(app);
  };
  ({ t, browser } = await startRig(prepare, { webhooks: { allowedHosts: ['127.0.0.1'], timeoutMs: 5_000 } }));
}, E2E_TIMEOUT_MS);

afterAll(async () => {
  await stopRig({ t, browser });
  await receiver?.close();
});

/** Fans the tenant's events out to its endpoints and delivers them, until nothing is left to do. */
async function drainWebhooks(): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const fanned = await t.services.webhooks.fanOut();
    const sent = await t.services.webhooks.deliverDue();
    if (fanned === 0 && sent === 0) return;
  }
  throw new Error('webhooks did not settle in 50 rounds');
}

async function ok(request: Parameters<OidcTestApp['request']>[0], status = 200) {
  const answered = await t.request(request);
  expect(answered.status, JSON.stringify(answered.body)).toBe(status);
  return answered.body;
}

/** Asks the view "may this tenant…?" and reads the answer. */
async function ask(page: Page, what: string, amount?: number): Promise<string> {
  const form = page.locator('form[aria-label="May this tenant"]');
  await form.locator('select[name=what]').selectOption(what);
  if (amount !== undefined) await form.locator('input[name=amount]').fill(String(amount));
  await form.locator('button[type=submit]').click();
  return (await page.locator('[data-testid=may-answer]').textContent()) ?? '';
}

test(
  "an operator reads where a tenant's entitlements come from, asks what it may do, manages its members and keys, its licenses and its webhooks",
  async () => {
    if (browser === undefined) throw new Error('no browser');
    const marker = Date.now().toString(36);
    const slug = `umbrella-${marker}`;
    // The deal: recording switched off, retention raised; meetings left at the plan's 10.
    const tenant = await provisionedTenant(t, {
      plan: 'pro',
      slug,
      name: 'Umbrella',
      overrides: { features: { recording: false }, config: { retention_days: 365 } },
    });
    expect(tenant.state).toBe('active');
    const recorded = await ok({
      method: 'POST',
      url: '/v1/events',
      payload: Array.from({ length: 8 }, (_, i) => ({
        id: `mtg-${marker}-${i}`,
        tenant: tenant.id,
        meter: 'meetings',
        value: 1,
        time: t.clock.now().toISOString(),
      })),
    });
    expect(recorded).toMatchObject({ accepted: 8, rejected: [] });
    // 8 of 10 crosses the plan's 80 % threshold: recorded in the tenant's audit log, for the timeline.
    const crossed = await t.services.usage.thresholds.drain();
    expect(crossed.map((c) => [c.tenant_id, c.meter, c.threshold])).toContainEqual([
      tenant.id,
      'meetings',
      80,
    ]);

    const member = `member-${marker}@example.com`;
    await person(t, member);
    await invitedMember(t, tenant.id, 'member', member);
    const invitee = `invitee-${marker}@example.com`;
    await ok(
      {
        method: 'POST',
        url: `/v1/tenants/${tenant.id}/invitations`,
        payload: { email: invitee, role: 'viewer' },
      },
      201,
    );
    const key = await ok(
      {
        method: 'POST',
        url: `/v1/tenants/${tenant.id}/api-keys`,
        payload: { name: 'ci', permissions: ['meetings:read'] },
      },
      201,
    );
    await ok({ method: 'POST', url: '/v1/license-keys', payload: {} }, 201);
    const endpoint = await ok(
      {
        method: 'POST',
        url: '/v1/webhook-endpoints',
        payload: { url: receiver.url('/hooks'), event_types: ['tenant.*'], tenant_id: tenant.id },
      },
      201,
    );
    // A second endpoint, whose receiver fails: its attempts are the timeline's webhook failures.
    receiver.behaviours.set('/broken', (_request, response) => response.writeHead(500).end());
    await ok(
      {
        method: 'POST',
        url: '/v1/webhook-endpoints',
        payload: { url: receiver.url('/broken'), event_types: ['tenant.*'], tenant_id: tenant.id },
      },
      201,
    );
    // An event of the tenant's, delivered to its endpoints.
    await ok({ method: 'PATCH', url: `/v1/tenants/${tenant.id}`, payload: { name: 'Umbrella Corp' } });
    await drainWebhooks();
    expect(receiver.received.filter((r) => r.path === '/hooks').length).toBeGreaterThanOrEqual(1);

    const { context, page, errors } = await operatorConsole(t, browser, `ops-${marker}@example.com`);

    // --- Entitlements: each value's source, the plan's beside an override. ---
    await page.goto(`${t.issuer}/console/tenants/${slug}?view=entitlements`);
    const recording = page.locator('[data-testid=feature-recording]');
    await eventually(() => recording.textContent()).toBe('recordingoffoverrideon');
    expect(await page.textContent('[data-testid=feature-sso]')).toBe('ssoonplanon');
    expect(await page.textContent('[data-testid=config-retention_days]')).toBe('retention_days365override90');
    expect(await page.textContent('[data-testid=limit-meetings]')).toBe('meetingsmetered108hardplan10');
    expect(
      await page.locator('nav[aria-label="Tenant views"] [aria-current=page]').allTextContents(),
    ).toEqual(['Entitlements']);
    expect(await page.locator('[data-testid=curl]').first().textContent()).toContain(
      `/v1/tenants/${slug}/entitlements`,
    );
    // May this tenant…? Allowed, over the limit, overridden off, a meter whose feature is off.
    expect(await ask(page, 'feature:sso')).toMatch(/^Yes \(allowed\): Feature "sso" is on in the plan/);
    expect(await ask(page, 'meter:meetings', 2)).toMatch(/^Yes \(allowed\): 8 used of 10 \(the plan\)/);
    const over = await ask(page, 'meter:meetings', 3);
    expect(over).toMatch(/^No \(limit exhausted\): Limit reached: 8\/10/);
    expect(await ask(page, 'feature:recording')).toMatch(
      /^No \(feature overridden off\): Feature "recording" is overridden off for this tenant \(the plan has it on\)/,
    );
    expect(await ask(page, 'meter:recordings', 1)).toMatch(
      /^No \(meter feature off\): "recordings" needs feature "recording": .*overridden off/,
    );
    await accessible(page, 'tenant-entitlements');

    // --- Members & keys: each action behind what it acts on, typed out. ---
    await page.click('nav[aria-label="Tenant views"] >> text=Members & keys');
    await page.waitForURL((url) => url.searchParams.get('view') === 'members');
    await eventually(() => page.textContent(`[data-testid="member-${member}"]`)).toContain('member');
    await eventually(() => page.textContent(`[data-testid="invitation-${invitee}"]`)).toContain('viewer');
    await eventually(() => page.textContent('[data-testid=api-key-ci]')).toContain('active');
    await accessible(page, 'tenant-members');

    await page.click(`button[aria-label="Revoke… ${invitee}"]`);
    const revokeInvitation = page.locator(`button:has-text("Revoke the invitation of ${invitee}")`);
    expect(await revokeInvitation.isDisabled()).toBe(true);
    await page.keyboard.type(invitee);
    await revokeInvitation.click();
    await eventually(() => page.textContent('[data-testid=invitations-none]')).toBe('No open invitation.');

    await page.click('button[aria-label="Revoke… ci"]');
    await page.keyboard.type('ci');
    await page.click('button:has-text("Revoke key ci")');
    await eventually(() => page.textContent('[data-testid=api-key-state]')).toMatch(/^revoked /);
    const keys = await ok({ method: 'GET', url: `/v1/tenants/${tenant.id}/api-keys` });
    expect(keys.data.find((k: { id: string }) => k.id === key.id).revoked_at).not.toBeNull();

    await page.click(`button[aria-label="Remove… ${member}"]`);
    await page.keyboard.type(member);
    await page.click(`button:has-text("Remove ${member}")`);
    await eventually(() => page.locator(`[data-testid="member-${member}"]`).count()).toBe(0);
    const members = await ok({ method: 'GET', url: `/v1/tenants/${tenant.id}/members` });
    expect(members.data.map((m: { email: string }) => m.email)).not.toContain(member);
    await accessible(page, 'tenant-members-after');

    // --- Licenses & installs: issue, an install checks in, revoke behind the license's id. ---
    await page.click('nav[aria-label="Tenant views"] >> text=Licenses & installs');
    await page.waitForURL((url) => url.searchParams.get('view') === 'licenses');
    await eventually(() => page.textContent('[data-testid=licenses-none]')).toContain('No license');
    await page.fill('form[aria-label="Issue a license"] input[name=days]', '30');
    await page.click('button:has-text("Issue license")');
    await eventually(() => page.locator('[data-testid=license-token]').inputValue()).toMatch(/^ey/);
    const licenseToken = await page.locator('[data-testid=license-token]').inputValue();
    const licenses = await ok({ method: 'GET', url: `/v1/tenants/${tenant.id}/licenses` });
    const license = licenses.data[0];
    expect(license.status).toBe('active');
    await eventually(() =>
      page.textContent(`[data-testid=license-${license.id}] [data-testid=license-status]`),
    ).toBe('active');
    await ok({
      method: 'POST',
      url: '/v1/licenses/check-in',
      payload: { license: licenseToken, install_id: `inst-${marker}`, version: '2.1.0', seats_in_use: 3 },
    });
    await page.click('section[aria-labelledby=installs-heading] button:has-text("Refresh")');
    const install = page.locator(`[data-testid=install-inst-${marker}]`);
    await eventually(() => install.textContent()).toContain('2.1.0');
    expect(await install.textContent()).toContain(license.id);
    await accessible(page, 'tenant-licenses');

    await page.click(`button[aria-label="Revoke… ${license.id}"]`);
    await page.fill(`[data-testid=license-${license.id}] input[name=reason]`, 'contract ended');
    const confirmRevoke = page.locator(`button:has-text("Revoke ${license.id}")`);
    await page.fill(`form[aria-label="Confirm: Revoke ${license.id}"] input`, license.id.slice(0, -1));
    expect(await confirmRevoke.isDisabled()).toBe(true);
    await page.fill(`form[aria-label="Confirm: Revoke ${license.id}"] input`, license.id);
    await confirmRevoke.click();
    await eventually(() =>
      page.textContent(`[data-testid=license-${license.id}] [data-testid=license-status]`),
    ).toBe('revoked (contract ended)');
    expect((await ok({ method: 'GET', url: `/v1/licenses/${license.id}` })).status).toBe('revoked');
    // The install's line follows: its license is revoked now.
    await eventually(() => install.textContent()).toContain('revoked');
    await accessible(page, 'tenant-licenses-revoked');

    // --- Webhooks: the endpoint's deliveries; one replayed. ---
    await page.click('nav[aria-label="Tenant views"] >> text=Webhooks');
    await page.waitForURL((url) => url.searchParams.get('view') === 'webhooks');
    const section = page.locator(`[data-testid=endpoint-${endpoint.id}]`);
    await eventually(() => section.locator('[data-testid=delivery-state]').first().textContent()).toBe(
      'succeeded',
    );
    const deliveries = await ok({ method: 'GET', url: `/v1/webhook-endpoints/${endpoint.id}/deliveries` });
    const updated = deliveries.data.find((d: { event_type: string }) => d.event_type === 'tenant.updated');
    expect(updated).toBeDefined();
    const row = section.locator(`[data-testid=delivery-${updated.id}]`);
    expect(await row.locator('[data-testid=delivery-attempts]').textContent()).toBe('1');
    await accessible(page, 'tenant-webhooks');
    const before = receiver.received.filter((r) => r.path === '/hooks').length;
    await row.locator('button:has-text("Replay")').click();
    await eventually(() => section.locator('[data-testid=replayed]').textContent()).toContain(updated.id);
    await drainWebhooks();
    expect(receiver.received.filter((r) => r.path === '/hooks').length).toBe(before + 1);
    // The same event, sent again with the same webhook-id.
    const again = receiver.received.filter((r) => r.path === '/hooks').at(-1)?.headers['webhook-id'];
    expect(receiver.received.filter((r) => r.headers['webhook-id'] === again).length).toBe(2);
    await section.locator('button:has-text("Refresh")').click();
    await eventually(() => row.locator('[data-testid=delivery-state]').textContent()).toBe('succeeded');

    // --- The timeline: the audit log, thresholds and license check-ins marked, webhook failures merged in. ---
    await page.click('nav[aria-label="Tenant views"] >> text=Timeline');
    await page.waitForURL((url) => url.searchParams.get('view') === 'timeline');
    await eventually(() => page.locator('[data-testid=webhook-failure]').count()).toBeGreaterThanOrEqual(1);
    const sources = await page.locator('[data-testid=timeline-source]').allTextContents();
    expect(new Set(sources)).toEqual(
      new Set(['[audit]', '[threshold]', '[license check-in]', '[webhook failure]']),
    );
    const failure = page.locator('li[data-source=webhook]').first();
    expect(await failure.locator('summary').textContent()).toContain(`to ${receiver.url('/broken')}: 500`);
    // Newest first, whatever the source.
    const times = await page
      .locator('[data-testid=timeline] > li time')
      .evaluateAll((nodes) => nodes.map((node) => Date.parse(node.getAttribute('datetime') ?? '')));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    await accessible(page, 'tenant-timeline-merged');

    // --- A suspended tenant may do nothing: the answer names its state. ---
    await ok({ method: 'POST', url: `/v1/tenants/${tenant.id}/suspend`, payload: {} });
    await page.click('nav[aria-label="Tenant views"] >> text=Entitlements');
    await page.waitForURL((url) => url.searchParams.get('view') === 'entitlements');
    await page.click('section[aria-labelledby=entitlements-heading] button:has-text("Refresh")');
    await eventually(() => page.textContent('[data-testid=entitlements-inactive]')).toContain('suspended');
    expect(await ask(page, 'feature:sso')).toMatch(/^No \(tenant inactive\): The tenant is suspended/);
    await accessible(page, 'tenant-entitlements-suspended');

    expect(errors).toEqual([]);
    await context.close();
  },
  E2E_TIMEOUT_MS,
);
