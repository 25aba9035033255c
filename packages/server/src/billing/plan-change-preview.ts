import { toMinorUnits } from '@tenantry/core';
import { moneyOf } from './decimal-text.ts';
import type { InvoiceLineView, InvoiceView } from './invoice-view.ts';

/** One proration line of a plan change, as Stripe shows them: a credit for unused time, a charge for the rest. */
export interface ProrationLineView {
  /** `credit`: the current plan's unused time (a negative amount); `charge`: the new plan's rest of the period. */
  kind: 'credit' | 'charge';
  price_key: string;
  description: string;
  plan: { key: string; version: number };
  period: { start: string; end: string };
  /** Signed, major units of the invoice's currency. */
  amount: string;
}

/** The proration a change makes to the current period's invoice. */
export interface ProrationView {
  lines: ProrationLineView[];
  /** The lines' sum, signed. */
  amount: string;
}

const RECURRING = new Set(['flat', 'per_seat']);

/**
 * The proration of a change taking effect at `at`, read off two drafts of the period's invoice
 * that the rating engine made: `before` as the subscription stands, `after` with the change
 * applied. The engine prorates each segment by the seconds it covers, so the change splits each
 * recurring line of the current plan at `at`: the part it no longer bills is the credit, and the
 * new plan's lines from `at` on are the charge. Nothing is recomputed here: both sides are lines
 * the invoice run would bill.
 */
export function prorationOf(before: InvoiceView, after: InvoiceView, at: Date): ProrationView {
  const currency = after.currency;
  // Rating truncates segment boundaries to the second.
  const cut = new Date(Math.floor(at.getTime() / 1000) * 1000).toISOString();
  const minor = (amount: string): bigint => toMinorUnits(amount, currency) ?? 0n;
  const lines: ProrationLineView[] = [];
  for (const line of before.lines) {
    // A line that runs to the period's end from at or before the change (from its very start: all of it is unused).
    if (!RECURRING.has(line.kind) || line.period.end !== before.period.end || line.period.start > cut)
      continue;
    const kept = after.lines.find(
      (candidate) =>
        sameSource(candidate, line) &&
        candidate.period.start === line.period.start &&
        candidate.period.end === cut,
    );
    const credit = minor(line.amount) - (kept === undefined ? 0n : minor(kept.amount));
    if (credit === 0n) continue;
    lines.push({
      kind: 'credit',
      price_key: line.price_key,
      description: `Unused time on ${line.description}`,
      plan: line.plan,
      period: { start: cut, end: line.period.end },
      amount: moneyOf(-credit, currency),
    });
  }
  for (const line of after.lines) {
    if (!RECURRING.has(line.kind) || line.period.start !== cut) continue;
    lines.push({
      kind: 'charge',
      price_key: line.price_key,
      description: `Remaining time on ${line.description}`,
      plan: line.plan,
      period: line.period,
      amount: line.amount,
    });
  }
  const total = lines.reduce(
    (sum, line) => sum + minor(line.amount.replace(/^-/, '')) * sign(line.amount),
    0n,
  );
  return { lines, amount: moneyOf(total, currency) };
}

function sameSource(a: InvoiceLineView, b: InvoiceLineView): boolean {
  return (
    a.kind === b.kind &&
    a.price_key === b.price_key &&
    a.plan.key === b.plan.key &&
    a.plan.version === b.plan.version
  );
}

function sign(amount: string): bigint {
  return amount.startsWith('-') ? -1n : 1n;
}
