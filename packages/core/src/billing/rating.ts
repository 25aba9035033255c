import type { PlanDefinition, TiersMode } from '../plans/index.ts';
import type { Period } from './billing-period.ts';

/*
 * The types of the rating engine (`ratePeriod` in rate-period.ts). Inputs carry `Date`s and plan
 * definitions as the server holds them; outputs are plain JSON: `JSON.parse(JSON.stringify(x))`
 * deep-equals `x`.
 *
 * Money in outputs: every amount is a decimal string in MAJOR units of the invoice's currency,
 * the same notation as plan files. Amounts that are charged — `InvoiceLine.amount`, `subtotal`,
 * `total`, `MinimumDetail.*` — always have exactly the currency's minor-unit digits (`"343.00"` in
 * usd, `"1500"` in jpy), so `toMinorUnits(amount, currency)` gives the integer minor units and
 * Postgres `numeric` stores them exactly. Unit prices and per-tier amounts are exact and unrounded,
 * with at least the currency's digits (`"49.00"`, `"0.0004"`, `"112.285"`), because rounding
 * happens once per line. Quantities are canonical decimals (`"7"`, `"312.5"`). Negative amounts
 * never occur.
 */

/**
 * The subscription as it was over part of the billed period: one plan version and one seat count
 * from `from` (inclusive) to `to` (exclusive). The segments of a {@link RatingInput} tile its
 * period in order, without gap or overlap; a mid-period plan or seat change splits the period
 * into several segments. When the changes take effect (upgrades now, downgrades at the period
 * end) is the caller's decision; the engine rates the segments it is given.
 */
export interface SubscriptionSegment {
  /** Start of the segment, inclusive. The first segment starts at the period's start. */
  readonly from: Date;
  /** End of the segment, exclusive. The last segment ends at the period's end. */
  readonly to: Date;
  /** The plan version in force over the segment (with any per-tenant overrides applied). */
  readonly plan: PlanDefinition;
  /** The number of that plan version; it is copied onto the invoice lines the segment produces. */
  readonly planVersion: number;
  /** Seats over the segment: a whole number ≥ 0. Used by per-seat prices. */
  readonly seats: number;
}

/** Everything {@link RatedInvoice} is computed from; nothing else is read. */
export interface RatingInput {
  /** The billed period `[start, end)`, e.g. from `billingPeriod`. */
  readonly period: Period;
  /** The subscription over the period, in order, tiling it exactly. At least one. */
  readonly segments: readonly SubscriptionSegment[];
  /**
   * The period's usage per meter key, aggregated by the meter's aggregation: a non-negative
   * decimal string in plain notation (`"123456"`, `"2.75"`, Postgres `numeric::text` is fine).
   * Usage is rated under the plan in force at the period's end (the last segment), as Stripe
   * rates metered prices; a priced meter absent from the record counts as `"0"`; meters that
   * plan does not price are ignored.
   */
  readonly usage: Readonly<Record<string, string>>;
}

/** What produced an invoice line: the price type of the plan, or `minimum` for the top-up. */
export type InvoiceLineKind = 'flat' | 'per_seat' | 'usage' | 'minimum';

/** A half-open UTC interval as ISO 8601 strings with milliseconds (`Date.prototype.toISOString`). */
export interface IsoPeriod {
  /** Inclusive start, e.g. `2026-11-01T00:00:00.000Z`. */
  readonly start: string;
  /** Exclusive end. */
  readonly end: string;
}

/** The plan version a line was rated under. */
export interface LinePlan {
  /** The plan's key, e.g. `business`. */
  readonly key: string;
  /** The plan version's number. */
  readonly version: number;
}

/**
 * The share of the period a recurring line covers, counted in whole seconds: each instant is
 * truncated to its second (epoch seconds, UTC) before subtracting, so the seconds of segments
 * that tile a period add up to the period's seconds.
 */
export interface Proration {
  /** Seconds of the segment. */
  readonly seconds: number;
  /** Seconds of the whole billed period. */
  readonly period_seconds: number;
}

