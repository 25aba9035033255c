import { MAX_STREAM_TENANTS } from '@tenantry/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backend, otherProcess, startTestApp, type TestApp } from '../../test/harness.ts';
import { act, applyPlans, fixture, provisionedTenant } from '../../test/tenant-support.ts';

interface StreamEvent {
  readonly event: string;
  readonly id: string;
  readonly data: any;
}

/**
 * A test client of the stream: collects events and comments as they arrive, and lets a test wait
 * for the first one that matches.
 */
async function openStream(url: string, token: string, tenants?: string[]) {
  const controller = new AbortController();
  const response = await fetch(`${url}/v1/entitlements/stream`, {
    ...(tenants === undefined
      ? {}
      : {
          method: 'POST',
          body: JSON.stringify({ tenants }),
          headers: { 'content-type': 'application/json' },
        }),
    headers: {
      authorization: `Bearer ${token}`,
      accept: 'text/event-stream',
      ...(tenants === undefined ? {} : { 'content-type': 'application/json' }),
    },
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
  const events: StreamEvent[] = [];
  const comments: string[] = [];
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const waiter of [...waiters]) waiter();
  };
  const body = response.body;
  if (!body) throw new Error('the stream has no body');
  const ended = (async () => {
    const decoder = new TextDecoder();
    let text = '';
    try {
      for await (const chunk of body) {
        text += decoder.decode(chunk, { stream: true });
        let end = text.indexOf('\n\n');
        while (end >= 0) {
          const block = text.slice(0, end);
          text = text.slice(end + 2);
          const fields = new Map<string, string>();
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else {
              const colon = line.indexOf(':');
              fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
            }
          }
          const data = fields.get('data');
          if (data !== undefined) {
            events.push({
              event: fields.get('event') ?? 'message',
              id: fields.get('id') ?? '',
              data: JSON.parse(data),
            });
          }
          end = text.indexOf('\n\n');
        }
        notify();
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    } finally {
      notify();
    }
  })();
  let done = false;
  ended.finally(() => {
    done = true;
  });
  /** Resolves with the first event (from the start) that matches. */
  const next = (match: (event: StreamEvent) => boolean): Promise<StreamEvent> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = events.find(match);
        if (found) {
          waiters.delete(check);
          resolve(found);
        } else if (done) {
          waiters.delete(check);
          reject(new Error(`the stream ended without the event; got ${JSON.stringify(events)}`));
        }
      };
      waiters.add(check);
      check();
    });
  const comment = (text: string): Promise<void> =>
    new Promise((resolve) => {
      const check = () => {
        if (comments.includes(text) || done) {
          waiters.delete(check);
          resolve();
        }
      };
      waiters.add(check);
      check();
    });
  return { events, comments, next, comment, ended, close: () => controller.abort() };
}

const ofTenant =
  (id: string, match: (snapshot: any) => boolean = () => true) =>
  (e: StreamEvent) =>
    e.event === 'entitlements' && e.data.tenant_id === id && match(e.data);

let t: TestApp;
let url: string;
beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t, fixture('plans.yaml'));
  url = await t.app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(() => t.close());

