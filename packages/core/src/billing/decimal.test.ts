import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addDecimals,
  ceilDivideDecimal,
  compareDecimals,
  decimalOf,
  formatDecimal,
  minDecimal,
  multiplyDecimals,
  parseDecimal,
  subtractDecimalsAtLeastZero,
} from './decimal.ts';

const d = (text: string) => {
  const value = parseDecimal(text);
  if (value === null) throw new Error(`not a decimal: ${text}`);
  return value;
};

describe('Decimal', () => {
  it('parses plain non-negative decimals, Postgres numeric text included', () => {
    expect(parseDecimal('49.00')).toEqual({ coefficient: 4900n, scale: 2 });
    expect(parseDecimal('0')).toEqual({ coefficient: 0n, scale: 0 });
    expect(formatDecimal(d('123.4500000000'))).toBe('123.45');
    expect(formatDecimal(d('007.50'))).toBe('7.5');
    for (const bad of ['-1', '1e3', '.5', '5.', '', ' 1', 'NaN', '1,5', '+1']) {
      expect(parseDecimal(bad), bad).toBeNull();
    }
  });

  it('formats canonically, or with at least some fraction digits', () => {
    expect(formatDecimal(d('0.000'))).toBe('0');
    expect(formatDecimal(d('49'), 2)).toBe('49.00');
    expect(formatDecimal(d('0.0005'), 2)).toBe('0.0005');
    expect(formatDecimal(d('112.2850'), 2)).toBe('112.285');
    expect(formatDecimal(decimalOf(0), 2)).toBe('0.00');
  });

  it('adds, multiplies, compares and subtracts down to zero exactly', () => {
    expect(formatDecimal(addDecimals(d('0.1'), d('0.2')))).toBe('0.3');
    expect(formatDecimal(multiplyDecimals(d('224570'), d('0.0005')))).toBe('112.285');
    expect(compareDecimals(d('1.50'), d('1.5'))).toBe(0);
    expect(compareDecimals(d('1000.5'), decimalOf(1000))).toBe(1);
    expect(formatDecimal(subtractDecimalsAtLeastZero(d('412.5'), decimalOf(100)))).toBe('312.5');
    expect(formatDecimal(subtractDecimalsAtLeastZero(d('50'), decimalOf(100)))).toBe('0');
    expect(formatDecimal(minDecimal(d('3'), d('2.9')))).toBe('2.9');
  });

  it('counts started packages', () => {
    expect(ceilDivideDecimal(d('0'), 1000n)).toBe(0n);
    expect(ceilDivideDecimal(d('1000'), 1000n)).toBe(1n);
    expect(ceilDivideDecimal(d('1000.001'), 1000n)).toBe(2n);
    expect(ceilDivideDecimal(d('1'), 1000n)).toBe(1n);
  });

  it('round-trips through text, and addition agrees with bigint arithmetic (property)', () => {
    const text = fc
      .tuple(fc.bigInt({ min: 0n, max: 10n ** 20n }), fc.nat({ max: 18 }))
      .map(([coefficient, scale]) => formatDecimal({ coefficient, scale }));
    fc.assert(
      fc.property(text, text, (a, b) => {
        expect(formatDecimal(d(a))).toBe(a);
        const sum = addDecimals(d(a), d(b));
        const scale = 18;
        const at = (x: string) => d(x).coefficient * 10n ** BigInt(scale - d(x).scale);
        expect(sum.coefficient * 10n ** BigInt(scale - sum.scale)).toBe(at(a) + at(b));
      }),
    );
  });
});
