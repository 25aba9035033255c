/**
 * CSV (RFC 4180, CRLF line ends) for a spreadsheet, shared by every export: the showback, the
 * tenant list.
 */

/**
 * One CSV field: quoted when it holds a comma, quote or line break. Text that a spreadsheet would
 * run as a formula (starting with `=`, `+`, `-`, `@`, tab or CR: names and subjects come from
 * customers and apps) is prefixed with `'`; numbers are written as they are.
 */
export function csvCell(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  const numeric = /^-?\d+(\.\d+)?$/.test(value);
  const safe = !numeric && /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/** One CSV record, its line end included. */
export function csvRow(values: readonly (string | number | null)[]): string {
  return `${values.map(csvCell).join(',')}\r\n`;
}

/** Whether a request asks for CSV: `format=csv`, or no `format` and `Accept: text/csv`. */
export function wantsCsv(format: 'json' | 'csv' | undefined, accept: string | undefined): boolean {
  return format === 'csv' || (format === undefined && /\btext\/csv\b/.test(accept ?? ''));
}
