// Support bundles in a real browser (Debian's Chromium driven by playwright-core), against an
// in-process control plane on a loopback port, on both backends. A self-hosted customer's admin,
// signed in to the portal, sends the tar.gz `tenantry support-bundle` wrote from the Self-hosted
// page and sees it listed; the vendor's support staff, in the operator console, find it on the
// tenant's Licenses & installs view and download it: the same bytes. Each page: no serious or
// critical axe violation, no console error.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { invitedMember } from '../../packages/server/test/member-support.ts';
import type { OidcTestApp } from '../../packages/server/test/oidc-support.ts';
import { tarGz } from '../../packages/server/test/support-bundle-support.ts';
import { applyPlans, provisionedTenant } from '../../packages/server/test/tenant-support.ts';
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

beforeAll(async () => {
  ({ t, browser } = await startRig(applyPlans));
}, E2E_TIMEOUT_MS);

afterAll(() => stopRig({ t, browser }));

test(
  "a self-hosted customer's admin sends a support bundle from the portal; the vendor's support staff download it from the tenant's page",
  async () => {
    if (browser === undefined) throw new Error('no browser');
    const marker = Date.now().toString(36);
    const tenant = await provisionedTenant(t, { slug: `initech-${marker}`, name: 'Initech' });
    // Self-hosted: the portal's Self-hosted page is for a tenant that holds a license.
    expect((await t.request({ method: 'POST', url: '/v1/license-keys' })).status).toBe(201);
    const issued = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/licenses`,
      payload: { days: 365 },
    });
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    const archive = tarGz({
      'tenantry-support-20261206T000000Z/manifest.json': '{"format":"tenantry-support-bundle/1"}\n',
      'tenantry-support-20261206T000000Z/logs/tenantry.log': 'migration 0042 applied\n'.repeat(500),
    });

    // --- The customer's admin sends it from the portal. ---
    const admin = `admin-${marker}@example.com`;
    await person(t, admin);
    await invitedMember(t, tenant.id, 'admin', admin);
    const portal = await portalMember(t, browser, admin);
    await portal.page.click('header nav >> text="Self-hosted"');
    await portal.page.waitForURL(`${t.issuer}/portal/self-hosted`);
    await eventually(() => portal.page.textContent('[data-testid=support-bundles-none]')).toContain(
      'No support bundle',
    );
    await portal.page.setInputFiles('input[type=file][accept*="gzip"]', {
      name: 'tenantry-support.tar.gz',
      mimeType: 'application/gzip',
      buffer: archive,
    });
    await portal.page.fill('input[maxlength="500"]', `Ticket ${marker}: the nightly sync stalls`);
    await portal.page.click('button:has-text("Send bundle")');
    const sha256 = createHash('sha256').update(archive).digest('hex');
    await eventually(() => portal.page.textContent('[data-testid=bundle-upload-status]')).toContain(sha256);
    await eventually(() => portal.page.textContent('[data-testid=support-bundles]')).toContain(
      `Ticket ${marker}`,
    );
    await accessible(portal.page, 'portal-support-bundles');
    expect(portal.errors).toEqual([]);
    await portal.context.close();

    const listed = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/support-bundles` });
    expect(listed.body.data).toMatchObject([
      {
        sha256,
        size_bytes: archive.length,
        description: `Ticket ${marker}: the nightly sync stalls`,
        uploaded_by: { type: 'user' },
      },
    ]);
    const bundleId: string = listed.body.data[0].id;

    // --- The vendor's support staff download it from the tenant's Licenses & installs view. ---
    const operator = await operatorConsole(t, browser, `support-${marker}@vendor.example`, 'support');
    await operator.page.goto(`${t.issuer}/console/tenants/${tenant.slug}?view=licenses`);
    const row = operator.page.locator(`[data-testid="support-bundle-${bundleId}"]`);
    await eventually(() => row.textContent()).toContain(`Ticket ${marker}`);
    const [file] = await Promise.all([
      operator.page.waitForEvent('download'),
      row.locator('button:has-text("Download")').click(),
    ]);
    expect(file.suggestedFilename()).toBe(`${bundleId}.tar.gz`);
    const downloaded = await readFile((await file.path()) ?? '');
    expect(Buffer.compare(downloaded, archive)).toBe(0);
    await accessible(operator.page, 'tenant-support-bundles');
    expect(operator.errors).toEqual([]);
    await operator.context.close();
  },
  E2E_TIMEOUT_MS,
);
