import type {
  InvoiceLine,
  MinimumDetail,
  Period,
  Proration,
  RatedInvoice,
  TierCharge,
  UsageDetail,
} from '@tenantry/core';
import { sql, type Transaction } from 'kysely';
import { type ChangeOf, recordChanges } from '../changes/index.ts';
import type { Schema } from '../db/index.ts';
import { newId } from '../ids.ts';
import type { RequestContext } from '../request-context.ts';

/** What a late-usage line adjusts: the line as billed before and as rated now. */
export interface LineAdjustment {
  /** Quantity and amount billed for the line so far (null: the line is new). */
  readonly previous_quantity: string | null;
  readonly previous_amount: string;
  /** The line's amount as the period is rated now. */
  readonly rated_amount: string;
}

/** Everything of a line beyond its columns: how it was rated. */
export interface LineDetail {
  readonly price_key: string;
  readonly plan: { readonly key: string; readonly version: number };
  readonly tiers: readonly TierCharge[] | null;
  readonly usage: UsageDetail | null;
  readonly proration: Proration | null;
  readonly minimum: MinimumDetail | null;
  readonly adjustment: LineAdjustment | null;
}

/** A line of a document to write. `amount` has the currency's digits; negative only on adjustments. */
export interface DocumentLine {
  readonly key: string;
  readonly kind: string;
  readonly description: string;
  readonly period: Period;
  readonly quantity: string;
  readonly unitAmount: string | null;
  readonly amount: string;
  readonly detail: LineDetail;
}

/** A finalized document about to be written; its number is given when it is. */
export interface NewDocument {
  readonly id: string;
  readonly tenantId: string;
  readonly type: 'invoice' | 'credit_note';
  readonly reason: 'period' | 'late_usage' | 'void';
  readonly adjustsId: string | null;
  readonly status: 'open' | 'paid' | 'issued';
  readonly currency: string;
  readonly period: Period;
  readonly lines: readonly DocumentLine[];
  readonly total: string;
}

/** A written document: its id and the number it got. */
export interface WrittenDocument {
  readonly document: NewDocument;
  readonly number: string;
}

/** The lines of a rated invoice, as stored. */
export function linesOfRating(rated: RatedInvoice): DocumentLine[] {
  return rated.lines.map((line) => ({
    key: line.key,
    kind: line.kind,
    description: line.description,
    period: { start: new Date(line.period.start), end: new Date(line.period.end) },
    quantity: line.quantity,
    unitAmount: line.unit_amount,
    amount: line.amount,
    detail: detailOf(line, null),
  }));
}

/** A rated line's detail, with what it adjusts when it is an adjustment. */
export function detailOf(line: InvoiceLine, adjustment: LineAdjustment | null): LineDetail {
  return {
    price_key: line.price_key,
    plan: line.plan,
    tiers: line.tiers,
    usage: line.usage,
    proration: line.proration,
    minimum: line.minimum,
    adjustment,
  };
}

/** The vendor-visible number: `INV-000042`, `CN-000007`. */
export function documentNumber(type: 'invoice' | 'credit_note', value: number): string {
  return `${type === 'invoice' ? 'INV' : 'CN'}-${String(value).padStart(6, '0')}`;
}

/** A new document id: `inv_…` for invoices, `cn_…` for credit notes. */
export function documentId(type: 'invoice' | 'credit_note'): string {
  return newId(type === 'invoice' ? 'inv' : 'cn');
}

/**
 * Writes finalized documents in the caller's transaction: numbers them from the gap-free
 * counters (the update holds the counter's row until the transaction ends, so numbers are given
 * in commit order and a rollback gives them back), stores them and their lines, and records each
 * (`invoice.finalized` / `credit_note.issued`). Set-based: one statement per table however many
 * documents.
 */
