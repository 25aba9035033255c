import {
  AUDIT_ACTIONS,
  type AuditAction,
  type AuditActionSpec,
  EVENT_TYPES,
  type EventType,
} from '@tenantry/core';
import { sql } from 'kysely';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { byoiTenant, dropTestDataPlanes, testDataPlane } from '../../test/data-plane-support.ts';
import { HOSTED_WALK_RECORDS, hostedWalk } from '../../test/hosted-support.ts';
import {
  invoiceEvent,
  STRIPE_WEBHOOK_SECRET,
  type StripeTestApp,
  startStripeTestApp,
} from '../../test/stripe-support.ts';
import { tarGz } from '../../test/support-bundle-support.ts';
import { applyPlans, createTenant, DAY_MS, provisionedTenant } from '../../test/tenant-support.ts';
import { installKey, reportClaims, signReport } from '../../test/usage-report-support.ts';

/*
 * Walks every mutating route of the built app (POST, PUT, PATCH, DELETE) and every job kind
 * registered with the job runner, performs each successfully against a fresh database, and
 * checks that it recorded itself: audit entries under its request id (a job: the actions it is
 * there to record), and, for each entry whose action raises events, its events, written in the
 * same transaction. A route or job without a fixture below fails the test with its name, so a
 * new mutation cannot slip in unrecorded; the exemptions say why each is one.
 */

let t: StripeTestApp;
let counter = 0;

beforeAll(async () => {
  t = await startStripeTestApp();
  await applyPlans(t);
  // Tenant API keys carry permissions of the access file; the walk's own PUT /v1/access then
  // applies a smaller file that still declares walk:read, so that it is a change.
  const access = await t.request({
    method: 'PUT',
    url: '/v1/access',
    payload: { source: 'permissions:\n  walk:read: Walk\n  walk:run: Run\n' },
  });
  expect(access.status, JSON.stringify(access.body)).toBe(200);
});

afterAll(async () => {
  await t.close();
  await dropTestDataPlanes();
});

/**
 * A request of the walk: it must succeed; returns its request id. A Buffer payload is sent as a
 * gzip archive, as support bundles are.
 */
async function send(
  method: string,
  url: string,
  payload?: Record<string, unknown> | Buffer,
): Promise<string> {
  counter += 1;
  const requestId = `walk-${counter}`;
  const response = await t.request({
    method,
    url,
    headers: {
      'x-request-id': requestId,
      ...(Buffer.isBuffer(payload) ? { 'content-type': 'application/gzip' } : {}),
    },
    ...(payload === undefined ? {} : { payload }),
  });
  expect(response.status, `${method} ${url}: ${JSON.stringify(response.body)}`).toBeLessThan(300);
  return requestId;
}

/** A public address, so the URL passes the SSRF check without DNS; nothing is sent in this walk. */
const WEBHOOK_URL = 'https://93.184.216.34/walk';

/** A new webhook endpoint, made outside the fixture's own request. */
async function webhookEndpoint(): Promise<string> {
  const created = await t.request({
    method: 'POST',
    url: '/v1/webhook-endpoints',
    payload: { url: WEBHOOK_URL, event_types: ['tenant.*'] },
  });
  expect(created.status).toBe(201);
  return created.body.id as string;
}

/** A usage report an install of a newly issued license signed, with the license's tenant. */
async function usageReport(installId: string): Promise<{ tenant: string; report: string }> {
  const license = await t.request({ method: 'GET', url: `/v1/licenses/${await issuedLicense()}` });
  expect(license.status).toBe(200);
  const install = await installKey();
  const now = t.clock.now().getTime();
  const iso = (ms: number) => new Date(ms).toISOString();
  const report = await signReport(
    reportClaims({
      install,
      installId,
      license: license.body.token,
      seq: 1,
      previous: null,
      from: iso(now - 3_600_000),
      to: iso(now),
      events: [{ id: `${installId}-1`, meter: 'meetings', value: 1, time: iso(now - 1_800_000) }],
    }),
    install,
  );
  return { tenant: license.body.tenant_id as string, report };
}

/** A tenant's own webhook endpoint (the portal's routes); returns the tenant and the endpoint's ids. */
async function tenantWebhookEndpoint(): Promise<{ tenant: string; endpoint: string }> {
  const tenant = (await activeTenant()).id;
  const created = await t.request({
    method: 'POST',
    url: `/v1/tenants/${tenant}/webhook-endpoints`,
    payload: { url: WEBHOOK_URL, event_types: ['tenant.*'] },
  });
  expect(created.status).toBe(201);
  return { tenant, endpoint: created.body.id as string };
}

/**
 * A failed delivery to `endpoint` of the walk's latest event, written as the fan-out would after
 * the retries ran out; returns its id. Written directly: the fan-out would mark events published,
 * a new row version whose xmin the last check of the walk could no longer pair with its audit entry.
 */
async function failedDelivery(endpoint: string): Promise<string> {
  counter += 1;
  const id = `msg_walk_${counter}`;
  await sql`
    insert into tenantry.webhook_deliveries (id, endpoint_id, event_id, event_type, position, ordered, payload, state)
    select ${id}, ${endpoint}, e.id, e.type, e.position, true, '{}'::jsonb, 'failed'
    from tenantry.domain_events e order by e.position desc limit 1`.execute(t.services.database.db);
  return id;
}

/** A license issued to a new active tenant, under a license key made for it; returns its id. */
async function issuedLicense(): Promise<string> {
  expect((await t.request({ method: 'POST', url: '/v1/license-keys' })).status).toBe(201);
  const issued = await t.request({
    method: 'POST',
    url: `/v1/tenants/${(await activeTenant()).id}/licenses`,
    payload: { days: 30 },
  });
  expect(issued.status).toBe(201);
  return issued.body.id as string;
}

/** A vendor data plane's registration: a role and database of the walk's own on the test server. */
async function dataPlaneBody(): Promise<Record<string, unknown>> {
  counter += 1;
  return { name: `walk-${counter}`, connection: (await testDataPlane('vendor')).connection };
}

/** A vendor data plane, registered outside the fixture's own request. */
async function dataPlane(): Promise<string> {
  const created = await t.request({ method: 'POST', url: '/v1/data-planes', payload: await dataPlaneBody() });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body.id as string;
}

/** An active tenant (Pro has no trial). */
/** Self-serve sign-up open on the walk's plan `pro`. */
const SELF_SERVE = {
  enabled: true,
  plans: ['pro'],
  placements: ['pool'],
  regions: [],
  app_url: null,
  trial_days: 14,
};

const activeTenant = () => provisionedTenant(t, { plan: 'pro', seats: 2 });

