import type { ConfigValue, Enforcement, LimitKind } from '../plans/index.ts';
import type { TenantState } from '../tenants/index.ts';

/** One limit as it applies to a tenant now. */
export interface LimitEntitlement {
  readonly kind: LimitKind;
  /** The effective limit: the plan's (or override's) value, × seats when per seat; `null` = unlimited. */
  readonly limit: number | null;
  /** Current usage: the seat count for seats, the period total for metered, the level for gauges; `null` = not known. */
  readonly used: number | null;
  /** `limit - used`, never below 0; `null` when either is `null`. */
  readonly remaining: number | null;
  readonly enforcement: Enforcement;
  readonly thresholds: readonly number[];
  /** When a metered limit starts again (the period end, ISO 8601 UTC); `null` for seats and gauges. */
  readonly resets_at: string | null;
  /** For a gauge capped per subject: the most one subject may hold at once. Absent when not capped. */
  readonly per_subject?: number;
}

/**
 * Everything a tenant may do now. Apps cache it and check it locally (see {@link hasFeature}),
 * so it carries everything a check needs and nothing that requires a call back.
 */
export interface EntitlementSnapshot {
  readonly tenant_id: string;
  readonly state: TenantState;
  /** True while the tenant may use the app: `trialing`, `active` and `past_due`. */
  readonly active: boolean;
  /** Why the tenant is not active (`tenant_<state>`), or `null` when it is. */
  readonly reason: string | null;
  /** The plan version in force, or `null` when not active. */
  readonly plan: { readonly key: string; readonly version: number } | null;
  readonly seats: number;
  /** The current billing period, ISO 8601 UTC, half-open. */
  readonly period: { readonly start: string; readonly end: string };
  readonly trial_ends_at: string | null;
  /** Every feature of the plan, after overrides; `{}` when not active. */
  readonly features: Readonly<Record<string, boolean>>;
  /** Every limit of the plan, after overrides; `{}` when not active. */
  readonly limits: Readonly<Record<string, LimitEntitlement>>;
  /** Every config value of the plan, after overrides; `{}` when not active. */
  readonly config: Readonly<Record<string, ConfigValue>>;
  /**
   * The feature each meter tied to one needs (`meter → feature`), so that a check can refuse a
   * meter whose feature is off without a call; absent when no meter is tied or not active.
   */
  readonly meter_features?: Readonly<Record<string, string>>;
  /**
   * Users removed from the tenant lately (`usr_…` → when, ISO 8601 UTC): an access token of one
   * of them issued at or before that instant no longer counts (see {@link subjectRevoked}), though
   * its signature still verifies until it expires. Kept as long as the longest access token lives;
   * absent when nobody was removed in that time.
   */
  readonly revoked_subjects?: Readonly<Record<string, string>>;
}

/**
 * The most tenants an entitlement stream may name as those whose snapshots it holds
 * (`POST /v1/entitlements/stream`); an SDK holding more follows every tenant's snapshots.
 */
export const MAX_STREAM_TENANTS = 50_000;
