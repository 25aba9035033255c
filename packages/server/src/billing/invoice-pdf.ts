import type { InvoiceLineView, InvoiceView } from './invoice-view.ts';

const TITLES = { invoice: 'Invoice', credit_note: 'Credit note' } as const;

// A4 in points, with 50 pt margins.
const WIDTH = 595;
const HEIGHT = 842;
const MARGIN = 50;
/** The table is set in Courier, whose every glyph is 0.6 em wide: columns line up without metrics. */
const TABLE_SIZE = 8.5;
const TABLE_CHARS = Math.floor((WIDTH - 2 * MARGIN) / (0.6 * TABLE_SIZE));
const COLUMNS = [
  { header: 'Description', width: 0, right: false },
  { header: 'Period', width: 23, right: false },
  { header: 'Quantity', width: 12, right: true },
  { header: 'Unit price', width: 12, right: true },
  { header: 'Amount', width: 16, right: true },
] as const;
// The description takes what the other columns and the gaps between them leave.
const DESCRIPTION_CHARS = TABLE_CHARS - COLUMNS.reduce((sum, c) => sum + c.width + 1, 0);

type Font = 'F1' | 'F2' | 'F3';
type Op =
  | {
      readonly kind: 'text';
      readonly font: Font;
      readonly size: number;
      readonly x: number;
      readonly text: string;
    }
  | { readonly kind: 'rule' };
interface Row {
  readonly height: number;
  readonly ops: readonly Op[];
}

/**
 * An invoice or credit note as a PDF, the same content as its HTML page (number, status, dates,
 * the tenant, each line with its period, quantity, unit price and tiers, the totals), for a
 * customer's records. Written here rather than by a library: text, rules and pages are all it
 * needs, in PDF's standard fonts (Helvetica, Courier: nothing embedded), so the file is small
 * and every byte of it is ASCII. A character the fonts' encoding (WinAnsi) lacks shows as `?`.
 */
export function invoicePdf(invoice: InvoiceView): Buffer {
  const currency = invoice.currency.toUpperCase();
  const rows: Row[] = [];
  const text = (font: Font, size: number, x: number, value: string): Op => ({
    kind: 'text',
    font,
    size,
    x,
    text: value,
  });
  rows.push({
    height: 26,
    ops: [
      text('F2', 18, MARGIN, `${TITLES[invoice.object]} ${invoice.number ?? '(draft)'}  [${invoice.status}]`),
    ],
  });
  const facts: [string, string | null][] = [
    ['Billed to', `${invoice.tenant.name} (${invoice.tenant.slug})`],
    ['Period', `${day(invoice.period.start)} to ${day(invoice.period.end)}`],
    ['Issued', invoice.issued_at === null ? null : day(invoice.issued_at)],
    ['Paid', invoice.paid_at === null ? null : day(invoice.paid_at)],
    ['Voided', invoice.voided_at === null ? null : day(invoice.voided_at)],
    ['Adjusts', invoice.adjusts?.number ?? null],
    ['Credit note', invoice.credit_note?.number ?? null],
    ['Payment reference', invoice.payment.reference],
  ];
  for (const [label, value] of facts) {
    if (value !== null)
      rows.push({ height: 14, ops: [text('F1', 10, MARGIN, label), text('F1', 10, MARGIN + 110, value)] });
  }
  rows.push({ height: 12, ops: [] });
  rows.push(
    tableRow(
      COLUMNS.map((c) => c.header),
      'F2',
    ),
  );
  rows.push({ height: 4, ops: [{ kind: 'rule' }] });
  for (const line of invoice.lines) rows.push(...lineRows(line, currency));
  rows.push({ height: 4, ops: [{ kind: 'rule' }] });
  for (const [label, amount] of [
    ['Subtotal', invoice.subtotal],
    ['Total', invoice.total],
    ['Amount due', invoice.amount_due],
  ] as const) {
    rows.push(tableRow(['', '', '', label, `${amount} ${currency}`], 'F3'));
  }
  rows.push({ height: 10, ops: [] });
  rows.push({
    height: 12,
    ops: [
      text(
        'F1',
        8,
        MARGIN,
        `Amounts in ${currency}. Each line is rounded once to the minor unit, half to even; the total is the sum of the lines.`,
      ),
    ],
  });
  return pdfDocument(paginate(rows));
}

/** A line of the table: its description wrapped to its column, its tiers below it. */
function lineRows(line: InvoiceLineView, currency: string): Row[] {
  const unit = line.unit_amount ?? (line.tiers !== null ? `${line.usage?.tiers_mode ?? ''} tiers` : '');
  // Days only, to fit the column: a prorated line's hours are on the HTML page and in the JSON.
  const period = `${line.period.start.slice(0, 10)}..${line.period.end.slice(0, 10)}`;
  const wrapped = wrap(line.description, DESCRIPTION_CHARS);
  const rows = wrapped.map((part, i) =>
    tableRow(
      i === 0 ? [part, period, line.quantity, unit, `${line.amount} ${currency}`] : [part, '', '', '', ''],
      'F3',
    ),
  );
  for (const tier of line.tiers ?? []) {
    const bound = tier.up_to === null ? 'no upper bound' : `up to ${tier.up_to}`;
    const flat = /^0(\.0+)?$/.test(tier.flat_amount) ? '' : ` + ${tier.flat_amount}`;
    rows.push(
      tableRow(
        [`  Tier ${tier.tier} (${bound})`, '', tier.quantity, `${tier.unit_amount}${flat}`, tier.amount],
        'F3',
      ),
    );
  }
  return rows;
}

