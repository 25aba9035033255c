import type { Showback } from './showback.ts';

const COLUMNS = ['category', 'description', 'meter', 'subject', 'quantity', 'unit_amount', 'amount', 'share'];

/**
 * A showback as CSV (RFC 4180, CRLF line ends) for a spreadsheet: one row per breakdown line,
 * a `total` row, then per consumer a `consumer` row (its total and share of the usage charges)
 * followed by a `consumer_usage` row per meter it used. Amounts are decimals in the currency's
 * major units (named in the `total` row); shares are percentages.
 */
export function showbackCsv(report: Showback): string {
  const rows: (string | null)[][] = [COLUMNS];
  for (const line of report.lines) {
    rows.push([
      line.category,
      line.description,
      line.meter,
      null,
      line.quantity,
      line.unit_amount,
      line.amount,
      null,
    ]);
  }
  rows.push([
    'total',
    `${report.period.start} to ${report.period.end} (${report.currency})`,
    null,
    null,
    null,
    null,
    report.total,
    null,
  ]);
  for (const consumer of report.consumers) {
    rows.push(['consumer', null, null, consumer.subject, null, null, consumer.amount, consumer.share]);
    for (const u of consumer.usage) {
      rows.push([
        'consumer_usage',
        u.description,
        u.meter,
        consumer.subject,
        u.quantity,
        null,
        u.amount,
        u.share,
      ]);
    }
  }
  if (report.other_consumers !== null) {
    const other = report.other_consumers;
    rows.push(['other_consumers', `${other.count} more`, null, null, null, null, other.amount, other.share]);
  }
  return `${rows.map((row) => row.map(cell).join(',')).join('\r\n')}\r\n`;
}

/**
 * One CSV field: quoted when it holds a comma, quote or line break. Text that a spreadsheet would
 * run as a formula (starting with `=`, `+`, `-`, `@`, tab or CR: subjects and descriptions come
 * from the app) is prefixed with `'`; numbers are written as they are.
 */
function cell(value: string | null): string {
  if (value === null) return '';
  const numeric = /^-?\d+(\.\d+)?$/.test(value);
  const safe = !numeric && /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}
