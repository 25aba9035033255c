import type { MinimumDetail, Proration, TierCharge, UsageDetail } from '@tenantry/core';
import type { Selectable } from 'kysely';
import type { InvoiceLinesTable, InvoicesTable } from '../db/index.ts';
import { allowedInvoiceActions, type InvoiceAction, type InvoiceStatus } from './invoice-actions.ts';
import type { DocumentLine, LineAdjustment, LineDetail } from './invoice-documents.ts';

/** One line of an invoice or credit note, as the API shows it (the rating engine's line, plus adjustments). */
export interface InvoiceLineView {
  key: string;
  kind: string;
  price_key: string;
  description: string;
  period: { start: string; end: string };
  quantity: string;
  unit_amount: string | null;
  amount: string;
  tiers: TierCharge[] | null;
  usage: UsageDetail | null;
  proration: Proration | null;
  minimum: MinimumDetail | null;
  plan: { key: string; version: number };
  /** On late-usage documents: what the line billed before and how it is rated now. */
  adjustment: LineAdjustment | null;
}

/** Another document, referred to by id and number. */
export interface DocumentRef {
  id: string;
  number: string;
}

/** An invoice or credit note (or a draft preview, which has no id or number), as the API shows it. */
export interface InvoiceView {
  id: string | null;
  object: 'invoice' | 'credit_note';
  number: string | null;
  status: InvoiceStatus;
  /** `period`: the period's invoice; `late_usage`: usage that changed after the period was invoiced; `void`: a credit note cancelling a voided invoice. */
  reason: 'period' | 'late_usage' | 'void';
  tenant: { id: string; slug: string; name: string };
  /** The invoice a late-usage document or credit note adjusts. */
  adjusts: DocumentRef | null;
  /** The credit note that cancelled a voided invoice. */
  credit_note: DocumentRef | null;
  currency: string;
  period: { start: string; end: string };
  lines: InvoiceLineView[];
  subtotal: string;
  total: string;
  /** What is still to be paid: the total while open or uncollectible, else zero. */
  amount_due: string;
  issued_at: string | null;
  paid_at: string | null;
  voided_at: string | null;
  marked_uncollectible_at: string | null;
  payment: {
    reference: string | null;
    failures: number;
    last_failure: string | null;
    last_failed_at: string | null;
  };
  allowed_actions: InvoiceAction[];
}

/** A stored document with what it takes to show it. */
export interface DocumentRecord extends Selectable<InvoicesTable> {
  tenant_slug: string;
  tenant_name: string;
  adjusts_number: string | null;
  credit_note_number: string | null;
}

/** Builds the API's view of a stored document and its lines. */
export function invoiceView(
  record: DocumentRecord,
  lines: readonly Selectable<InvoiceLinesTable>[],
  zero: string,
): InvoiceView {
  const status = record.status as InvoiceStatus;
  const total = canonicalMoney(record.total, zero);
  return {
    id: record.id,
    object: record.type,
    number: record.number,
    status,
    reason: record.reason,
    tenant: { id: record.tenant_id, slug: record.tenant_slug, name: record.tenant_name },
    adjusts:
      record.adjusts_id !== null ? { id: record.adjusts_id, number: record.adjusts_number ?? '' } : null,
    credit_note:
      record.credit_note_id !== null
        ? { id: record.credit_note_id, number: record.credit_note_number ?? '' }
        : null,
    currency: record.currency,
    period: { start: record.period_start.toISOString(), end: record.period_end.toISOString() },
    lines: lines.map((line) => lineView(line, zero)),
    subtotal: canonicalMoney(record.subtotal, zero),
    total,
    amount_due: record.type === 'invoice' && (status === 'open' || status === 'uncollectible') ? total : zero,
    issued_at: record.issued_at.toISOString(),
    paid_at: record.paid_at?.toISOString() ?? null,
    voided_at: record.voided_at?.toISOString() ?? null,
    marked_uncollectible_at: record.uncollectible_at?.toISOString() ?? null,
    payment: {
      reference: record.payment_reference,
      failures: record.payment_failures,
      last_failure: record.last_payment_failure,
      last_failed_at: record.last_payment_failed_at?.toISOString() ?? null,
    },
    allowed_actions: [...allowedInvoiceActions(status)],
  };
}

/** A line to be written (or of a draft) as the API shows it. */
export function documentLineView(line: DocumentLine): InvoiceLineView {
  return {
    key: line.key,
    kind: line.kind,
    price_key: line.detail.price_key,
    description: line.description,
    period: { start: line.period.start.toISOString(), end: line.period.end.toISOString() },
    quantity: line.quantity,
    unit_amount: line.unitAmount,
    amount: line.amount,
    tiers: line.detail.tiers === null ? null : [...line.detail.tiers],
    usage: line.detail.usage,
    proration: line.detail.proration,
    minimum: line.detail.minimum,
    plan: line.detail.plan,
    adjustment: line.detail.adjustment,
  };
}

function lineView(line: Selectable<InvoiceLinesTable>, zero: string): InvoiceLineView {
  const detail = line.detail as unknown as LineDetail;
  return {
    key: line.key,
    kind: line.kind,
    price_key: detail.price_key,
    description: line.description,
    period: { start: line.period_start.toISOString(), end: line.period_end.toISOString() },
    quantity: line.quantity,
    unit_amount: line.unit_amount,
    amount: canonicalMoney(line.amount, zero),
    tiers: detail.tiers === null ? null : [...detail.tiers],
    usage: detail.usage,
    proration: detail.proration,
    minimum: detail.minimum,
    plan: detail.plan,
    adjustment: detail.adjustment ?? null,
  };
}

/**
 * A numeric read back from Postgres with the currency's digits: `numeric` keeps the scale it was
 * given, and amounts are always written with the currency's digits, so this only pads `"0"`.
 */
function canonicalMoney(amount: string, zero: string): string {
  const digits = zero.includes('.') ? (zero.split('.')[1] ?? '').length : 0;
  const [whole = '0', fraction = ''] = amount.split('.');
  if (digits === 0) return whole;
  return `${whole}.${fraction.padEnd(digits, '0').slice(0, digits)}`;
}