describe(`GET /v1/entitlements/stream (${backend})`, () => {
  it('sends the new snapshot of a tenant whose plan changes, then of one suspended', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    const stream = await openStream(url, t.token);
    try {
      const changed = await t.request({
        method: 'POST',
        url: `/v1/tenants/${tenant.id}/change-plan`,
        payload: { plan: 'pro' },
      });
      expect(changed.status, JSON.stringify(changed.body)).toBe(200);
      const pro = await stream.next(ofTenant(tenant.id, (s) => s.plan?.key === 'pro'));
      const current = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
      expect(pro.data).toEqual(current.body);
      expect(pro.id).toMatch(/^[0-9a-f]+-\d+$/);

      expect((await act(t, tenant.id, 'suspend', { reason: 'unpaid' })).status).toBe(200);
      const suspended = await stream.next(ofTenant(tenant.id, (s) => s.state === 'suspended'));
      expect(suspended.data).toMatchObject({ active: false, reason: 'tenant_suspended', features: {} });
      expect(suspended.id).not.toBe(pro.id);
    } finally {
      stream.close();
    }
  });

  it("sends another process's change, which reaches this one only through the database", async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    const stream = await openStream(url, t.token);
    try {
      const other = otherProcess(t);
      const changed = await other.tenants.changePlan(
        { actor: { type: 'system', id: 'test' }, requestId: null, sourceIp: null },
        tenant.id,
        { plan: 'pro', at: 'now' },
      );
      expect(changed.ok).toBe(true);
      const event = await stream.next(ofTenant(tenant.id));
      expect(event.data.plan).toMatchObject({ key: 'pro' });
    } finally {
      stream.close();
    }
  });

  it('sends a tenant changed many times in one burst once', async () => {
    const [a, b] = [await provisionedTenant(t), await provisionedTenant(t)];
    const stream = await openStream(url, t.token);
    try {
      for (let i = 0; i < 50; i++) t.services.entitlementStream.changed(a.id);
      await stream.next(ofTenant(a.id));
      // b's change comes after the burst, so once b's event is here every event of the burst is too.
      t.services.entitlementStream.changed(b.id);
      await stream.next(ofTenant(b.id));
      expect(stream.events.filter(ofTenant(a.id))).toHaveLength(1);
    } finally {
      stream.close();
    }
  });

  it('sends `removed` for a tenant that no longer exists', async () => {
    const stream = await openStream(url, t.token);
    try {
      t.services.entitlementStream.changed('ten_gone');
      const removed = await stream.next((e) => e.event === 'removed');
      expect(removed.data).toEqual({ tenant_id: 'ten_gone' });
    } finally {
      stream.close();
    }
  });

  it('sends heartbeats, and ends the stream of a key revoked since it opened', async () => {
    const created = await t.request({ method: 'POST', url: '/v1/api-keys', payload: { name: 'app' } });
    expect(created.status).toBe(201);
    const kept = await openStream(url, t.token);
    const revokedStream = await openStream(url, created.body.secret);
    try {
      expect(t.services.entitlementStream.size).toBe(2);
      const revoked = await t.request({ method: 'POST', url: `/v1/api-keys/${created.body.id}/revoke` });
      expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
      await t.services.entitlementStream.heartbeat();
      expect(t.services.entitlementStream.size).toBe(1);
      await revokedStream.ended;
      await kept.comment('heartbeat');
      expect(kept.comments).toContain('heartbeat');
    } finally {
      kept.close();
      revokedStream.close();
    }
  });

  it('naming the tenants held, sends their snapshots and only a notice of any other tenant’s change', async () => {
    const [held, other] = [await provisionedTenant(t, { plan: 'starter' }), await provisionedTenant(t)];
    const named = await openStream(url, t.token, [held.id, 'ten_gone']);
    const every = await openStream(url, t.token);
    try {
      for (const tenant of [other, held]) {
        const changed = await t.request({
          method: 'POST',
          url: `/v1/tenants/${tenant.id}/change-plan`,
          payload: { plan: 'pro', at: 'now' },
        });
        expect(changed.status, JSON.stringify(changed.body)).toBe(200);
      }
      t.services.entitlementStream.changed('ten_gone');
      await named.next((e) => e.event === 'removed' && e.data.tenant_id === 'ten_gone');
      const snapshot = await named.next(ofTenant(held.id, (s) => s.plan?.key === 'pro'));
      const notice = await named.next((e) => e.event === 'changed');
      expect(notice.data).toEqual({ tenant_id: other.id });
      expect(named.events.filter(ofTenant(other.id))).toEqual([]);
      // Every snapshot, and no notice, for a stream that names none.
      const same = await every.next(ofTenant(held.id, (s) => s.plan?.key === 'pro'));
      expect(same.data).toEqual(snapshot.data);
      await every.next(ofTenant(other.id, (s) => s.plan?.key === 'pro'));
      expect(every.events.filter((e) => e.event === 'changed')).toEqual([]);
    } finally {
      named.close();
      every.close();
    }
  });

  it('refuses a list of tenants of the wrong shape, or too long, naming it', async () => {
    for (const [payload, path] of [
      [{ tenants: 'ten_1' }, 'tenants'],
      [{ tenants: [''] }, 'tenants.0'],
      [{ tenants: Array.from({ length: MAX_STREAM_TENANTS + 1 }, (_, i) => `ten_${i}`) }, 'tenants'],
      [{ tenants: [], extra: true }, 'extra'],
    ] as const) {
      const refused = await t.request({
        method: 'POST',
        url: '/v1/entitlements/stream',
        payload,
        headers: { accept: 'text/event-stream' },
      });
      expect(refused.status, JSON.stringify(payload).slice(0, 80)).toBe(400);
      expect(refused.body.code).toBe('validation_failed');
      expect(refused.body.errors.map((e: { path: string }) => e.path)).toEqual([path]);
    }
    expect(t.services.entitlementStream.size).toBe(0);
  });

  it('refuses a caller without a key, or one that does not accept an event stream', async () => {
    const anonymous = await fetch(`${url}/v1/entitlements/stream`, {
      headers: { accept: 'text/event-stream' },
    });
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { code: string }).code).toBe('missing_api_key');
    const json = await t.request({ method: 'GET', url: '/v1/entitlements/stream' });
    expect(json.status).toBe(400);
    expect(json.body.code).toBe('validation_failed');
    expect(json.body.errors.map((e: { path: string }) => e.path)).toEqual(['headers.accept']);
  });
});

