import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from 'vitest';
import { applyBillingPlans, billedTenant, runInvoices, setClock } from '../../test/billing-support.ts';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import {
  act,
  applyPlans,
  auditCount,
  createTenant,
  fixture,
  provisionedTenant,
  query,
} from '../../test/tenant-support.ts';
import { startReceiver } from '../../test/webhook-receiver.ts';
import type { Resolve } from './url-guard.ts';
import { RETRY_SCHEDULE_MS } from './webhook-service.ts';

let t: TestApp;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
/** What `rebind.example` resolves to: public when the endpoint is made, changed by a test. */
let rebindTo = '93.184.216.34';
const resolve: Resolve = async (host) => {
  if (host === 'rebind.example') return [{ address: rebindTo, family: 4 }];
  if (host === 'localhost') return [{ address: '127.0.0.1', family: 4 }];
  return [{ address: '93.184.216.34', family: 4 }];
};

beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(() => receiver.close());
beforeEach(async () => {
  rebindTo = '93.184.216.34';
  receiver.received.length = 0;
  receiver.behaviours.clear();
  // The server's own timeout (15 s), so that a healthy receiver on a loaded machine (CI runs four
  // test files on two cores) is never cut off; the test of a receiver that never answers starts
  // its own app with a short one.
  t = await startTestApp({ webhooks: { resolve, allowedHosts: ['127.0.0.1'] } });
  await applyPlans(t);
});
afterEach(() => t.close());

/** Fans out and delivers until there is nothing left to do now. */
async function drain(): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const fanned = await t.services.webhooks.fanOut();
    const sent = await t.services.webhooks.deliverDue();
    if (fanned === 0 && sent === 0) return;
  }
  throw new Error('webhooks did not settle in 50 rounds');
}

