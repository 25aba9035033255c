import { type EntitlementSnapshot, evaluateEntitlements, type PlanDefinition } from '@tenantry/core';
import { describe, expect, it } from 'vitest';
import { explainEntitlements, mayTenant, overrideParts, planParts } from './entitlements-explainer.ts';

// The snapshots are the server's own evaluation (evaluateEntitlements), as the API answers them.
const definition: PlanDefinition = {
  key: 'pro',
  name: 'Pro',
  description: null,
  currency: 'usd',
  interval: 'month',
  trial_days: 0,
  requires_payment_method: false,
  features: { sso: true, recording: true, audit: false },
  limits: {
    meetings: { value: 100, per_seat: false, enforcement: 'hard', thresholds: [80, 100], kind: 'metered' },
    minutes: { value: 500, per_seat: false, enforcement: 'soft', thresholds: [100], kind: 'metered' },
    sessions: { value: 2, per_seat: true, enforcement: 'hard', thresholds: [100], kind: 'gauge' },
  },
  config: { retention_days: 30, theme: 'light' },
  prices: [{ type: 'flat', key: 'flat', name: null, amount: '49' }],
  meters: {
    meetings: { name: 'Meetings', unit: null, aggregation: 'count', unique_by: null },
    minutes: { name: 'Minutes', unit: null, aggregation: 'sum', unique_by: null },
    recordings: {
      name: 'Recordings',
      unit: null,
      aggregation: 'count',
      unique_by: null,
      feature: 'recording',
    },
    sessions: { name: 'Sessions', unit: null, aggregation: 'time_weighted', unique_by: null },
    uploads: { name: 'Uploads', unit: null, aggregation: 'count', unique_by: null },
  },
};

const overrides = {
  features: { recording: false, audit: true },
  limits: { sessions: { value: 10 } },
  config: { retention_days: 365 },
};

function snapshot(state: EntitlementSnapshot['state'] = 'active', deal: object = overrides) {
  return evaluateEntitlements({
    tenantId: 'ten_1',
    state,
    seats: 3,
    plan: { key: 'pro', version: 2, definition },
    overrides: deal,
    usage: { meetings: 40, minutes: 490, sessions: 0 },
    billingAnchor: new Date('2026-12-01T00:00:00Z'),
    trialEndsAt: null,
    now: new Date('2026-12-05T00:00:00Z'),
  });
}

// As the API gives them: JSON, untyped (`unknown`) in its document.
const plan = planParts(JSON.parse(JSON.stringify(definition)));
const deal = overrideParts(JSON.parse(JSON.stringify(overrides)));

describe('explainEntitlements', () => {
  it('traces each effective value to the plan or the override, the plan’s value beside it', () => {
    const explained = explainEntitlements(snapshot(), plan, deal);
    expect(explained.features).toEqual([
      { key: 'audit', enabled: true, source: 'override', planEnabled: false },
      { key: 'recording', enabled: false, source: 'override', planEnabled: true },
      { key: 'sso', enabled: true, source: 'plan', planEnabled: true },
    ]);
    const sessions = explained.limits.find((row) => row.key === 'sessions');
    // The override's 10 per seat × 3 seats, the plan's 2 per seat beside it.
    expect(sessions).toMatchObject({
      source: 'override',
      limit: { limit: 30 },
      plan: { value: 2, per_seat: true },
    });
    expect(explained.limits.find((row) => row.key === 'meetings')).toMatchObject({
      source: 'plan',
      limit: { limit: 100, used: 40 },
      plan: { value: 100, per_seat: false },
    });
    expect(explained.config).toEqual([
      { key: 'retention_days', value: 365, source: 'override', planValue: 30 },
      { key: 'theme', value: 'light', source: 'plan', planValue: 'light' },
    ]);
  });

  it('has nothing to explain for an inactive tenant, whose snapshot grants nothing', () => {
    expect(explainEntitlements(snapshot('suspended'), plan, deal)).toEqual({
      features: [],
      limits: [],
      config: [],
    });
  });

  it('reads untyped definitions defensively: what is not of the expected shape is left out', () => {
    expect(planParts(null)).toEqual({ features: {}, limits: {}, config: {} });
    expect(planParts({ features: { a: 'yes', b: true }, limits: { m: { value: 'x' } } })).toEqual({
      features: { b: true },
      limits: {},
      config: {},
    });
    expect(overrideParts({ limits: { m: { value: null } } })).toEqual({
      features: {},
      limits: { m: { value: null } },
      config: {},
    });
  });
});

