// The console's forms check their values with the API's own request schemas before they send
// (issue 16), in a real browser against an in-process control plane (both backends): an operator's
// form (a webhook endpoint), a portal's (an invitation) and the sign-up wizard's last step (the
// organisation's name), each filled with bad input first. The error is shown at its field, names
// it, is tied to the input (aria-invalid, aria-describedby) and takes the focus; no request leaves
// the page and nothing is written (read back through the API and the database); axe finds no
// serious or critical violation in the error state. Then valid input is sent and written.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { systemContext } from '../../packages/server/src/request-context.ts';
import type { OidcTestApp } from '../../packages/server/test/oidc-support.ts';
import { applyPlans } from '../../packages/server/test/tenant-support.ts';
import {
  accessible,
  eventually,
  operatorConsole,
  person,
  portalMember,
  startRig,
  stopRig,
  within,
} from './console-support.ts';
import { E2E_TIMEOUT_MS } from './tenantry-process.ts';

let t: OidcTestApp;
let browser: Browser | undefined;

beforeAll(async () => {
  const prepare = async (app: OidcTestApp) => {
    await applyPlans(app);
    const settings = await app.request({
      method: 'PUT',
      url: '/v1/settings/self-serve',
      payload: {
        enabled: true,
        plans: ['pro'],
        placements: ['pool'],
        regions: [],
        app_url: null,
        trial_days: 14,
      },
    });
    expect(settings.status, JSON.stringify(settings.body)).toBe(200);
  };
  // Endpoints on loopback are refused unless allowed; nothing is delivered to it here.
  ({ t, browser } = await startRig(prepare, { webhooks: { allowedHosts: ['127.0.0.1'], timeoutMs: 2_000 } }));
}, E2E_TIMEOUT_MS);

afterAll(() => stopRig({ t, browser }));

/** The writes (POST, PUT, PATCH, DELETE) the page sends to the API, as `METHOD /path`. */
function writesOf(page: Page): string[] {
  const writes: string[] = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (request.method() !== 'GET' && url.pathname.startsWith('/v1/')) {
      writes.push(`${request.method()} ${url.pathname}`);
    }
  });
  return writes;
}

/** The field's shown error: the input is marked invalid, described by the message, and focused. */
async function fieldError(page: Page, input: string): Promise<string> {
  await eventually(() => page.getAttribute(input, 'aria-invalid')).toBe('true');
  const described = await page.getAttribute(input, 'aria-describedby');
  expect(described).toBeTruthy();
  const message = (await page.textContent(`[id="${described}"]`)) ?? '';
  return message;
}

async function focused(page: Page, input: string): Promise<boolean> {
  return within(
    `reading the focus of ${input}`,
    page.$eval(input, (element) => element === document.activeElement),
  );
}

/** Moves the single-page app to `path` as its own links do, keeping the tokens in the page's memory. */
async function navigate(page: Page, path: string): Promise<void> {
  await within(
    `moving to ${path}`,
    page.evaluate((to) => {
      history.pushState({}, '', to);
      dispatchEvent(new PopStateEvent('popstate', { state: {} }));
    }, path),
  );
}

