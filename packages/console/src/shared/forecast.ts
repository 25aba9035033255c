/** What a metered limit's burn rate says about the rest of its period. */
export type Forecast =
  | { readonly kind: 'unlimited' }
  | { readonly kind: 'reached' }
  | { readonly kind: 'reaches'; readonly at: Date }
  | { readonly kind: 'not_within_period' };

export interface BurnInput {
  /** The period's usage so far. */
  readonly used: number;
  /** null: unlimited. */
  readonly limit: number | null;
  readonly periodStart: Date;
  readonly periodEnd: Date;
  readonly now: Date;
}

/**
 * When the limit would be reached if usage went on at the period's average rate so far (used
 * over the time elapsed since the period began): a straight line, no seasonality, which is what
 * an operator can check by hand. A period with no usage yet, or that has not begun, forecasts
 * nothing within the period.
 */
export function burnForecast({ used, limit, periodStart, periodEnd, now }: BurnInput): Forecast {
  if (limit === null) return { kind: 'unlimited' };
  if (used >= limit) return { kind: 'reached' };
  const elapsed = now.getTime() - periodStart.getTime();
  if (used <= 0 || elapsed <= 0) return { kind: 'not_within_period' };
  const rate = used / elapsed;
  const at = now.getTime() + (limit - used) / rate;
  return at < periodEnd.getTime() ? { kind: 'reaches', at: new Date(at) } : { kind: 'not_within_period' };
}
