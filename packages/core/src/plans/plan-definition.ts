import type { RateLimitDefinition } from '../rate-limits/index.ts';
import type { Aggregation } from './aggregations.ts';
import type { LimitKind } from './limit-kind.ts';
import type { MeterCategory } from './meter-categories.ts';

/** A plan config value: what a config key of type integer, number, string or boolean holds. */
export type ConfigValue = number | string | boolean;

/** How often a plan bills its recurring prices. */
export type BillingInterval = 'month' | 'year';

/** `hard` limits refuse the action that would exceed them; `soft` limits only notify. */
export type Enforcement = 'hard' | 'soft';

/**
 * How tiers rate a quantity: `graduated` charges each unit at the price of the tier it falls in;
 * `volume` charges every unit at the price of the tier the total falls in.
 */
export type TiersMode = 'graduated' | 'volume';

/** A declared meter, as it appears in every plan definition of the file. */
export interface MeterDefinition {
  readonly name: string;
  readonly unit: string | null;
  readonly aggregation: Aggregation;
  /**
   * What it measures, for showback; absent when the file sets none, which means
   * {@link DEFAULT_METER_CATEGORY} (left out rather than filled in, so that a file that sets no
   * category resolves to the same definitions, and versions, as before categories existed).
   */
  readonly category?: MeterCategory;
  /** For `unique_count`: `subject` or `properties.<name>`; `null` for other aggregations. */
  readonly unique_by: string | null;
  /**
   * The feature a tenant's plan must enable for the meter to be used (leases, slots). Present
   * only when the file ties the meter to one: absent keeps the checksum of every plan stored
   * before the field existed.
   */
  readonly feature?: string;
}

/** A limit a plan (or an override) sets; see {@link LimitKind} for `kind`. */
export interface LimitDefinition {
  /** The limit, or `null` for unlimited. */
  readonly value: number | null;
  /** When true the effective limit is `value × seats`. */
  readonly per_seat: boolean;
  readonly enforcement: Enforcement;
  /** Usage percentages (1–1000, ascending) at which the tenant is notified. */
  readonly thresholds: readonly number[];
  readonly kind: LimitKind;
  /**
   * For a gauge: the most one subject (a user, a workspace) may hold at once, whatever the pool
   * (`value`) still allows. Present only when the plan sets it, for the reason given on
   * {@link MeterDefinition.feature}.
   */
  readonly per_subject?: number;
}

/** One tier of a tiered usage price. Amounts are canonical decimal strings in major units. */
export interface TierDefinition {
  /** Upper bound of the tier (inclusive), or `null` for the last, unbounded tier (`inf` in the file). */
  readonly up_to: number | null;
  readonly unit_amount: string;
  readonly flat_amount: string;
}

interface PriceBase {
  /** Unique within the plan: written in the file, or derived (`flat`, `per_seat`, `minimum`, `usage_<meter>`). */
  readonly key: string;
  /** Invoice line label, or `null` to let the invoice describe the price. */
  readonly name: string | null;
}

/** A fixed amount per billing interval. */
export interface FlatPriceDefinition extends PriceBase {
  readonly type: 'flat';
  readonly amount: string;
}

/** An amount per seat per billing interval. */
export interface PerSeatPriceDefinition extends PriceBase {
  readonly type: 'per_seat';
  readonly unit_amount: string;
}

/**
 * A price on the usage of one meter over the period. Exactly one of `unit_amount` (with
 * `package_size`) or `tiers` (with `tiers_mode`) is set; the other fields are `null`.
 */
export interface UsagePriceDefinition extends PriceBase {
  readonly type: 'usage';
  readonly meter: string;
  /** Units per period that are free before the price applies. */
  readonly included: number;
  readonly unit_amount: string | null;
  /** Units per package charged by `unit_amount` (a started package is charged whole); 1 = per unit. */
  readonly package_size: number | null;
  readonly tiers_mode: TiersMode | null;
  readonly tiers: readonly TierDefinition[] | null;
}

/** A minimum commitment: the period's charges are topped up to this amount. */
export interface MinimumPriceDefinition extends PriceBase {
  readonly type: 'minimum';
  readonly amount: string;
}

/** A normalised price of a plan. */
export type PriceDefinition =
  | FlatPriceDefinition
  | PerSeatPriceDefinition
  | UsagePriceDefinition
  | MinimumPriceDefinition;

/**
 * One plan, canonical and self-contained: everything the server stores as an immutable plan
 * version and everything entitlement evaluation and rating need, without the file it came from.
 */
export interface PlanDefinition {
  readonly key: string;
  readonly name: string;
  readonly description: string | null;
  readonly currency: string;
  readonly interval: BillingInterval;
  readonly trial_days: number;
  readonly requires_payment_method: boolean;
  /**
   * Days from a failed payment until a tenant that still has not paid is suspended. Present only
   * when the plan file sets it, unlike every other default: versions stored before the field
   * existed lack it anyway, and filling it in would change the checksum of every plan, so that
   * applying an unchanged file would make a new version of each. Absent means
   * `DEFAULT_GRACE_PERIOD_DAYS`.
   */
  readonly grace_period_days?: number;
  /**
   * Days after a failed payment on which it is retried, ascending. Present only when the plan
   * file sets it, like {@link grace_period_days}; absent means `DEFAULT_PAYMENT_RETRY_DAYS`.
   */
  readonly payment_retry_days?: readonly number[];
  /** Every feature the file declares; `true` for those the plan enables. */
  readonly features: Readonly<Record<string, boolean>>;
  /** Only the limits the plan sets; a meter without a limit is not limited. */
  readonly limits: Readonly<Record<string, LimitDefinition>>;
  /** Every config key the file declares: the plan's value or the declared default. */
  readonly config: Readonly<Record<string, ConfigValue>>;
  readonly prices: readonly PriceDefinition[];
  /**
   * The plan's rate limits by name (token buckets: requests per window, burst). Present only
   * when the plan sets one, like {@link grace_period_days}, so that the checksum of every plan
   * stored before rate limits existed stays the same.
   */
  readonly rate_limits?: Readonly<Record<string, RateLimitDefinition>>;
  /** Every meter the file declares. */
  readonly meters: Readonly<Record<string, MeterDefinition>>;
}