/** One row of the table in Courier, each cell padded (or cut) to its column. */
function tableRow(cells: readonly string[], font: Font): Row {
  const parts = COLUMNS.map((column, i) => {
    const width = column.width === 0 ? DESCRIPTION_CHARS : column.width;
    const cell = (cells[i] ?? '').slice(0, width);
    return column.right ? cell.padStart(width) : cell.padEnd(width);
  });
  return { height: 12, ops: [{ kind: 'text', font, size: TABLE_SIZE, x: MARGIN, text: parts.join(' ') }] };
}

/** Words to lines of at most `width` characters; a longer word is cut. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let current = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    const next = current === '' ? word : `${current} ${word}`;
    if (next.length <= width) current = next;
    else {
      if (current !== '') lines.push(current);
      current = word.slice(0, width);
    }
  }
  lines.push(current);
  return lines;
}

/** The rows laid out top to bottom, a new page when the next one would cross the bottom margin. */
function paginate(rows: readonly Row[]): string[] {
  const pages: string[][] = [[]];
  let y = HEIGHT - MARGIN;
  for (const row of rows) {
    if (y - row.height < MARGIN) {
      pages.push([]);
      y = HEIGHT - MARGIN;
    }
    y -= row.height;
    const page = pages.at(-1) ?? [];
    for (const op of row.ops) {
      if (op.kind === 'rule') page.push(`0.5 w ${MARGIN} ${y + 2} m ${WIDTH - MARGIN} ${y + 2} l S`);
      else page.push(`BT /${op.font} ${op.size} Tf ${op.x} ${y} Td <${winAnsiHex(op.text)}> Tj ET`);
    }
  }
  return pages.map((ops) => ops.join('\n'));
}

/** A PDF 1.4 file of the pages' content streams: catalog, page tree, three standard fonts. */
function pdfDocument(pages: readonly string[]): Buffer {
  const objects: string[] = [];
  const fontBase = 3;
  const firstPage = fontBase + 3;
  const kids = pages.map((_, i) => `${firstPage + 2 * i} 0 R`).join(' ');
  objects.push('<< /Type /Catalog /Pages 2 0 R >>');
  objects.push(`<< /Type /Pages /Kids [${kids}] /Count ${pages.length} >>`);
  for (const name of ['Helvetica', 'Helvetica-Bold', 'Courier']) {
    objects.push(`<< /Type /Font /Subtype /Type1 /BaseFont /${name} /Encoding /WinAnsiEncoding >>`);
  }
  const fonts = `<< /F1 ${fontBase} 0 R /F2 ${fontBase + 1} 0 R /F3 ${fontBase + 2} 0 R >>`;
  pages.forEach((content, i) => {
    objects.push(
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${WIDTH} ${HEIGHT}] /Resources << /Font ${fonts} >> /Contents ${firstPage + 2 * i + 1} 0 R >>`,
    );
    objects.push(`<< /Length ${content.length} >>\nstream\n${content}\nendstream`);
  });
  // Every byte is ASCII (text is hex-encoded), so string lengths are byte offsets.
  let body = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((object, i) => {
    offsets.push(body.length);
    body += `${i + 1} 0 obj\n${object}\nendobj\n`;
  });
  const xref = body.length;
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) body += `${String(offset).padStart(10, '0')} 00000 n \n`;
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(body, 'ascii');
}

/** WinAnsi's codes above Latin-1's for the characters an invoice is likely to hold. */
const WIN_ANSI: Readonly<Record<string, number>> = {
  '€': 0x80,
  '…': 0x85,
  '‘': 0x91,
  '’': 0x92,
  '“': 0x93,
  '”': 0x94,
  '•': 0x95,
  '–': 0x96,
  '—': 0x97,
};

/** The text in the standard fonts' encoding, as a PDF hex string's digits. */
function winAnsiHex(text: string): string {
  let hex = '';
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0x3f;
    const byte =
      (code >= 0x20 && code <= 0x7e) || (code >= 0xa0 && code <= 0xff) ? code : (WIN_ANSI[char] ?? 0x3f);
    hex += byte.toString(16).padStart(2, '0');
  }
  return hex;
}

/** `2026-11-01`, or `2026-11-10 09:00 UTC` when not at midnight. */
function day(iso: string): string {
  const [date = iso, time = ''] = iso.split('T');
  const clock = time.replace(/:\d\d(\.\d+)?Z$|Z$/, '');
  return clock === '' || clock === '00:00' ? date : `${date} ${clock} UTC`;
}