/** An agent enrolled for a new tenant, as its hello would enrol it (the protocol's side of the service). */
async function enrolledAgent(): Promise<string> {
  const tenant = await activeTenant();
  const made = await t.request({
    method: 'POST',
    url: `/v1/tenants/${tenant.id}/agent-enrolments`,
    payload: {},
  });
  const enrolled = await t.services.agents.authenticate(
    {
      type: 'hello',
      protocol: 1,
      auth: { kind: 'enrolment', token: made.body.token },
      agent_version: 'walk',
      job_types: ['noop'],
    },
    null,
  );
  if (!enrolled.ok) throw new Error(enrolled.error.message);
  return enrolled.value.agent.id;
}

/** A member of a new active tenant, joined through an invitation made outside the fixture's request. */
async function joinedMember(): Promise<{ tenant: string; id: string }> {
  const tenant = await activeTenant();
  counter += 1;
  const invited = await t.request({
    method: 'POST',
    url: `/v1/tenants/${tenant.id}/invitations`,
    payload: { email: `walk-${counter}@example.com`, role: 'member' },
  });
  expect(invited.status).toBe(201);
  const accepted = await t.request({
    method: 'POST',
    url: '/v1/invitations/accept',
    payload: {
      token: new URL(invited.body.invitation_url).searchParams.get('token'),
      user_id: invited.body.invitation.user_id,
    },
  });
  expect(accepted.status).toBe(200);
  return { tenant: tenant.id, id: accepted.body.id };
}

/** A new active tenant on a plan that allows custom roles, with the role `walk`. */
async function tenantWithRole(): Promise<string> {
  await t.request({
    method: 'POST',
    url: '/v1/plans/apply',
    payload: {
      source:
        'currency: usd\nfeatures:\n  custom_roles: {}\nplans:\n  walk_roles:\n    name: Walk roles\n    features: [custom_roles]\n',
    },
  });
  const tenant = await provisionedTenant(t, { plan: 'walk_roles' });
  const role = await t.request({
    method: 'POST',
    url: `/v1/tenants/${tenant.id}/roles`,
    payload: { key: 'walk', name: 'Walk', permissions: ['audit:read'] },
  });
  expect(role.status).toBe(201);
  return tenant.id as string;
}

