import { stringify } from 'yaml';
/** Where text goes: `process.stdout`, `process.stderr` or a test's buffer. */
export interface Writer {
  write(chunk: string): unknown;
}

/** One column of a table: its heading and how to render a row's cell. */
export interface Column<T> {
  readonly header: string;
  readonly value: (row: T) => string;
}

/** A `label: value` line of a detail block; `undefined` values are left out. */
export type Field = readonly [label: string, value: string | undefined];

/**
 * Prints a command's result: readable text on a terminal, or with `--json` exactly the JSON the
 * API answered, so scripts see the documented API shapes and nothing the CLI invented.
 */
export class Output {
  readonly json: boolean;
  readonly #out: Writer;

  constructor(out: Writer, json: boolean) {
    this.#out = out;
    this.json = json;
  }

  /** Prints `raw` as JSON under `--json`, otherwise calls `human` to print text. */
  result(raw: unknown, human: () => void): void {
    if (this.json) this.#out.write(`${JSON.stringify(raw, null, 2)}\n`);
    else human();
  }

  /** Prints one line of text. */
  line(text = ''): void {
    this.#out.write(`${text}\n`);
  }

  /** Prints `rows` as a table with aligned columns, or `empty` when there are none. */
  table<T>(rows: readonly T[], columns: readonly Column<T>[], empty: string): void {
    if (rows.length === 0) {
      this.line(empty);
      return;
    }
    const cells = [
      columns.map((c) => c.header),
      ...rows.map((row) => columns.map((c) => oneLine(c.value(row)))),
    ];
    const widths = columns.map((_, i) => Math.max(...cells.map((line) => (line[i] ?? '').length)));
    for (const line of cells) {
      // The last column is not padded so that lines carry no trailing blanks.
      const text = line
        .map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('  ');
      this.line(text.trimEnd());
    }
  }

  /** Prints a `label: value` block with the values aligned. */
  fields(fields: readonly Field[], indent = ''): void {
    const shown = fields.filter((f): f is readonly [string, string] => f[1] !== undefined);
    const width = Math.max(0, ...shown.map(([label]) => label.length + 1));
    for (const [label, value] of shown) this.line(`${indent}${`${label}:`.padEnd(width)} ${oneLine(value)}`);
  }
}

/** Renders any JSON value in a short human form; `null` and absent values become `-`. */
export function formatValue(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** Shortens an ISO timestamp for tables (`2025-01-31 09:30 UTC`); other values pass through. */
export function formatTime(value: unknown): string {
  if (typeof value !== 'string') return formatValue(value);
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(value);
  return match && value.endsWith('Z') ? `${match[1]} ${match[2]} UTC` : value;
}

/** Values from the server could hold newlines; a table cell or field must stay on its line. */
function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ');
}

/** A JSON value as a YAML document that reads back as the same value. */
export function toYaml(value: unknown): string {
  return stringify(value);
}
