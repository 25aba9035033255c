import { describe, expect, it } from 'vitest';
import { CURRENCIES, isCurrency, minorUnitDigits, normaliseCurrency } from './currencies.ts';
import { CurrencyCode } from './currency-code.ts';

describe('currencies', () => {
  it('accepts every currency the product promises, in lowercase', () => {
    const required =
      'usd eur gbp jpy chf cad aud nzd sek nok dkk pln czk huf inr brl mxn sgd hkd krw cny zar ils try aed sar';
    for (const code of required.split(' ')) {
      expect(isCurrency(code), code).toBe(true);
      expect(code).toMatch(/^[a-z]{3}$/);
    }
    expect(Object.keys(CURRENCIES).every((code) => code === code.toLowerCase())).toBe(true);
  });

  it('normalises any case to lowercase and refuses unknown codes', () => {
    expect(normaliseCurrency('USD')).toBe('usd');
    expect(normaliseCurrency('Eur')).toBe('eur');
    expect(isCurrency('GBP')).toBe(true);
    expect(normaliseCurrency('xyz')).toBeNull();
    expect(isCurrency('')).toBe(false);
    expect(isCurrency('constructor')).toBe(false);
    expect(isCurrency('toString')).toBe(false);
  });

  it('knows the minor-unit digits, with zero-decimal yen and won', () => {
    expect(minorUnitDigits('usd')).toBe(2);
    expect(minorUnitDigits('JPY')).toBe(0);
    expect(minorUnitDigits('krw')).toBe(0);
    expect(minorUnitDigits('eur')).toBe(2);
    expect(minorUnitDigits('abc')).toBeUndefined();
  });

  it('parses codes to lowercase with a zod schema that names unknown ones', () => {
    expect(CurrencyCode.parse('CHF')).toBe('chf');
    const result = CurrencyCode.safeParse('dollars');
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toContain('unknown currency "dollars"');
  });
});
