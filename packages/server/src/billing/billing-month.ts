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
  const year = Number(match[1]);
  const month = Number(match[2]) - 1;
  const start = new Date(0);
  start.setUTCFullYear(year, month, 1);
  const end = new Date(0);
  end.setUTCFullYear(year, month + 1, 1);
  return { label: text, start, end };
}
