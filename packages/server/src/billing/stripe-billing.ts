import { PaymentMethodInput as PaymentMethodBody } from '@tenantry/core/api/requests';
import type { Kysely, Transaction } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import type { JobQueue } from '../jobs/index.ts';
import type { InvoiceAction } from './invoice-actions.ts';
import type { InvoiceService, SettleInput } from './invoice-service.ts';
import type { PaymentMethodInput, PaymentMethodService } from './payment-method-service.ts';
import { createStripeClient, type StripeSettings } from './stripe-client.ts';
import { type FinalizedInvoices, StripeSync } from './stripe-sync.ts';
import {
  type InvoiceSettlement,
  type PaymentMethodRecorder,
  type SettlementEvent,
  StripeWebhooks,
  type WebhookEffect,
} from './stripe-webhooks.ts';

/** The Stripe adapter, present when `STRIPE_SECRET_KEY` is set. */
export interface StripeBilling {
  /** Sends customers and finalized invoices to Stripe (the `stripe.sync_invoice` job). */
  readonly sync: StripeSync;
  /** Acts on Stripe's webhooks (`POST /v1/stripe/webhooks`). */
  readonly webhooks: StripeWebhooks;
}

/** What {@link createStripeBilling} plugs the adapter into. */
export interface StripeBillingOptions {
  readonly db: Kysely<Schema>;
  readonly clock: Clock;
  readonly jobs: JobQueue;
  readonly settings: StripeSettings;
  /** The invoice side: where finalized invoices are read, and who records their payment. */
  readonly invoices: FinalizedInvoices & InvoiceSettlement;
  /** The tenant side: the payment method on file. */
  readonly paymentMethods: PaymentMethodService;
  /** Told after a committed webhook changed a tenant (e.g. resumed it), to drop cached entitlements. */
  readonly onChanged: (tenantId: string) => void;
}

/** Builds the Stripe adapter over one client of the official library. */
export function createStripeBilling(options: StripeBillingOptions): StripeBilling {
  const stripe = createStripeClient(options.settings);
  return {
    sync: new StripeSync({
      db: options.db,
      clock: options.clock,
      stripe,
      jobs: options.jobs,
      invoices: options.invoices,
    }),
    webhooks: new StripeWebhooks({
      db: options.db,
      clock: options.clock,
      stripe,
      webhookSecret: options.settings.webhookSecret,
      invoices: options.invoices,
      paymentMethods: paymentMethodRecorder(options.paymentMethods),
      onChanged: options.onChanged,
    }),
  };
}

/** The payment-method service as the webhooks use it: Stripe's card on file becomes the tenant's. */
export function paymentMethodRecorder(service: PaymentMethodService): PaymentMethodRecorder {
  return {
    async onFile(tx, e) {
      const input: PaymentMethodInput = {
        reference: e.reference,
        ...(e.brand !== null ? { brand: e.brand } : {}),
        ...(e.last4 !== null ? { last4: e.last4 } : {}),
      };
      const parsed = PaymentMethodBody.safeParse(input);
      if (!parsed.success)
        return {
          outcome: 'ignored',
          detail: `payment method ${e.reference} is not one Tenantry can keep on file`,
        };
      const attached = await service.attach(tx, e.ctx, e.tenantId, parsed.data, e.now);
      if (!attached.ok) return { outcome: 'ignored', detail: attached.error.detail };
      return {
        outcome: 'applied',
        detail: `payment method ${e.reference} is on file for tenant ${e.tenantId}${attached.value.resumed ? ', which was resumed' : ''}`,
      };
    },
    async detached(tx, e) {
      const detached = await service.detach(tx, e.ctx, e.tenantId, e.reference, e.now);
      if (!detached.ok) return { outcome: 'ignored', detail: detached.error.detail };
      return {
        outcome: 'applied',
        detail: `payment method ${e.reference} was detached in Stripe: tenant ${e.tenantId} has none on file`,
      };
    },
  };
}

/**
 * The invoice service as the adapter uses it: finalized invoices to send, and `settleIn` to
 * record, inside the webhook's transaction, what Stripe says of their payment. A status that does
 * not allow it (paying a void invoice, an invoice paid already by API) is acknowledged as
 * `ignored` with the service's reason: Stripe delivering it again would not change that.
 */
export function invoiceSide(
  service: Pick<InvoiceService, 'get' | 'settleIn'>,
): FinalizedInvoices & InvoiceSettlement {
  /** Settles the invoice as Stripe says; `done` ends the sentence "invoice <id> …". */
  const settle = async (
    tx: Transaction<Schema>,
    e: SettlementEvent,
    action: InvoiceAction,
    input: SettleInput,
    done: string,
  ): Promise<WebhookEffect> => {
    const settled = await service.settleIn(tx, e.ctx, e.tenantId, e.invoiceId, action, input);
    return settled.ok
      ? { outcome: 'applied', detail: `invoice ${e.invoiceId} ${done}` }
      : { outcome: 'ignored', detail: settled.error.detail };
  };
  return {
    async finalized(tenantId, invoiceId) {
      const found = await service.get(invoiceId, tenantId);
      if (!found.ok) return undefined;
      const { id, number, object, status, currency, lines, total } = found.value;
      if (id === null || number === null || object !== 'invoice' || status === 'draft') return undefined;
      return {
        id,
        number,
        tenantId,
        currency,
        status,
        lines: lines.map((line) => ({
          description: line.description,
          amount: line.amount,
          period: { start: new Date(line.period.start), end: new Date(line.period.end) },
        })),
        total,
      };
    },
    paid: (tx, e) =>
      settle(tx, e, 'pay', { reference: e.stripeInvoiceId }, `is paid (Stripe invoice ${e.stripeInvoiceId})`),
    voided: (tx, e) =>
      settle(
        tx,
        e,
        'void',
        { reason: `voided in Stripe (Stripe invoice ${e.stripeInvoiceId})` },
        `is void, as Stripe invoice ${e.stripeInvoiceId} is`,
      ),
    uncollectible: (tx, e) =>
      settle(
        tx,
        e,
        'mark_uncollectible',
        { reason: `marked uncollectible in Stripe (Stripe invoice ${e.stripeInvoiceId})` },
        `is uncollectible, as Stripe invoice ${e.stripeInvoiceId} is`,
      ),
    paymentFailed: (tx, e) =>
      settle(
        tx,
        e,
        'payment_failed',
        {
          reason: `Stripe could not collect invoice ${e.stripeInvoiceId}${e.attempt !== undefined ? ` (attempt ${e.attempt})` : ''}`,
        },
        `has a failed payment recorded (Stripe invoice ${e.stripeInvoiceId})`,
      ),
  };
}
