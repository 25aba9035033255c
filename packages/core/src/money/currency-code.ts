import { z } from 'zod';
import { normaliseCurrency } from './currencies.ts';

/**
 * A currency code in any case, parsed to the lowercase code Tenantry stores (`"USD"` → `"usd"`).
 * Refuses currencies that are not in the list of currencies.ts. Kept apart from that list so that
 * a browser bundle that only checks a code does not load zod with it.
 */
export const CurrencyCode = z.string().transform((code, ctx) => {
  const currency = normaliseCurrency(code);
  if (currency === null) {
    ctx.issues.push({
      code: 'custom',
      input: code,
      message: `unknown currency ${JSON.stringify(code)}: use a lowercase ISO 4217 code Tenantry accepts, such as usd or eur`,
    });
    return z.NEVER;
  }
  return currency;
});
