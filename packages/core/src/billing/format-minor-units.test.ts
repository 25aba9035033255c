import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toMinorUnits } from '../money/index.ts';
import { formatMinorUnits } from './format-minor-units.ts';

describe('formatMinorUnits', () => {
  it('writes exactly the currency digits', () => {
    expect(formatMinorUnits(34300n, 'usd')).toBe('343.00');
    expect(formatMinorUnits(5n, 'eur')).toBe('0.05');
    expect(formatMinorUnits(0n, 'usd')).toBe('0.00');
    expect(formatMinorUnits(1500n, 'jpy')).toBe('1500');
    expect(formatMinorUnits(0n, 'KRW')).toBe('0');
  });

  it('refuses an unknown currency or a negative amount', () => {
    expect(() => formatMinorUnits(1n, 'xyz')).toThrow(/unknown currency "xyz"/);
    expect(() => formatMinorUnits(-1n, 'usd')).toThrow(RangeError);
  });

  it('is the inverse of toMinorUnits (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 20n }),
        fc.constantFrom('usd', 'jpy', 'eur', 'krw'),
        (minor, currency) => {
          expect(toMinorUnits(formatMinorUnits(minor, currency), currency)).toBe(minor);
        },
      ),
    );
  });
});