export async function writeDocuments(
  tx: Transaction<Schema>,
  ctx: RequestContext,
  documents: readonly NewDocument[],
  now: Date,
): Promise<WrittenDocument[]> {
  if (documents.length === 0) return [];
  const numbers = new Map<string, string>();
  for (const type of ['credit_note', 'invoice'] as const) {
    const ofType = documents.filter((d) => d.type === type);
    if (ofType.length === 0) continue;
    const counter = await tx
      .updateTable('billing_counters')
      .set((eb) => ({ value: eb('value', '+', ofType.length) }))
      .where('name', '=', type)
      .returning('value')
      .executeTakeFirstOrThrow();
    const first = Number(counter.value) - ofType.length + 1;
    for (const [i, d] of ofType.entries()) numbers.set(d.id, documentNumber(type, first + i));
  }
  const written = documents.map((document) => ({ document, number: numbers.get(document.id) ?? '' }));

  const invoiceRows = written.map(({ document: d, number }) => ({
    tenant_id: d.tenantId,
    id: d.id,
    type: d.type,
    number,
    reason: d.reason,
    adjusts_id: d.adjustsId,
    status: d.status,
    currency: d.currency,
    period_start: d.period.start.toISOString(),
    period_end: d.period.end.toISOString(),
    subtotal: d.total,
    total: d.total,
    issued_at: now.toISOString(),
    paid_at: d.status === 'paid' ? now.toISOString() : null,
  }));
  await sql`
    insert into invoices (tenant_id, id, type, number, reason, adjusts_id, status, currency,
      period_start, period_end, subtotal, total, issued_at, paid_at)
    select tenant_id, id, type, number, reason, adjusts_id, status, currency,
      period_start, period_end, subtotal, total, issued_at, paid_at
    from jsonb_to_recordset(${JSON.stringify(invoiceRows)}::jsonb) as x(tenant_id text, id text, type text,
      number text, reason text, adjusts_id text, status text, currency text, period_start timestamptz,
      period_end timestamptz, subtotal numeric, total numeric, issued_at timestamptz, paid_at timestamptz)`.execute(
    tx,
  );

  const lineRows = written.flatMap(({ document: d }) =>
    d.lines.map((line, position) => ({
      tenant_id: d.tenantId,
      invoice_id: d.id,
      position,
      key: line.key,
      kind: line.kind,
      description: line.description,
      period_start: line.period.start.toISOString(),
      period_end: line.period.end.toISOString(),
      quantity: line.quantity,
      unit_amount: line.unitAmount,
      amount: line.amount,
      detail: line.detail,
    })),
  );
  if (lineRows.length > 0) {
    await sql`
      insert into invoice_lines (tenant_id, invoice_id, position, key, kind, description,
        period_start, period_end, quantity, unit_amount, amount, detail)
      select tenant_id, invoice_id, position, key, kind, description, period_start, period_end,
        quantity, unit_amount, amount, detail
      from jsonb_to_recordset(${JSON.stringify(lineRows)}::jsonb) as x(tenant_id text, invoice_id text,
        position int, key text, kind text, description text, period_start timestamptz,
        period_end timestamptz, quantity text, unit_amount text, amount numeric, detail jsonb)`.execute(tx);
  }

  await recordChanges(
    tx,
    ctx,
    written.map(({ document: d, number }): ChangeOf<'invoice.finalized' | 'credit_note.issued'> => {
      const data = {
        number,
        reason: d.reason,
        ...(d.adjustsId !== null ? { adjusts: d.adjustsId } : {}),
        status: d.status,
        currency: d.currency,
        total: d.total,
        period: { start: d.period.start.toISOString(), end: d.period.end.toISOString() },
      };
      const common = { tenantId: d.tenantId, occurredAt: now };
      return d.type === 'invoice'
        ? {
            action: 'invoice.finalized',
            target: { type: 'invoice', id: d.id },
            data: { invoice: d.id, ...data },
            ...common,
          }
        : {
            action: 'credit_note.issued',
            target: { type: 'credit_note', id: d.id },
            data: { credit_note: d.id, ...data },
            ...common,
          };
    }),
  );
  return written;
}
