import { describe, expect, it } from 'vitest';
import { unitConversion } from './billing-usage.ts';
import { canonicalText, minorOf, moneyOf, scaleRatio } from './decimal-text.ts';

describe('decimal text', () => {
  it('reads Postgres numerics and writes them canonically', () => {
    expect(canonicalText('412.500')).toBe('412.5');
    expect(canonicalText('0.000')).toBe('0');
    expect(canonicalText('-1.50')).toBe('-1.5');
    expect(() => canonicalText('1e5')).toThrow(TypeError);
  });

  it('converts value-seconds to a unit, rounding half to even at the last digit', () => {
    expect(scaleRatio('259200000', 1n, 2_592_000n, 6)).toBe('100');
    expect(scaleRatio('1', 1n, 3_600n, 6)).toBe('0.000278');
    // 0.0000005 is a half: to the even neighbour 0, and 0.0000015 to 0.000002.
    expect(scaleRatio('0.0000005', 1n, 1n, 6)).toBe('0');
    expect(scaleRatio('0.0000015', 1n, 1n, 6)).toBe('0.000002');
  });

  it('moves charged amounts to minor units and back, signs included', () => {
    expect(minorOf('343.00', 'usd')).toBe(34_300n);
    expect(minorOf('-1.5', 'usd')).toBe(-150n);
    expect(minorOf('1500', 'jpy')).toBe(1500n);
    expect(() => minorOf('0.005', 'usd')).toThrow(RangeError);
    expect(moneyOf(-150n, 'usd')).toBe('-1.50');
    expect(moneyOf(5n, 'usd')).toBe('0.05');
    expect(moneyOf(1500n, 'jpy')).toBe('1500');
  });
});

describe('unitConversion', () => {
  const month = 2_592_000;
  it('reads the time word at the end of the unit', () => {
    expect(unitConversion('GB-hour', month, 1)).toEqual({ numerator: 1n, denominator: 3_600n });
    expect(unitConversion('GB-hours', month, 1)).toEqual({ numerator: 1n, denominator: 3_600n });
    expect(unitConversion('hour', month, 1)).toEqual({ numerator: 1n, denominator: 3_600n });
    expect(unitConversion('vCPU-second', month, 1)).toEqual({ numerator: 1n, denominator: 1n });
    expect(unitConversion('seat-minute', month, 1)).toEqual({ numerator: 1n, denominator: 60n });
    expect(unitConversion('GB-day', month, 1)).toEqual({ numerator: 1n, denominator: 86_400n });
    expect(unitConversion('GB-month', month, 1)).toEqual({ numerator: 1n, denominator: 2_592_000n });
    expect(unitConversion('GB-month', 31_536_000, 12)).toEqual({ numerator: 12n, denominator: 31_536_000n });
    expect(unitConversion('TB-year', 31_536_000, 12)).toEqual({ numerator: 12n, denominator: 378_432_000n });
  });

  it('bills value-hours for any other unit, or none', () => {
    for (const unit of [null, 'sessions', 'GB', '', 'holiday']) {
      expect(unitConversion(unit, month, 1)).toEqual({ numerator: 1n, denominator: 3_600n });
    }
  });
});
