/**
 * The ISO 4217 currencies Tenantry accepts, keyed by lowercase code (the spelling Stripe uses),
 * with the number of digits of their minor unit. The list is closed on purpose: an amount in a
 * currency whose minor unit we do not know cannot be converted to integer minor units exactly.
 */
export const CURRENCIES = {
  usd: 2,
  eur: 2,
  gbp: 2,
  jpy: 0,
  chf: 2,
  cad: 2,
  aud: 2,
  nzd: 2,
  sek: 2,
  nok: 2,
  dkk: 2,
  pln: 2,
  czk: 2,
  huf: 2,
  inr: 2,
  brl: 2,
  mxn: 2,
  sgd: 2,
  hkd: 2,
  krw: 0,
  cny: 2,
  zar: 2,
  ils: 2,
  try: 2,
  aed: 2,
  sar: 2,
} as const satisfies Record<string, number>;

/** A lowercase ISO 4217 code Tenantry accepts, e.g. `usd`. */
export type Currency = keyof typeof CURRENCIES;

/**
 * The accepted code for `code` in any case (`USD` → `usd`), or `null` when Tenantry does not
 * accept that currency.
 */
export function normaliseCurrency(code: string): Currency | null {
  const lower = code.toLowerCase();
  return Object.hasOwn(CURRENCIES, lower) ? (lower as Currency) : null;
}

/** Whether Tenantry accepts `code` as a currency; the case of `code` does not matter. */
export function isCurrency(code: string): boolean {
  return normaliseCurrency(code) !== null;
}

/**
 * How many fraction digits an amount in `code` has in minor units (2 for `usd`, 0 for `jpy`), or
 * `undefined` for a currency Tenantry does not accept.
 */
export function minorUnitDigits(code: string): number | undefined {
  const currency = normaliseCurrency(code);
  return currency === null ? undefined : CURRENCIES[currency];
}
