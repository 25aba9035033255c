import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../canonical-json.ts';
import { limitKind } from './limit-kind.ts';
import { parsePlanFile } from './parse-plan-file.ts';
import type { PlanFile } from './plan-file-schema.ts';
import { resolvePlans } from './resolve-plans.ts';

function parsed(input: unknown): PlanFile {
  const result = parsePlanFile(input);
  if (!result.ok) throw new Error(JSON.stringify(result.error));
  return result.value;
}

const file = {
  currency: 'usd',
  meters: {
    api_calls: { aggregation: 'count' },
    cpu_hours: { aggregation: 'sum', name: 'CPU hours', unit: 'hour' },
    peak_jobs: { aggregation: 'max' },
    users: { aggregation: 'unique_count' },
    projects: { aggregation: 'unique_count', unique_by: 'properties.project' },
    storage_gb: { aggregation: 'latest' },
    sessions: { aggregation: 'time_weighted' },
  },
  features: { sso: {}, audit: { name: 'Audit log' } },
  config: {
    retention_days: { type: 'integer', default: 7 },
    theme: { type: 'string', default: 'light' },
    beta: { type: 'boolean', default: false },
  },
  plans: {
    starter: { name: 'Starter', limits: { api_calls: { value: 1000 } } },
    pro: {
      name: 'Pro',
      description: 'For teams',
      currency: 'EUR',
      interval: 'year',
      trial_days: 14,
      requires_payment_method: true,
      features: ['audit'],
      limits: {
        seats: { value: 'unlimited' },
        api_calls: { value: 100000, enforcement: 'soft', thresholds: [50, 90] },
        cpu_hours: { value: 10 },
        peak_jobs: { value: 4 },
        users: { value: 50 },
        storage_gb: { value: 100 },
        sessions: { value: 5, per_seat: true },
      },
      config: { retention_days: 30, beta: true },
      prices: [
        { type: 'flat', amount: '490.00', name: 'Platform' },
        { type: 'per_seat', unit_amount: '12.50' },
        { type: 'usage', meter: 'api_calls', unit_amount: '1.00', package_size: 1000 },
        {
          type: 'usage',
          meter: 'cpu_hours',
          key: 'compute',
          included: 5,
          tiers_mode: 'volume',
          tiers: [
            { up_to: 100, unit_amount: '0.10' },
            { up_to: 'inf', flat_amount: '5.00' },
          ],
        },
        { type: 'minimum', amount: 1000 },
      ],
    },
  },
};

describe('resolvePlans', () => {
  const [starter, pro] = resolvePlans(parsed(file));

  it('gives one definition per plan, in file order', () => {
    expect(resolvePlans(parsed(file)).map((plan) => plan.key)).toEqual(['starter', 'pro']);
  });

  it('fills defaults for a minimal plan', () => {
    expect(starter).toMatchObject({
      key: 'starter',
      name: 'Starter',
      description: null,
      currency: 'usd',
      interval: 'month',
      trial_days: 0,
      requires_payment_method: false,
      features: { sso: false, audit: false },
      config: { retention_days: 7, theme: 'light', beta: false },
      prices: [],
    });
    expect(starter?.limits).toEqual({
      api_calls: {
        value: 1000,
        per_seat: false,
        enforcement: 'hard',
        thresholds: [80, 100],
        kind: 'metered',
      },
    });
  });

  it('lists every declared feature, config key and meter in every plan', () => {
    expect(pro?.features).toEqual({ sso: false, audit: true });
    expect(pro?.config).toEqual({ retention_days: 30, theme: 'light', beta: true });
    expect(Object.keys(pro?.meters ?? {})).toEqual(Object.keys(file.meters));
    expect(pro?.meters.cpu_hours).toEqual({
      name: 'CPU hours',
      unit: 'hour',
      aggregation: 'sum',
      unique_by: null,
    });
    expect(pro?.meters.api_calls).toEqual({
      name: 'api_calls',
      unit: null,
      aggregation: 'count',
      unique_by: null,
    });
    expect(pro?.meters.users?.unique_by).toBe('subject');
    expect(pro?.meters.projects?.unique_by).toBe('properties.project');
  });

  it('keeps plan settings and lowercases the currency', () => {
    expect(pro).toMatchObject({
      description: 'For teams',
      currency: 'eur',
      interval: 'year',
      trial_days: 14,
      requires_payment_method: true,
    });
  });

  it('classifies limits: seats, metered for period totals, gauge for levels', () => {
    const kinds = Object.fromEntries(
      Object.entries(pro?.limits ?? {}).map(([key, limit]) => [key, limit.kind]),
    );
    expect(kinds).toEqual({
      seats: 'seats',
      api_calls: 'metered',
      cpu_hours: 'metered',
      peak_jobs: 'metered',
      users: 'metered',
      storage_gb: 'gauge',
      sessions: 'gauge',
    });
    expect(limitKind('time_weighted')).toBe('gauge');
    expect(limitKind('latest')).toBe('gauge');
    expect(limitKind('max')).toBe('metered');
  });

  it('resolves unlimited to null and keeps per-seat, enforcement and thresholds', () => {
    expect(pro?.limits.seats?.value).toBeNull();
    expect(pro?.limits.sessions).toMatchObject({ value: 5, per_seat: true });
    expect(pro?.limits.api_calls).toMatchObject({ enforcement: 'soft', thresholds: [50, 90] });
  });

  it('normalises prices: derived keys, canonical amounts, explicit nulls', () => {
    expect(pro?.prices).toEqual([
      { type: 'flat', key: 'flat', name: 'Platform', amount: '490' },
      { type: 'per_seat', key: 'per_seat', name: null, unit_amount: '12.5' },
      {
        type: 'usage',
        key: 'usage_api_calls',
        name: null,
        meter: 'api_calls',
        included: 0,
        unit_amount: '1',
        package_size: 1000,
        tiers_mode: null,
        tiers: null,
      },
      {
        type: 'usage',
        key: 'compute',
        name: null,
        meter: 'cpu_hours',
        included: 5,
        unit_amount: null,
        package_size: null,
        tiers_mode: 'volume',
        tiers: [
          { up_to: 100, unit_amount: '0.1', flat_amount: '0' },
          { up_to: null, unit_amount: '0', flat_amount: '5' },
        ],
      },
      { type: 'minimum', key: 'minimum', name: null, amount: '1000' },
    ]);
  });

  it('gives the same canonical JSON for equivalent files, and a different one when a plan changes', () => {
    const reordered = structuredClone(file);
    reordered.plans.pro.prices[0] = { name: 'Platform', amount: '490', type: 'flat' };
    reordered.currency = 'USD';
    const before = resolvePlans(parsed(file)).map(canonicalJson);
    const after = resolvePlans(parsed(reordered)).map(canonicalJson);
    expect(after).toEqual(before);
    reordered.plans.pro.config.retention_days = 31;
    const changed = resolvePlans(parsed(reordered)).map(canonicalJson);
    expect(changed[0]).toBe(before[0]);
    expect(changed[1]).not.toBe(before[1]);
  });

  it('gives each definition its own objects', () => {
    const [a, b] = resolvePlans(parsed(file));
    expect(a?.meters).toEqual(b?.meters);
    expect(a?.meters).not.toBe(b?.meters);
    expect(a?.meters.cpu_hours).not.toBe(b?.meters.cpu_hours);
  });
});
