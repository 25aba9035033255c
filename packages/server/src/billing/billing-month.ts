/** A calendar month in UTC, `[start, end)`, named `YYYY-MM`: a billing period "of" a month is the one that starts in it. */
export interface BillingMonth {
  readonly label: string;
  readonly start: Date;
  readonly end: Date;
}

/** The pattern of a month: `2026-11`. */
export const BILLING_MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** The month `text` names, or `null` when it is not `YYYY-MM`. */
export function parseBillingMonth(text: string): BillingMonth | null {
  const match = BILLING_MONTH.exec(text);
  if (match === null) return null;
  return billingMonth(Number(match[1]), Number(match[2]) - 1);
}

/** The month `month` (0 for January; past 11 or below 0, into the next or previous years) of `year`. */
export function billingMonth(year: number, month: number): BillingMonth {
  const start = new Date(0);
  start.setUTCFullYear(year, month, 1);
  const end = new Date(0);
  end.setUTCFullYear(year, month + 1, 1);
  const label = `${String(start.getUTCFullYear()).padStart(4, '0')}-${String(start.getUTCMonth() + 1).padStart(2, '0')}`;
  return { label, start, end };
}

/** The month `at` falls in, `offset` months on (−1: the one before). */
export function monthOf(at: Date, offset = 0): BillingMonth {
  return billingMonth(at.getUTCFullYear(), at.getUTCMonth() + offset);
}
