import type { PlanDefinition } from '@tenantry/core';
import { describe, expect, it } from 'vitest';
import { diffPlanVersions } from './plan-diff.ts';

const v1: PlanDefinition = {
  key: 'pro',
  name: 'Pro',
  description: null,
  currency: 'usd',
  interval: 'month',
  trial_days: 14,
  requires_payment_method: false,
  features: { sso: true, audit_export: false },
  limits: {
    seats: { value: 25, per_seat: false, enforcement: 'hard', thresholds: [], kind: 'seats' },
    meetings: { value: 1000, per_seat: false, enforcement: 'soft', thresholds: [80, 100], kind: 'metered' },
  },
  config: { retention_days: 30 },
  prices: [
    { key: 'per_seat', name: null, type: 'per_seat', unit_amount: '15' },
    {
      key: 'usage_storage',
      name: 'Storage',
      type: 'usage',
      meter: 'storage',
      included: 0,
      unit_amount: null,
      package_size: null,
      tiers_mode: 'graduated',
      tiers: [
        { up_to: 1000, unit_amount: '0.1', flat_amount: '0' },
        { up_to: null, unit_amount: '0.05', flat_amount: '0' },
      ],
    },
  ],
  meters: {
    meetings: { name: 'Meetings', unit: null, aggregation: 'count', unique_by: null },
    storage: { name: 'Storage', unit: 'GB-month', aggregation: 'time_weighted', unique_by: null },
  },
};

describe('diffPlanVersions', () => {
  it('finds nothing between a version and itself', () => {
    expect(diffPlanVersions(v1, v1)).toEqual([]);
  });

  it('names each changed field of a limit, a tier of a price, a feature switched on and a plain setting', () => {
    const v2: PlanDefinition = {
      ...v1,
      trial_days: 30,
      features: { sso: true, audit_export: true },
      limits: {
        ...v1.limits,
        meetings: {
          value: 500,
          per_seat: false,
          enforcement: 'hard',
          thresholds: [80, 100, 150],
          kind: 'metered',
        },
      },
      prices: [
        v1.prices[0] as PlanDefinition['prices'][number],
        {
          ...(v1.prices[1] as Extract<PlanDefinition['prices'][number], { type: 'usage' }>),
          tiers: [
            { up_to: 1000, unit_amount: '0.1', flat_amount: '0' },
            { up_to: null, unit_amount: '0.04', flat_amount: '0' },
          ],
        },
      ],
    };
    expect(diffPlanVersions(v1, v2)).toEqual([
      {
        section: 'plan',
        key: 'trial_days',
        change: 'changed',
        fields: [{ field: '', before: '14', after: '30' }],
      },
      {
        section: 'features',
        key: 'audit_export',
        change: 'changed',
        fields: [{ field: '', before: 'false', after: 'true' }],
      },
      {
        section: 'limits',
        key: 'meetings',
        change: 'changed',
        fields: [
          { field: 'value', before: '1000', after: '500' },
          { field: 'enforcement', before: 'soft', after: 'hard' },
          { field: 'thresholds', before: '[80, 100]', after: '[80, 100, 150]' },
        ],
      },
      {
        section: 'prices',
        key: 'usage_storage',
        change: 'changed',
        fields: [{ field: 'tiers.1.unit_amount', before: '0.05', after: '0.04' }],
      },
    ]);
  });

  it('lists what was added and removed with all its fields, an unlimited limit as such', () => {
    const v2: PlanDefinition = {
      ...v1,
      limits: {
        seats: { value: null, per_seat: false, enforcement: 'hard', thresholds: [], kind: 'seats' },
      },
      prices: [
        v1.prices[0] as PlanDefinition['prices'][number],
        { key: 'flat', name: 'Platform fee', type: 'flat', amount: '49' },
      ],
      config: { retention_days: 30, region: 'eu' },
      rate_limits: { api: { requests: 100, per_seconds: 60, burst: 100 } },
    };
    const diff = diffPlanVersions(v1, v2);
    expect(diff.map((entry) => [entry.section, entry.key, entry.change])).toEqual([
      ['limits', 'seats', 'changed'],
      ['limits', 'meetings', 'removed'],
      ['prices', 'flat', 'added'],
      ['prices', 'usage_storage', 'removed'],
      ['config', 'region', 'added'],
      ['rate_limits', 'api', 'added'],
    ]);
    expect(diff[0]?.fields).toEqual([{ field: 'value', before: '25', after: 'unlimited' }]);
    expect(diff[2]?.fields).toEqual([
      { field: 'key', before: undefined, after: 'flat' },
      { field: 'name', before: undefined, after: 'Platform fee' },
      { field: 'type', before: undefined, after: 'flat' },
      { field: 'amount', before: undefined, after: '49' },
    ]);
    // A removed item shows what it was.
    expect(diff[1]?.fields).toContainEqual({ field: 'value', before: '1000', after: undefined });
    expect(diff[4]?.fields).toEqual([{ field: '', before: undefined, after: 'eu' }]);
  });

  it('shows a changed meter and a changed currency and interval', () => {
    const v2: PlanDefinition = {
      ...v1,
      currency: 'eur',
      interval: 'year',
      meters: {
        ...v1.meters,
        storage: { ...(v1.meters.storage as PlanDefinition['meters'][string]), category: 'storage' },
      },
    };
    expect(diffPlanVersions(v1, v2)).toEqual([
      {
        section: 'plan',
        key: 'currency',
        change: 'changed',
        fields: [{ field: '', before: 'usd', after: 'eur' }],
      },
      {
        section: 'plan',
        key: 'interval',
        change: 'changed',
        fields: [{ field: '', before: 'month', after: 'year' }],
      },
      {
        section: 'meters',
        key: 'storage',
        change: 'changed',
        fields: [{ field: 'category', before: undefined, after: 'storage' }],
      },
    ]);
  });
});
