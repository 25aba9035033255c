import { csvRow } from '../http/index.ts';
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
  return rows.map(csvRow).join('');
}