test(
  "an operator's, a portal's and the sign-up wizard's forms refuse bad input at the field and send nothing; valid input is sent",
  async () => {
    if (browser === undefined) throw new Error('no browser');
    const marker = Date.now().toString(36);

    // --- The operator console: a webhook endpoint with no URL and no event type. ---
    const endpoints = async () =>
      (await t.request({ method: 'GET', url: '/v1/webhook-endpoints?limit=100' })).body.data.length;
    const before = await endpoints();
    const operator = await operatorConsole(t, browser, `ops-${marker}@example.com`);
    const operatorWrites = writesOf(operator.page);
    await operator.page.click('nav >> text=Webhooks');
    await operator.page.waitForSelector('form[aria-label="Add an endpoint"]');
    await operator.page.click('form[aria-label="Add an endpoint"] button[type=submit]');
    const urlInput = 'form[aria-label="Add an endpoint"] input[name=url]';
    expect(await fieldError(operator.page, urlInput)).toBe('url must not be empty');
    expect(await focused(operator.page, urlInput)).toBe(true);
    const typesGroup = 'form[aria-label="Add an endpoint"] fieldset.event-types';
    expect(await fieldError(operator.page, typesGroup)).toBe('event_types must have at least 1 entry');
    await accessible(operator.page, 'forms-operator-webhook-invalid');
    expect(operatorWrites).toEqual([]);
    expect(await endpoints()).toBe(before);
    // Valid: a URL and every event type; the endpoint is created, and the errors are gone.
    await operator.page.fill(urlInput, 'http://127.0.0.1:9/hooks');
    await operator.page.click('form[aria-label="Add an endpoint"] >> text=Every event type');
    await operator.page.click('form[aria-label="Add an endpoint"] button[type=submit]');
    await eventually(() => endpoints()).toBe(before + 1);
    expect(operatorWrites).toEqual(['POST /v1/webhook-endpoints']);
    expect(await operator.page.getAttribute(urlInput, 'aria-invalid')).toBeNull();
    expect(operator.errors).toEqual([]);
    await operator.context.close();

    // --- A self-serve trial's owner: the portal's invitation, then the sign-up wizard. ---
    const owner = `owner-${marker}@example.com`;
    await person(t, owner);
    const user = await t.services.database.db
      .selectFrom('users')
      .select('id')
      .where('email_key', '=', owner)
      .executeTakeFirstOrThrow();
    const started = await t.services.selfServe.startTrial(systemContext('test'), user.id, {
      name: 'Forms Co',
      plan: 'pro',
    });
    if (!started.ok) throw new Error(JSON.stringify(started.error));
    const tenantId = started.value.tenantId;
    await eventually(async () => {
      await t.services.jobs.runDue();
      return (await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}` })).body.state;
    }).not.toBe('provisioning');
    const invitations = async () =>
      (await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/invitations` })).body.data.map(
        (invitation: { email: string }) => invitation.email,
      );
    const portal = await portalMember(t, browser, owner);
    const portalWrites = writesOf(portal.page);

    // The portal's members page: an address too short to be one.
    await portal.page.click('header nav >> text="Members"');
    await portal.page.waitForSelector('#invite-heading');
    const email = 'form[aria-labelledby=invite-heading] input[type=email]';
    await portal.page.fill(email, 'ab');
    await portal.page.click('form[aria-labelledby=invite-heading] button[type=submit]');
    expect(await fieldError(portal.page, email)).toBe('email must be at least 3 characters long');
    expect(await focused(portal.page, email)).toBe(true);
    await accessible(portal.page, 'forms-portal-invite-invalid');
    expect(portalWrites).toEqual([]);
    expect(await invitations()).toEqual([]);
    await portal.page.fill(email, `teammate-${marker}@example.com`);
    await portal.page.click('form[aria-labelledby=invite-heading] button[type=submit]');
    await eventually(() => invitations()).toEqual([`teammate-${marker}@example.com`]);
    expect(portalWrites).toEqual([`POST /v1/tenants/${tenantId}/invitations`]);
    expect(await portal.page.getAttribute(email, 'aria-invalid')).toBeNull();

    // The sign-up wizard's last step: a name of blanks, then one longer than the API takes.
    portalWrites.length = 0;
    await navigate(portal.page, '/portal/welcome');
    await eventually(() => portal.page.inputValue('#organisation-name')).toBe('Forms Co');
    const wizard = async () =>
      t.services.database.db
        .selectFrom('self_serve_trials as s')
        .innerJoin('tenants as tn', 'tn.id', 's.tenant_id')
        .select(['tn.name', 's.wizard_completed_at'])
        .where('s.tenant_id', '=', tenantId)
        .executeTakeFirstOrThrow();
    await portal.page.fill('#organisation-name', '   ');
    await portal.page.click('button:has-text("Finish and open the app")');
    expect(await fieldError(portal.page, '#organisation-name')).toBe('name must not be empty');
    expect(await focused(portal.page, '#organisation-name')).toBe(true);
    await accessible(portal.page, 'forms-wizard-name-invalid');
    await portal.page.fill('#organisation-name', 'x'.repeat(201));
    await portal.page.click('button:has-text("Finish and open the app")');
    await eventually(async () => fieldError(portal.page, '#organisation-name')).toBe(
      'name must be at most 200 characters long',
    );
    expect(portalWrites).toEqual([]);
    expect(await wizard()).toEqual({ name: 'Forms Co', wizard_completed_at: null });
    await portal.page.fill('#organisation-name', 'Forms Company');
    await portal.page.click('button:has-text("Finish and open the app")');
    await eventually(async () => (await wizard()).wizard_completed_at).not.toBeNull();
    expect((await wizard()).name).toBe('Forms Company');
    expect(portalWrites).toEqual([`POST /v1/tenants/${tenantId}/onboarding/complete`]);
    expect(portal.errors).toEqual([]);
    await portal.context.close();
  },
  E2E_TIMEOUT_MS,
);
