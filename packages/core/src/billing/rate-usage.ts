import type { UsagePriceDefinition } from '../plans/index.ts';
import {
  addDecimals,
  ceilDivideDecimal,
  compareDecimals,
  type Decimal,
  decimalOf,
  minDecimal,
  multiplyDecimals,
  parseDecimal,
  subtractDecimalsAtLeastZero,
} from './decimal.ts';

/** One tier a tiered price used, exact. */
export interface TierUse {
  /** 1-based position of the tier. */
  readonly tier: number;
  readonly upTo: number | null;
  readonly quantity: Decimal;
  readonly unitAmount: Decimal;
  readonly flatAmount: Decimal;
  /** `quantity × unitAmount + flatAmount`. */
  readonly amount: Decimal;
}

/** A usage price applied to a period's usage, before the line is rounded to minor units. */
export interface UsageCharge {
  /** `max(0, usage − included)`. */
  readonly billable: Decimal;
  /** The line's quantity: billable units, or started packages for a package price. */
  readonly quantity: Decimal;
  /** Price per unit of `quantity`; `null` for tiers. */
  readonly unitAmount: Decimal | null;
  /** The tiers used, for a tiered price; `null` otherwise. */
  readonly tiers: readonly TierUse[] | null;
  /** The exact, unrounded charge in major units. */
  readonly amount: Decimal;
}

/**
 * The exact charge of one usage price for `usage` units over the period. The included units are
 * taken off first; the rest ("billable") is rated as if it were the whole usage: per unit, per
 * started package of `package_size` units, or through the tiers, whose `up_to` bounds count
 * billable units. Graduated tiers charge each unit at its tier's price plus the flat amount of
 * every tier reached; volume tiers charge every unit at the price of the tier the billable
 * quantity falls in, plus that tier's flat amount. A quantity of zero reaches no tier. Expects a
 * validated price (amounts parse); throws a `TypeError` otherwise.
 */
export function rateUsage(price: UsagePriceDefinition, usage: Decimal): UsageCharge {
  const billable = subtractDecimalsAtLeastZero(usage, decimalOf(price.included));
  if (price.tiers === null || price.tiers_mode === null) {
    const unitAmount = amount(price.unit_amount);
    const packageSize = price.package_size ?? 1;
    const quantity = packageSize > 1 ? decimalOf(ceilDivideDecimal(billable, BigInt(packageSize))) : billable;
    return { billable, quantity, unitAmount, tiers: null, amount: multiplyDecimals(quantity, unitAmount) };
  }
  const tiers: TierUse[] = [];
  let total = decimalOf(0);
  const charge = (index: number, quantity: Decimal) => {
    const tier = price.tiers?.[index];
    if (tier === undefined) throw new TypeError('rateUsage: no such tier');
    const unitAmount = amount(tier.unit_amount);
    const flatAmount = amount(tier.flat_amount);
    const tierAmount = addDecimals(multiplyDecimals(quantity, unitAmount), flatAmount);
    total = addDecimals(total, tierAmount);
    tiers.push({ tier: index + 1, upTo: tier.up_to, quantity, unitAmount, flatAmount, amount: tierAmount });
  };
  if (billable.coefficient > 0n) {
    if (price.tiers_mode === 'volume') {
      const index = price.tiers.findIndex(
        (tier) => tier.up_to === null || compareDecimals(billable, decimalOf(tier.up_to)) <= 0,
      );
      charge(index === -1 ? price.tiers.length - 1 : index, billable);
    } else {
      let floor = decimalOf(0);
      for (const [index, tier] of price.tiers.entries()) {
        if (compareDecimals(billable, floor) <= 0) break;
        const ceiling = tier.up_to === null ? billable : minDecimal(billable, decimalOf(tier.up_to));
        charge(index, subtractDecimalsAtLeastZero(ceiling, floor));
        if (tier.up_to === null) break;
        floor = decimalOf(tier.up_to);
      }
    }
  }
  return { billable, quantity: billable, unitAmount: null, tiers, amount: total };
}

function amount(text: string | null): Decimal {
  const value = text === null ? null : parseDecimal(text);
  if (value === null) throw new TypeError(`rateUsage: ${JSON.stringify(text)} is not an amount`);
  return value;
}
