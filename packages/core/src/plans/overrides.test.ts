import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyOverrides, parseOverrides, type TenantOverrides } from './overrides.ts';
import type { PlanDefinition } from './plan-definition.ts';

const plan: PlanDefinition = {
  key: 'pro',
  name: 'Pro',
  description: null,
  currency: 'usd',
  interval: 'month',
  trial_days: 0,
  requires_payment_method: false,
  features: { sso: false, audit: true },
  limits: {
    seats: { value: 10, per_seat: false, enforcement: 'hard', thresholds: [80, 100], kind: 'seats' },
    meetings: { value: 100, per_seat: false, enforcement: 'hard', thresholds: [80, 100], kind: 'metered' },
  },
  config: { retention_days: 30, ratio: 0.5, theme: 'light', beta: false },
  prices: [{ type: 'flat', key: 'flat', name: null, amount: '49' }],
  meters: {
    meetings: { name: 'Meetings', unit: null, aggregation: 'count', unique_by: null },
    sessions: { name: 'Sessions', unit: null, aggregation: 'time_weighted', unique_by: null },
  },
};

function fieldErrors(input: unknown): { path: string; message: string }[] {
  const result = parseOverrides(input, plan);
  if (result.ok) return [];
  expect(result.error.code).toBe('validation_failed');
  return (result.error.errors ?? []).map(({ path, message }) => ({ path, message }));
}

describe('parseOverrides', () => {
  it('accepts empty overrides and a full custom deal', () => {
    expect(parseOverrides({}, plan)).toEqual({ ok: true, value: {} });
    const deal = {
      features: { sso: true },
      limits: {
        meetings: { value: 'unlimited' },
        seats: { value: 50, enforcement: 'soft' },
        sessions: { value: 3, per_seat: true, thresholds: [90] },
      },
      config: { retention_days: 365, ratio: 1, theme: 'dark', beta: true },
    };
    expect(parseOverrides(deal, plan)).toEqual({
      ok: true,
      value: {
        features: { sso: true },
        limits: {
          meetings: { value: null },
          seats: { value: 50, enforcement: 'soft' },
          sessions: { value: 3, per_seat: true, thresholds: [90] },
        },
        config: { retention_days: 365, ratio: 1, theme: 'dark', beta: true },
      },
    });
  });

  it('accepts null as unlimited, as JSON has no unlimited', () => {
    const result = parseOverrides({ limits: { meetings: { value: null } } }, plan);
    expect(result.ok && result.value.limits?.meetings).toEqual({ value: null });
  });

  it('refuses keys the plan does not have, with dotted paths', () => {
    expect(
      fieldErrors({
        features: { ssoo: true },
        limits: { api_calls: { value: 1 } },
        config: { colour: 'red' },
      }),
    ).toEqual([
      { path: 'features.ssoo', message: 'feature "ssoo" is not declared by plan "pro"' },
      { path: 'limits.api_calls', message: 'limit "api_calls" is neither seats nor a meter of plan "pro"' },
      { path: 'config.colour', message: 'config "colour" is not declared by plan "pro"' },
    ]);
  });

  it('requires a value for a limit the plan lacks', () => {
    expect(fieldErrors({ limits: { sessions: { enforcement: 'soft' } } })).toEqual([
      {
        path: 'limits.sessions.value',
        message: 'value is required: plan "pro" has no sessions limit to start from',
      },
    ]);
  });

  it('explains a limit value that is neither a number nor unlimited', () => {
    expect(fieldErrors({ limits: { meetings: { value: 'lots' } } })).toEqual([
      {
        path: 'limits.meetings.value',
        message: 'value must be a whole number of at least 0, or null or "unlimited" for no limit',
      },
    ]);
  });

  it('refuses per_seat on seats', () => {
    expect(fieldErrors({ limits: { seats: { per_seat: true } } })).toEqual([
      {
        path: 'limits.seats.per_seat',
        message: 'per_seat is not allowed on seats: the seat limit already counts seats',
      },
    ]);
  });

  it('requires config values of the plan value type', () => {
    expect(fieldErrors({ config: { retention_days: 1.5, theme: 3, beta: 'yes', ratio: 'half' } })).toEqual([
      {
        path: 'config.retention_days',
        message: 'config "retention_days" must be an integer like the plan\'s value, not 1.5',
      },
      { path: 'config.theme', message: 'config "theme" must be a string like the plan\'s value, not 3' },
      {
        path: 'config.beta',
        message: 'config "beta" must be true or false like the plan\'s value, not "yes"',
      },
      { path: 'config.ratio', message: 'config "ratio" must be a number like the plan\'s value, not "half"' },
    ]);
  });

  it('reports shape errors with dotted paths', () => {
    expect(
      fieldErrors({
        features: { sso: 'yes' },
        limits: { meetings: { value: -1, thresholds: [90, 80] } },
        extra: 1,
      }),
    ).toEqual([
      { path: 'features.sso', message: 'sso must be true or false, not "yes"' },
      { path: 'limits.meetings.value', message: 'value must be at least 0, not -1' },
      {
        path: 'limits.meetings.thresholds.1',
        message: 'thresholds must be strictly ascending, but 80 follows 90',
      },
      { path: 'extra', message: 'unknown field "extra"' },
    ]);
    const result = parseOverrides('nope', plan);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error.detail).toBe('The overrides have one problem.');
  });
});

