import { minorUnitDigits } from '../money/index.ts';

/**
 * `minor` integer minor units of `currency` as a decimal in major units with exactly the
 * currency's minor-unit digits: `formatMinorUnits(34300n, 'usd')` is `"343.00"`,
 * `formatMinorUnits(1500n, 'jpy')` is `"1500"`. The inverse of `toMinorUnits` for amounts, and the
 * notation of every charged amount of a rated invoice. Throws a `RangeError` for a currency
 * Tenantry does not accept or a negative amount, both programming errors.
 */
export function formatMinorUnits(minor: bigint, currency: string): string {
  const digits = minorUnitDigits(currency);
  if (digits === undefined)
    throw new RangeError(`formatMinorUnits: unknown currency ${JSON.stringify(currency)}`);
  if (minor < 0n) throw new RangeError('formatMinorUnits: amounts are never negative');
  const text = minor.toString().padStart(digits + 1, '0');
  return digits === 0 ? text : `${text.slice(0, -digits)}.${text.slice(-digits)}`;
}
