import { type DomainError, fail, ok, type Result } from '@tenantry/core';

/** What can happen to a finalized invoice: settled by API or CLI (or by the Stripe adapter). */
export const INVOICE_ACTIONS = ['pay', 'payment_failed', 'void', 'mark_uncollectible'] as const;

/** One of {@link INVOICE_ACTIONS}. */
export type InvoiceAction = (typeof INVOICE_ACTIONS)[number];

/**
 * A document's status: `draft` (a preview, never stored), `open` (final, awaiting payment),
 * `paid`, `void`, `uncollectible` (written off, still payable); a credit note is `issued`.
 */
export type InvoiceStatus = 'draft' | 'open' | 'paid' | 'void' | 'uncollectible' | 'issued';

const ALLOWED: Readonly<Record<InvoiceStatus, readonly InvoiceAction[]>> = {
  draft: [],
  open: ['pay', 'payment_failed', 'void', 'mark_uncollectible'],
  uncollectible: ['pay', 'payment_failed', 'void'],
  paid: [],
  void: [],
  issued: [],
};

/** The actions a document in `status` accepts, in {@link INVOICE_ACTIONS} order. */
export function allowedInvoiceActions(status: InvoiceStatus): readonly InvoiceAction[] {
  return ALLOWED[status];
}

/**
 * The status `action` leads to from `status`, or `illegal_invoice_transition` naming the actions
 * that are allowed. A failed payment leaves the status as it is (it is recorded beside it).
 */
export function applyInvoiceAction(
  number: string,
  status: InvoiceStatus,
  action: InvoiceAction,
): Result<InvoiceStatus, DomainError> {
  const allowed = ALLOWED[status];
  if (!allowed.includes(action)) {
    const what = status === 'issued' ? 'a credit note' : `a ${status} invoice`;
    return fail(
      'illegal_invoice_transition',
      `${number} is ${what}: it cannot take "${action}"${allowed.length > 0 ? `; it can take ${allowed.map((a) => `"${a}"`).join(', ')}` : ''}`,
      { details: { status, action, allowed_actions: [...allowed] } },
    );
  }
  switch (action) {
    case 'pay':
      return ok('paid');
    case 'void':
      return ok('void');
    case 'mark_uncollectible':
      return ok('uncollectible');
    case 'payment_failed':
      return ok(status);
  }
}
