import { describe, expect, it } from 'vitest';
import { evaluateEntitlements } from '../entitlements/index.ts';
import { applyOverrides } from './overrides.ts';
import { parsePlanFile } from './parse-plan-file.ts';
import { resolvePlans } from './resolve-plans.ts';

/** A file with a gauge capped per subject and a meter tied to a feature. */
function file(patch: (f: Record<string, any>) => void = () => {}): Record<string, unknown> {
  const f: Record<string, any> = {
    currency: 'usd',
    meters: {
      sessions: { aggregation: 'time_weighted', feature: 'desktops' },
      cpu_hours: { aggregation: 'sum' },
    },
    features: { desktops: {} },
    plans: {
      pro: {
        name: 'Pro',
        features: ['desktops'],
        limits: { sessions: { value: 20, per_subject: 5 }, cpu_hours: { value: 100 } },
      },
      basic: { name: 'Basic', limits: { sessions: { value: 'unlimited', per_subject: 1 } } },
    },
  };
  patch(f);
  return f;
}

function issuesOf(input: unknown): { path: string; message: string }[] {
  const result = parsePlanFile(input);
  if (result.ok) return [];
  return result.error.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
}

describe('per-subject caps and meters tied to a feature in a plan file', () => {
  it('resolve into the plan definition, and only where set', () => {
    const parsed = parsePlanFile(file());
    expect(parsed.ok ? [] : parsed.error).toEqual([]);
    if (!parsed.ok) return;
    const [pro, basic] = resolvePlans(parsed.value);
    expect(pro?.limits.sessions).toMatchObject({ value: 20, per_subject: 5, kind: 'gauge' });
    expect(basic?.limits.sessions).toMatchObject({ value: null, per_subject: 1 });
    expect(pro?.limits.cpu_hours).not.toHaveProperty('per_subject');
    expect(pro?.meters.sessions?.feature).toBe('desktops');
    expect(pro?.meters.cpu_hours).not.toHaveProperty('feature');
  });

  it('refuse per_subject on a metered limit and on seats, naming the path', () => {
    const issues = issuesOf(
      file((f) => {
        f.plans.pro.limits.cpu_hours.per_subject = 3;
        f.plans.pro.limits.seats = { value: 4, per_subject: 2 };
      }),
    );
    expect(issues.map((i) => i.path).sort()).toEqual([
      'plans.pro.limits.cpu_hours.per_subject',
      'plans.pro.limits.seats.per_subject',
    ]);
    expect(issues[0]?.message).toMatch(/only to gauges/);
  });

  it('refuse a cap that is not a whole number of at least 1', () => {
    for (const bad of [0, 2.5, 'five']) {
      const issues = issuesOf(file((f) => (f.plans.pro.limits.sessions.per_subject = bad)));
      expect(issues).toEqual([
        { path: 'plans.pro.limits.sessions.per_subject', message: expect.stringMatching(/per_subject/) },
      ]);
    }
  });

  it('refuse a meter tied to a feature the file does not declare', () => {
    expect(issuesOf(file((f) => (f.meters.sessions.feature = 'nope')))).toEqual([
      { path: 'meters.sessions.feature', message: 'feature "nope" is not declared under features' },
    ]);
  });

  it('reach the snapshot: the cap on the limit, the tie in meter_features; overrides keep the cap', () => {
    const parsed = parsePlanFile(file());
    if (!parsed.ok) throw new Error('the file is valid');
    const [pro] = resolvePlans(parsed.value);
    if (!pro) throw new Error('pro is resolved');
    const snapshot = evaluateEntitlements({
      tenantId: 'ten_1',
      state: 'active',
      seats: 1,
      plan: { key: 'pro', version: 1, definition: pro },
      overrides: { limits: { sessions: { value: 40 } } },
      billingAnchor: new Date('2026-01-01T00:00:00Z'),
      trialEndsAt: null,
      now: new Date('2026-01-02T00:00:00Z'),
    });
    expect(snapshot.limits.sessions).toMatchObject({ limit: 40, per_subject: 5 });
    expect(snapshot.meter_features).toEqual({ sessions: 'desktops' });
    expect(applyOverrides(pro, {}).limits.sessions?.per_subject).toBe(5);
  });
});
