/**
 * `numerator / denominator` rounded to a whole number, halves to the even neighbour (banker's
 * rounding, IEEE 754's default and the rule Tenantry states for invoice lines): 2.5 → 2, 3.5 → 4,
 * 2.51 → 3. Half-even has no upward drift when many halves are rounded, unlike half-up. Both
 * arguments are non-negative and the denominator positive; anything else is a programming error
 * and throws a `RangeError`.
 */
export function roundHalfEven(numerator: bigint, denominator: bigint): bigint {
  if (numerator < 0n || denominator <= 0n) {
    throw new RangeError('roundHalfEven: the numerator must be ≥ 0 and the denominator > 0');
  }
  const quotient = numerator / denominator;
  const twiceRemainder = 2n * (numerator % denominator);
  if (twiceRemainder > denominator) return quotient + 1n;
  if (twiceRemainder === denominator && quotient % 2n === 1n) return quotient + 1n;
  return quotient;
}