/** A tenant API key, made outside the fixture's own request. */
async function tenantKey(): Promise<{ tenant: string; key: string }> {
  const tenant = (await activeTenant()).id as string;
  const created = await t.request({
    method: 'POST',
    url: `/v1/tenants/${tenant}/api-keys`,
    payload: { name: 'walk', permissions: ['walk:read'] },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return { tenant, key: created.body.id };
}

/** A tenant on Pro with its first month invoiced (open), and the invoice sent to Stripe. */
async function invoicedTenant(): Promise<{ tenant: any; invoice: any; stripeInvoiceId: string }> {
  const tenant = await activeTenant();
  t.clock.advance(32 * DAY_MS);
  await send('POST', '/v1/invoices/run', { tenant: tenant.id });
  const listed = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/invoices` });
  const invoice = listed.body.data.find((i: any) => i.object === 'invoice' && i.status === 'open');
  expect(invoice, JSON.stringify(listed.body)).toBeDefined();
  await t.services.jobs.runDue();
  const row = await t.services.database.db
    .selectFrom('stripe_invoices')
    .select('stripe_invoice_id')
    .where('invoice_id', '=', invoice.id)
    .executeTakeFirstOrThrow();
  return { tenant, invoice, stripeInvoiceId: row.stripe_invoice_id };
}

/** Delivers a Stripe webhook as Stripe does, signed, under a request id of the walk. */
async function deliver(event: Record<string, unknown>): Promise<string> {
  counter += 1;
  const requestId = `walk-${counter}`;
  const payload = JSON.stringify(event);
  const response = await t.app.inject({
    method: 'POST',
    url: '/v1/stripe/webhooks',
    headers: {
      'content-type': 'application/json',
      'x-request-id': requestId,
      'stripe-signature': Stripe.webhooks.generateTestHeaderString({
        payload,
        secret: STRIPE_WEBHOOK_SECRET,
        timestamp: Math.floor(t.clock.now().getTime() / 1000),
      }),
    },
    payload,
  });
  expect(response.statusCode, response.body).toBe(200);
  expect(response.json().outcome, response.body).toBe('applied');
  return requestId;
}

/** What a route's fixture does: the route, successfully; it returns the request's id. */
type RouteFixture = () => Promise<string>;

/** The hosted sign-in pages' fixtures, made once the app exists (they read its mailer's log). */
let hosted: ReturnType<typeof hostedWalk> | undefined;
function hostedFixture(route: keyof typeof HOSTED_WALK_RECORDS): RouteFixture {
  return () => {
    hosted ??= hostedWalk(t);
    return hosted[route]();
  };
}

const ROUTES: Record<string, RouteFixture> = {
  ...Object.fromEntries(
    Object.keys(HOSTED_WALK_RECORDS).map((route) => [
      route,
      hostedFixture(route as keyof typeof HOSTED_WALK_RECORDS),
    ]),
  ),
  'POST /v1/api-keys': () => send('POST', '/v1/api-keys', { name: 'walk' }),
  'POST /v1/api-keys/:id/roll': async () => {
    const key = await t.request({ method: 'POST', url: '/v1/api-keys', payload: { name: 'to roll' } });
    return send('POST', `/v1/api-keys/${key.body.id}/roll`, { overlap_seconds: 60 });
  },
  'POST /v1/api-keys/:id/revoke': async () => {
    const key = await t.request({ method: 'POST', url: '/v1/api-keys', payload: { name: 'to revoke' } });
    return send('POST', `/v1/api-keys/${key.body.id}/revoke`);
  },
  'POST /v1/plans/apply': () =>
    send('POST', '/v1/plans/apply', {
      source: `currency: usd\nplans:\n  walk_${counter}:\n    name: Walk\n    prices:\n      - type: flat\n        amount: "1.00"\n`,
    }),
  'POST /v1/tenants': () =>
    send('POST', '/v1/tenants', { slug: `walk-${counter}`, name: 'Walk', plan: 'pro' }),
  'PATCH /v1/tenants/:id': async () =>
    send('PATCH', `/v1/tenants/${(await activeTenant()).id}`, { seats: 3 }),
  'DELETE /v1/tenants/:id': async () => {
    const tenant = await activeTenant();
    await send('POST', `/v1/tenants/${tenant.id}/cancel`);
    return send('DELETE', `/v1/tenants/${tenant.id}`);
  },
  'POST /v1/tenants/:id/change-plan': async () =>
    send('POST', `/v1/tenants/${(await activeTenant()).id}/change-plan`, { plan: 'starter', at: 'now' }),
  'POST /v1/tenants/:id/activate': async () =>
    send('POST', `/v1/tenants/${(await provisionedTenant(t, { plan: 'starter' })).id}/activate`),
  'POST /v1/tenants/:id/suspend': async () =>
    send('POST', `/v1/tenants/${(await activeTenant()).id}/suspend`, { reason: 'walk' }),
  'POST /v1/tenants/:id/resume': async () => {
    const tenant = await activeTenant();
    await send('POST', `/v1/tenants/${tenant.id}/suspend`);
    return send('POST', `/v1/tenants/${tenant.id}/resume`);
  },
  'POST /v1/tenants/:id/cancel': async () => send('POST', `/v1/tenants/${(await activeTenant()).id}/cancel`),
  'POST /v1/tenants/:id/mark-past-due': async () =>
    send('POST', `/v1/tenants/${(await activeTenant()).id}/mark-past-due`),
  'POST /v1/tenants/:id/retry-provisioning': async () => {
    const tenant = await createTenant(t, { plan: 'pro' });
    // Provisioning that failed for good, as its last attempt would leave it.
    await t.services.database.db
      .updateTable('tenants')
      .set({ state: 'provisioning_failed', state_reason: 'walk' })
      .where('id', '=', tenant.id)
      .execute();
    await t.services.database.db
      .deleteFrom('jobs')
      .where('dedupe_key', '=', `provision:${tenant.id}`)
      .execute();
    return send('POST', `/v1/tenants/${tenant.id}/retry-provisioning`);
  },
  'POST /v1/tenants/:id/stripe-customer': async () =>
    send('POST', `/v1/tenants/${(await activeTenant()).id}/stripe-customer`),
  'POST /v1/tenants/:id/events/:event_id/void': async () => {
    const tenant = await activeTenant();
    const event = { tenant: tenant.id, id: `walk-event-${counter}`, meter: 'meetings', time: t.clock.now() };
    const ingested = await t.request({
      method: 'POST',
      url: '/v1/events',
      payload: JSON.stringify([event]),
      headers: { 'content-type': 'application/json' },
    });
    expect(ingested.body.accepted, JSON.stringify(ingested.body)).toBe(1);
    return send('POST', `/v1/tenants/${tenant.id}/events/${event.id}/void`, { reason: 'walk' });
  },
  'POST /v1/tenants/:id/tokens': async () =>
    send('POST', `/v1/tenants/${(await activeTenant()).id}/tokens`, { subject: 'user-1' }),
  'POST /v1/tenants/:id/payment-method': async () =>
    send('POST', `/v1/tenants/${(await activeTenant()).id}/payment-method`, { reference: 'pm_walk' }),
  'DELETE /v1/tenants/:id/payment-method': async () => {
    const tenant = await activeTenant();
    await send('POST', `/v1/tenants/${tenant.id}/payment-method`, { reference: 'pm_walk' });
    return send('DELETE', `/v1/tenants/${tenant.id}/payment-method`);
  },
  'POST /v1/test-clocks': () => send('POST', '/v1/test-clocks', { frozen_time: '2027-01-01T00:00:00Z' }),
  'POST /v1/test-clocks/:id/advance': async () => {
    const clock = await t.request({
      method: 'POST',
      url: '/v1/test-clocks',
      payload: { frozen_time: '2027-01-01T00:00:00Z' },
    });
    return send('POST', `/v1/test-clocks/${clock.body.id}/advance`, { frozen_time: '2027-01-02T00:00:00Z' });
  },
  'DELETE /v1/test-clocks/:id': async () => {
    const clock = await t.request({
      method: 'POST',
      url: '/v1/test-clocks',
      payload: { frozen_time: '2027-01-01T00:00:00Z' },
    });
    await provisionedTenant(t, { plan: 'pro', test_clock: clock.body.id });
    return send('DELETE', `/v1/test-clocks/${clock.body.id}`);
  },
  'POST /v1/signing-keys/rotate': () => send('POST', '/v1/signing-keys/rotate', { reason: 'walk' }),
  'POST /v1/invoices/run': async () => {
    const tenant = await activeTenant();
    t.clock.advance(32 * DAY_MS);
    return send('POST', '/v1/invoices/run', { tenant: tenant.id });
  },
  'POST /v1/invoices/:id/pay': async () =>
    send('POST', `/v1/invoices/${(await invoicedTenant()).invoice.id}/pay`, { reference: 'wire' }),
  'POST /v1/invoices/:id/payment-failed': async () =>
    send('POST', `/v1/invoices/${(await invoicedTenant()).invoice.id}/payment-failed`, {
      reason: 'declined',
    }),
  'POST /v1/invoices/:id/void': async () =>
    send('POST', `/v1/invoices/${(await invoicedTenant()).invoice.id}/void`, { reason: 'walk' }),
  'POST /v1/invoices/:id/mark-uncollectible': async () =>
    send('POST', `/v1/invoices/${(await invoicedTenant()).invoice.id}/mark-uncollectible`, {
      reason: 'walk',
    }),
  'PUT /v1/tenants/:id/secrets/:name': async () =>
    send('PUT', `/v1/tenants/${(await activeTenant()).id}/secrets/walk.key`, { value: 'walk-value' }),
  'POST /v1/data-planes': async () => send('POST', '/v1/data-planes', await dataPlaneBody()),
  'PATCH /v1/data-planes/:id': async () =>
    send('PATCH', `/v1/data-planes/${await dataPlane()}`, { capacity: 10 }),
  'DELETE /v1/data-planes/:id': async () => send('DELETE', `/v1/data-planes/${await dataPlane()}`),
  'PUT /v1/tenants/:id/data-connection': async () =>
    send(
      'PUT',
      `/v1/tenants/${(await byoiTenant(t)).id}/data-connection`,
      (await testDataPlane('customer')).connection,
    ),
  'DELETE /v1/tenants/:id/data-connection': async () => {
    const tenant = await byoiTenant(t);
    const set = await t.request({
      method: 'PUT',
      url: `/v1/tenants/${tenant.id}/data-connection`,
      payload: (await testDataPlane('customer')).connection,
    });
    expect(set.status).toBe(201);
    return send('DELETE', `/v1/tenants/${tenant.id}/data-connection`);
  },
  'DELETE /v1/tenants/:id/secrets/:name': async () => {
    const tenant = await activeTenant();
    await send('PUT', `/v1/tenants/${tenant.id}/secrets/walk.key`, { value: 'walk-value' });
    return send('DELETE', `/v1/tenants/${tenant.id}/secrets/walk.key`);
  },
  'POST /v1/tenants/:id/agent-enrolments': async () =>
    send('POST', `/v1/tenants/${(await activeTenant()).id}/agent-enrolments`, {}),
  'DELETE /v1/agents/:id': async () => send('DELETE', `/v1/agents/${await enrolledAgent()}`),
  'POST /v1/agents/:id/jobs': async () =>
    send('POST', `/v1/agents/${await enrolledAgent()}/jobs`, { type: 'noop', input: {} }),
  'POST /v1/tenants/:id/agent-jobs': async () => {
    const agent = await t.services.agents.get(await enrolledAgent());
    if (!agent.ok) throw new Error('no agent');
    return send('POST', `/v1/tenants/${agent.value.tenant_id}/agent-jobs`, { type: 'noop' });
  },
  'POST /v1/webhook-endpoints': () =>
    send('POST', '/v1/webhook-endpoints', { url: WEBHOOK_URL, event_types: ['tenant.*'] }),
  'PATCH /v1/webhook-endpoints/:id': async () =>
    send('PATCH', `/v1/webhook-endpoints/${await webhookEndpoint()}`, { description: 'walk' }),
  'DELETE /v1/webhook-endpoints/:id': async () =>
    send('DELETE', `/v1/webhook-endpoints/${await webhookEndpoint()}`),
  'POST /v1/oidc-clients': () =>
    send('POST', '/v1/oidc-clients', { name: 'Walk', redirect_uris: ['https://app.example/callback'] }),
  'DELETE /v1/oidc-clients/:id': async () => {
    const created = await t.request({
      method: 'POST',
      url: '/v1/oidc-clients',
      payload: { name: 'Walk', redirect_uris: ['https://app.example/callback'] },
    });
    expect(created.status).toBe(201);
    return send('DELETE', `/v1/oidc-clients/${created.body.id}`);
  },
  'POST /v1/webhook-endpoints/:id/rotate-secret': async () =>
    send('POST', `/v1/webhook-endpoints/${await webhookEndpoint()}/rotate-secret`, {}),
  'POST /v1/webhook-deliveries/:id/replay': async () => {
    const delivery = await failedDelivery(await webhookEndpoint());
    return send('POST', `/v1/webhook-deliveries/${delivery}/replay`);
  },
  'POST /v1/webhook-endpoints/:id/replay': async () => {
    const endpoint = await webhookEndpoint();
    await failedDelivery(endpoint);
    return send('POST', `/v1/webhook-endpoints/${endpoint}/replay`, {
      since: '2000-01-01T00:00:00Z',
      until: '2100-01-01T00:00:00Z',
    });
  },
  'POST /v1/license-keys': () => send('POST', '/v1/license-keys'),
  'POST /v1/license-keys/sign-module': async () => {
    expect((await t.request({ method: 'POST', url: '/v1/license-keys' })).status).toBe(201);
    return send('POST', '/v1/license-keys/sign-module', { module: 'sso.js', sha256: '0'.repeat(64) });
  },
  'POST /v1/tenants/:id/licenses': async () => {
    expect((await t.request({ method: 'POST', url: '/v1/license-keys' })).status).toBe(201);
    const tenant = await activeTenant();
    // A license before, so that the fixture's issue supersedes it.
    expect(
      (await t.request({ method: 'POST', url: `/v1/tenants/${tenant.id}/licenses`, payload: { days: 30 } }))
        .status,
    ).toBe(201);
    return send('POST', `/v1/tenants/${tenant.id}/licenses`, { days: 30 });
  },
  'POST /v1/licenses/:id/revoke': async () =>
    send('POST', `/v1/licenses/${await issuedLicense()}/revoke`, { reason: 'walk' }),
  'POST /v1/licenses/check-in': async () => {
    const license = await t.request({ method: 'GET', url: `/v1/licenses/${await issuedLicense()}` });
    expect(license.status).toBe(200);
    return send('POST', '/v1/licenses/check-in', {
      license: license.body.token,
      install_id: 'walk-install',
      version: '1.0.0',
      seats_in_use: 1,
    });
  },
  'POST /v1/usage-reports': async () =>
    send('POST', '/v1/usage-reports', { report: (await usageReport('walk-install')).report }),
  'POST /v1/tenants/:id/usage-reports': async () => {
    const { tenant, report } = await usageReport('walk-install-tenant');
    return send('POST', `/v1/tenants/${tenant}/usage-reports`, { report });
  },
  'POST /v1/tenants/:id/support-bundles': async () =>
    send('POST', `/v1/tenants/${(await activeTenant()).id}/support-bundles`, tarGz()),
  'DELETE /v1/tenants/:id/support-bundles/:bundle_id': async () => {
    const tenant = await activeTenant();
    const uploaded = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/support-bundles`,
      payload: tarGz(),
      headers: { 'content-type': 'application/gzip' },
    });
    expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);
    return send('DELETE', `/v1/tenants/${tenant.id}/support-bundles/${uploaded.body.id}`);
  },
  'POST /v1/tenants/:id/webhook-endpoints': async () =>
    send('POST', `/v1/tenants/${(await activeTenant()).id}/webhook-endpoints`, {
      url: WEBHOOK_URL,
      event_types: ['tenant.*'],
    }),
  'PATCH /v1/tenants/:id/webhook-endpoints/:endpoint_id': async () => {
    const { tenant, endpoint } = await tenantWebhookEndpoint();
    return send('PATCH', `/v1/tenants/${tenant}/webhook-endpoints/${endpoint}`, { description: 'walk' });
  },
  'DELETE /v1/tenants/:id/webhook-endpoints/:endpoint_id': async () => {
    const { tenant, endpoint } = await tenantWebhookEndpoint();
    return send('DELETE', `/v1/tenants/${tenant}/webhook-endpoints/${endpoint}`);
  },
  'POST /v1/tenants/:id/webhook-endpoints/:endpoint_id/rotate-secret': async () => {
    const { tenant, endpoint } = await tenantWebhookEndpoint();
    return send('POST', `/v1/tenants/${tenant}/webhook-endpoints/${endpoint}/rotate-secret`, {});
  },
  'PUT /v1/access': () => send('PUT', '/v1/access', { source: 'permissions:\n  walk:read: Walk\n' }),
  'POST /v1/migration-runs': async () =>
    send('POST', '/v1/migration-runs', {
      target_version: 3,
      targets: [{ target: 'pool', placement: 'pool' }],
    }),
  // A final stage: the target's end is audited, and, as the run's last, the run's end with it.
  // Intermediate stages are progress, a row update only (docs/app-migrations.md).
  'POST /v1/migration-runs/:id/targets/:target': async () => {
    const tenant = (await activeTenant()).id as string;
    const run = await t.request({
      method: 'POST',
      url: '/v1/migration-runs',
      payload: { target_version: 3, targets: [{ target: tenant, placement: 'schema' }] },
    });
    expect(run.status, JSON.stringify(run.body)).toBe(201);
    return send('POST', `/v1/migration-runs/${run.body.id}/targets/${tenant}`, {
      stage: 'verified',
      version_before: 2,
      version_after: 3,
    });
  },
  'POST /v1/migration-runs/:id/pause': async () => {
    const run = await t.request({
      method: 'POST',
      url: '/v1/migration-runs',
      payload: { target_version: 3, targets: [{ target: 'pool', placement: 'pool' }] },
    });
    expect(run.status, JSON.stringify(run.body)).toBe(201);
    return send('POST', `/v1/migration-runs/${run.body.id}/pause`);
  },
  'POST /v1/migration-runs/:id/resume': async () => {
    const run = await t.request({
      method: 'POST',
      url: '/v1/migration-runs',
      payload: { target_version: 3, targets: [{ target: 'pool', placement: 'pool' }] },
    });
    expect(run.status, JSON.stringify(run.body)).toBe(201);
    const paused = await t.request({ method: 'POST', url: `/v1/migration-runs/${run.body.id}/pause` });
    expect(paused.status, JSON.stringify(paused.body)).toBe(200);
    return send('POST', `/v1/migration-runs/${run.body.id}/resume`);
  },
  // A failed target of a run still going (its pool target pending) is set pending again.
  'POST /v1/migration-runs/:id/targets/:target/retry': async () => {
    const tenant = (await activeTenant()).id as string;
    const run = await t.request({
      method: 'POST',
      url: '/v1/migration-runs',
      payload: {
        target_version: 3,
        targets: [
          { target: tenant, placement: 'schema' },
          { target: 'pool', placement: 'pool' },
        ],
      },
    });
    expect(run.status, JSON.stringify(run.body)).toBe(201);
    const failed = await t.request({
      method: 'POST',
      url: `/v1/migration-runs/${run.body.id}/targets/${tenant}`,
      payload: { stage: 'failed', error: { code: 'migration_failed', message: 'x', migration: null } },
    });
    expect(failed.status, JSON.stringify(failed.body)).toBe(200);
    return send('POST', `/v1/migration-runs/${run.body.id}/targets/${tenant}/retry`);
  },
  'POST /v1/tenants/:id/invitations': async () =>
    send('POST', `/v1/tenants/${(await activeTenant()).id}/invitations`, {
      email: 'walk-invited@example.com',
      role: 'viewer',
    }),
  'DELETE /v1/tenants/:id/invitations/:invitation': async () => {
    const tenant = await activeTenant();
    const invited = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/invitations`,
      payload: { email: 'walk-revoked@example.com', role: 'viewer' },
    });
    return send('DELETE', `/v1/tenants/${tenant.id}/invitations/${invited.body.invitation.id}`);
  },
  'POST /v1/invitations/accept': async () => {
    const tenant = await activeTenant();
    const invited = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/invitations`,
      payload: { email: 'walk-accepting@example.com', role: 'viewer' },
    });
    return send('POST', '/v1/invitations/accept', {
      token: new URL(invited.body.invitation_url).searchParams.get('token'),
      user_id: invited.body.invitation.user_id,
    });
  },
  'PATCH /v1/tenants/:id/members/:member': async () => {
    const member = await joinedMember();
    return send('PATCH', `/v1/tenants/${member.tenant}/members/${member.id}`, { role: 'viewer' });
  },
  'DELETE /v1/tenants/:id/members/:member': async () => {
    const member = await joinedMember();
    return send('DELETE', `/v1/tenants/${member.tenant}/members/${member.id}`);
  },
  'POST /v1/tenants/:id/roles': async () => {
    const tenant = await tenantWithRole();
    return send('POST', `/v1/tenants/${tenant}/roles`, {
      key: 'walk_two',
      name: 'Walk two',
      permissions: [],
    });
  },
  'PATCH /v1/tenants/:id/roles/:key': async () =>
    send('PATCH', `/v1/tenants/${await tenantWithRole()}/roles/walk`, { name: 'Walked' }),
  'DELETE /v1/tenants/:id/roles/:key': async () =>
    send('DELETE', `/v1/tenants/${await tenantWithRole()}/roles/walk`),
  'PUT /v1/tenants/:id/access-policy': async () =>
    send('PUT', `/v1/tenants/${(await activeTenant()).id}/access-policy`, { mfa_required: true }),
  'POST /v1/staff': () => send('POST', '/v1/staff', { email: 'walk-staff@example.com', role: 'support' }),
  'PUT /v1/settings/self-serve': () => send('PUT', '/v1/settings/self-serve', SELF_SERVE),
  'PUT /v1/settings/branding': () =>
    send('PUT', '/v1/settings/branding', { product_name: 'Walk', color: '#1f4fd8', logo: null }),
  'POST /v1/tenants/:id/onboarding/complete': async () => {
    // A verified user's trial, as the hosted sign-up page starts it.
    await t.request({ method: 'PUT', url: '/v1/settings/self-serve', payload: SELF_SERVE });
    counter += 1;
    const userId = `usr_walk${String(counter).padStart(22, '0')}`;
    const email = `walk-trial-${counter}@example.com`;
    await t.services.database.db
      .insertInto('users')
      .values({ id: userId, email, email_key: email, name: null, email_verified_at: new Date() })
      .execute();
    const trial = await t.services.selfServe.startTrial(
      { actor: { type: 'user', id: userId }, requestId: `walk-trial-${counter}`, sourceIp: null },
      userId,
      { name: 'Walk trial', plan: 'pro' },
    );
    if (!trial.ok) throw new Error(JSON.stringify(trial.error));
    return send('POST', `/v1/tenants/${trial.value.tenantId}/onboarding/complete`, { name: 'Walked' });
  },
  'DELETE /v1/staff/:user_id': async () => {
    const added = await t.request({
      method: 'POST',
      url: '/v1/staff',
      payload: { email: 'walk-leaving@example.com', role: 'finance' },
    });
    return send('DELETE', `/v1/staff/${added.body.user_id}`);
  },
  'POST /v1/tenants/:id/api-keys': async () =>
    send('POST', `/v1/tenants/${(await activeTenant()).id}/api-keys`, {
      name: 'walk',
      permissions: ['walk:read'],
    }),
  'POST /v1/tenants/:id/api-keys/:key_id/roll': async () => {
    const { tenant, key } = await tenantKey();
    return send('POST', `/v1/tenants/${tenant}/api-keys/${key}/roll`, { overlap_seconds: 60 });
  },
  'POST /v1/tenants/:id/api-keys/:key_id/revoke': async () => {
    const { tenant, key } = await tenantKey();
    return send('POST', `/v1/tenants/${tenant}/api-keys/${key}/revoke`);
  },
  'POST /v1/stripe/webhooks': async () => {
    const { stripeInvoiceId } = await invoicedTenant();
    return deliver(invoiceEvent(t.fake, 'invoice.paid', stripeInvoiceId));
  },
};

