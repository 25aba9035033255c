import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PlanDefinition } from '../plans/index.ts';
import { TENANT_STATES } from '../tenants/index.ts';
import { type EntitlementInput, evaluateEntitlements } from './evaluate-entitlements.ts';

const definition: PlanDefinition = {
  key: 'business',
  name: 'Business',
  description: null,
  currency: 'usd',
  interval: 'month',
  trial_days: 14,
  requires_payment_method: false,
  features: { sso: true, analytics: false },
  limits: {
    seats: { value: 25, per_seat: false, enforcement: 'hard', thresholds: [80, 100], kind: 'seats' },
    concurrent_sessions: {
      value: 5,
      per_seat: true,
      enforcement: 'hard',
      thresholds: [80, 100],
      kind: 'gauge',
    },
    cpu_hours: { value: 1000, per_seat: false, enforcement: 'soft', thresholds: [50, 100], kind: 'metered' },
    storage_gb: { value: null, per_seat: false, enforcement: 'hard', thresholds: [80, 100], kind: 'gauge' },
  },
  config: { retention_days: 90 },
  prices: [],
  meters: {
    concurrent_sessions: { name: 'Sessions', unit: null, aggregation: 'time_weighted', unique_by: null },
    cpu_hours: { name: 'CPU hours', unit: 'hour', aggregation: 'sum', unique_by: null },
    storage_gb: { name: 'Storage', unit: 'GB', aggregation: 'latest', unique_by: null },
  },
};

const input: EntitlementInput = {
  tenantId: 'ten_1',
  state: 'active',
  seats: 4,
  plan: { key: 'business', version: 3, definition },
  overrides: {},
  usage: { concurrent_sessions: 7, cpu_hours: 1200.5 },
  billingAnchor: new Date('2025-01-31T09:00:00Z'),
  trialEndsAt: new Date('2025-02-14T09:00:00Z'),
  now: new Date('2025-03-10T12:00:00Z'),
};

describe('evaluateEntitlements', () => {
  it('evaluates an active tenant', () => {
    expect(evaluateEntitlements(input)).toEqual({
      tenant_id: 'ten_1',
      state: 'active',
      active: true,
      reason: null,
      plan: { key: 'business', version: 3 },
      seats: 4,
      period: { start: '2025-02-28T09:00:00.000Z', end: '2025-03-31T09:00:00.000Z' },
      trial_ends_at: '2025-02-14T09:00:00.000Z',
      features: { sso: true, analytics: false },
      limits: {
        seats: {
          kind: 'seats',
          limit: 25,
          used: 4,
          remaining: 21,
          enforcement: 'hard',
          thresholds: [80, 100],
          resets_at: null,
        },
        concurrent_sessions: {
          kind: 'gauge',
          limit: 20,
          used: 7,
          remaining: 13,
          enforcement: 'hard',
          thresholds: [80, 100],
          resets_at: null,
        },
        cpu_hours: {
          kind: 'metered',
          limit: 1000,
          used: 1200.5,
          remaining: 0,
          enforcement: 'soft',
          thresholds: [50, 100],
          resets_at: '2025-03-31T09:00:00.000Z',
        },
        storage_gb: {
          kind: 'gauge',
          limit: null,
          used: null,
          remaining: null,
          enforcement: 'hard',
          thresholds: [80, 100],
          resets_at: null,
        },
      },
      config: { retention_days: 90 },
    });
  });

  it('leaves used and remaining unknown without usage', () => {
    const { usage: _, ...withoutUsage } = input;
    const snapshot = evaluateEntitlements(withoutUsage);
    expect(snapshot.limits.cpu_hours).toMatchObject({ limit: 1000, used: null, remaining: null });
    expect(snapshot.limits.seats).toMatchObject({ used: 4, remaining: 21 });
  });

  it('applies overrides before making limits effective', () => {
    const snapshot = evaluateEntitlements({
      ...input,
      overrides: {
        features: { analytics: true },
        limits: { concurrent_sessions: { value: 10 }, cpu_hours: { value: null } },
        config: { retention_days: 365 },
      },
    });
    expect(snapshot.features.analytics).toBe(true);
    expect(snapshot.limits.concurrent_sessions).toMatchObject({ limit: 40, remaining: 33 });
    expect(snapshot.limits.cpu_hours).toMatchObject({ limit: null, remaining: null, used: 1200.5 });
    expect(snapshot.config.retention_days).toBe(365);
  });

  it('counts trialing and past_due tenants as active', () => {
    for (const state of ['trialing', 'past_due'] as const) {
      const snapshot = evaluateEntitlements({ ...input, state });
      expect(snapshot).toMatchObject({ active: true, reason: null, plan: { key: 'business', version: 3 } });
      expect(snapshot.features.sso).toBe(true);
    }
  });

  it('gives an inactive tenant nothing, with a reason', () => {
    const inactive = TENANT_STATES.filter((state) => !['trialing', 'active', 'past_due'].includes(state));
    for (const state of inactive) {
      const snapshot = evaluateEntitlements({ ...input, state });
      expect(snapshot).toMatchObject({
        state,
        active: false,
        reason: `tenant_${state}`,
        plan: null,
        seats: 4,
        features: {},
        limits: {},
        config: {},
      });
      expect(snapshot.period).toEqual({ start: '2025-02-28T09:00:00.000Z', end: '2025-03-31T09:00:00.000Z' });
    }
  });

  it('uses a yearly period for a yearly plan, and no trial end when there is none', () => {
    const snapshot = evaluateEntitlements({
      ...input,
      plan: { ...input.plan, definition: { ...definition, interval: 'year' } },
      trialEndsAt: null,
    });
    expect(snapshot.period).toEqual({ start: '2025-01-31T09:00:00.000Z', end: '2026-01-31T09:00:00.000Z' });
    expect(snapshot.trial_ends_at).toBeNull();
  });

  it('is deterministic and never leaves remaining negative (property)', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 1000 }),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        fc.date({
          min: new Date('2025-01-31T09:00:00Z'),
          max: new Date('2100-01-01T00:00:00Z'),
          noInvalidDate: true,
        }),
        (seats, sessions, cpu, now) => {
          const run = () =>
            evaluateEntitlements({
              ...input,
              seats,
              now,
              usage: { concurrent_sessions: sessions, cpu_hours: cpu },
            });
          const snapshot = run();
          expect(run()).toEqual(snapshot);
          for (const limit of Object.values(snapshot.limits)) {
            if (limit.remaining !== null) expect(limit.remaining).toBeGreaterThanOrEqual(0);
          }
          expect(snapshot.limits.concurrent_sessions?.limit).toBe(5 * seats);
          expect(Date.parse(snapshot.period.start)).toBeLessThanOrEqual(now.getTime());
          expect(now.getTime()).toBeLessThan(Date.parse(snapshot.period.end));
        },
      ),
    );
  });
});
