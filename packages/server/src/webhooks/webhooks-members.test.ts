// A tenant's admins subscribe to their own tenant's events with their user token
// (`/v1/tenants/{id}/webhook-endpoints…`, tenant-admin permission webhooks:write). Attacks: another
// tenant's path, another tenant's endpoint and an operator endpoint under one's own path, the
// operator's routes, a role without the permission, no token; and what is delivered to a
// tenant's endpoint is that tenant's events only.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { memberAuthorization } from '../../test/member-support.ts';
import { applyPlans, provisionedTenant } from '../../test/tenant-support.ts';
import { startReceiver } from '../../test/webhook-receiver.ts';
import type { Resolve } from './url-guard.ts';

let t: TestApp;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
const resolve: Resolve = async () => [{ address: '93.184.216.34', family: 4 }];

beforeAll(async () => {
  receiver = await startReceiver();
  // No receiver here is slow on purpose: a short timeout would only fail a healthy one on a loaded machine.
  t = await startTestApp({ webhooks: { resolve, allowedHosts: ['127.0.0.1'], timeoutMs: 10_000 } });
  await applyPlans(t);
});
afterAll(async () => {
  await t.close();
  await receiver.close();
});

/** Fans out and delivers until there is nothing left to do now. */
async function drain(): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const fanned = await t.services.webhooks.fanOut();
    const sent = await t.services.webhooks.deliverDue();
    if (fanned === 0 && sent === 0) return;
  }
  throw new Error('webhooks did not settle in 50 rounds');
}

/** Two tenants, each with an admin's and a viewer's token; an operator endpoint and one of B's. */
async function setting() {
  const a = await provisionedTenant(t);
  const b = await provisionedTenant(t);
  const adminA = await memberAuthorization(t, a.id, 'admin');
  const viewerA = await memberAuthorization(t, a.id, 'viewer');
  const operator = await t.request({
    method: 'POST',
    url: '/v1/webhook-endpoints',
    payload: { url: receiver.url('/operator'), event_types: ['*'] },
  });
  expect(operator.status, JSON.stringify(operator.body)).toBe(201);
  const ofB = await t.request({
    method: 'POST',
    url: `/v1/tenants/${b.slug}/webhook-endpoints`,
    payload: { url: receiver.url('/b'), event_types: ['tenant.*'] },
  });
  expect(ofB.status, JSON.stringify(ofB.body)).toBe(201);
  expect(ofB.body.tenant_id).toBe(b.id);
  return { a, b, adminA, viewerA, operator: operator.body, ofB: ofB.body };
}