/** The actions each route's fixture must record (others may come with them). */
const RECORDS: Record<string, readonly AuditAction[]> = {
  ...HOSTED_WALK_RECORDS,
  'POST /v1/api-keys': ['api_key.created'],
  'POST /v1/api-keys/:id/roll': ['api_key.rolled', 'api_key.created'],
  'POST /v1/api-keys/:id/revoke': ['api_key.revoked'],
  'POST /v1/plans/apply': ['plan.created'],
  'POST /v1/tenants': ['tenant.created'],
  'PATCH /v1/tenants/:id': ['tenant.updated'],
  'DELETE /v1/tenants/:id': ['tenant.deleted'],
  'POST /v1/tenants/:id/change-plan': ['tenant.plan_changed'],
  'POST /v1/tenants/:id/activate': ['tenant.activated'],
  'POST /v1/tenants/:id/suspend': ['tenant.suspended'],
  'POST /v1/tenants/:id/resume': ['tenant.resumed'],
  'POST /v1/tenants/:id/cancel': ['tenant.cancelled'],
  'POST /v1/tenants/:id/mark-past-due': ['tenant.marked_past_due'],
  'POST /v1/tenants/:id/retry-provisioning': ['tenant.provisioning_retried'],
  'POST /v1/tenants/:id/stripe-customer': ['tenant.stripe_customer_created'],
  'POST /v1/tenants/:id/events/:event_id/void': ['usage_event.voided'],
  'POST /v1/tenants/:id/tokens': ['access_token.minted'],
  'POST /v1/tenants/:id/payment-method': ['payment_method.attached'],
  'DELETE /v1/tenants/:id/payment-method': ['payment_method.removed'],
  'POST /v1/test-clocks': ['test_clock.created'],
  'POST /v1/test-clocks/:id/advance': ['test_clock.advanced'],
  'DELETE /v1/test-clocks/:id': ['test_clock.deleted', 'tenant.cancelled', 'tenant.deleted'],
  'POST /v1/signing-keys/rotate': ['signing_key.rotated', 'signing_key.created'],
  'POST /v1/invoices/run': ['invoice.finalized'],
  'POST /v1/invoices/:id/pay': ['invoice.paid'],
  'POST /v1/invoices/:id/payment-failed': [
    'invoice.payment_failed',
    'dunning.started',
    'tenant.marked_past_due',
  ],
  'POST /v1/invoices/:id/void': ['invoice.voided', 'credit_note.issued'],
  'POST /v1/invoices/:id/mark-uncollectible': ['invoice.marked_uncollectible'],
  'POST /v1/data-planes': ['data_plane.registered'],
  'PATCH /v1/data-planes/:id': ['data_plane.updated'],
  'DELETE /v1/data-planes/:id': ['data_plane.retired'],
  'PUT /v1/tenants/:id/data-connection': ['data_connection.set'],
  'DELETE /v1/tenants/:id/data-connection': ['data_connection.removed'],
  'PUT /v1/tenants/:id/secrets/:name': ['tenant_secret.set'],
  'DELETE /v1/tenants/:id/secrets/:name': ['tenant_secret.deleted'],
  'POST /v1/tenants/:id/agent-enrolments': ['agent_enrolment.created'],
  'DELETE /v1/agents/:id': ['agent.revoked'],
  'POST /v1/agents/:id/jobs': ['agent_job.queued'],
  'POST /v1/tenants/:id/agent-jobs': ['agent_job.queued'],
  'POST /v1/webhook-endpoints': ['webhook_endpoint.created'],
  'PATCH /v1/webhook-endpoints/:id': ['webhook_endpoint.updated'],
  'DELETE /v1/webhook-endpoints/:id': ['webhook_endpoint.deleted'],
  'POST /v1/oidc-clients': ['oidc_client.created'],
  'DELETE /v1/oidc-clients/:id': ['oidc_client.deleted'],
  'POST /v1/webhook-endpoints/:id/rotate-secret': ['webhook_endpoint.secret_rotated'],
  'POST /v1/webhook-deliveries/:id/replay': ['webhook_delivery.replayed'],
  'POST /v1/webhook-endpoints/:id/replay': ['webhook_delivery.replayed'],
  'POST /v1/license-keys': ['license_key.created'],
  'POST /v1/license-keys/sign-module': ['license_key.module_signed'],
  'POST /v1/tenants/:id/licenses': ['license.issued', 'license.superseded'],
  'POST /v1/licenses/:id/revoke': ['license.revoked'],
  'POST /v1/licenses/check-in': ['license.checked_in'],
  'POST /v1/usage-reports': ['usage_report.imported'],
  'POST /v1/tenants/:id/usage-reports': ['usage_report.imported'],
  'POST /v1/tenants/:id/support-bundles': ['support_bundle.uploaded'],
  'DELETE /v1/tenants/:id/support-bundles/:bundle_id': ['support_bundle.deleted'],
  'POST /v1/tenants/:id/webhook-endpoints': ['webhook_endpoint.created'],
  'PATCH /v1/tenants/:id/webhook-endpoints/:endpoint_id': ['webhook_endpoint.updated'],
  'DELETE /v1/tenants/:id/webhook-endpoints/:endpoint_id': ['webhook_endpoint.deleted'],
  'POST /v1/tenants/:id/webhook-endpoints/:endpoint_id/rotate-secret': ['webhook_endpoint.secret_rotated'],
  'PUT /v1/access': ['access.applied'],
  'POST /v1/migration-runs': ['migration_run.created'],
  'POST /v1/migration-runs/:id/targets/:target': ['migration_run.target_finished', 'migration_run.finished'],
  'POST /v1/migration-runs/:id/pause': ['migration_run.paused'],
  'POST /v1/migration-runs/:id/resume': ['migration_run.resumed'],
  'POST /v1/migration-runs/:id/targets/:target/retry': ['migration_run.target_retried'],
  'POST /v1/tenants/:id/invitations': ['member.invited'],
  'DELETE /v1/tenants/:id/invitations/:invitation': ['member.invitation_revoked'],
  'POST /v1/invitations/accept': ['member.joined'],
  'PATCH /v1/tenants/:id/members/:member': ['member.role_changed'],
  'DELETE /v1/tenants/:id/members/:member': ['member.removed'],
  'POST /v1/tenants/:id/roles': ['role.created'],
  'PATCH /v1/tenants/:id/roles/:key': ['role.updated'],
  'DELETE /v1/tenants/:id/roles/:key': ['role.deleted'],
  'PUT /v1/tenants/:id/access-policy': ['access_policy.updated'],
  'POST /v1/staff': ['staff.added'],
  'PUT /v1/settings/self-serve': ['settings.updated'],
  'PUT /v1/settings/branding': ['settings.updated'],
  'POST /v1/tenants/:id/onboarding/complete': ['signup.wizard_completed'],
  'DELETE /v1/staff/:user_id': ['staff.removed'],
  'POST /v1/stripe/webhooks': ['invoice.paid'],
  'POST /v1/tenants/:id/api-keys': ['tenant_key.created'],
  'POST /v1/tenants/:id/api-keys/:key_id/roll': ['tenant_key.rolled', 'tenant_key.created'],
  'POST /v1/tenants/:id/api-keys/:key_id/revoke': ['tenant_key.revoked'],
};

