/**
 * An exact non-negative decimal: `coefficient / 10^scale`. Rating multiplies unit prices (up to
 * 12 fraction digits) by quantities (any number of fraction digits); bigints keep every digit,
 * where binary floating point would already misstate `0.1`.
 */
export interface Decimal {
  readonly coefficient: bigint;
  readonly scale: number;
}

// Plain positional notation only, like plan amounts: no sign, no exponent, digits on both sides.
const DECIMAL_PATTERN = /^(\d+)(?:\.(\d+))?$/;

/** The decimal `text` denotes (`"49.00"`, `"0.0004"`, `"12"`), or `null` when it is not one. */
export function parseDecimal(text: string): Decimal | null {
  const match = DECIMAL_PATTERN.exec(text);
  if (match === null) return null;
  const fraction = match[2] ?? '';
  return { coefficient: BigInt((match[1] ?? '0') + fraction), scale: fraction.length };
}

/** A whole number as a {@link Decimal}. */
export function decimalOf(value: bigint | number): Decimal {
  return { coefficient: BigInt(value), scale: 0 };
}

/**
 * The text of `value` with no leading zeros and no trailing fraction zeros beyond
 * `minFractionDigits`: canonical (`"0"` for zero) by default; with 2, `49` → `"49.00"` and
 * `0.0005` stays `"0.0005"`, which reads as money without hiding a digit.
 */
export function formatDecimal(value: Decimal, minFractionDigits = 0): string {
  const digits = value.coefficient.toString().padStart(value.scale + 1, '0');
  const whole = digits.slice(0, digits.length - value.scale);
  const fraction = digits
    .slice(digits.length - value.scale)
    .replace(/0+$/, '')
    .padEnd(minFractionDigits, '0');
  return fraction === '' ? whole : `${whole}.${fraction}`;
}

/** `value`'s coefficient at a larger `scale`. */
function coefficientAt(value: Decimal, scale: number): bigint {
  return value.coefficient * 10n ** BigInt(scale - value.scale);
}

/** `a + b`, exactly. */
export function addDecimals(a: Decimal, b: Decimal): Decimal {
  const scale = Math.max(a.scale, b.scale);
  return { coefficient: coefficientAt(a, scale) + coefficientAt(b, scale), scale };
}

/** `max(0, a − b)`, exactly: usage above what is included, units above a tier's floor. */
export function subtractDecimalsAtLeastZero(a: Decimal, b: Decimal): Decimal {
  const scale = Math.max(a.scale, b.scale);
  const difference = coefficientAt(a, scale) - coefficientAt(b, scale);
  return { coefficient: difference > 0n ? difference : 0n, scale };
}

/** `a × b`, exactly. */
export function multiplyDecimals(a: Decimal, b: Decimal): Decimal {
  return { coefficient: a.coefficient * b.coefficient, scale: a.scale + b.scale };
}

/** Negative, zero or positive as `a` is less than, equal to or greater than `b`. */
export function compareDecimals(a: Decimal, b: Decimal): number {
  const scale = Math.max(a.scale, b.scale);
  const difference = coefficientAt(a, scale) - coefficientAt(b, scale);
  return difference < 0n ? -1 : difference > 0n ? 1 : 0;
}

/** The smaller of `a` and `b`. */
export function minDecimal(a: Decimal, b: Decimal): Decimal {
  return compareDecimals(a, b) <= 0 ? a : b;
}

/** `value / divisor` for a whole divisor ≥ 1, rounded up to a whole number: started packages of `divisor` units. */
export function ceilDivideDecimal(value: Decimal, divisor: bigint): bigint {
  const denominator = divisor * 10n ** BigInt(value.scale);
  return (value.coefficient + denominator - 1n) / denominator;
}