describe('mayTenant', () => {
  const ask = (question: Parameters<typeof mayTenant>[3], state?: EntitlementSnapshot['state']) =>
    mayTenant(snapshot(state), plan, deal, question);

  it('allows a feature on in the plan, and one overridden on', () => {
    expect(ask({ kind: 'feature', feature: 'sso' })).toMatchObject({
      allowed: true,
      reason: 'allowed',
      source: 'plan',
    });
    expect(ask({ kind: 'feature', feature: 'audit' })).toMatchObject({
      allowed: true,
      source: 'override',
      detail: expect.stringContaining('overridden on'),
    });
  });

  it('refuses a feature overridden off, naming the plan’s value', () => {
    const answer = ask({ kind: 'feature', feature: 'recording' });
    expect(answer).toMatchObject({ allowed: false, reason: 'feature_overridden_off', source: 'override' });
    expect(answer.detail).toContain('the plan has it on');
  });

  it('refuses a feature off in the plan, and one the plan does not declare', () => {
    const off = mayTenant(snapshot('active', {}), plan, overrideParts({}), {
      kind: 'feature',
      feature: 'audit',
    });
    expect(off).toMatchObject({ allowed: false, reason: 'feature_off_in_plan', source: 'plan' });
    expect(ask({ kind: 'feature', feature: 'teleport' })).toMatchObject({
      allowed: false,
      reason: 'feature_unknown',
    });
  });

  it('allows an amount that fits under the limit, saying what is left', () => {
    const answer = ask({ kind: 'meter', meter: 'meetings', amount: 60 });
    expect(answer).toMatchObject({ allowed: true, reason: 'allowed', source: 'plan' });
    expect(answer.detail).toContain('40 used of 100');
    expect(answer.detail).toContain('0 left');
  });

  it('refuses an amount over a hard limit with used/limit', () => {
    const answer = ask({ kind: 'meter', meter: 'meetings', amount: 61 });
    expect(answer).toMatchObject({ allowed: false, reason: 'limit_exhausted' });
    expect(answer.detail).toContain('40/100');
  });

  it('admits an amount over a soft limit as overage', () => {
    expect(ask({ kind: 'meter', meter: 'minutes', amount: 20 })).toMatchObject({
      allowed: true,
      reason: 'overage',
    });
  });

  it('refuses a meter tied to a feature that is off, saying it was overridden off', () => {
    const answer = ask({ kind: 'meter', meter: 'recordings', amount: 1 });
    expect(answer).toMatchObject({ allowed: false, reason: 'meter_feature_off', source: 'override' });
    expect(answer.detail).toContain('needs feature "recording"');
    expect(answer.detail).toContain('overridden off');
  });

  it('says a meter without a limit is not limited, and names an overridden limit’s source', () => {
    expect(ask({ kind: 'meter', meter: 'uploads', amount: 1_000_000 })).toMatchObject({
      allowed: true,
      reason: 'not_limited',
    });
    expect(ask({ kind: 'meter', meter: 'sessions', amount: 30 })).toMatchObject({
      allowed: true,
      source: 'override',
    });
  });

  it('says a limit overridden to unlimited is unlimited, by the override', () => {
    const unlimited = { limits: { meetings: { value: null } } };
    const answer = mayTenant(snapshot('active', unlimited), plan, overrideParts(unlimited), {
      kind: 'meter',
      meter: 'meetings',
      amount: 1_000_000,
    });
    expect(answer).toEqual({
      allowed: true,
      reason: 'unlimited',
      detail: `"meetings" is unlimited (the tenant's override).`,
      source: 'override',
    });
  });

  it('gives no yes when the snapshot does not know the usage', () => {
    const known = snapshot();
    const meetings = known.limits.meetings;
    if (meetings === undefined) throw new Error('no meetings limit');
    const unknown = { ...known, limits: { ...known.limits, meetings: { ...meetings, used: null } } };
    expect(mayTenant(unknown, plan, deal, { kind: 'meter', meter: 'meetings', amount: 1 })).toMatchObject({
      allowed: false,
      reason: 'usage_unknown',
    });
  });

  it('refuses anything to an inactive tenant, naming its state', () => {
    for (const question of [
      { kind: 'feature', feature: 'sso' },
      { kind: 'meter', meter: 'meetings', amount: 1 },
    ] as const) {
      const answer = ask(question, 'suspended');
      expect(answer).toMatchObject({ allowed: false, reason: 'tenant_inactive' });
      expect(answer.detail).toContain('suspended');
    }
  });
});