async function endpoint(path: string, event_types: string[], extra: Record<string, unknown> = {}) {
  const created = await t.request({
    method: 'POST',
    url: '/v1/webhook-endpoints',
    payload: { url: receiver.url(path), event_types, ...extra },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  receiver.secrets.add(created.body.secret);
  return created.body;
}

async function deliveriesOf(id: string) {
  const log = await t.request({ method: 'GET', url: `/v1/webhook-endpoints/${id}/deliveries?limit=100` });
  expect(log.status).toBe(200);
  return log.body.data as any[];
}

test.each([
  [{ url: 'ftp://example.com/in', event_types: ['tenant.*'] }, 'url', /http or https/],
  [{ url: 'http://10.0.0.8/in', event_types: ['tenant.*'] }, 'url', /10\.0\.0\.8.*private/],
  [{ url: 'http://169.254.169.254/latest', event_types: ['tenant.*'] }, 'url', /169\.254\.169\.254/],
  [{ url: 'http://[::ffff:127.0.0.2]/in', event_types: ['tenant.*'] }, 'url', /::ffff:7f00:2/],
  [{ url: 'http://localhost:9/in', event_types: ['tenant.*'] }, 'url', /127\.0\.0\.1/],
  [
    { url: 'https://hooks.example.com/in', event_types: ['tenant.exploded'] },
    'event_types.0',
    /tenant\.exploded/,
  ],
  [{ url: 'https://hooks.example.com/in', event_types: ['nothing.*'] }, 'event_types.0', /nothing\.\*/],
])('%j is refused with a problem naming %s, and nothing is written', async (payload, path, message) => {
  const before = await auditCount(t);
  const refused = await t.request({ method: 'POST', url: '/v1/webhook-endpoints', payload });
  expect(refused.status).toBe(400);
  expect(refused.body.code).toBe('validation_failed');
  expect(refused.body.errors).toEqual([{ path, message: expect.stringMatching(message) }]);
  expect(await query(t, 'select id from tenantry.webhook_endpoints')).toEqual([]);
  expect(await auditCount(t)).toBe(before);
});

test('each kind of change is delivered once per subscribed endpoint, signed so that standardwebhooks verifies it', async () => {
  // The harness's own key was created before: its event is fanned out to no endpoint.
  await drain();
  const operator = await endpoint('/operator', ['tenant.*', 'subscription.*', 'key.*', 'invoice.*']);
  const tenant = await provisionedTenant(t);
  await drain();
  const own = await endpoint('/tenant', ['tenant.*'], { tenant_id: tenant.id });
  const other = await createTenant(t);
  expect((await act(t, tenant.id, 'suspend', { reason: 'test' })).status).toBe(200);
  const key = await t.request({
    method: 'POST',
    url: '/v1/api-keys',
    payload: { name: 'ci', scopes: ['usage:read'] },
  });
  expect(key.status).toBe(201);
  await drain();

  expect(receiver.received.every((r) => r.verified !== null)).toBe(true);
  const seen = (path: string) =>
    receiver.received
      .filter((r) => r.path === path)
      .map((r) => `${r.verified?.type} ${r.verified?.tenant_id}`);
  // The tenant endpoint was made after `tenant`'s earlier events were fanned out: it sees only
  // what came later, and only its tenant's.
  expect(seen('/tenant')).toEqual([`tenant.suspended ${tenant.id}`]);
  expect(seen('/operator').sort()).toEqual(
    [
      `tenant.created ${tenant.id}`,
      `subscription.created ${tenant.id}`,
      `tenant.provisioned ${tenant.id}`,
      `tenant.created ${other.id}`,
      `subscription.created ${other.id}`,
      `tenant.suspended ${tenant.id}`,
      'key.created null',
    ].sort(),
  );
  // Exactly once: every webhook-id arrived once.
  const ids = receiver.received.map((r) => r.headers['webhook-id']);
  expect(new Set(ids).size).toBe(ids.length);
  const log = await deliveriesOf(own.id);
  expect(log).toEqual([
    expect.objectContaining({
      event_type: 'tenant.suspended',
      state: 'succeeded',
      attempt_count: 1,
      last_status: 204,
    }),
  ]);
  expect(log[0].attempts[0]).toEqual({
    at: expect.any(String),
    status: 204,
    latency_ms: expect.any(Number),
    error: null,
  });
  expect((await deliveriesOf(operator.id)).every((d) => d.state === 'succeeded')).toBe(true);
});

test('a receiver that fails is retried after the backoff, and succeeds', async () => {
  let calls = 0;
  receiver.behaviours.set('/flaky', (_r, res) => {
    calls += 1;
    res.writeHead(calls === 1 ? 503 : 200).end();
  });
  const hook = await endpoint('/flaky', ['tenant.created']);
  await createTenant(t);
  await drain();
  let [delivery] = await deliveriesOf(hook.id);
  expect(delivery).toMatchObject({ state: 'pending', attempt_count: 1, last_status: 503 });
  expect(delivery.last_error).toMatch(/503/);
  // The first retry waits 2.5 to 5 seconds.
  t.clock.advance(5_001);
  await drain();
  [delivery] = await deliveriesOf(hook.id);
  expect(delivery).toMatchObject({ state: 'succeeded', attempt_count: 2, last_status: 200 });
  expect(receiver.received.map((r) => r.headers['webhook-id'])).toEqual([delivery.id, delivery.id]);
});

test('a receiver that does not answer in time fails the attempt', async () => {
  await t.close();
  t = await startTestApp({ webhooks: { resolve, allowedHosts: ['127.0.0.1'], timeoutMs: 300 } });
  await applyPlans(t);
  receiver.behaviours.set('/slow', () => {
    // Never answers; the deliverer's timeout (300 ms here) gives up.
  });
  const slow = await endpoint('/slow', ['tenant.created']);
  await createTenant(t);
  await drain();
  const [timedOut] = await deliveriesOf(slow.id);
  expect(timedOut).toMatchObject({
    state: 'pending',
    last_status: null,
    last_error: 'the receiver did not answer in time',
  });
});

test('a receiver that redirects fails the attempt, and the redirect is not followed', async () => {
  receiver.behaviours.set('/moved', (_r, res) =>
    res.writeHead(302, { location: receiver.url('/elsewhere') }).end(),
  );
  const moved = await endpoint('/moved', ['tenant.created']);
  await createTenant(t);
  await drain();
  const [redirected] = await deliveriesOf(moved.id);
  expect(redirected).toMatchObject({ state: 'pending', last_status: 302 });
  expect(receiver.received.some((r) => r.path === '/elsewhere')).toBe(false);
});

test('410 Gone disables the endpoint at once and tells the operator with webhook_endpoint.disabled', async () => {
  receiver.behaviours.set('/gone', (_r, res) => res.writeHead(410).end());
  const operator = await endpoint('/operator', ['webhook_endpoint.*']);
  const tenant = await provisionedTenant(t);
  await drain();
  const gone = await endpoint('/gone', ['tenant.*'], { tenant_id: tenant.id });
  await act(t, tenant.id, 'suspend', { reason: 'test' });
  await drain();
  const shown = await t.request({ method: 'GET', url: `/v1/webhook-endpoints/${gone.id}` });
  expect(shown.body).toMatchObject({ status: 'disabled', disabled_reason: expect.stringMatching(/410/) });
  const [failed] = await deliveriesOf(gone.id);
  expect(failed).toMatchObject({ state: 'failed', last_status: 410 });
  const told = receiver.received.filter((r) => r.path === '/operator').map((r) => r.verified);
  expect(told).toEqual([
    expect.objectContaining({
      type: 'webhook_endpoint.disabled',
      tenant_id: tenant.id,
      data: { url: gone.url, reason: 'gone', last_status: 410, last_error: 'the receiver answered 410' },
    }),
  ]);
  expect((await deliveriesOf(operator.id)).map((d) => d.state)).toEqual(['succeeded']);
});

test('a name that resolved to a public address when saved but to loopback at delivery is refused then (DNS rebinding)', async () => {
  const created = await t.request({
    method: 'POST',
    url: '/v1/webhook-endpoints',
    payload: { url: 'http://rebind.example/in', event_types: ['tenant.created'] },
  });
  expect(created.status).toBe(201);
  rebindTo = '127.0.0.1';
  await createTenant(t);
  await drain();
  const [delivery] = await deliveriesOf(created.body.id);
  expect(delivery).toMatchObject({ state: 'pending', last_status: null });
  expect(delivery.last_error).toMatch(/refused: the URL resolves to 127\.0\.0\.1/);
  expect(receiver.received).toEqual([]);
});

test('while a secret rotates both sign; a receiver with only the old or only the new one verifies', async () => {
  const hook = await endpoint('/rotating', ['tenant.created']);
  const rotated = await t.request({
    method: 'POST',
    url: `/v1/webhook-endpoints/${hook.id}/rotate-secret`,
    payload: {},
  });
  expect(rotated.status).toBe(201);
  expect(rotated.body.secret).toMatch(/^whsec_/);
  expect(rotated.body.secret).not.toBe(hook.secret);
  await createTenant(t);
  await drain();
  const [got] = receiver.received;
  expect(String(got?.headers['webhook-signature']).split(' ')).toHaveLength(2);
  const { Webhook } = await import('standardwebhooks');
  for (const secret of [hook.secret, rotated.body.secret])
    expect(new Webhook(secret).verify(got?.body ?? '', got?.headers as Record<string, string>)).toMatchObject(
      {
        type: 'tenant.created',
      },
    );
  const audit = await query(
    t,
    "select action from tenantry.audit_events where action like 'webhook_endpoint.%' order by id",
  );
  expect(audit.map((a) => a.action)).toEqual(['webhook_endpoint.created', 'webhook_endpoint.secret_rotated']);
});

test('a delivery, or a time range of them, can be replayed with the same webhook-id', async () => {
  const hook = await endpoint('/replayed', ['tenant.created']);
  await createTenant(t);
  await createTenant(t);
  await drain();
  const log = await deliveriesOf(hook.id);
  expect(log).toHaveLength(2);
  const one = await t.request({ method: 'POST', url: `/v1/webhook-deliveries/${log[0].id}/replay` });
  expect(one.status).toBe(200);
  expect(one.body).toMatchObject({ state: 'pending', attempt_count: 0 });
  await drain();
  const range = await t.request({
    method: 'POST',
    url: `/v1/webhook-endpoints/${hook.id}/replay`,
    payload: { since: '2000-01-01T00:00:00Z', until: '2100-01-01T00:00:00Z' },
  });
  expect(range.body).toEqual({ replayed: 2 });
  await drain();
  const ids = receiver.received.map((r) => r.headers['webhook-id']);
  expect(ids.filter((id) => id === log[0].id)).toHaveLength(3);
  expect(ids.filter((id) => id === log[1].id)).toHaveLength(2);
  const missing = await t.request({ method: 'POST', url: '/v1/webhook-deliveries/msg_nope/replay' });
  expect(missing.status).toBe(404);
  expect(missing.body.code).toBe('webhook_delivery_not_found');
});

test("a tenant's lifecycle events reach an endpoint in order: a later one waits while an earlier one is pending", async () => {
  let failFirst = true;
  receiver.behaviours.set('/ordered', (r, res) => {
    const first = failFirst && r.verified?.type === 'tenant.created';
    if (first) failFirst = false;
    res.writeHead(first ? 500 : 200).end();
  });
  await endpoint('/ordered', ['tenant.*']);
  const tenant = await provisionedTenant(t);
  await act(t, tenant.id, 'suspend', { reason: 'test' });
  await drain();
  // tenant.provisioned and tenant.suspended wait behind the failed tenant.created.
  expect(receiver.received.map((r) => r.verified?.type)).toEqual(['tenant.created']);
  t.clock.advance(5_001);
  await drain();
  expect(receiver.received.map((r) => r.verified?.type)).toEqual([
    'tenant.created',
    'tenant.created',
    'tenant.provisioned',
    'tenant.suspended',
  ]);
});

test('endpoints can be listed, changed and deleted, each change audited', async () => {
  const hook = await endpoint('/crud', ['tenant.*']);
  const patched = await t.request({
    method: 'PATCH',
    url: `/v1/webhook-endpoints/${hook.id}`,
    payload: { event_types: ['invoice.*'], status: 'disabled' },
  });
  expect(patched.body).toMatchObject({
    event_types: ['invoice.*'],
    status: 'disabled',
    disabled_reason: 'disabled by request',
  });
  const bad = await t.request({
    method: 'PATCH',
    url: `/v1/webhook-endpoints/${hook.id}`,
    payload: { url: 'gopher://x' },
  });
  expect(bad.status).toBe(400);
  const listed = await t.request({ method: 'GET', url: '/v1/webhook-endpoints' });
  expect(listed.body).toEqual({
    data: [expect.objectContaining({ id: hook.id, url: hook.url })],
    next_cursor: null,
  });
  expect(listed.body.data[0]).not.toHaveProperty('secret');
  expect((await t.request({ method: 'DELETE', url: `/v1/webhook-endpoints/${hook.id}` })).status).toBe(200);
  expect((await t.request({ method: 'GET', url: `/v1/webhook-endpoints/${hook.id}` })).body.code).toBe(
    'webhook_endpoint_not_found',
  );
  const audit = await query(
    t,
    "select action from tenantry.audit_events where action like 'webhook_endpoint.%' order by id",
  );
  expect(audit.map((a) => a.action)).toEqual([
    'webhook_endpoint.created',
    'webhook_endpoint.updated',
    'webhook_endpoint.deleted',
  ]);
  const stored = await query(t, 'select to_jsonb(a)::text as entry from tenantry.audit_events a');
  expect(JSON.stringify(stored)).not.toContain(hook.secret);
});

test('an endpoint whose every delivery fails through the whole schedule is disabled, and its owner told', async () => {
  receiver.behaviours.set('/down', (_r, res) => res.writeHead(500).end());
  const operator = await endpoint('/operator', ['webhook_endpoint.disabled']);
  const down = await endpoint('/down', ['tenant.created']);
  await createTenant(t);
  await drain();
  // Each wait is at most its step of the schedule: advancing by the step always makes it due.
  for (const wait of RETRY_SCHEDULE_MS) {
    t.clock.advance(wait + 1);
    await drain();
  }
  const [delivery] = await deliveriesOf(down.id);
  expect(delivery).toMatchObject({
    state: 'failed',
    attempt_count: RETRY_SCHEDULE_MS.length + 1,
    last_status: 500,
  });
  expect(delivery.attempts).toHaveLength(RETRY_SCHEDULE_MS.length + 1);
  const shown = await t.request({ method: 'GET', url: `/v1/webhook-endpoints/${down.id}` });
  expect(shown.body).toMatchObject({ status: 'disabled', disabled_reason: expect.stringMatching(/3 days/) });
  expect(receiver.received.filter((r) => r.path === '/operator').map((r) => r.verified?.data)).toEqual([
    { url: down.url, reason: 'failing', last_status: 500, last_error: 'the receiver answered 500' },
  ]);
  expect((await deliveriesOf(operator.id)).map((d) => d.state)).toEqual(['succeeded']);
});

test('an invoice finalized by the invoice run is delivered once', async () => {
  await drain();
  const hook = await endpoint('/billing', ['invoice.*']);
  await applyBillingPlans(t);
  setClock(t, '2026-11-01T00:00:00Z');
  const billed = await billedTenant(t, { plan: 'starter' });
  setClock(t, '2026-12-01T00:00:00Z');
  await runInvoices(t, { tenant: billed.id });
  await drain();
  const got = receiver.received.filter((r) => r.path === '/billing').map((r) => r.verified);
  expect(got.map((p) => `${p?.type} ${p?.tenant_id}`)).toEqual([`invoice.finalized ${billed.id}`]);
  expect((await deliveriesOf(hook.id)).map((d) => d.state)).toEqual(['succeeded']);
});

test('a usage threshold reached is delivered once', async () => {
  await drain();
  const hook = await endpoint('/usage', ['usage.threshold_reached']);
  await applyPlans(t, fixture('quotas.yaml'));
  const metered = await provisionedTenant(t, { plan: 'starter' });
  const time = t.clock.now().toISOString();
  const batch = Array.from({ length: 80 }, (_, i) => ({
    id: `m-${i}`,
    tenant: metered.id,
    meter: 'meetings',
    time,
  }));
  expect((await t.services.usage.ingest.ingest(batch, 'tenantry')).accepted).toBe(80);
  await t.services.usage.thresholds.drain();
  await drain();
  const got = receiver.received.filter((r) => r.path === '/usage').map((r) => r.verified);
  expect(got.map((p) => `${p?.type} ${p?.tenant_id}`)).toEqual([`usage.threshold_reached ${metered.id}`]);
  expect(got[0]?.data).toMatchObject({ meter: 'meetings', threshold: 80, used: 80 });
  expect((await deliveriesOf(hook.id)).map((d) => d.state)).toEqual(['succeeded']);
});

test("the OpenAPI document's webhooks give each event type its versioned payload schema", async () => {
  const doc = await t.request({ method: 'GET', url: '/docs/json' });
  expect(doc.status).toBe(200);
  const { EVENT_TYPES } = await import('@tenantry/core');
  expect(Object.keys(doc.body.webhooks)).toEqual(Object.keys(EVENT_TYPES));
  const suspended = doc.body.webhooks['tenant.suspended'].post;
  const schema = suspended.requestBody.content['application/json'].schema;
  expect(schema.properties.version).toEqual({ const: 1 });
  expect(schema.properties.data.required).toEqual(['from', 'to']);
  expect(suspended.parameters.map((p: { name: string }) => p.name)).toEqual([
    'webhook-id',
    'webhook-timestamp',
    'webhook-signature',
  ]);
});
