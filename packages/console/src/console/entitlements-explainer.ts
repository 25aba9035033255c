import {
  type EntitlementSnapshot,
  hasFeature,
  type LimitEntitlement,
  limitExhausted,
  limitOf,
  meterUseRefusal,
} from '@tenantry/core';

// The effective values are the server's: the tenant's entitlement snapshot
// (`GET /v1/tenants/{id}/entitlements`, evaluateEntitlements in @tenantry/core). This module only
// says where each one came from, by setting it beside the plan version's definition and the
// tenant's overrides, and answers "may it?" with the checks the SDK and the server make
// (hasFeature, meterUseRefusal, limitExhausted), so the console never computes a value itself.

/** Where an effective value comes from. */
export type Source = 'plan' | 'override';

type ConfigValue = string | number | boolean;

/** The parts of a plan version's definition the explainer reads (the API types it `unknown`). */
export interface PlanParts {
  readonly features: Readonly<Record<string, boolean>>;
  /** `value` null: unlimited. */
  readonly limits: Readonly<Record<string, { readonly value: number | null; readonly per_seat: boolean }>>;
  readonly config: Readonly<Record<string, ConfigValue>>;
}

/** The parts of a tenant's overrides the explainer reads (the API types them `unknown`). */
export interface OverrideParts {
  readonly features: Readonly<Record<string, boolean>>;
  readonly limits: Readonly<Record<string, { readonly value?: number | null; readonly per_seat?: boolean }>>;
  readonly config: Readonly<Record<string, ConfigValue>>;
}

export interface FeatureRow {
  readonly key: string;
  readonly enabled: boolean;
  readonly source: Source;
  /** The plan's value, shown beside an overridden one; undefined when the plan does not declare it. */
  readonly planEnabled: boolean | undefined;
}

export interface LimitRow {
  readonly key: string;
  readonly limit: LimitEntitlement;
  readonly source: Source;
  /** The plan's limit as its definition writes it (per seat or not); undefined when the plan sets none. */
  readonly plan: { readonly value: number | null; readonly per_seat: boolean } | undefined;
}

export interface ConfigRow {
  readonly key: string;
  readonly value: ConfigValue;
  readonly source: Source;
  readonly planValue: ConfigValue | undefined;
}

