import { describe, expect, it } from 'vitest';
import type { EntitlementSnapshot } from './entitlement-snapshot.ts';
import { configValue, hasFeature, limitOf } from './local-checks.ts';

const snapshot: EntitlementSnapshot = {
  tenant_id: 'ten_1',
  state: 'active',
  active: true,
  reason: null,
  plan: { key: 'pro', version: 1 },
  seats: 2,
  period: { start: '2025-01-01T00:00:00.000Z', end: '2025-02-01T00:00:00.000Z' },
  trial_ends_at: null,
  features: { sso: true, audit: false },
  limits: {
    meetings: {
      kind: 'metered',
      limit: 100,
      used: 10,
      remaining: 90,
      enforcement: 'hard',
      thresholds: [80, 100],
      resets_at: '2025-02-01T00:00:00.000Z',
    },
  },
  config: { retention_days: 30, beta: false },
};

describe('local entitlement checks', () => {
  it('answers features: enabled, disabled, unknown', () => {
    expect(hasFeature(snapshot, 'sso')).toBe(true);
    expect(hasFeature(snapshot, 'audit')).toBe(false);
    expect(hasFeature(snapshot, 'unknown')).toBe(false);
  });

  it('answers false for every feature of an inactive tenant', () => {
    expect(hasFeature({ ...snapshot, active: false, reason: 'tenant_suspended' }, 'sso')).toBe(false);
  });

  it('looks up limits and config values', () => {
    expect(limitOf(snapshot, 'meetings')?.remaining).toBe(90);
    expect(limitOf(snapshot, 'seats')).toBeUndefined();
    expect(configValue(snapshot, 'retention_days')).toBe(30);
    expect(configValue(snapshot, 'beta')).toBe(false);
    expect(configValue(snapshot, 'missing')).toBeUndefined();
  });

  it('never answers from Object.prototype', () => {
    for (const key of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      expect(hasFeature(snapshot, key)).toBe(false);
      expect(limitOf(snapshot, key)).toBeUndefined();
      expect(configValue(snapshot, key)).toBeUndefined();
    }
  });
});
