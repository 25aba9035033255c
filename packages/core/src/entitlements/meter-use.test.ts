import { describe, expect, it } from 'vitest';
import type { EntitlementSnapshot, LimitEntitlement } from './entitlement-snapshot.ts';
import { admitSlot, meterUseRefusal } from './meter-use.ts';

function gauge(limit: number | null, extra: Partial<LimitEntitlement> = {}): LimitEntitlement {
  return {
    kind: 'gauge',
    limit,
    used: 0,
    remaining: limit,
    enforcement: 'hard',
    thresholds: [80, 100],
    resets_at: null,
    ...extra,
  };
}

const base = { tenantId: 'ten_1', meter: 'sessions' };

describe('admitSlot', () => {
  it('admits below the pool and refuses at it, naming the tenant-wide scope', () => {
    expect(admitSlot({ ...base, subject: null, limit: gauge(3), open: { pool: 2, subject: 0 } })).toEqual({
      ok: true,
      value: { overage: false },
    });
    const refused = admitSlot({ ...base, subject: null, limit: gauge(3), open: { pool: 3, subject: 0 } });
    expect(refused.ok ? null : refused.error).toMatchObject({
      code: 'limit_exhausted',
      details: { meter: 'sessions', limit: 3, used: 3, scope: 'tenant' },
    });
    expect(refused.ok ? '' : refused.error.detail).toMatch(/across every instance/);
    expect(refused.ok ? '' : refused.error.detail).not.toMatch(/this instance/);
  });

  it('refuses a subject at its cap while the pool has room, and the pool under an unlimited cap', () => {
    const capped = gauge(null, { per_subject: 2 });
    const refused = admitSlot({ ...base, subject: 'u1', limit: capped, open: { pool: 9, subject: 2 } });
    expect(refused.ok ? null : refused.error.details).toEqual({
      meter: 'sessions',
      limit: 2,
      used: 2,
      scope: 'subject',
      subject: 'u1',
    });
    expect(admitSlot({ ...base, subject: 'u2', limit: capped, open: { pool: 9, subject: 1 } }).ok).toBe(true);
    const both = gauge(4, { per_subject: 2 });
    const pool = admitSlot({ ...base, subject: 'u3', limit: both, open: { pool: 4, subject: 0 } });
    expect(pool.ok ? null : pool.error.details).toMatchObject({ scope: 'tenant', limit: 4 });
  });

  it('needs a subject when the plan caps per subject, and refuses a metered limit', () => {
    const noSubject = admitSlot({
      ...base,
      subject: null,
      limit: gauge(4, { per_subject: 2 }),
      open: { pool: 0, subject: 0 },
    });
    expect(noSubject.ok ? null : noSubject.error.errors).toEqual([
      { path: 'subject', message: expect.stringMatching(/required/) },
    ]);
    const metered = admitSlot({
      ...base,
      subject: null,
      limit: { ...gauge(4), kind: 'metered' },
      open: { pool: 0, subject: 0 },
    });
    expect(metered.ok ? null : metered.error.errors?.[0]?.path).toBe('meter');
  });

  it('admits past a soft limit with overage, and anything without a limit', () => {
    const soft = gauge(1, { enforcement: 'soft', per_subject: 1 });
    expect(admitSlot({ ...base, subject: 'u', limit: soft, open: { pool: 5, subject: 5 } })).toEqual({
      ok: true,
      value: { overage: true },
    });
    expect(admitSlot({ ...base, subject: null, limit: undefined, open: { pool: 99, subject: 0 } }).ok).toBe(
      true,
    );
  });
});

describe('meterUseRefusal', () => {
  const snapshot = (features: Record<string, boolean>, active = true): EntitlementSnapshot => ({
    tenant_id: 'ten_1',
    state: active ? 'active' : 'suspended',
    active,
    reason: active ? null : 'tenant_suspended',
    plan: null,
    seats: 1,
    period: { start: '2026-01-01T00:00:00.000Z', end: '2026-02-01T00:00:00.000Z' },
    trial_ends_at: null,
    features,
    limits: {},
    config: {},
    meter_features: { sessions: 'desktops' },
  });

  it('refuses a meter whose feature is off, and lets it be when on or untied', () => {
    expect(meterUseRefusal(snapshot({ desktops: false }), 'sessions')).toMatchObject({
      code: 'feature_disabled',
      details: { meter: 'sessions', feature: 'desktops' },
    });
    expect(meterUseRefusal(snapshot({ desktops: true }), 'sessions')).toBeNull();
    expect(meterUseRefusal(snapshot({ desktops: false }), 'cpu_hours')).toBeNull();
  });

  it('refuses every meter of an inactive tenant', () => {
    expect(meterUseRefusal(snapshot({}, false), 'cpu_hours')?.code).toBe('tenant_inactive');
  });
});
