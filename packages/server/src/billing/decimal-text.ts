import { minorUnitDigits } from '@tenantry/core';

/*
 * Exact decimal text as Postgres `numeric::text` and the rating engine write it ("-12.50", "0",
 * "412.500"), as scaled bigints. Billing never computes money or quantities in floating point.
 */

/** `coefficient / 10^scale`, exactly; the coefficient carries the sign. */
export interface ScaledDecimal {
  readonly coefficient: bigint;
  readonly scale: number;
}

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/** The decimal `text` denotes; throws a `TypeError` for anything else (a programming error). */
export function parseDecimalText(text: string): ScaledDecimal {
  const match = DECIMAL.exec(text.trim());
  if (match === null) throw new TypeError(`not a decimal: ${JSON.stringify(text)}`);
  const fraction = match[3] ?? '';
  const magnitude = BigInt((match[2] ?? '0') + fraction);
  return { coefficient: match[1] === '-' ? -magnitude : magnitude, scale: fraction.length };
}

/** `value` as canonical text: no trailing fraction zeros, `"0"` for zero. */
export function formatScaled(value: ScaledDecimal): string {
  const negative = value.coefficient < 0n;
  const digits = (negative ? -value.coefficient : value.coefficient)
    .toString()
    .padStart(value.scale + 1, '0');
  const whole = digits.slice(0, digits.length - value.scale);
  const fraction = digits.slice(digits.length - value.scale).replace(/0+$/, '');
  const text = fraction === '' ? whole : `${whole}.${fraction}`;
  return negative && text !== '0' ? `-${text}` : text;
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
  const top = parsed.coefficient * numerator * 10n ** BigInt(scale);
  const bottom = denominator * 10n ** BigInt(parsed.scale);
  const quotient = top / bottom;
  const twice = 2n * (top % bottom);
  const rounded = twice > bottom || (twice === bottom && quotient % 2n === 1n) ? quotient + 1n : quotient;
  return formatScaled({ coefficient: rounded, scale });
}

/**
 * A charged amount (`"343.00"`, `"-1.50"`) in integer minor units of `currency`. The amount must
 * already be rounded to the currency's digits, as every charged amount is.
 */
export function minorOf(amount: string, currency: string): bigint {
  const digits = minorUnitDigits(currency) ?? 2;
  const value = parseDecimalText(amount);
  if (value.scale > digits && value.coefficient % 10n ** BigInt(value.scale - digits) !== 0n) {
    throw new RangeError(`${amount} has more digits than ${currency} has minor units`);
  }
  return value.scale > digits
    ? value.coefficient / 10n ** BigInt(value.scale - digits)
    : value.coefficient * 10n ** BigInt(digits - value.scale);
}

/** Integer minor units of `currency` as a major-unit amount with exactly its digits; may be negative. */
export function moneyOf(minor: bigint, currency: string): string {
  const digits = minorUnitDigits(currency) ?? 2;
  const negative = minor < 0n;
  const text = (negative ? -minor : minor).toString().padStart(digits + 1, '0');
  const body = digits === 0 ? text : `${text.slice(0, -digits)}.${text.slice(-digits)}`;
  return negative ? `-${body}` : body;
}
