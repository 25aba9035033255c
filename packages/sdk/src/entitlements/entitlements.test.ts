import { buildApp } from '@tenantry/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backend, startTestApp, type TestApp } from '../../../server/test/harness.ts';
import { act, applyPlans, fixture, provisionedTenant } from '../../../server/test/tenant-support.ts';
import { ControlPlaneClient, ControlPlaneError } from '../control-plane/index.ts';
import { EntitlementsStaleError, TenantNotLoadedError } from './entitlement-errors.ts';
import { Entitlements, type EntitlementsStatus, type SnapshotChange } from './entitlements.ts';

/** Resolves with the first change of `tenantId` that matches. */
function nextChange(
  sdk: Entitlements,
  tenantId: string,
  match: (change: SnapshotChange) => boolean,
): Promise<SnapshotChange> {
  return new Promise((resolve) => {
    const stop = sdk.on('change', (change) => {
      if (change.tenantId === tenantId && match(change)) {
        stop();
        resolve(change);
      }
    });
  });
}

/** Resolves with the next status in `state`. */
function nextStatus(sdk: Entitlements, state: EntitlementsStatus['state']): Promise<EntitlementsStatus> {
  return new Promise((resolve) => {
    const stop = sdk.on('status', (status) => {
      if (status.state === state) {
        stop();
        resolve(status);
      }
    });
  });
}

/** A control plane on a real port over a fresh database, with the test plans applied. */
async function controlPlane(): Promise<{ t: TestApp; url: string; port: number }> {
  const t = await startTestApp();
  await applyPlans(t, fixture('plans.yaml'));
  const url = await t.app.listen({ port: 0, host: '127.0.0.1' });
  return { t, url, port: Number(new URL(url).port) };
}

const client = (url: string, token: string) => new ControlPlaneClient({ url, token });
// Reconnect fast, and revalidate only after a reconnection: what arrives must come by the stream.
const QUICK = { reconnect: { initialDelayMs: 20, maxDelayMs: 200 }, revalidateEveryMs: 3_600_000 };