/**
 * Mutating routes that record no change, and why. Usage is the one kind of change the recorder
 * only announces (see announceUsage): the vendor's metered data, thousands of times a second,
 * kept in its own tables by idempotent id. The rest change nothing.
 */
const EXEMPT: Record<string, string> = {
  'POST /v1/events': 'usage ingestion: usage events are stored by idempotent id and announced, not audited',
  'POST /v1/tenants/:id/leases': 'usage: a quota lease reserves metered units; its consumption is usage',
  'POST /v1/tenants/:id/leases/:lease_id/renew': 'usage: reports units a lease consumed',
  'POST /v1/tenants/:id/leases/:lease_id/release': 'usage: reports a lease’s last units and returns the rest',
  'POST /v1/slot-holders': 'usage: an app instance that holds gauge slots, renewed by heartbeats',
  'POST /v1/slot-holders/:holder_id/heartbeat': 'usage: keeps a holder’s slots alive',
  'DELETE /v1/slot-holders/:holder_id': 'usage: an instance going away releases its slots',
  'POST /v1/tenants/:id/slots': 'usage: one unit of a gauge (a session) held open',
  'DELETE /v1/tenants/:id/slots/:slot_id': 'usage: a gauge unit released',
  'POST /v1/tenants/:id/rate-limit-shares':
    'operational state: an instance’s share of a rate limit, renewed every few seconds (docs/rate-limits.md)',
  'POST /v1/tenants/:id/rate-limit-shares/release':
    'operational state: an instance gives its rate-limit share back',
  'POST /v1/tenants/:id/change-plan/preview':
    'a read: a plan change previewed in a transaction rolled back (plan-change-preview.test.ts shows no row changes)',
  'POST /v1/entitlements/stream': 'a read: POST only to carry the tenants to follow in a body',
  'POST /v1/entitlements/revalidate': 'a read: POST only to carry the snapshots held in a body',
  'POST /v1/tenant-keys/sets/revalidate': 'a read: POST only to carry the key-set versions held in a body',
  'POST /v1/tenant-keys/used':
    'use, not a change: apps report when tenant keys were verified, for last_used_at (as an operator key’s last use)',
  // `/oidc/*`, which Fastify's route tree prints as its wildcard alone.
  'POST *':
    "the OpenID provider's protocol (token, revocation, resumed authorization): its codes, grants and sessions are the protocol's short-lived state; each access token it issues is audited (access_token.issued), as each refresh it refuses (refresh_token.refused), which oidc-flow.test.ts shows",
  'POST /oidc/interaction/:uid/organization':
    "the organisation picker's answer, handed back to the provider as the interaction's result (protocol state); the token it leads to is audited when issued",
};

