import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { roundHalfEven } from './round-half-even.ts';

describe('roundHalfEven', () => {
  it.each([
    [25n, 10n, 2n],
    [35n, 10n, 4n],
    [251n, 100n, 3n],
    [249n, 100n, 2n],
    [15625n, 10n, 1562n],
    [15635n, 10n, 1564n],
    [5n, 10n, 0n],
    [15n, 10n, 2n],
    [0n, 7n, 0n],
    [7n, 7n, 1n],
  ])('%d / %d → %d', (numerator, denominator, expected) => {
    expect(roundHalfEven(numerator, denominator)).toBe(expected);
  });

  it('refuses a negative numerator or a denominator that is not positive', () => {
    expect(() => roundHalfEven(-1n, 2n)).toThrow(RangeError);
    expect(() => roundHalfEven(1n, 0n)).toThrow(RangeError);
  });

  it('is within half of the exact value, and even on a tie (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 30n }),
        fc.bigInt({ min: 1n, max: 10n ** 15n }),
        (n, d) => {
          const rounded = roundHalfEven(n, d);
          // |rounded − n/d| ≤ 1/2  ⇔  |2·rounded·d − 2n| ≤ d
          const distance = 2n * rounded * d - 2n * n;
          const absolute = distance < 0n ? -distance : distance;
          expect(absolute <= d).toBe(true);
          if (absolute === d) expect(rounded % 2n).toBe(0n);
        },
      ),
    );
  });
});