export interface Explanation {
  readonly features: readonly FeatureRow[];
  readonly limits: readonly LimitRow[];
  readonly config: readonly ConfigRow[];
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isConfigValue = (value: unknown): value is ConfigValue =>
  typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';

/** Keeps the entries of `value` (an object) whose values `pick` maps to something. */
function entries<T>(value: unknown, pick: (entry: unknown) => T | undefined): Record<string, T> {
  const out: Record<string, T> = {};
  if (!isRecord(value)) return out;
  for (const [key, entry] of Object.entries(value)) {
    const picked = pick(entry);
    if (picked !== undefined) out[key] = picked;
  }
  return out;
}

const limitValue = (value: unknown): number | null | undefined =>
  value === null || typeof value === 'number' ? value : undefined;

/** A plan version's `definition` (a PlanDefinition, which the API document leaves untyped). */
export function planParts(definition: unknown): PlanParts {
  const parts = isRecord(definition) ? definition : {};
  return {
    features: entries(parts.features, (value) => (typeof value === 'boolean' ? value : undefined)),
    limits: entries(parts.limits, (limit) => {
      if (!isRecord(limit)) return undefined;
      const value = limitValue(limit.value);
      return value === undefined ? undefined : { value, per_seat: limit.per_seat === true };
    }),
    config: entries(parts.config, (value) => (isConfigValue(value) ? value : undefined)),
  };
}

/** A tenant's `overrides` (TenantOverrides, which the API document leaves untyped). */
export function overrideParts(overrides: unknown): OverrideParts {
  const parts = isRecord(overrides) ? overrides : {};
  return {
    features: entries(parts.features, (value) => (typeof value === 'boolean' ? value : undefined)),
    limits: entries(parts.limits, (limit) => {
      if (!isRecord(limit)) return undefined;
      const value = limitValue(limit.value);
      return {
        ...(value === undefined ? {} : { value }),
        ...(typeof limit.per_seat === 'boolean' ? { per_seat: limit.per_seat } : {}),
      };
    }),
    config: entries(parts.config, (value) => (isConfigValue(value) ? value : undefined)),
  };
}

const sourceOf = (overrides: Readonly<Record<string, unknown>>, key: string): Source =>
  Object.hasOwn(overrides, key) ? 'override' : 'plan';

const own = <T>(record: Readonly<Record<string, T>>, key: string): T | undefined =>
  Object.hasOwn(record, key) ? record[key] : undefined;

/**
 * Each effective feature, limit and config value of the snapshot, with its source: the tenant's
 * override when the overrides name it, the plan version otherwise, and the plan's value beside it.
 * An inactive tenant's snapshot grants nothing, so its explanation is empty (see {@link mayTenant}).
 */
export function explainEntitlements(
  snapshot: EntitlementSnapshot,
  plan: PlanParts,
  overrides: OverrideParts,
): Explanation {
  const byKey = <T>(record: Readonly<Record<string, T>>) =>
    Object.entries(record).sort(([a], [b]) => a.localeCompare(b));
  return {
    features: byKey(snapshot.features).map(([key, enabled]) => ({
      key,
      enabled,
      source: sourceOf(overrides.features, key),
      planEnabled: own(plan.features, key),
    })),
    limits: byKey(snapshot.limits).map(([key, limit]) => ({
      key,
      limit,
      source: sourceOf(overrides.limits, key),
      plan: own(plan.limits, key),
    })),
    config: byKey(snapshot.config).map(([key, value]) => ({
      key,
      value,
      source: sourceOf(overrides.config, key),
      planValue: own(plan.config, key),
    })),
  };
}

/** What the operator asks: may the tenant use a feature, or use `amount` more of a meter? */
export type Question =
  | { readonly kind: 'feature'; readonly feature: string }
  | { readonly kind: 'meter'; readonly meter: string; readonly amount: number };

/** Why the answer is what it is; `detail` says it in words, with the figures. */
export type AnswerReason =
  | 'allowed'
  | 'overage'
  | 'unlimited'
  | 'not_limited'
  | 'tenant_inactive'
  | 'feature_off_in_plan'
  | 'feature_overridden_off'
  | 'feature_unknown'
  | 'meter_feature_off'
  | 'limit_exhausted'
  | 'usage_unknown';

export interface Answer {
  readonly allowed: boolean;
  readonly reason: AnswerReason;
  readonly detail: string;
  /** Where the deciding value came from (a feature's or limit's), when one decided. */
  readonly source?: Source;
}

/**
 * Whether the tenant may do what `question` asks now, and why, as the SDK and the server decide:
 * an inactive tenant may do nothing; a feature is on or off after overrides; a meter tied to a
 * feature that is off may not be used at all; otherwise `amount` more fits under a hard limit or
 * is refused with what is used against the limit, and a soft limit admits it as overage.
 */
export function mayTenant(
  snapshot: EntitlementSnapshot,
  plan: PlanParts,
  overrides: OverrideParts,
  question: Question,
): Answer {
  if (!snapshot.active) {
    const what = question.kind === 'feature' ? question.feature : question.meter;
    return {
      allowed: false,
      reason: 'tenant_inactive',
      detail: `The tenant is ${snapshot.state}: it may not use "${what}" (nothing is granted until it is active again).`,
    };
  }
  if (question.kind === 'feature') return featureAnswer(snapshot, plan, overrides, question.feature);

  const { meter, amount } = question;
  const refusal = meterUseRefusal(snapshot, meter);
  if (refusal !== null) {
    // Not inactive (checked above): the meter's feature is off. Say where that came from.
    const feature = own(snapshot.meter_features ?? {}, meter) ?? '';
    const off = featureAnswer(snapshot, plan, overrides, feature);
    return {
      allowed: false,
      reason: 'meter_feature_off',
      detail: `"${meter}" needs feature "${feature}": ${off.detail}`,
      ...(off.source === undefined ? {} : { source: off.source }),
    };
  }
  const limit = limitOf(snapshot, meter);
  if (limit === undefined) {
    return {
      allowed: true,
      reason: 'not_limited',
      detail: `Neither the plan nor an override sets a limit on "${meter}": the tenant is not limited on it.`,
    };
  }
  const source = sourceOf(overrides.limits, meter);
  const from = source === 'override' ? "the tenant's override" : 'the plan';
  if (limit.limit === null) {
    return { allowed: true, reason: 'unlimited', detail: `"${meter}" is unlimited (${from}).`, source };
  }
  const used = limit.used;
  if (used === null) {
    // Not guessed as 0: without the usage, only the control plane can answer (when it grants).
    return {
      allowed: false,
      reason: 'usage_unknown',
      detail: `The snapshot does not say how much of "${meter}" is used (limit ${limit.limit}, ${from}): no answer without it.`,
      source,
    };
  }
  if (used + amount <= limit.limit) {
    return {
      allowed: true,
      reason: 'allowed',
      detail: `${used} used of ${limit.limit} (${from}): ${amount} more fits, ${limit.limit - used - amount} left after it.`,
      source,
    };
  }
  if (limit.enforcement === 'soft') {
    return {
      allowed: true,
      reason: 'overage',
      detail: `${used} used of ${limit.limit} (${from}, a soft limit): ${amount} more is admitted as overage.`,
      source,
    };
  }
  const exhausted = limitExhausted({
    tenantId: snapshot.tenant_id,
    meter,
    limit: limit.limit,
    used,
    scope: 'tenant',
    kind: limit.kind === 'gauge' ? 'gauge' : 'metered',
  });
  return {
    allowed: false,
    reason: 'limit_exhausted',
    detail: `Limit reached: ${used}/${limit.limit} (${from}); ${amount} more would pass it. ${exhausted.detail}.`,
    source,
  };
}

function featureAnswer(
  snapshot: EntitlementSnapshot,
  plan: PlanParts,
  overrides: OverrideParts,
  feature: string,
): Answer {
  if (!Object.hasOwn(snapshot.features, feature)) {
    return {
      allowed: false,
      reason: 'feature_unknown',
      detail: `The tenant's plan declares no feature "${feature}".`,
    };
  }
  const source = sourceOf(overrides.features, feature);
  const planEnabled = own(plan.features, feature);
  if (hasFeature(snapshot, feature)) {
    return {
      allowed: true,
      reason: 'allowed',
      detail:
        source === 'override'
          ? `Feature "${feature}" is overridden on for this tenant (the plan has it ${planEnabled ? 'on' : 'off'}).`
          : `Feature "${feature}" is on in the plan.`,
      source,
    };
  }
  return source === 'override'
    ? {
        allowed: false,
        reason: 'feature_overridden_off',
        detail: `Feature "${feature}" is overridden off for this tenant (the plan has it ${planEnabled ? 'on' : 'off'}).`,
        source,
      }
    : {
        allowed: false,
        reason: 'feature_off_in_plan',
        detail: `Feature "${feature}" is off in the plan.`,
        source,
      };
}
