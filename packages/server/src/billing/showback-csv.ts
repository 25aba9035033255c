import { csvRow } from '../http/index.ts';
import type { FleetShowback } from './fleet-showback.ts';
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

const FLEET_COLUMNS = [
  'row',
  'category',
  'tenant_id',
  'tenant_slug',
  'tenant_name',
  'invoice',
  'amount',
  'share',
];

/**
 * The fleet's showback as CSV, as {@link showbackCsv} writes a tenant's: a row per category, a
 * `total` row (naming the month and the currency), then a `tenant` row per tenant by cost, its
 * share of the total in percent. Tenants' names come from customers: the shared cell writer keeps
 * a spreadsheet from running one as a formula.
 */
export function fleetShowbackCsv(report: FleetShowback): string {
  const rows: (string | null)[][] = [FLEET_COLUMNS];
  for (const [category, amount] of Object.entries(report.totals)) {
    rows.push(['category', category, null, null, null, null, amount, null]);
  }
  const currency = report.currency ?? 'no documents';
  rows.push(['total', `${report.period.month} (${currency})`, null, null, null, null, report.total, null]);
  for (const t of report.tenants) {
    rows.push([
      'tenant',
      null,
      t.tenant.id,
      t.tenant.slug,
      t.tenant.name,
      t.invoice?.number ?? null,
      t.amount,
      t.share,
    ]);
  }
  return rows.map(csvRow).join('');
}