/** What a job's fixture does: sets up its work, runs the due jobs, and names the actions it records. */
interface JobFixture {
  readonly setup: () => Promise<void>;
  readonly records: readonly AuditAction[];
}

const JOBS: Record<string, JobFixture> = {
  // The audit log's own upkeep: a checkpoint signs chain heads into audit_checkpoints (append-only
  // and signed itself), and a prune records `audit.pruned` only when a retention removes entries,
  // which audit-jobs.test.ts shows; here they must run and record nothing unregistered.
  'audit.checkpoint': {
    setup: () => t.services.audit.schedule(),
    records: [],
  },
  'audit.prune': {
    // Daily: the checkpoint's fixture may have run today's already.
    setup: async () => {
      await t.services.audit.schedule();
      t.clock.advance(DAY_MS);
    },
    records: [],
  },
  'tenant.provision': {
    setup: async () => {
      await createTenant(t, { plan: 'pro' });
    },
    records: ['tenant.provisioned'],
  },
  'tenant.purge': {
    setup: async () => {
      const tenant = await activeTenant();
      await send('POST', `/v1/tenants/${tenant.id}/cancel`);
      await send('DELETE', `/v1/tenants/${tenant.id}`);
      t.clock.advance(31 * DAY_MS);
    },
    records: ['tenant.purged'],
  },
  'tenant.scheduled_plan_change': {
    setup: async () => {
      const tenant = await activeTenant();
      await send('POST', `/v1/tenants/${tenant.id}/change-plan`, { plan: 'starter', at: 'period_end' });
      t.clock.advance(32 * DAY_MS);
    },
    records: ['tenant.plan_changed'],
  },
  'trials.sweep': {
    setup: async () => {
      await provisionedTenant(t, { plan: 'starter' });
      await t.services.trials.schedule();
      t.clock.advance(15 * DAY_MS);
    },
    records: ['tenant.activated'],
  },
  'dunning.retry': {
    setup: async () => {
      const { invoice } = await invoicedTenant();
      await send('POST', `/v1/invoices/${invoice.id}/payment-failed`, { reason: 'declined' });
      t.clock.advance(DAY_MS + 60_000);
    },
    records: ['invoice.payment_retry_requested'],
  },
  'dunning.suspend': {
    setup: async () => {
      const { invoice } = await invoicedTenant();
      await send('POST', `/v1/invoices/${invoice.id}/payment-failed`, { reason: 'declined' });
      t.clock.advance(8 * DAY_MS);
    },
    records: ['tenant.suspended'],
  },
  'billing.invoice_run': {
    setup: async () => {
      await activeTenant();
      await t.services.invoices.ensureScheduled();
      t.clock.advance(32 * DAY_MS);
    },
    records: ['invoice.finalized'],
  },
  'stripe.sync_invoice': {
    setup: async () => {
      const tenant = await activeTenant();
      t.clock.advance(32 * DAY_MS);
      await send('POST', '/v1/invoices/run', { tenant: tenant.id });
    },
    records: ['invoice.sent_to_stripe'],
  },
  'stripe.void_invoice': {
    setup: async () => {
      const { invoice } = await invoicedTenant();
      await send('POST', `/v1/invoices/${invoice.id}/void`, { reason: 'walk' });
    },
    records: ['invoice.voided_in_stripe'],
  },
  'test_clocks.advance': {
    setup: async () => {
      const clock = await t.request({
        method: 'POST',
        url: '/v1/test-clocks',
        payload: { frozen_time: '2027-01-01T00:00:00Z' },
      });
      await send('POST', `/v1/test-clocks/${clock.body.id}/advance`, { frozen_time: '2027-01-03T00:00:00Z' });
    },
    records: ['test_clock.ready'],
  },
};

