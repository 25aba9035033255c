import { billingPeriod } from '../billing/index.ts';
import { applyOverrides, type PlanDefinition, type TenantOverrides } from '../plans/index.ts';
import { copyRateLimits } from '../rate-limits/index.ts';
import type { TenantState } from '../tenants/index.ts';
import type { EntitlementSnapshot, LimitEntitlement } from './entitlement-snapshot.ts';

/** What {@link evaluateEntitlements} needs to know about a tenant, all of it supplied by the caller. */
export interface EntitlementInput {
  readonly tenantId: string;
  readonly state: TenantState;
  readonly seats: number;
  readonly plan: { readonly key: string; readonly version: number; readonly definition: PlanDefinition };
  readonly overrides: TenantOverrides;
  /** Current usage by limit key: period totals for metered limits, current levels for gauges. */
  readonly usage?: Readonly<Record<string, number>>;
  readonly billingAnchor: Date;
  readonly trialEndsAt: Date | null;
  /** The instant to evaluate at; core never reads the clock, so that server and SDK agree. */
  readonly now: Date;
}

const ACTIVE_STATES: ReadonlySet<TenantState> = new Set(['trialing', 'active', 'past_due']);

/**
 * Whether a tenant in `state` may use anything: what a snapshot's `active` says, for callers that
 * have the state but no snapshot (a tenant's API keys work only while it does).
 */
export function entitlesUse(state: TenantState): boolean {
  return ACTIVE_STATES.has(state);
}

/**
 * The entitlement snapshot of a tenant at `now`: its plan version with overrides applied,
 * limits made effective (× seats when per seat) and compared with `usage`. A tenant that is not
 * trialing, active or past due gets no features, limits or config, and a `reason`. Deterministic:
 * the same input always gives the same snapshot.
 */
export function evaluateEntitlements(input: EntitlementInput): EntitlementSnapshot {
  const { definition } = input.plan;
  const period = billingPeriod(input.billingAnchor, definition.interval, input.now);
  const base = {
    tenant_id: input.tenantId,
    state: input.state,
    seats: input.seats,
    period: { start: period.start.toISOString(), end: period.end.toISOString() },
    trial_ends_at: input.trialEndsAt === null ? null : input.trialEndsAt.toISOString(),
  };
  if (!ACTIVE_STATES.has(input.state)) {
    return {
      ...base,
      active: false,
      reason: `tenant_${input.state}`,
      plan: null,
      features: {},
      limits: {},
      config: {},
    };
  }

  const effective = applyOverrides(definition, input.overrides);
  const limits: Record<string, LimitEntitlement> = {};
  for (const [key, limit] of Object.entries(effective.limits)) {
    const value = limit.value === null ? null : limit.per_seat ? limit.value * input.seats : limit.value;
    const used =
      limit.kind === 'seats'
        ? input.seats
        : input.usage !== undefined && Object.hasOwn(input.usage, key)
          ? (input.usage[key] ?? null)
          : null;
    limits[key] = {
      kind: limit.kind,
      limit: value,
      used,
      remaining: value === null || used === null ? null : Math.max(0, value - used),
      enforcement: limit.enforcement,
      thresholds: [...limit.thresholds],
      resets_at: limit.kind === 'metered' ? base.period.end : null,
      ...(limit.per_subject === undefined ? {} : { per_subject: limit.per_subject }),
    };
  }
  const meterFeatures: Record<string, string> = {};
  for (const [key, meter] of Object.entries(definition.meters)) {
    if (meter.feature !== undefined) meterFeatures[key] = meter.feature;
  }
  return {
    ...base,
    active: true,
    reason: null,
    plan: { key: input.plan.key, version: input.plan.version },
    features: { ...effective.features },
    limits,
    config: { ...effective.config },
    ...(Object.keys(meterFeatures).length === 0 ? {} : { meter_features: meterFeatures }),
    ...(effective.rate_limits === undefined ? {} : { rate_limits: copyRateLimits(effective.rate_limits) }),
  };
}
