// The "one code path" claim, proven: the same app, built once against the Tenantry type, serves
// the same tenant once on a control plane and once on a license the control plane issued from
// that tenant's plan, and every answer it gives is the same.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fastifyTenantContext } from '@tenantry/sdk/fastify';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backend, startTestApp, type TestApp } from '../../server/test/harness.ts';
import { applyPlans, provisionedTenant } from '../../server/test/tenant-support.ts';
import { currentTenant } from './context/index.ts';
import type { AcquireResult, ConsumeResult, Slot } from './entitlements/index.ts';
import { Tenantry } from './tenantry.ts';

const PLANS = `
currency: usd
meters:
  meetings: { aggregation: count }
  storage_gb: { aggregation: sum }
  sessions: { aggregation: time_weighted, feature: desktops }
  exports: { aggregation: count, feature: exporting }
features:
  desktops: {}
  exporting: {}
config:
  retention_days: { type: integer, default: 7 }
plans:
  team:
    name: Team
    features: [desktops]
    limits:
      meetings: { value: 3 }
      storage_gb: { value: 2, enforcement: soft }
      sessions: { value: 3, per_subject: 2 }
      exports: { value: 10 }
    config:
      retention_days: 90
    prices:
      - type: per_seat
        unit_amount: "9.00"
`;

/** What the app answers, less the wording of refusals (each side names its own mechanism). */
function shape(answer: ConsumeResult | AcquireResult): Record<string, unknown> {
  if (!answer.allowed)
    return { allowed: false, reason: answer.reason, scope: 'scope' in answer ? answer.scope : undefined };
  return { allowed: true, overage: answer.overage };
}

/**
 * The vendor's app: typed against `Tenantry`, with no word of how it is delivered. One route runs
 * a customer's day: features, config, a hard and a soft limit, a meter whose feature is off, and
 * a gauge with a per-subject cap.
 */
function buildApp(tenantry: Tenantry) {
  const app = Fastify();
  app.register(async (api) => {
    await api.register(fastifyTenantContext, tenantry.requestContext);
    api.post('/day', async () => {
      const answers: Record<string, unknown> = {
        tenant: currentTenant().tenantId,
        desktops: tenantry.can('desktops'),
        exporting: tenantry.can('exporting'),
        unknown: tenantry.can('not_a_feature'),
        retention_days: tenantry.config('retention_days'),
        meetings_limit: tenantry.limit('meetings'),
        plan: tenantry.snapshot().plan,
      };
      const meetings = [];
      for (let i = 0; i < 4; i++) meetings.push(shape(await tenantry.consume('meetings')));
      answers.meetings = meetings;
      answers.storage = [
        shape(await tenantry.consume('storage_gb', 2)),
        shape(await tenantry.consume('storage_gb')),
      ];
      answers.exports = shape(await tenantry.consume('exports'));
      const slots: Slot[] = [];
      const sessions = [];
      for (const subject of ['ada', 'ada', 'ada', 'bob', 'cy']) {
        const answer = await tenantry.acquire('sessions', { subject });
        if (answer.allowed) slots.push(answer.slot);
        sessions.push(shape(answer));
      }
      await slots[0]?.release();
      sessions.push(shape(await tenantry.acquire('sessions', { subject: 'cy' })));
      answers.sessions = sessions;
      tenantry.record({ meter: 'meetings', id: 'imported-meeting-1' });
      return answers;
    });
  });
  return app;
}

let t: TestApp;
let url: string;
let directory: string;
beforeAll(async () => {
  t = await startTestApp();
  // The control plane's leases and the SDK's run on the wall clock.
  t.clock.advance(Date.now() - t.clock.now().getTime());
  await applyPlans(t, PLANS);
  url = await t.app.listen({ port: 0, host: '127.0.0.1' });
  directory = await mkdtemp(join(tmpdir(), 'tenantry-one-code-path-'));
});
afterAll(async () => {
  await t.close();
  await rm(directory, { recursive: true, force: true });
});