describe('applyOverrides', () => {
  it('merges features, limits field by field, and config', () => {
    const merged = applyOverrides(plan, {
      features: { sso: true, audit: false },
      limits: {
        meetings: { value: null },
        seats: { enforcement: 'soft' },
        sessions: { value: 2, per_seat: true },
      },
      config: { retention_days: 90 },
    });
    expect(merged.features).toEqual({ sso: true, audit: false });
    expect(merged.limits).toEqual({
      seats: { value: 10, per_seat: false, enforcement: 'soft', thresholds: [80, 100], kind: 'seats' },
      meetings: { value: null, per_seat: false, enforcement: 'hard', thresholds: [80, 100], kind: 'metered' },
      sessions: { value: 2, per_seat: true, enforcement: 'hard', thresholds: [80, 100], kind: 'gauge' },
    });
    expect(merged.config).toEqual({ retention_days: 90, ratio: 0.5, theme: 'light', beta: false });
    expect(merged.prices).toBe(plan.prices);
  });

  it('ignores keys the plan does not declare, so overrides survive a plan change', () => {
    const merged = applyOverrides(plan, {
      features: { removed: true },
      limits: { removed: { value: 1 }, sessions: { enforcement: 'soft' } },
      config: { removed: 1 },
    });
    expect(merged).toEqual(plan);
  });

  it('does not modify the plan', () => {
    const before = structuredClone(plan);
    applyOverrides(plan, {
      features: { sso: true },
      limits: { seats: { value: 1 } },
      config: { theme: 'x' },
    });
    expect(plan).toEqual(before);
  });

  const limitOverride = fc.record(
    {
      value: fc.option(fc.nat({ max: 10_000 }), { nil: null }),
      per_seat: fc.boolean(),
      enforcement: fc.constantFrom('hard' as const, 'soft' as const),
      thresholds: fc
        .uniqueArray(fc.integer({ min: 1, max: 1000 }), { maxLength: 4 })
        .map((t) => t.sort((a, b) => a - b)),
    },
    { requiredKeys: ['value'] },
  );
  const overrides: fc.Arbitrary<TenantOverrides> = fc.record(
    {
      features: fc.record({ sso: fc.boolean(), audit: fc.boolean() }, { requiredKeys: [] }),
      limits: fc.record(
        { seats: limitOverride, meetings: limitOverride, sessions: limitOverride },
        { requiredKeys: [] },
      ),
      config: fc.record(
        { retention_days: fc.nat(), theme: fc.string(), beta: fc.boolean() },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: [] },
  );

  it('valid overrides parse to themselves, and applying them is idempotent (property)', () => {
    fc.assert(
      fc.property(overrides, (input) => {
        const seatsPerSeat = input.limits?.seats?.per_seat === true;
        const parsed = parseOverrides(input, plan);
        expect(parsed.ok).toBe(!seatsPerSeat);
        if (!parsed.ok) return;
        const once = applyOverrides(plan, parsed.value);
        expect(applyOverrides(once, parsed.value)).toEqual(once);
      }),
    );
  });

  it('every field an override sets wins, and every field it omits keeps the plan (property)', () => {
    fc.assert(
      fc.property(overrides, (input) => {
        const merged = applyOverrides(plan, input);
        for (const key of Object.keys(plan.features)) {
          expect(merged.features[key]).toBe(input.features?.[key] ?? plan.features[key]);
        }
        for (const key of Object.keys(plan.config)) {
          expect(merged.config[key]).toBe(input.config?.[key] ?? plan.config[key]);
        }
        for (const key of ['seats', 'meetings', 'sessions']) {
          const override = input.limits?.[key];
          const base = plan.limits[key];
          const limit = merged.limits[key];
          if (override === undefined) {
            expect(limit).toEqual(base);
            continue;
          }
          expect(limit?.value).toBe(override.value);
          expect(limit?.enforcement).toBe(override.enforcement ?? base?.enforcement ?? 'hard');
          expect(limit?.thresholds).toEqual(override.thresholds ?? base?.thresholds ?? [80, 100]);
          expect(limit?.per_seat).toBe(key === 'seats' ? false : (override.per_seat ?? false));
        }
        expect(merged.prices).toEqual(plan.prices);
        expect(merged.meters).toEqual(plan.meters);
      }),
    );
  });
});
