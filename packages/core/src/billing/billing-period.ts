import type { BillingInterval } from '../plans/index.ts';

/** A half-open UTC interval `[start, end)`. */
export interface Period {
  readonly start: Date;
  readonly end: Date;
}

/**
 * The billing period containing `at`: the half-open UTC interval `[start, end)` obtained by
 * counting whole months (or years) from `anchor`, the way Stripe does. Each period's start takes
 * the anchor's day of month clamped to that month's last day, independently of the previous
 * period, so an anchor on Jan 31 gives Feb 28 (or 29), then Mar 31, then Apr 30; the anchor's
 * time of day is kept. An `at` before the anchor yields the first period. Throws a `RangeError`
 * for invalid dates, which are programming errors rather than input.
 */
export function billingPeriod(anchor: Date, interval: BillingInterval, at: Date): Period {
  if (Number.isNaN(anchor.getTime()) || Number.isNaN(at.getTime())) {
    throw new RangeError('billingPeriod: anchor and at must be valid dates');
  }
  const step = interval === 'year' ? 12 : 1;
  const monthsApart =
    (at.getUTCFullYear() - anchor.getUTCFullYear()) * 12 + (at.getUTCMonth() - anchor.getUTCMonth());
  // The estimate is off by at most one period (day and time of day within the month); correct it.
  let index = Math.max(0, Math.floor(monthsApart / step));
  while (index > 0 && periodStart(anchor, index * step) > at.getTime()) index--;
  while (periodStart(anchor, (index + 1) * step) <= at.getTime()) index++;
  return {
    start: new Date(periodStart(anchor, index * step)),
    end: new Date(periodStart(anchor, (index + 1) * step)),
  };
}

/** Epoch milliseconds of the anchor moved `months` months on, its day clamped to the month's length. */
function periodStart(anchor: Date, months: number): number {
  const monthIndex = anchor.getUTCMonth() + months;
  const year = anchor.getUTCFullYear() + Math.floor(monthIndex / 12);
  const month = ((monthIndex % 12) + 12) % 12;
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not read years 0–99 as 1900–1999.
  date.setUTCFullYear(year, month + 1, 0);
  const lastDay = date.getUTCDate();
  date.setUTCFullYear(year, month, Math.min(anchor.getUTCDate(), lastDay));
  date.setUTCHours(
    anchor.getUTCHours(),
    anchor.getUTCMinutes(),
    anchor.getUTCSeconds(),
    anchor.getUTCMilliseconds(),
  );
  return date.getTime();
}
