import { type Html, html } from '../html.ts';
import type { InvoiceLineView, InvoiceView } from './invoice-view.ts';

const TITLES = { invoice: 'Invoice', credit_note: 'Credit note' } as const;

/**
 * An invoice or credit note as a printable HTML page: number, status, dates, the tenant, each
 * line with its period, quantity, unit price, proration and tiers, and the totals. Self-contained
 * (inline CSS, no scripts, no external resources); every value from the data is escaped.
 */
export function invoiceHtml(invoice: InvoiceView): string {
  const title = `${TITLES[invoice.object]} ${invoice.number ?? '(draft)'}`;
  const money = (amount: string) => `${amount} ${invoice.currency.toUpperCase()}`;
  const facts: [string, string | null][] = [
    ['Status', invoice.status],
    ['Billed to', `${invoice.tenant.name} (${invoice.tenant.slug})`],
    ['Period', `${day(invoice.period.start)} to ${day(invoice.period.end)}`],
    ['Issued', invoice.issued_at === null ? null : day(invoice.issued_at)],
    ['Paid', invoice.paid_at === null ? null : day(invoice.paid_at)],
    ['Voided', invoice.voided_at === null ? null : day(invoice.voided_at)],
    ['Adjusts', invoice.adjusts?.number ?? null],
    ['Credit note', invoice.credit_note?.number ?? null],
    ['Payment reference', invoice.payment.reference],
  ];
  return `<!doctype html>\n${
    html`<html lang="en">
<head>
<meta charset="utf-8">
<title>${title}</title>
<style>
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1b1b; margin: 2.5rem auto; max-width: 52rem; padding: 0 1.5rem; }
  h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
  .status { display: inline-block; padding: .1rem .55rem; border-radius: .8rem; font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; background: #eef; }
  .status.paid { background: #e3f6e8; } .status.void { background: #f4e3e3; } .status.draft { background: #f3f3f3; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1.2rem; margin: 1.2rem 0 1.6rem; }
  dt { color: #666; } dd { margin: 0; }
  table { width: 100%; border-collapse: collapse; }
  th, td { padding: .45rem .4rem; border-bottom: 1px solid #e4e4e4; vertical-align: top; text-align: left; }
  th { font-size: .78rem; text-transform: uppercase; letter-spacing: .04em; color: #666; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  tr.tier td { color: #555; font-size: .9em; border-bottom-style: dotted; }
  tr.tier td:first-child { padding-left: 1.6rem; }
  .note { color: #666; font-size: .85em; }
  tfoot td { font-weight: 600; border-bottom: none; }
  @media print { body { margin: 0; max-width: none; } .status { border: 1px solid #999; } }
</style>
</head>
<body>
<h1>${title} <span class="status ${invoice.status}">${invoice.status}</span></h1>
<dl>${facts.filter(([, value]) => value !== null).map(([label, value]) => html`<dt>${label}</dt><dd>${value}</dd>`)}</dl>
<table>
<thead><tr><th>Description</th><th>Period</th><th class="num">Quantity</th><th class="num">Unit price</th><th class="num">Amount</th></tr></thead>
<tbody>
${invoice.lines.map((line) => lineRows(line, money))}
</tbody>
<tfoot>
<tr><td colspan="4" class="num">Subtotal</td><td class="num">${money(invoice.subtotal)}</td></tr>
<tr><td colspan="4" class="num">Total</td><td class="num">${money(invoice.total)}</td></tr>
<tr><td colspan="4" class="num">Amount due</td><td class="num">${money(invoice.amount_due)}</td></tr>
</tfoot>
</table>
<p class="note">Amounts in ${invoice.currency.toUpperCase()}. Each line is rounded once to the minor unit, half to even; the total is the sum of the lines.</p>
</body>
</html>
`.html
  }`;
}

function lineRows(line: InvoiceLineView, money: (amount: string) => string): Html {
  const notes: string[] = [];
  if (line.proration !== null) {
    notes.push(
      `prorated ${line.proration.seconds.toLocaleString('en')} / ${line.proration.period_seconds.toLocaleString('en')} s`,
    );
  }
  if (line.usage !== null) {
    notes.push(
      `${line.usage.usage} used${line.usage.included > 0 ? `, ${line.usage.included.toLocaleString('en')} included` : ''}${
        line.usage.package_size !== null
          ? `, packages of ${line.usage.package_size.toLocaleString('en')}`
          : ''
      }`,
    );
  }
  if (line.minimum !== null)
    notes.push(`commitment ${line.minimum.commitment}, other lines ${line.minimum.charges}`);
  if (line.adjustment !== null) {
    notes.push(`billed before ${line.adjustment.previous_amount}, rated now ${line.adjustment.rated_amount}`);
  }
  const unit = line.unit_amount ?? (line.tiers !== null ? `${line.usage?.tiers_mode ?? ''} tiers` : '');
  const main = html`<tr><td>${line.description}${
    notes.length > 0 ? html`<div class="note">${notes.join('; ')}</div>` : ''
  }</td><td>${day(line.period.start)} to ${day(line.period.end)}</td><td class="num">${line.quantity}</td><td class="num">${unit}</td><td class="num">${money(line.amount)}</td></tr>`;
  const tiers = (line.tiers ?? []).map(
    (tier) =>
      html`<tr class="tier"><td>Tier ${tier.tier} (${tier.up_to === null ? 'no upper bound' : `up to ${tier.up_to.toLocaleString('en')}`})</td><td></td><td class="num">${tier.quantity}</td><td class="num">${tier.unit_amount}${
        /^0(\.0+)?$/.test(tier.flat_amount) ? '' : ` + ${tier.flat_amount} flat`
      }</td><td class="num">${tier.amount}</td></tr>`,
  );
  return html`${main}${tiers}`;
}

/** `2026-11-01`, or `2026-11-10 09:00:00 UTC` when not at midnight. */
function day(iso: string): string {
  const [date = iso, time = ''] = iso.split('T');
  const clock = time.replace(/\.\d+Z$|Z$/, '');
  return clock === '' || clock === '00:00:00' ? date : `${date} ${clock} UTC`;
}
