import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { canonicalJson } from '../canonical-json.ts';
import { parsePlanFile } from './parse-plan-file.ts';
import { resolvePlans } from './resolve-plans.ts';

const source = readFileSync(
  new URL('../../../../examples/plans/remote-desktop.yaml', import.meta.url),
  'utf8',
);

describe('examples/plans/remote-desktop.yaml', () => {
  const result = parsePlanFile(parse(source));

  it('parses without issues', () => {
    expect(result.ok ? [] : result.error).toEqual([]);
  });

  const plans = result.ok ? resolvePlans(result.value) : [];
  const byKey = Object.fromEntries(plans.map((plan) => [plan.key, plan]));

  it('resolves the four tiers in order, all in usd', () => {
    expect(plans.map((plan) => plan.key)).toEqual(['free', 'professional', 'business', 'enterprise']);
    expect(plans.every((plan) => plan.currency === 'usd')).toBe(true);
    expect(byKey.professional?.trial_days).toBe(14);
    expect(byKey.enterprise?.interval).toBe('year');
    expect(byKey.business?.interval).toBe('month');
  });

  it('declares the meters with their aggregations and showback categories (memory is compute, though time-weighted)', () => {
    const meters = Object.fromEntries(
      Object.entries(byKey.free?.meters ?? {}).map(([key, meter]) => [
        key,
        [meter.aggregation, meter.category],
      ]),
    );
    expect(meters).toEqual({
      cpu_hours: ['sum', 'compute'],
      memory_gb_hours: ['time_weighted', 'compute'],
      storage_gb_months: ['time_weighted', 'storage'],
      concurrent_sessions: ['time_weighted', 'compute'],
      active_users: ['unique_count', 'seats'],
    });
  });

  it('limits concurrent sessions 1 / 5 per seat / 20 per seat / unlimited, and 1 / 5 / 20 per user, as gauges', () => {
    const sessions = plans.map((plan) => plan.limits.concurrent_sessions);
    expect(sessions.map((limit) => [limit?.value, limit?.per_seat, limit?.per_subject])).toEqual([
      [1, false, 1],
      [5, true, 5],
      [20, true, 20],
      [null, false, undefined],
    ]);
    expect(sessions.every((limit) => limit?.kind === 'gauge')).toBe(true);
  });

  it('limits seats on every plan, and CPU-hours softly on professional', () => {
    expect(plans.map((plan) => plan.limits.seats?.value)).toEqual([3, 50, 500, null]);
    expect(byKey.professional?.limits.cpu_hours).toEqual({
      value: 2000,
      per_seat: false,
      enforcement: 'soft',
      thresholds: [80, 100, 150],
      kind: 'metered',
    });
  });

  it('sets recording retention 7 / 30 / 90 / 365 days', () => {
    expect(plans.map((plan) => plan.config.recording_retention_days)).toEqual([7, 30, 90, 365]);
  });

  it('enables SSO on business and enterprise only', () => {
    expect(plans.map((plan) => plan.features.sso)).toEqual([false, false, true, true]);
    expect(plans.map((plan) => plan.features.advanced_analytics)).toEqual([false, true, true, true]);
  });

  it('prices per seat, CPU-hours with included units, graduated and volume tiers, and an annual minimum', () => {
    expect(byKey.free?.prices).toEqual([]);
    expect(
      plans.slice(1).map((plan) => plan.prices.find((price) => price.type === 'per_seat')),
    ).toMatchObject([{ unit_amount: '15' }, { unit_amount: '29' }, { unit_amount: '300' }]);
    expect(byKey.professional?.prices[1]).toMatchObject({
      key: 'usage_cpu_hours',
      unit_amount: '0.04',
      included: 100,
      package_size: 1,
    });
    const business = byKey.business?.prices ?? [];
    expect(business.find((price) => price.key === 'usage_storage_gb_months')).toMatchObject({
      tiers_mode: 'graduated',
      tiers: [
        { up_to: 1000, unit_amount: '0.1', flat_amount: '0' },
        { up_to: 10000, unit_amount: '0.08', flat_amount: '0' },
        { up_to: null, unit_amount: '0.05', flat_amount: '0' },
      ],
    });
    expect(business.find((price) => price.key === 'usage_memory_gb_hours')).toMatchObject({
      tiers_mode: 'volume',
    });
    expect(byKey.enterprise?.prices.at(-1)).toEqual({
      type: 'minimum',
      key: 'minimum',
      name: 'Annual minimum commitment',
      amount: '50000',
    });
  });

  it('is quoted in full in docs/plans.md', () => {
    const docs = readFileSync(new URL('../../../../docs/plans.md', import.meta.url), 'utf8');
    expect(docs).toContain(source);
  });

  it('resolves to stable canonical JSON', () => {
    const again = parsePlanFile(parse(source));
    expect(again.ok && resolvePlans(again.value).map(canonicalJson)).toEqual(plans.map(canonicalJson));
  });
});