/** One tier a tiered usage line used (only tiers with a quantity > 0 are listed). */
export interface TierCharge {
  /** 1-based position of the tier in the price's `tiers`. */
  readonly tier: number;
  /** The tier's inclusive upper bound in billable units, or `null` for the last, unbounded tier. */
  readonly up_to: number | null;
  /** Units charged at this tier's unit price: decimal string. */
  readonly quantity: string;
  /** The tier's price per unit, major units, exact. */
  readonly unit_amount: string;
  /** The tier's flat amount, charged because usage reached the tier, major units. */
  readonly flat_amount: string;
  /** `quantity × unit_amount + flat_amount`, exact and unrounded, major units. */
  readonly amount: string;
}

/** How a usage line's quantity was obtained from the meter's usage. */
export interface UsageDetail {
  /** The meter key. */
  readonly meter: string;
  /** The period's usage as given (canonical decimal). */
  readonly usage: string;
  /** Units included for free (the price's `included`). */
  readonly included: number;
  /** `max(0, usage − included)`: the units the price applies to. */
  readonly billable: string;
  /** Units per package for a package price (`package_size` > 1), else `null`. */
  readonly package_size: number | null;
  /** How the tiers of a tiered price rate the billable units; `null` for per-unit and package prices. */
  readonly tiers_mode: TiersMode | null;
}

/** How a minimum-commitment top-up was computed. */
export interface MinimumDetail {
  /**
   * The commitment for the period: the sum, over segments, of each segment plan's minimum
   * amounts prorated by the segment's seconds, rounded half-even once. Currency digits.
   */
  readonly commitment: string;
  /** The sum of every other line of the invoice. Currency digits. */
  readonly charges: string;
}

/**
 * One line of a rated invoice. `quantity × unit_amount`, rounded half-even to the currency's minor
 * unit, is `amount` for flat, per-seat and per-unit or package usage lines (times
 * `proration.seconds / proration.period_seconds` when prorated); a tiered line's `amount` is the
 * sum of its `tiers` amounts rounded the same way.
 */
export interface InvoiceLine {
  /**
   * Unique within the invoice and stable when the same input is rated again:
   * `<price key>@<segment start ISO>` for flat and per-seat lines (one per segment),
   * `<price key>` for usage lines, and `minimum` for the top-up line.
   */
  readonly key: string;
  /** What produced the line. */
  readonly kind: InvoiceLineKind;
  /** The key of the plan price the line comes from (for `minimum`, the last segment plan's minimum price). */
  readonly price_key: string;
  /** Label for people: the price's `name`, or one derived from its type or meter; prorated lines add their dates. */
  readonly description: string;
  /** The part of the billed period the line covers: the segment for recurring lines, the whole period otherwise. */
  readonly period: IsoPeriod;
  /**
   * Decimal string. Flat: `"1"`; per seat: the seats; usage per unit: billable units; package:
   * started packages; tiered: billable units; minimum: `"1"`.
   */
  readonly quantity: string;
  /** Price per unit of `quantity` in major units, exact; `null` for tiered lines (see `tiers`). */
  readonly unit_amount: string | null;
  /** The line's charge in major units with exactly the currency's minor-unit digits. */
  readonly amount: string;
  /** The tiers used by a tiered usage line, in tier order; `null` for other lines. */
  readonly tiers: readonly TierCharge[] | null;
  /** How a usage line's quantity came about; `null` for other lines. */
  readonly usage: UsageDetail | null;
  /** Set when a recurring line covers less than the whole period; `null` otherwise. */
  readonly proration: Proration | null;
  /** Set on the `minimum` line; `null` for other lines. */
  readonly minimum: MinimumDetail | null;
  /** The plan version the line was rated under. */
  readonly plan: LinePlan;
}

/** A rated billing period: what an invoice for it charges, line by line. */
export interface RatedInvoice {
  /** Lowercase ISO 4217 code shared by every segment's plan. */
  readonly currency: string;
  /** The billed period. */
  readonly period: IsoPeriod;
  /**
   * Recurring lines segment by segment in plan price order, then usage lines in the period-end
   * plan's price order, then the minimum top-up if any. Lines of amount zero are kept (a finance
   * person sees the included usage).
   */
  readonly lines: readonly InvoiceLine[];
  /** The sum of every line's amount (lines are rounded first, then added). */
  readonly subtotal: string;
  /** What is due: equal to `subtotal`; the engine applies no discount, tax or credit. */
  readonly total: string;
}
