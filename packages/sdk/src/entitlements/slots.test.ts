import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backend, startTestApp, type TestApp } from '../../../server/test/harness.ts';
import { applyPlans, fixture, provisionedTenant } from '../../../server/test/tenant-support.ts';
import { ControlPlaneClient, ControlPlaneError } from '../control-plane/index.ts';
import { Entitlements } from './entitlements.ts';

let t: TestApp;
let url: string;
beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t, fixture('slots.yaml'));
  url = await t.app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(() => t.close());

const sdks: Entitlements[] = [];
function sdk(): Entitlements {
  const entitlements = new Entitlements(new ControlPlaneClient({ url, token: t.token }), {
    slots: { ttlSeconds: 10 },
  });
  sdks.push(entitlements);
  return entitlements;
}
afterAll(() => Promise.all(sdks.map((s) => s.close())));

async function level(tenant: string, meter: string): Promise<number> {
  const read = await t.request({ method: 'GET', url: `/v1/tenants/${tenant}/usage?meter=${meter}` });
  return read.body.level;
}

describe(`acquire (${backend})`, () => {
  it('holds slots across SDK instances up to the pool and each subject cap, and release is idempotent', async () => {
    const tenant = await provisionedTenant(t, { plan: 'team' });
    const [a, b] = [sdk(), sdk()];
    const first = await a.acquire(tenant.id, 'sessions', { subject: 'ada' });
    if (!first.allowed) throw new Error(first.detail);
    expect(first.slot).toMatchObject({ tenantId: tenant.id, meter: 'sessions', subject: 'ada', lost: false });
    expect((await b.acquire(tenant.id, 'sessions', { subject: 'ada' })).allowed).toBe(true);
    const capped = await b.acquire(tenant.id, 'sessions', { subject: 'ada' });
    expect(capped).toMatchObject({ allowed: false, reason: 'limit_exhausted', scope: 'subject' });
    if (capped.allowed) return;
    expect(capped.detail).toMatch(/subject "ada"/);
    expect(capped.detail).not.toMatch(/this instance/);
    expect((await a.acquire(tenant.id, 'sessions', { subject: 'bob' })).allowed).toBe(true);
    expect((await b.acquire(tenant.id, 'sessions', { subject: 'cy' })).allowed).toBe(true);
    const pool = await a.acquire(tenant.id, 'sessions', { subject: 'dee' });
    expect(pool).toMatchObject({ allowed: false, reason: 'limit_exhausted', scope: 'tenant' });
    expect(await level(tenant.id, 'sessions')).toBe(4);
    await first.slot.release();
    await first.slot.release();
    expect(await level(tenant.id, 'sessions')).toBe(3);
    expect((await a.acquire(tenant.id, 'sessions', { subject: 'dee' })).allowed).toBe(true);
  });

  it('marks slots lost when the holder lapsed, and takes a new holder for the next acquire', async () => {
    const tenant = await provisionedTenant(t, { plan: 'team' });
    const app = sdk();
    const held = await app.acquire(tenant.id, 'devices');
    if (!held.allowed) throw new Error(held.detail);
    // The control plane's clock moves past the TTL before any heartbeat reaches it.
    t.clock.advance(10_000);
    const next = await app.acquire(tenant.id, 'devices');
    expect(next.allowed).toBe(true);
    expect(held.slot.lost).toBe(true);
    await held.slot.release();
    expect(await level(tenant.id, 'devices')).toBe(1);
  });

  it('refuses a meter whose feature is off without a call, consume() refuses it too, and consume() throws on a gauge', async () => {
    const tenant = await provisionedTenant(t, {
      plan: 'team',
      overrides: { features: { desktops: false } },
    });
    const app = sdk();
    expect(await app.acquire(tenant.id, 'sessions', { subject: 'u' })).toMatchObject({
      allowed: false,
      reason: 'feature_disabled',
      detail: expect.stringMatching(/feature "desktops"/),
    });
    expect(await app.consume(tenant.id, 'exports', 1)).toMatchObject({
      allowed: false,
      reason: 'feature_disabled',
    });
    await expect(app.consume(tenant.id, 'devices', 1)).rejects.toThrow(/acquire\(\)/);
    await expect(app.acquire(tenant.id, 'meetings')).rejects.toBeInstanceOf(ControlPlaneError);
  });

  it('releases every slot on close()', async () => {
    const tenant = await provisionedTenant(t, { plan: 'team' });
    const app = new Entitlements(new ControlPlaneClient({ url, token: t.token }));
    for (let i = 0; i < 3; i++) expect((await app.acquire(tenant.id, 'devices')).allowed).toBe(true);
    expect(await level(tenant.id, 'devices')).toBe(3);
    await app.close();
    expect(await level(tenant.id, 'devices')).toBe(0);
  });
});