/** The mutating routes of the built app, as `METHOD /path`, from Fastify's own route tree. */
async function mutatingRoutes(): Promise<string[]> {
  await t.app.ready();
  const tree = t.app.printRoutes({ commonPrefix: false });
  const found: string[] = [];
  const paths: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:[│ ] {3})*)[├└]── (\S+)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = (match[1] ?? '').length / 4;
    paths.length = depth;
    const path = `${paths[depth - 1] ?? ''}${match[2]}`;
    paths[depth] = path;
    for (const method of (match[3] ?? '').split(', ')) {
      if (['POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) found.push(`${method} ${path}`);
    }
  }
  return found;
}

interface Row {
  readonly id: string;
  readonly tx: string;
  readonly action?: string;
  readonly type?: string;
  readonly data: Record<string, unknown>;
  readonly version?: number;
}

/** The audit entries and events written under a request id, with the transaction of each. */
async function recordedUnder(requestId: string): Promise<{ audit: Row[]; events: Row[] }> {
  const db = t.services.database.db;
  const audit = await db
    .selectFrom('audit_events')
    .select(['id', 'action', 'data', sql<string>`xmin::text`.as('tx')])
    .where('request_id', '=', requestId)
    .execute();
  const events = await db
    .selectFrom('domain_events')
    .select(['id', 'type', 'data', 'version', sql<string>`xmin::text`.as('tx')])
    .where('request_id', '=', requestId)
    .execute();
  return { audit: audit as Row[], events: events as Row[] };
}

