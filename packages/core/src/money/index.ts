/**
 * Currencies and decimal money amounts in minor units.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: nothing of its package.
 */
export {
  CURRENCIES,
  type Currency,
  isCurrency,
  minorUnitDigits,
  normaliseCurrency,
} from './currencies.ts';
export { CurrencyCode } from './currency-code.ts';
export { canonicalDecimal, DecimalAmount, MAX_FRACTION_DIGITS, toMinorUnits } from './decimal-amount.ts';
