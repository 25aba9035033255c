import {
  type Decimal,
  formatDecimal,
  formatMinorUnits,
  parseDecimal,
  roundHalfEven,
  toMinorUnits,
} from '@tenantry/core';

/*
 * Exact decimal text as Postgres `numeric::text` and the rating engine write it ("-12.50", "0",
 * "412.500"), as scaled bigints. Billing never computes money or quantities in floating point.
 */

/** The decimal `text` denotes, signed (core's `Decimal` with a sign); throws a `TypeError` for anything else (a programming error). */
export function parseDecimalText(text: string): Decimal {
  const trimmed = text.trim();
  const negative = trimmed.startsWith('-');
  const parsed = parseDecimal(negative ? trimmed.slice(1) : trimmed);
  if (parsed === null) throw new TypeError(`not a decimal: ${JSON.stringify(text)}`);
  return negative ? { coefficient: -parsed.coefficient, scale: parsed.scale } : parsed;
}

/** `value` as canonical text: no trailing fraction zeros, `"0"` for zero. */
export function formatScaled(value: Decimal): string {
  if (value.coefficient >= 0n) return formatDecimal(value);
  const text = formatDecimal({ coefficient: -value.coefficient, scale: value.scale });
  return `-${text}`;
}

/** Canonical text of a decimal text (`"412.500"` → `"412.5"`). */
export function canonicalText(text: string): string {
  return formatScaled(parseDecimalText(text));
}

/**
 * `value × numerator / denominator` rounded half to even to `scale` fraction digits, for a
 * non-negative value and a positive ratio: converts value-seconds to the meter's billing unit.
 */
export function scaleRatio(value: string, numerator: bigint, denominator: bigint, scale: number): string {
  const parsed = parseDecimalText(value);
  const rounded = roundHalfEven(
    parsed.coefficient * numerator * 10n ** BigInt(scale),
    denominator * 10n ** BigInt(parsed.scale),
  );
  return formatScaled({ coefficient: rounded, scale });
}

/**
 * A charged amount (`"343.00"`, `"-1.50"`) in integer minor units of `currency`: core's
 * `toMinorUnits`, with a sign. The amount must already be rounded to the currency's digits, as
 * every charged amount is.
 */
export function minorOf(amount: string, currency: string): bigint {
  const negative = amount.startsWith('-');
  const minor = toMinorUnits(negative ? amount.slice(1) : amount, currency);
  if (minor === null) throw new RangeError(`${amount} is not an amount in ${currency}'s minor units`);
  return negative ? -minor : minor;
}

/** Integer minor units of `currency` as a major-unit amount with exactly its digits: core's `formatMinorUnits`, with a sign. */
export function moneyOf(minor: bigint, currency: string): string {
  return minor < 0n ? `-${formatMinorUnits(-minor, currency)}` : formatMinorUnits(minor, currency);
}