/**
 * What must hold of the rows one change wrote: every audit entry's action is registered, and each
 * whose action raises events has one of them in its transaction; every event has an audit entry
 * in its transaction, the version of its type, and a payload its schema takes, with no member the
 * schema does not document.
 */
function expectConsistent(what: string, audit: readonly Row[], events: readonly Row[]): void {
  for (const entry of audit) {
    const spec = AUDIT_ACTIONS[entry.action as AuditAction] as AuditActionSpec | undefined;
    expect(spec, `${what}: ${entry.action} is registered`).toBeDefined();
    if (spec === undefined || spec.raises.length === 0) continue;
    const raised = events.filter((e) => e.tx === entry.tx).map((e) => e.type);
    expect(
      raised.some((type) => spec.raises.includes(type as EventType)),
      `${what}: ${entry.action} raised one of ${spec.raises.join(', ')} in its transaction, not ${raised.join(', ')}`,
    ).toBe(true);
  }
  for (const event of events) {
    expect(
      audit.some((entry) => entry.tx === event.tx),
      `${what}: ${event.type} has an audit entry in its transaction`,
    ).toBe(true);
    const spec = EVENT_TYPES[event.type as EventType];
    expect(spec, `${what}: ${event.type} is registered`).toBeDefined();
    expect(event.version, `${what}: ${event.type}'s version`).toBe(spec.version);
    const parsed = spec.payload.strict().safeParse(event.data);
    expect(
      parsed.error?.issues ?? [],
      `${what}: ${event.type}'s payload ${JSON.stringify(event.data)}`,
    ).toEqual([]);
  }
}

describe('every mutation is recorded', () => {
  it('has a fixture or a reason for every mutating route, and none for a route that is gone', async () => {
    const routes = await mutatingRoutes();
    expect(routes).toContain('POST /v1/tenants/:id/suspend');
    expect(routes).toContain('POST /v1/invoices/:id/payment-failed');
    const covered = new Set([...Object.keys(ROUTES), ...Object.keys(EXEMPT)]);
    expect(
      routes.filter((route) => !covered.has(route)),
      'routes without a fixture',
    ).toEqual([]);
    expect(
      [...covered].filter((route) => !routes.includes(route)),
      'fixtures of no route',
    ).toEqual([]);
    expect(Object.keys(ROUTES).filter((route) => route in EXEMPT)).toEqual([]);
  });

  it('has a fixture for every job kind, and none for a kind that is gone', () => {
    const kinds = t.services.jobs.kinds();
    expect(
      kinds.filter((kind) => !(kind in JOBS)),
      'job kinds without a fixture',
    ).toEqual([]);
    expect(
      Object.keys(JOBS).filter((kind) => !kinds.includes(kind)),
      'fixtures of no job kind',
    ).toEqual([]);
  });

  it('names what each route records', () => {
    expect(Object.keys(RECORDS).sort()).toEqual(Object.keys(ROUTES).sort());
  });

  for (const [route, fixture] of Object.entries(ROUTES)) {
    it(`${route} records its change: audit entries and their events, in one transaction`, async () => {
      const requestId = await fixture();
      const { audit, events } = await recordedUnder(requestId);
      expect(audit.length, `${route} wrote no audit entry`).toBeGreaterThan(0);
      for (const action of RECORDS[route] ?? []) {
        expect(
          audit.map((row) => row.action),
          `${route} records ${action}`,
        ).toContain(action);
      }
      expectConsistent(route, audit, events);
    });
  }

  for (const [kind, fixture] of Object.entries(JOBS)) {
    // A safety net, not a measure: the clock advances a month over every tenant the fixtures above
    // made, so runDue() runs the billing of each of them (30 s was reached on a loaded machine).
    it(`the job ${kind} records its change`, { timeout: 180_000 }, async () => {
      await fixture.setup();
      const db = t.services.database.db;
      const seen = new Set((await db.selectFrom('audit_events').select('id').execute()).map((r) => r.id));
      const succeeded = async () =>
        Number(
          (
            await db
              .selectFrom('jobs')
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .where('kind', '=', kind)
              .where('status', '=', 'succeeded')
              .executeTakeFirstOrThrow()
          ).n,
        );
      const before = await succeeded();
      await t.services.jobs.runDue();
      const failures = await db
        .selectFrom('jobs')
        .select('last_error')
        .where('kind', '=', kind)
        .where('last_error', 'is not', null)
        .execute();
      expect(await succeeded(), `${kind} ran (${JSON.stringify(failures)})`).toBeGreaterThan(before);
      const audit = (
        await db
          .selectFrom('audit_events')
          .select(['id', 'action', 'actor_type', 'data', sql<string>`xmin::text`.as('tx')])
          .execute()
      ).filter((row) => !seen.has(row.id));
      for (const action of fixture.records) {
        expect(
          audit.filter((row) => row.actor_type === 'system').map((row) => row.action),
          `${kind} records ${action}`,
        ).toContain(action);
      }
      const txs = [...new Set(audit.map((row) => row.tx))];
      const events = await db
        .selectFrom('domain_events')
        .select(['id', 'type', 'data', 'version', sql<string>`xmin::text`.as('tx')])
        .where(sql<boolean>`xmin::text = any(${txs}::text[])`)
        .execute();
      expectConsistent(kind, audit as Row[], events as Row[]);
    });
  }

  it('left no event without its audit entry, anywhere in the walk', async () => {
    const orphans = await sql<{ type: string }>`
      select e.type from domain_events e
      where not exists (select 1 from audit_events a where a.xmin = e.xmin)`.execute(t.services.database.db);
    expect(orphans.rows).toEqual([]);
  });
});
