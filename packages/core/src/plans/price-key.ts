/**
 * The key of a price: its own `key` when written, otherwise one derived from its type (`flat`,
 * `per_seat`, `minimum`, `usage_<meter>`). Invoice lines and price changes refer to prices by
 * key, so a plan's keys must be unique; two prices of one type need explicit keys. Tolerates
 * unvalidated input and answers `null` when no key can be told.
 */
export function priceKey(price: {
  readonly type?: unknown;
  readonly key?: unknown;
  readonly meter?: unknown;
}): string | null {
  if (typeof price.key === 'string') return price.key;
  switch (price.type) {
    case 'flat':
    case 'per_seat':
    case 'minimum':
      return price.type;
    case 'usage':
      return typeof price.meter === 'string' ? `usage_${price.meter}` : null;
    default:
      return null;
  }
}
