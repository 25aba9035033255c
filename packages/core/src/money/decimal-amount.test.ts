import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalDecimal, DecimalAmount, MAX_FRACTION_DIGITS, toMinorUnits } from './decimal-amount.ts';

describe('canonicalDecimal', () => {
  it.each([
    ['49.00', '49'],
    ['0.012', '0.012'],
    ['007.50', '7.5'],
    ['0', '0'],
    ['0.000', '0'],
    ['000', '0'],
    ['10', '10'],
    ['10.10', '10.1'],
    ['0.000000000001', '0.000000000001'],
    ['1.5000000000000000', '1.5'],
  ])('%s → %s', (input, expected) => {
    expect(canonicalDecimal(input)).toBe(expected);
  });

  it('reads YAML numbers through String(n)', () => {
    expect(canonicalDecimal(49)).toBe('49');
    expect(canonicalDecimal(0.04)).toBe('0.04');
    expect(canonicalDecimal(-0)).toBe('0');
  });

  it.each([
    '-1',
    '+1',
    '1e3',
    '1E-7',
    '.5',
    '5.',
    ' 5',
    '5 ',
    '1,5',
    'NaN',
    'Infinity',
    '',
    '0x10',
    '0.0000000000001',
  ])('refuses %j', (input) => {
    expect(canonicalDecimal(input)).toBeNull();
  });

  it('refuses numbers that print with an exponent, negatives and non-finite numbers', () => {
    for (const input of [1e-7, 1e21, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(canonicalDecimal(input), String(input)).toBeNull();
    }
    expect(canonicalDecimal(true)).toBeNull();
    expect(canonicalDecimal(null)).toBeNull();
  });

  it('is idempotent and preserves the value (property)', () => {
    const decimal = fc
      .tuple(fc.stringMatching(/^\d{1,15}$/), fc.stringMatching(/^\d{0,12}$/), fc.nat({ max: 3 }))
      .map(([whole, fraction, zeros]) =>
        fraction === '' ? whole : `${whole}.${fraction}${'0'.repeat(zeros)}`,
      );
    fc.assert(
      fc.property(decimal, (input) => {
        const canonical = canonicalDecimal(input);
        expect(canonical).not.toBeNull();
        expect(canonicalDecimal(canonical)).toBe(canonical);
        expect(canonical).toMatch(/^(0|[1-9]\d*)(\.\d*[1-9])?$/);
        // Same value: scaling both to 12 fraction digits gives the same integer.
        expect(scaled(canonical ?? '')).toBe(scaled(input));
      }),
    );
  });
});

function scaled(decimal: string): bigint {
  const [whole = '0', fraction = ''] = decimal.split('.');
  return BigInt(whole + fraction.padEnd(MAX_FRACTION_DIGITS + 3, '0'));
}

describe('DecimalAmount', () => {
  it('parses strings and numbers to canonical strings', () => {
    expect(DecimalAmount.parse('49.00')).toBe('49');
    expect(DecimalAmount.parse(15)).toBe('15');
    expect(DecimalAmount.parse('0.0100')).toBe('0.01');
  });

  it('explains what is wrong with a bad amount', () => {
    const result = DecimalAmount.safeParse('1e-7');
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toContain('"1e-7" is not a valid amount');
    expect(DecimalAmount.safeParse(true).success).toBe(false);
    expect(DecimalAmount.safeParse('-5').success).toBe(false);
  });
});

describe('toMinorUnits', () => {
  it('converts whole minor units', () => {
    expect(toMinorUnits('49.00', 'usd')).toBe(4900n);
    expect(toMinorUnits('49.5', 'USD')).toBe(4950n);
    expect(toMinorUnits('0', 'eur')).toBe(0n);
    expect(toMinorUnits('1500', 'jpy')).toBe(1500n);
    expect(toMinorUnits('12345678901234567890.12', 'usd')).toBe(1234567890123456789012n);
  });

  it('answers null for amounts finer than the currency allows', () => {
    expect(toMinorUnits('0.012', 'usd')).toBeNull();
    expect(toMinorUnits('1.5', 'jpy')).toBeNull();
    expect(toMinorUnits('1.50', 'jpy')).toBeNull();
    expect(toMinorUnits('1.0', 'jpy')).toBe(1n);
  });

  it('answers null for an unknown currency or a malformed amount', () => {
    expect(toMinorUnits('1', 'xyz')).toBeNull();
    expect(toMinorUnits('abc', 'usd')).toBeNull();
  });

  it('round-trips integer minor units for every currency (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 18n }),
        fc.constantFrom('usd', 'jpy', 'eur', 'krw'),
        (minor, currency) => {
          const digits = currency === 'jpy' || currency === 'krw' ? 0 : 2;
          const text = minor.toString().padStart(digits + 1, '0');
          const major = digits === 0 ? text : `${text.slice(0, -digits)}.${text.slice(-digits)}`;
          expect(toMinorUnits(major, currency)).toBe(minor);
        },
      ),
    );
  });
});