describe(`Entitlements against a live control plane (${backend})`, () => {
  let cp: Awaited<ReturnType<typeof controlPlane>>;
  let sdk: Entitlements;
  beforeAll(async () => {
    cp = await controlPlane();
    sdk = new Entitlements(client(cp.url, cp.t.token), QUICK);
  });
  afterAll(async () => {
    await sdk.close();
    await cp.t.close();
  });

  it("answers can, limit and config as the server's snapshot says, without a call", async () => {
    const tenant = await provisionedTenant(cp.t, {
      plan: 'pro',
      seats: 3,
      overrides: { config: { retention_days: 30 } },
    });
    const held = await sdk.load(tenant.id);
    const server = await cp.t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
    expect(held).toEqual(server.body);
    expect(sdk.snapshot(tenant.id)).toEqual(server.body);

    expect(sdk.can(tenant.id, 'sso')).toBe(true);
    expect(sdk.can(tenant.id, 'advanced_analytics')).toBe(false);
    expect(sdk.can(tenant.id, 'no_such_feature')).toBe(false);
    expect(sdk.can(tenant.id, 'constructor')).toBe(false);
    expect(sdk.limit(tenant.id, 'meetings')).toEqual(server.body.limits.meetings);
    expect(sdk.limit(tenant.id, 'concurrent_sessions')).toMatchObject({ limit: 15, enforcement: 'hard' });
    expect(sdk.limit(tenant.id, 'no_such_limit')).toBeUndefined();
    expect(sdk.config(tenant.id, 'retention_days')).toBe(30);
    expect(sdk.config(tenant.id, 'no_such_key')).toBeUndefined();
  });

  it('shares one fetch among concurrent loads, and says clearly what is wrong', async () => {
    const tenant = await provisionedTenant(cp.t, { plan: 'starter' });
    const [a, b] = await Promise.all([sdk.load(tenant.id), sdk.load(tenant.id)]);
    expect(a).toBe(b);
    expect(await sdk.load(tenant.id)).toBe(a);

    expect(() => sdk.can('ten_never_loaded', 'sso')).toThrow(TenantNotLoadedError);
    expect(() => sdk.limit('ten_never_loaded', 'meetings')).toThrow(
      /await entitlements.load\("ten_never_loaded"\)/,
    );
    const unknown = await sdk.load('ten_nobody').catch((error: unknown) => error);
    expect(unknown).toBeInstanceOf(ControlPlaneError);
    expect((unknown as ControlPlaneError).code).toBe('tenant_not_found');
    await expect(sdk.load(tenant.slug)).rejects.toThrow(/takes a tenant's id, not its slug/);
  });

  it('gets a plan change and a suspension through the stream', async () => {
    const tenant = await provisionedTenant(cp.t, { plan: 'pro' });
    await sdk.load(tenant.id);
    await sdk.whenLive();
    expect(sdk.status()).toEqual({ state: 'live', staleSince: null, failsClosedAt: null, error: null });
    const announced = new Promise<string>((resolve) => {
      const stop = sdk.on('tenant', (id) => {
        if (id === tenant.id) {
          stop();
          resolve(id);
        }
      });
    });

    const toStarter = nextChange(sdk, tenant.id, (c) => c.snapshot?.plan?.key === 'starter');
    const changed = await cp.t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/change-plan`,
      payload: { plan: 'starter', at: 'now' },
    });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    const change = await toStarter;
    expect(change.previous?.plan?.key).toBe('pro');
    expect(await announced).toBe(tenant.id);
    expect(sdk.can(tenant.id, 'sso')).toBe(false);
    expect(sdk.limit(tenant.id, 'meetings')).toMatchObject({ limit: 100, enforcement: 'hard' });

    const suspended = nextChange(sdk, tenant.id, (c) => c.snapshot?.state === 'suspended');
    expect((await act(cp.t, tenant.id, 'suspend', { reason: 'unpaid' })).status).toBe(200);
    await suspended;
    expect(sdk.snapshot(tenant.id)).toMatchObject({ active: false, reason: 'tenant_suspended' });
    expect(sdk.can(tenant.id, 'sso')).toBe(false);
    const server = await cp.t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
    expect(sdk.snapshot(tenant.id)).toEqual(server.body);
  });
});

describe(`Entitlements and the tenants the stream sends (${backend})`, () => {
  it('sends the snapshot of a tenant held when it connected, a notice of one loaded since, and revalidates that one', async () => {
    const cp = await controlPlane();
    const sdk = new Entitlements(client(cp.url, cp.t.token), QUICK);
    try {
      const [first, later, other] = [
        await provisionedTenant(cp.t, { plan: 'pro' }),
        await provisionedTenant(cp.t, { plan: 'pro' }),
        await provisionedTenant(cp.t, { plan: 'pro' }),
      ];
      await sdk.load(first.id);
      await sdk.whenLive();
      await sdk.load(later.id);
      const announced = new Map<string, unknown>();
      sdk.on('tenant', (id, snapshot) => {
        if (!announced.has(id)) announced.set(id, snapshot === undefined ? 'notice' : snapshot?.plan?.key);
      });
      const changes = [first, later].map((tenant) =>
        nextChange(sdk, tenant.id, (c) => c.snapshot?.plan?.key === 'starter'),
      );
      for (const tenant of [first, later, other]) {
        const changed = await cp.t.request({
          method: 'POST',
          url: `/v1/tenants/${tenant.id}/change-plan`,
          payload: { plan: 'starter', at: 'now' },
        });
        expect(changed.status, JSON.stringify(changed.body)).toBe(200);
      }
      await Promise.all(changes);
      expect(sdk.can(later.id, 'sso')).toBe(false);
      await new Promise<void>((resolve) => {
        if (announced.has(other.id)) resolve();
        else sdk.on('tenant', (id) => id === other.id && resolve());
      });
      expect(Object.fromEntries(announced)).toEqual({
        [first.id]: 'starter',
        [later.id]: 'notice',
        [other.id]: 'notice',
      });
      expect(() => sdk.snapshot(other.id)).toThrow(TenantNotLoadedError);
    } finally {
      await sdk.close();
      await cp.t.close();
    }
  });
});

describe(`Entitlements when the control plane goes away (${backend})`, () => {
  it('catches up by revalidation after the control plane restarts', async () => {
    const { t, url, port } = await controlPlane();
    const sdk = new Entitlements(client(url, t.token), QUICK);
    let restarted: Awaited<ReturnType<typeof buildApp>> | undefined;
    try {
      const [moved, kept] = [
        await provisionedTenant(t, { plan: 'pro' }),
        await provisionedTenant(t, { plan: 'pro' }),
      ];
      await Promise.all([sdk.load(moved.id), sdk.load(kept.id)]);
      await sdk.whenLive();
      const keptBefore = sdk.snapshot(kept.id);

      const stale = nextStatus(sdk, 'stale');
      await t.app.close();
      await stale;

      // Changed while no stream is open: only the revalidation after reconnecting can bring it.
      restarted = await buildApp(t.services, { logger: false });
      const changed = await restarted.inject({
        method: 'POST',
        url: `/v1/tenants/${moved.id}/change-plan`,
        headers: { authorization: `Bearer ${t.token}` },
        payload: { plan: 'starter', at: 'now' },
      });
      expect(changed.statusCode, changed.body).toBe(200);
      const caughtUp = nextChange(sdk, moved.id, (c) => c.snapshot?.plan?.key === 'starter');
      const live = nextStatus(sdk, 'live');
      await restarted.listen({ port, host: '127.0.0.1' });
      await caughtUp;
      await live;
      expect(sdk.can(moved.id, 'sso')).toBe(false);
      // Unchanged snapshots are not sent again.
      expect(sdk.snapshot(kept.id)).toBe(keptBefore);
    } finally {
      await sdk.close();
      await restarted?.close();
      await t.close();
    }
  });

  it('keeps the last snapshots while stale, then fails closed past maxStalenessMs', async () => {
    const { t, url } = await controlPlane();
    let now = Date.parse('2026-11-10T12:00:00Z');
    const sdk = new Entitlements(client(url, t.token), { ...QUICK, maxStalenessMs: 60_000, now: () => now });
    try {
      const tenant = await provisionedTenant(t, { plan: 'pro' });
      await sdk.load(tenant.id);
      await sdk.whenLive();

      const stale = nextStatus(sdk, 'stale');
      const lostAt = now;
      await t.app.close();
      const status = await stale;
      expect(status.staleSince).toEqual(new Date(lostAt));
      expect(status.failsClosedAt).toEqual(new Date(lostAt + 60_000));
      expect(status.error).toEqual(expect.any(String));
      expect(sdk.status().state).toBe('stale');

      now += 59_999;
      expect(sdk.can(tenant.id, 'sso')).toBe(true);
      expect(sdk.config(tenant.id, 'retention_days')).toBe(90);

      now += 1;
      const expired = nextStatus(sdk, 'expired');
      expect(() => sdk.can(tenant.id, 'sso')).toThrow(EntitlementsStaleError);
      expect(() => sdk.limit(tenant.id, 'meetings')).toThrow(EntitlementsStaleError);
      expect(() => sdk.config(tenant.id, 'retention_days')).toThrow(
        /longer than maxStalenessMs \(60000 ms\)/,
      );
      await expect(sdk.consume(tenant.id, 'meetings')).rejects.toThrow(EntitlementsStaleError);
      expect((await expired).staleSince).toEqual(new Date(lostAt));
      expect(sdk.status()).toMatchObject({ state: 'expired', staleSince: new Date(lostAt) });
    } finally {
      await sdk.close();
      await t.close();
    }
  });
});