async function post(path: string, payload: Record<string, unknown> = {}): Promise<any> {
  const response = await t.request({ method: 'POST', url: path, payload });
  expect(response.status, JSON.stringify(response.body)).toBeLessThan(300);
  return response.body;
}

describe(`one code path, on a control plane and on a license (${backend})`, () => {
  it('gives the same answers to the same app', async () => {
    // Two tenants on the same plan: one served by the control plane, one self-hosted on the
    // license issued from its plan (the control plane's own usage of the first stays apart).
    const saas = await provisionedTenant(t, { plan: 'team' });
    const selfHosted = await provisionedTenant(t, { plan: 'team' });
    const key = await post('/v1/license-keys');
    const issued = await post(`/v1/tenants/${selfHosted.id}/licenses`, { days: 365 });

    const onControlPlane = await Tenantry.open({
      url,
      token: t.token,
      accessTokens: { issuer: t.services.tokens.issuer },
      usage: { spoolDirectory: join(directory, 'spool') },
    });
    const onLicense = await Tenantry.open({
      license: issued.token,
      builtInKeys: [key.public_jwk],
      restrictedMode: 'read-only',
      stateDirectory: join(directory, 'install'),
      clock: { now: () => new Date() },
    });
    const saasApp = buildApp(onControlPlane);
    const licensedApp = buildApp(onLicense);
    try {
      const minted = await post(`/v1/tenants/${saas.id}/tokens`, { subject: 'u1', roles: [] });
      const fromControlPlane = await saasApp.inject({
        method: 'POST',
        url: '/day',
        headers: { authorization: `Bearer ${minted.access_token}` },
      });
      const fromLicense = await licensedApp.inject({ method: 'POST', url: '/day' });
      expect(fromControlPlane.statusCode, fromControlPlane.body).toBe(200);
      expect(fromLicense.statusCode, fromLicense.body).toBe(200);
      const a = fromControlPlane.json();
      const b = fromLicense.json();
      expect(a.tenant).toBe(saas.id);
      expect(b.tenant).toBe(selfHosted.id);
      // The period a metered limit resets on is a month either way, anchored where each side's
      // usage starts: the tenant's billing anchor, the install's first start.
      for (const answers of [a, b]) {
        const resets = Date.parse(answers.meetings_limit.resets_at) - Date.now();
        expect(resets).toBeGreaterThan(27 * 86_400_000);
        expect(resets).toBeLessThanOrEqual(31 * 86_400_000);
      }
      const same = (answers: any) => ({
        ...answers,
        tenant: undefined,
        meetings_limit: { ...answers.meetings_limit, resets_at: undefined },
      });
      expect(same(b)).toEqual(same(a));
      // And the answers are the plan's, not merely equal.
      expect(a).toMatchObject({
        desktops: true,
        exporting: false,
        unknown: false,
        retention_days: 90,
        plan: { key: 'team', version: 1 },
        meetings_limit: { kind: 'metered', limit: 3, used: 0, remaining: 3, enforcement: 'hard' },
        meetings: [
          { allowed: true, overage: false },
          { allowed: true, overage: false },
          { allowed: true, overage: false },
          { allowed: false, reason: 'limit_exhausted' },
        ],
        storage: [
          { allowed: true, overage: false },
          { allowed: true, overage: true },
        ],
        exports: { allowed: false, reason: 'feature_disabled' },
        sessions: [
          { allowed: true, overage: false },
          { allowed: true, overage: false },
          { allowed: false, reason: 'limit_exhausted', scope: 'subject' },
          { allowed: true, overage: false },
          { allowed: false, reason: 'limit_exhausted', scope: 'tenant' },
          { allowed: true, overage: false },
        ],
      });
    } finally {
      await saasApp.close();
      await licensedApp.close();
      await onControlPlane.close();
      await onLicense.close();
    }
  });
});
