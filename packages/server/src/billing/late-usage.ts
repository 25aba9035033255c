import type { Period, RatedInvoice } from '@tenantry/core';
import { canonicalText, minorOf, moneyOf } from './decimal-text.ts';
import { type DocumentLine, detailOf, documentId, type NewDocument } from './invoice-documents.ts';

/** What was charged for one line of a billed period, summed over its documents. */
export interface BilledLine {
  readonly kind: string;
  readonly description: string;
  readonly quantity: string;
  readonly amount: string;
  readonly price_key: string;
  readonly plan: { readonly key: string; readonly version: number };
}

/** What was charged for a billed period, by line key: the baseline late usage is compared with. */
export type BilledLines = Readonly<Record<string, BilledLine>>;

/** The baseline a rated period leaves: each line's quantity and amount. */
export function billedLinesOf(rated: RatedInvoice): BilledLines {
  const billed: Record<string, BilledLine> = {};
  for (const line of rated.lines) {
    billed[line.key] = {
      kind: line.kind,
      description: line.description,
      quantity: line.quantity,
      amount: line.amount,
      price_key: line.price_key,
      plan: line.plan,
    };
  }
  return billed;
}

/**
 * The document that brings a finalized period up to date with its usage as rated now, or `null`
 * when the total has not moved. Each line whose amount changed becomes a line of the difference
 * (quantity as rated now, `adjustment` saying what was billed before). More to charge makes an
 * invoice for late usage, less a credit note (its lines are what is credited, so they carry the
 * differences with the sign turned). Both refer to the period's invoice.
 */
export function lateUsageDocument(e: {
  tenantId: string;
  periodInvoiceId: string;
  period: Period;
  billed: BilledLines;
  rated: RatedInvoice;
}): NewDocument | null {
  const { currency } = e.rated;
  const rated = new Map(e.rated.lines.map((line) => [line.key, line]));
  const keys = [...new Set([...rated.keys(), ...Object.keys(e.billed)])];
  const deltas: { line: Omit<DocumentLine, 'amount'>; delta: bigint }[] = [];
  let net = 0n;
  for (const key of keys) {
    const now = rated.get(key);
    const before = e.billed[key];
    const ratedAmount = now?.amount ?? moneyOf(0n, currency);
    const delta = minorOf(ratedAmount, currency) - (before ? minorOf(before.amount, currency) : 0n);
    if (delta === 0n) continue;
    net += delta;
    const adjustment = {
      previous_quantity: before?.quantity ?? null,
      previous_amount: before?.amount ?? moneyOf(0n, currency),
      rated_amount: ratedAmount,
    };
    const quantity = now?.quantity ?? '0';
    const label = now?.description ?? before?.description ?? key;
    const moved =
      before !== undefined && canonicalText(before.quantity) !== canonicalText(quantity)
        ? `${before.quantity} → ${quantity}`
        : 'recomputed';
    deltas.push({
      delta,
      line: {
        key,
        kind: now?.kind ?? before?.kind ?? 'usage',
        description: `${label} (late usage: ${moved})`,
        period: now ? { start: new Date(now.period.start), end: new Date(now.period.end) } : e.period,
        quantity,
        unitAmount: now?.unit_amount ?? null,
        detail: now
          ? detailOf(now, adjustment)
          : {
              price_key: before?.price_key ?? key,
              plan: before?.plan ?? { key: '', version: 0 },
              tiers: null,
              usage: null,
              proration: null,
              minimum: null,
              adjustment,
            },
      },
    });
  }
  if (net === 0n) return null;
  const type = net > 0n ? 'invoice' : 'credit_note';
  const sign = net > 0n ? 1n : -1n;
  return {
    id: documentId(type),
    tenantId: e.tenantId,
    type,
    reason: 'late_usage',
    adjustsId: e.periodInvoiceId,
    status: type === 'invoice' ? 'open' : 'issued',
    currency,
    period: e.period,
    lines: deltas.map(({ line, delta }) => ({ ...line, amount: moneyOf(delta * sign, currency) })),
    total: moneyOf(net * sign, currency),
  };
}
