import type { Transaction } from 'kysely';
import type { Schema } from '../db/index.ts';

/**
 * What the invoices service tells the tenant side (dunning) when an invoice's payment fails or
 * succeeds — by API or CLI now, by Stripe webhooks later. Called INSIDE the transaction that
 * records the payment outcome, so that the tenant's change commits or rolls back with it, with
 * the id of the request that reported it, under which dunning's changes are recorded.
 */
export interface PaymentEvents {
  /** An invoice's payment failed. */
  paymentFailed(
    tx: Transaction<Schema>,
    e: { tenantId: string; invoiceId: string; now: Date; requestId?: string | null },
  ): Promise<void>;
  /** An invoice was paid. */
  paymentSucceeded(
    tx: Transaction<Schema>,
    e: { tenantId: string; invoiceId: string; now: Date; requestId?: string | null },
  ): Promise<void>;
  /**
   * An invoice will not be collected: voided (nothing is owed) or marked uncollectible (written
   * off). Without it, the dunning of a voided invoice would still suspend the tenant.
   */
  invoiceClosed(
    tx: Transaction<Schema>,
    e: {
      tenantId: string;
      invoiceId: string;
      now: Date;
      as: 'void' | 'uncollectible';
      requestId?: string | null;
    },
  ): Promise<void>;
}