describe(`POST /v1/entitlements/revalidate (${backend})`, () => {
  it('answers only the snapshots whose version differs, and the tenants that no longer exist', async () => {
    const [same, changed] = [await provisionedTenant(t), await provisionedTenant(t, { plan: 'starter' })];
    const held = async (id: string) =>
      (await t.request({ method: 'GET', url: `/v1/tenants/${id}/entitlements` })).body.version as string;
    const versions = { [same.id]: await held(same.id), [changed.id]: `"${await held(changed.id)}"` };
    const moved = await t.request({
      method: 'POST',
      url: `/v1/tenants/${changed.id}/change-plan`,
      payload: { plan: 'pro' },
    });
    expect(moved.status).toBe(200);
    const answer = await t.request({
      method: 'POST',
      url: '/v1/entitlements/revalidate',
      payload: { tenants: { ...versions, ten_missing: 'x' } },
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body.missing).toEqual(['ten_missing']);
    expect(answer.body.changed).toHaveLength(1);
    const current = await t.request({ method: 'GET', url: `/v1/tenants/${changed.id}/entitlements` });
    expect(answer.body.changed[0]).toEqual(current.body);
  });

  it('refuses more tenants than one request may name, and wrong shapes', async () => {
    const tenants = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`ten_${i}`, '']));
    const tooMany = await t.request({
      method: 'POST',
      url: '/v1/entitlements/revalidate',
      payload: { tenants },
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.errors.map((e: { path: string }) => e.path)).toEqual(['tenants']);
    const wrong = await t.request({
      method: 'POST',
      url: '/v1/entitlements/revalidate',
      payload: { tenants: { ten_1: 5 }, extra: true },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['extra', 'tenants.ten_1']);
  });
});

describe(`closing the control plane (${backend})`, () => {
  it('ends open streams, so the server can close', async () => {
    const other = await startTestApp();
    try {
      const otherUrl = await other.app.listen({ port: 0, host: '127.0.0.1' });
      const stream = await openStream(otherUrl, other.token);
      await other.app.close();
      await stream.ended;
      expect(other.services.entitlementStream.size).toBe(0);
    } finally {
      await other.close();
    }
  });
});
