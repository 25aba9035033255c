import type { InvoiceView } from './invoice-view.ts';

const TITLES = { invoice: 'Invoice', credit_note: 'Credit note' } as const;

/** A4 in points, with the margins and line height the text is set on. */
const PAGE = { width: 595, height: 842, margin: 50, leading: 14 } as const;
const LINES_PER_PAGE = Math.floor((PAGE.height - 2 * PAGE.margin) / PAGE.leading);
/** Characters of a wrapped line at 9 pt Helvetica across the text width (conservatively). */
const WRAP = 95;

/**
 * An invoice or credit note as a PDF document: the facts, each line with its period, quantity and
 * amount, and the totals, as text in Helvetica on A4 pages. Written by hand (PDF 1.4, the
 * standard Type 1 font, no images or compression) so the control plane needs no PDF library;
 * it says what the HTML page says, without its styling. Characters outside Latin-1 print as `?`.
 */
export function invoicePdf(invoice: InvoiceView): Buffer {
  const money = (amount: string) => `${amount} ${invoice.currency.toUpperCase()}`;
  const text: { line: string; size: number }[] = [];
  const add = (line: string, size = 9) => {
    for (const part of wrap(line)) text.push({ line: part, size });
  };
  add(`${TITLES[invoice.object]} ${invoice.number ?? '(draft)'} - ${invoice.status}`, 16);
  add('');
  add(`Billed to: ${invoice.tenant.name} (${invoice.tenant.slug})`);
  add(`Period: ${invoice.period.start} to ${invoice.period.end}`);
  if (invoice.issued_at !== null) add(`Issued: ${invoice.issued_at}`);
  if (invoice.paid_at !== null) add(`Paid: ${invoice.paid_at}`);
  if (invoice.voided_at !== null) add(`Voided: ${invoice.voided_at}`);
  if (invoice.adjusts !== null) add(`Adjusts: ${invoice.adjusts.number}`);
  if (invoice.payment.reference !== null) add(`Payment reference: ${invoice.payment.reference}`);
  add('');
  for (const line of invoice.lines) {
    add(`${line.description}: ${money(line.amount)}`, 10);
    add(
      `    ${line.period.start} to ${line.period.end}; quantity ${line.quantity}${
        line.unit_amount === null ? '' : ` at ${line.unit_amount}`
      }${line.proration === null ? '' : `; prorated ${line.proration.seconds} / ${line.proration.period_seconds} s`}`,
    );
  }
  add('');
  add(`Subtotal: ${money(invoice.subtotal)}`, 10);
  add(`Total: ${money(invoice.total)}`, 10);
  add(`Amount due: ${money(invoice.amount_due)}`, 10);

  const pages: string[] = [];
  for (let start = 0; start < text.length || pages.length === 0; start += LINES_PER_PAGE) {
    const ops = text.slice(start, start + LINES_PER_PAGE).map(({ line, size }, i) => {
      const y = PAGE.height - PAGE.margin - (i + 1) * PAGE.leading;
      return `BT /F1 ${size} Tf ${PAGE.margin} ${y} Td (${pdfText(line)}) Tj ET`;
    });
    pages.push(ops.join('\n'));
  }
  return writePdf(pages);
}

/** The objects of a PDF whose pages hold `contents` (content streams), with their cross-reference table. */
function writePdf(contents: readonly string[]): Buffer {
  const objects: string[] = [];
  const pageIds = contents.map((_, i) => 4 + 2 * i);
  objects.push('<< /Type /Catalog /Pages 2 0 R >>');
  objects.push(
    `<< /Type /Pages /Kids [${pageIds.map((id) => `${id} 0 R`).join(' ')}] /Count ${contents.length} >>`,
  );
  objects.push('<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>');
  for (const [i, content] of contents.entries()) {
    objects.push(
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${PAGE.width} ${PAGE.height}] /Resources << /Font << /F1 3 0 R >> >> /Contents ${5 + 2 * i} 0 R >>`,
    );
    objects.push(`<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`);
  }
  let body = '%PDF-1.4\n';
  const offsets: number[] = [];
  for (const [i, object] of objects.entries()) {
    offsets.push(Buffer.byteLength(body, 'latin1'));
    body += `${i + 1} 0 obj\n${object}\nendobj\n`;
  }
  const xref = Buffer.byteLength(body, 'latin1');
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) body += `${String(offset).padStart(10, '0')} 00000 n \n`;
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}

/** A PDF string literal's text: `\`, `(` and `)` escaped, what Latin-1 cannot write as `?`. */
function pdfText(line: string): string {
  return line.replace(/[^\x20-\x7e\xa0-\xff]/g, '?').replace(/[\\()]/g, (c) => `\\${c}`);
}

function wrap(line: string): string[] {
  if (line.length <= WRAP) return [line];
  const parts: string[] = [];
  for (let i = 0; i < line.length; i += WRAP) parts.push(line.slice(i, i + WRAP));
  return parts;
}