describe("a tenant's own webhook endpoints", () => {
  test("an admin makes, lists, changes, rotates and deletes their tenant's endpoints, and receives its events only", async () => {
    const { a, b, adminA } = await setting();
    const base = `/v1/tenants/${a.id}/webhook-endpoints`;
    const created = await t.request({
      method: 'POST',
      url: base,
      payload: { url: receiver.url('/a'), event_types: ['tenant.*'], description: 'ours' },
      headers: adminA,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ tenant_id: a.id, description: 'ours', status: 'enabled' });
    expect(created.body.secret).toMatch(/^whsec_/);
    receiver.secrets.add(created.body.secret);
    const id = created.body.id;
    // The list is the tenant's own: not B's, not the operator's.
    const listed = await t.request({ method: 'GET', url: base, headers: adminA });
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((e: { id: string }) => e.id)).toEqual([id]);
    const patched = await t.request({
      method: 'PATCH',
      url: `${base}/${id}`,
      payload: { description: 'changed' },
      headers: adminA,
    });
    expect(patched.body).toMatchObject({ id, description: 'changed' });
    const rotated = await t.request({
      method: 'POST',
      url: `${base}/${id}/rotate-secret`,
      payload: { overlap_seconds: 0 },
      headers: adminA,
    });
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(201);
    receiver.secrets.add(rotated.body.secret);
    // Its events reach it; the other tenant's do not.
    receiver.received.length = 0;
    for (const tenant of [a, b]) {
      const suspended = await t.request({
        method: 'POST',
        url: `/v1/tenants/${tenant.id}/suspend`,
        payload: {},
      });
      expect(suspended.status).toBe(200);
    }
    await drain();
    // (What was not fanned out yet when the endpoint was made goes to it too: A's own events.)
    const toA = receiver.received
      .filter((r) => r.path === '/a')
      .map((r) => JSON.parse(r.body) as { type: string; tenant_id: string });
    expect(new Set(toA.map((event) => event.tenant_id))).toEqual(new Set([a.id]));
    expect(toA.map((event) => event.type)).toContain('tenant.suspended');
    expect(receiver.received.filter((r) => r.path === '/b').length).toBeGreaterThan(0);
    const resumed = await t.request({ method: 'POST', url: `/v1/tenants/${a.id}/resume`, payload: {} });
    expect(resumed.status).toBe(200);
    const deliveries = await t.request({ method: 'GET', url: `${base}/${id}/deliveries`, headers: adminA });
    expect(deliveries.status).toBe(200);
    // Deliveries made by one fan-out (A's earlier events with its suspension) share their time, so
    // their order among themselves is not given: the suspension is among them, all to this endpoint.
    const delivered = deliveries.body.data as { endpoint_id: string; event_type: string }[];
    expect(delivered.map((delivery) => delivery.event_type)).toContain('tenant.suspended');
    expect(new Set(delivered.map((delivery) => delivery.endpoint_id))).toEqual(new Set([id]));
    const deleted = await t.request({ method: 'DELETE', url: `${base}/${id}`, headers: adminA });
    expect(deleted.body).toMatchObject({ id });
    // Each change is in the tenant's audit chain, by the member.
    const audit = await t.request({
      method: 'GET',
      url: `/v1/tenants/${a.id}/audit?target_id=${id}&order=chain`,
    });
    expect(audit.body.data.map((e: { action: string }) => e.action)).toEqual([
      'webhook_endpoint.created',
      'webhook_endpoint.updated',
      'webhook_endpoint.secret_rotated',
      'webhook_endpoint.deleted',
    ]);
    expect(audit.body.data[0].actor.type).toBe('user');
  });

  test("a member of A cannot see or make B's endpoints, nor reach B's or the operator's through A's path", async () => {
    const { a, b, adminA, operator, ofB } = await setting();
    const requests = [
      { method: 'GET' as const, url: `/v1/tenants/${b.id}/webhook-endpoints` },
      {
        method: 'POST' as const,
        url: `/v1/tenants/${b.slug}/webhook-endpoints`,
        payload: { url: receiver.url('/stolen'), event_types: ['*'] },
      },
      { method: 'DELETE' as const, url: `/v1/tenants/${b.id}/webhook-endpoints/${ofB.id}` },
    ];
    for (const request of requests) {
      const refused = await t.request({ ...request, headers: adminA });
      expect(refused.status, `${request.method} ${request.url}`).toBe(403);
      expect(refused.body).toMatchObject({ code: 'insufficient_permission' });
    }
    // Under A's own path, B's endpoint and the operator's are not found, as missing ones are.
    for (const other of [ofB.id, operator.id]) {
      const base = `/v1/tenants/${a.id}/webhook-endpoints/${other}`;
      for (const request of [
        { method: 'PATCH' as const, url: base, payload: { url: receiver.url('/stolen') } },
        { method: 'DELETE' as const, url: base },
        { method: 'POST' as const, url: `${base}/rotate-secret`, payload: {} },
        { method: 'GET' as const, url: `${base}/deliveries` },
      ]) {
        const refused = await t.request({ ...request, headers: adminA });
        expect(refused.status, `${request.method} ${request.url}`).toBe(404);
        expect(refused.body.code).toBe('webhook_endpoint_not_found');
      }
    }
    const intact = await t.request({ method: 'GET', url: `/v1/webhook-endpoints/${ofB.id}` });
    expect(intact.body).toMatchObject({ url: ofB.url, tenant_id: b.id });
    // The operator's routes take no member's token, whatever the body or query names.
    for (const request of [
      { method: 'GET' as const, url: `/v1/webhook-endpoints?tenant_id=${a.id}` },
      {
        method: 'POST' as const,
        url: '/v1/webhook-endpoints',
        payload: { url: receiver.url('/everything'), event_types: ['*'], tenant_id: a.id },
      },
      { method: 'GET' as const, url: `/v1/webhook-endpoints/${operator.id}` },
    ]) {
      const refused = await t.request({ ...request, headers: adminA });
      expect(refused.status, `${request.method} ${request.url}`).toBe(403);
      expect(refused.body.code).toBe('insufficient_permission');
    }
  });

  test('a role without webhooks:write, and no token, are refused', async () => {
    const { a, viewerA } = await setting();
    const url = `/v1/tenants/${a.id}/webhook-endpoints`;
    const payload = { url: receiver.url('/viewer'), event_types: ['tenant.*'] };
    for (const request of [
      { method: 'GET' as const, url },
      { method: 'POST' as const, url, payload },
    ]) {
      const refused = await t.request({ ...request, headers: viewerA });
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({
        code: 'insufficient_permission',
        required_permission: 'webhooks:write',
      });
      const anonymous = await t.request({ ...request, headers: { authorization: '' } });
      expect(anonymous.status).toBe(401);
    }
    const listed = await t.request({ method: 'GET', url });
    expect(listed.body.data).toEqual([]);
  });
});
