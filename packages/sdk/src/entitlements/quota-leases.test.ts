import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backend, startTestApp, type TestApp } from '../../../server/test/harness.ts';
import { act, applyPlans, fixture, provisionedTenant } from '../../../server/test/tenant-support.ts';
import { ControlPlaneClient } from '../control-plane/index.ts';
import { Entitlements, type EntitlementsOptions } from './entitlements.ts';
import type { ConsumeResult } from './quota-leases.ts';

let t: TestApp;
let url: string;
beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t, fixture('quotas.yaml'));
  url = await t.app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(() => t.close());

let instances = 0;

/**
 * An app instance: its own SDK, recording one usage event per unit it is allowed (through the
 * SDK's `recordUsage` hook, or itself once `consume()` answers), and storing them (as the usage
 * recorder's flush would) when the SDK asks before its leases report them consumed.
 */
function appInstance(tenantId: string, options: EntitlementsOptions = {}, hook = false) {
  const name = `app-${++instances}`;
  const client = new ControlPlaneClient({ url, token: t.token });
  const pending: object[] = [];
  let events = 0;
  let allowed = 0;
  let flushing = Promise.resolve();
  const flushUsage = () => {
    flushing = flushing.then(async () => {
      const batch = pending.splice(0);
      if (batch.length === 0) return;
      const stored = await client.request<{ accepted: number }>('POST', '/v1/events', { body: batch });
      expect(stored.body.accepted).toBe(batch.length);
    });
    return flushing;
  };
  const record = (units: number) => {
    const time = t.clock.now().toISOString();
    for (let i = 0; i < units; i++) {
      pending.push({ id: `${name}-${++events}`, tenant: tenantId, meter: 'meetings', time });
    }
  };
  const sdk = new Entitlements(client, {
    ...options,
    leases: {
      instanceId: name,
      flushUsage,
      ...(hook ? { recordUsage: (_tenant: string, _meter: string, units: number) => record(units) } : {}),
      ...options.leases,
    },
  });
  return {
    sdk,
    get allowed() {
      return allowed;
    },
    async consume(units: number): Promise<ConsumeResult> {
      const answer = await sdk.consume(tenantId, 'meetings', units);
      if (answer.allowed) {
        allowed += units;
        if (!hook) record(units);
      }
      return answer;
    },
  };
}

async function leases(tenantId: string) {
  return t.services.database.db
    .selectFrom('usage_leases')
    .select([
      sql<string>`count(*)`.as('leases'),
      sql<string>`coalesce(sum(granted), 0)`.as('granted'),
      sql<string>`coalesce(sum(consumed), 0)`.as('consumed'),
      sql<string>`count(*) filter (where released_at is null)`.as('open'),
    ])
    .where('tenant_id', '=', tenantId)
    .executeTakeFirstOrThrow()
    .then((row) => ({
      leases: Number(row.leases),
      granted: Number(row.granted),
      consumed: Number(row.consumed),
      open: Number(row.open),
    }));
}

/** What a new lease of the whole limit gets now: the units neither used nor held by a lease. */
async function available(tenantId: string, limit: number): Promise<number> {
  const last = await t.request({
    method: 'POST',
    url: `/v1/tenants/${tenantId}/leases`,
    payload: { meter: 'meetings', units: limit, instance_id: 'sweeper' },
  });
  // Nothing left is a refusal naming the meter, not a lease of 0.
  if (last.status === 409) {
    expect(last.body).toMatchObject({ code: 'limit_exhausted', meter: 'meetings', limit });
    return 0;
  }
  expect(last.status, JSON.stringify(last.body)).toBe(201);
  return last.body.granted;
}

