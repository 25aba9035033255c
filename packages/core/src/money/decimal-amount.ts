import { z } from 'zod';
import { minorUnitDigits } from './currencies.ts';

/**
 * Stripe's `unit_amount_decimal` carries at most 12 fraction digits; finer amounts could not be
 * billed as written.
 */
export const MAX_FRACTION_DIGITS = 12;

// Plain positional notation only: exponents ("1e-7") and signs are refused because a price
// written that way is almost always a YAML accident, and negative prices are not prices.
const DECIMAL_PATTERN = /^(\d+)(?:\.(\d+))?$/;

/**
 * The canonical form of a decimal amount in major units, or `null` when `input` is not one.
 * Numbers (from YAML) are read through `String(n)`, so `49` → `"49"` and `1e-7` is refused.
 * Canonical means no leading zeros, no trailing fraction zeros and `"0"` for zero, so that
 * `"49.00"` and `49` compare (and hash) equal. Refuses more than {@link MAX_FRACTION_DIGITS}
 * significant fraction digits.
 */
export function canonicalDecimal(input: unknown): string | null {
  const text = typeof input === 'number' ? String(input) : input;
  if (typeof text !== 'string') return null;
  const match = DECIMAL_PATTERN.exec(text);
  if (match === null) return null;
  const whole = (match[1] ?? '0').replace(/^0+(?=\d)/, '');
  const fraction = (match[2] ?? '').replace(/0+$/, '');
  if (fraction.length > MAX_FRACTION_DIGITS) return null;
  return fraction === '' ? whole : `${whole}.${fraction}`;
}

/**
 * A non-negative decimal amount in major units, as written in plan files: a string such as
 * `"49.00"` or `"0.012"`, or a YAML number. Parses to the canonical string (see
 * {@link canonicalDecimal}).
 */
export const DecimalAmount = z
  .union([z.string(), z.number()], {
    error: 'must be a decimal amount in major units written as a string, such as "49.00"',
  })
  .transform((value, ctx) => {
    const canonical = canonicalDecimal(value);
    if (canonical === null) {
      ctx.issues.push({
        code: 'custom',
        input: value,
        message: `${JSON.stringify(value)} is not a valid amount: write a non-negative decimal in major units such as "49.00", without exponent and with at most ${MAX_FRACTION_DIGITS} decimal places`,
      });
      return z.NEVER;
    }
    return canonical;
  });

/**
 * `amount` (a decimal in major units) as an integer number of minor units of `currency`:
 * `toMinorUnits("49.5", "usd")` is `4950n`. `null` when the amount has more fraction digits than
 * the currency's minor unit (a flat price must be whole cents; only unit prices may be finer),
 * when `amount` is not a valid decimal, or when the currency is not accepted.
 */
export function toMinorUnits(amount: string, currency: string): bigint | null {
  const digits = minorUnitDigits(currency);
  const canonical = canonicalDecimal(amount);
  if (digits === undefined || canonical === null) return null;
  const [whole = '0', fraction = ''] = canonical.split('.');
  if (fraction.length > digits) return null;
  return BigInt(whole + fraction.padEnd(digits, '0'));
}