describe(`consume (${backend})`, () => {
  it('never lets 8 concurrent SDK instances pass one hard limit, and returns the unused units at close', async () => {
    const LIMIT = 300;
    const tenant = await provisionedTenant(t, {
      plan: 'team',
      overrides: { limits: { meetings: { value: LIMIT } } },
    });
    // Half record through the SDK's hook, half by themselves once consume() answers.
    const apps = Array.from({ length: 8 }, (_, n) =>
      appInstance(tenant.id, { leases: { units: 12 } }, n % 2 === 0),
    );
    let total = 0;
    const refusals = await Promise.all(
      apps.map(async (app, n) => {
        // Each spends 1 to 3 units at a time until it is refused.
        for (let i = 0; ; i++) {
          const units = 1 + ((i + n) % 3);
          const answer = await app.consume(units);
          if (!answer.allowed) return answer;
          expect(answer.overage).toBe(false);
          total += units;
          // Checked as it goes: past the limit, a broken lease would otherwise never refuse.
          expect(total).toBeLessThanOrEqual(LIMIT);
        }
      }),
    );
    for (const refusal of refusals)
      expect(refusal).toMatchObject({ allowed: false, reason: 'limit_exhausted' });
    const allowed = apps.reduce((sum, app) => sum + app.allowed, 0);
    expect(allowed).toBe(total);
    expect(allowed).toBeGreaterThan(0);
    expect(allowed).toBeLessThanOrEqual(LIMIT);

    const before = await leases(tenant.id);
    expect(before.open).toBeGreaterThan(0);
    await Promise.all(apps.map((app) => app.sdk.close()));
    const after = await leases(tenant.id);
    expect(after.open).toBe(0);
    // Everything granted was consumed or handed back, and what was consumed is what was allowed.
    expect(after.consumed).toBe(allowed);
    const usage = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/usage?meter=meetings` });
    expect(usage.body.total).toBe(allowed);
    expect(await available(tenant.id, LIMIT)).toBe(LIMIT - allowed);
  });

  it('refuses past a hard limit, with the reason', async () => {
    const tenant = await provisionedTenant(t, {
      plan: 'starter',
      overrides: { limits: { meetings: { value: 3 } } },
    });
    const app = appInstance(tenant.id);
    try {
      for (let i = 0; i < 3; i++) expect(await app.consume(1)).toEqual({ allowed: true, overage: false });
      const refused = await app.consume(1);
      expect(refused).toMatchObject({ allowed: false, reason: 'limit_exhausted' });
      expect(refused.allowed ? '' : refused.detail).toContain('"meetings"');
      expect(refused.allowed ? '' : refused.detail).toMatch(/across every instance/);
      expect(refused.allowed ? '' : refused.detail).not.toMatch(/this instance/);
    } finally {
      await app.sdk.close();
    }
    expect(await available(tenant.id, 3)).toBe(0);
  });

  it('allows use past a soft limit, marked as overage from the first unit past it', async () => {
    const tenant = await provisionedTenant(t, {
      plan: 'pro',
      overrides: { limits: { meetings: { value: 5 } } },
    });
    const app = appInstance(tenant.id);
    try {
      const answers: ConsumeResult[] = [];
      for (let i = 0; i < 7; i++) answers.push(await app.consume(1));
      expect(answers.map((a) => a.allowed && a.overage)).toEqual([
        false,
        false,
        false,
        false,
        false,
        true,
        true,
      ]);
    } finally {
      await app.sdk.close();
    }
  });

  it('needs no lease for an unlimited meter', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    const sdk = new Entitlements(new ControlPlaneClient({ url, token: t.token }));
    try {
      expect(sdk.limit.bind(sdk, tenant.id, 'storage_gb')).toThrow(/not loaded/);
      expect(await sdk.consume(tenant.id, 'storage_gb', 1_000_000)).toEqual({
        allowed: true,
        overage: false,
      });
      expect(sdk.limit(tenant.id, 'storage_gb')).toMatchObject({ limit: null });
      expect((await leases(tenant.id)).leases).toBe(0);
    } finally {
      await sdk.close();
    }
  });

  it('refuses an inactive tenant, and bad amounts', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    expect((await act(t, tenant.id, 'suspend', { reason: 'unpaid' })).status).toBe(200);
    const sdk = new Entitlements(new ControlPlaneClient({ url, token: t.token }));
    try {
      expect(await sdk.consume(tenant.id, 'meetings', 1)).toMatchObject({
        allowed: false,
        reason: 'tenant_inactive',
      });
      await expect(sdk.consume(tenant.id, 'meetings', 0)).rejects.toThrow(RangeError);
      await expect(sdk.consume(tenant.id, 'meetings', Number.NaN)).rejects.toThrow(
        /positive number of units/,
      );
      expect((await leases(tenant.id)).leases).toBe(0);
    } finally {
      await sdk.close();
    }
  });
});
