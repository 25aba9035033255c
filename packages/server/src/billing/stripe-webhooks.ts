import { type DomainError, fail, ok, type Result } from '@tenantry/core';
import type { Kysely, Transaction } from 'kysely';
import Stripe from 'stripe';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import type { RequestContext } from '../request-context.ts';

/** What a webhook event did: changed something, or was acknowledged and left alone. */
export interface WebhookEffect {
  readonly outcome: 'applied' | 'ignored';
  /** A sentence for people, e.g. why an event was ignored. */
  readonly detail: string;
}

/** What one payment outcome is about. */
export interface SettlementEvent {
  readonly tenantId: string;
  readonly invoiceId: string;
  readonly stripeInvoiceId: string;
  /** Stripe's count of attempts to collect the invoice, when the event says. */
  readonly attempt?: number;
  readonly now: Date;
  readonly ctx: RequestContext;
}

/**
 * The invoice side of Stripe's payment events, adapted from the invoice service. Both run inside
 * the transaction that records the event as processed, so a replay can never apply twice and a
 * failure leaves the event to Stripe's next delivery.
 */
export interface InvoiceSettlement {
  /** The invoice was paid in Stripe. */
  paid(tx: Transaction<Schema>, e: SettlementEvent): Promise<WebhookEffect>;
  /** A payment of the invoice failed in Stripe; the invoice stays open (Stripe retries on its schedule). */
  paymentFailed(tx: Transaction<Schema>, e: SettlementEvent): Promise<WebhookEffect>;
  /** The invoice was voided in Stripe (e.g. in its dashboard): it is void in Tenantry too, with its credit note. */
  voided(tx: Transaction<Schema>, e: SettlementEvent): Promise<WebhookEffect>;
  /** The invoice was marked uncollectible in Stripe: written off in Tenantry too. */
  uncollectible(tx: Transaction<Schema>, e: SettlementEvent): Promise<WebhookEffect>;
}

/** Which settlement each Stripe invoice event is. */
const INVOICE_EVENTS = {
  'invoice.paid': 'paid',
  'invoice.payment_failed': 'paymentFailed',
  'invoice.voided': 'voided',
  'invoice.marked_uncollectible': 'uncollectible',
} as const satisfies Record<string, keyof InvoiceSettlement>;

/** A payment method of a tenant's Stripe customer, as the webhook saw it. */
export interface PaymentMethodEvent {
  readonly tenantId: string;
  /** Stripe's `pm_…` id. */
  readonly reference: string;
  readonly brand: string | null;
  readonly last4: string | null;
  readonly now: Date;
  readonly ctx: RequestContext;
}

/** The tenant side: whether a payment method is on file (trials that need one convert only then). */
export interface PaymentMethodRecorder {
  onFile(tx: Transaction<Schema>, e: PaymentMethodEvent): Promise<WebhookEffect>;
  /** The method was detached from the customer in Stripe: off file, if it is the one on file. */
  detached(tx: Transaction<Schema>, e: PaymentMethodEvent): Promise<WebhookEffect>;
}

/** What `POST /v1/stripe/webhooks` answers for a verified event. */
export interface WebhookReceipt {
  readonly event_id: string;
  readonly type: string;
  /** `duplicate`: the event id was processed before, and nothing was done again. */
  readonly outcome: 'applied' | 'ignored' | 'duplicate';
  readonly detail: string;
}

/**
 * Consumes Stripe's webhooks. The signature is the authentication: the library checks it
 * (`stripe.webhooks.constructEvent`) against the raw body and `STRIPE_WEBHOOK_SECRET`, with the
 * library's 5 minutes of tolerance measured on Tenantry's clock. Each event id is acted on once:
 * its row in `stripe_events` is written in the transaction of its effect, and a concurrent
 * delivery of the same event waits on that row, then finds it.
 */
export class StripeWebhooks {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #secret: string;
  readonly #invoices: InvoiceSettlement;
  readonly #paymentMethods: PaymentMethodRecorder | undefined;
  readonly #stripe: Stripe;
  readonly #onChanged: (tenantId: string) => void;

  constructor(options: {
    db: Kysely<Schema>;
    clock: Clock;
    stripe: Stripe;
    webhookSecret: string;
    invoices: InvoiceSettlement;
    paymentMethods?: PaymentMethodRecorder | undefined;
    /**
     * Told after a committed event changed something of a tenant's (a payment can reactivate it,
     * a payment method resume it), to drop its cached entitlements in this process.
     */
    onChanged?: (tenantId: string) => void;
  }) {
    this.#db = options.db;
    this.#clock = options.clock;
    this.#stripe = options.stripe;
    this.#secret = options.webhookSecret;
    this.#invoices = options.invoices;
    this.#paymentMethods = options.paymentMethods;
    this.#onChanged = options.onChanged ?? (() => {});
  }

  /**
   * Verifies and acts on one delivery. A bad signature is `invalid_stripe_signature` and writes
   * nothing; an event Tenantry does not act on is acknowledged as `ignored`.
   */
  async receive(
    rawBody: Buffer,
    signature: string | undefined,
    ctx: RequestContext,
  ): Promise<Result<WebhookReceipt, DomainError>> {
    const now = this.#clock.now();
    let event: Stripe.Event;
    try {
      event = this.#stripe.webhooks.constructEvent(
        rawBody,
        signature ?? '',
        this.#secret,
        undefined,
        undefined,
        now.getTime(),
      );
    } catch (error) {
      if (error instanceof Stripe.errors.StripeSignatureVerificationError) {
        // The library's message runs to several lines of advice; the first says what is wrong.
        const reason = (error.message.split('\n')[0] ?? '').trim();
        return fail('invalid_stripe_signature', `the Stripe-Signature header does not verify: ${reason}`);
      }
      return fail('malformed_request', 'the webhook body is signed but is not a Stripe event in JSON');
    }
    if (typeof event?.id !== 'string' || typeof event.type !== 'string')
      return fail(
        'malformed_request',
        'the webhook body is signed but is not a Stripe event (no id or type)',
      );

    const { receipt, changed } = await this.#db.transaction().execute(async (tx) => {
      const first = await tx
        .insertInto('stripe_events')
        .values({
          id: event.id,
          type: event.type,
          tenant_id: null,
          outcome: 'ignored',
          detail: '',
          received_at: now,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .returning('id')
        .executeTakeFirst();
      if (!first) {
        const seen = await tx
          .selectFrom('stripe_events')
          .select(['outcome', 'detail', 'received_at'])
          .where('id', '=', event.id)
          .executeTakeFirstOrThrow();
        const duplicate: WebhookReceipt = {
          event_id: event.id,
          type: event.type,
          outcome: 'duplicate',
          detail: `event ${event.id} was received at ${seen.received_at.toISOString()} (${seen.outcome}: ${seen.detail}); nothing was done again`,
        };
        return { receipt: duplicate, changed: null };
      }
      const { effect, tenantId } = await this.#apply(tx, event, now, ctx);
      await tx
        .updateTable('stripe_events')
        .set({ outcome: effect.outcome, detail: effect.detail, tenant_id: tenantId })
        .where('id', '=', event.id)
        .execute();
      const done: WebhookReceipt = {
        event_id: event.id,
        type: event.type,
        outcome: effect.outcome,
        detail: effect.detail,
      };
      return { receipt: done, changed: effect.outcome === 'applied' ? tenantId : null };
    });
    if (changed !== null) this.#onChanged(changed);
    return ok(receipt);
  }

  async #apply(
    tx: Transaction<Schema>,
    event: Stripe.Event,
    now: Date,
    ctx: RequestContext,
  ): Promise<{ effect: WebhookEffect; tenantId: string | null }> {
    switch (event.type) {
      case 'invoice.paid':
      case 'invoice.payment_failed':
      case 'invoice.voided':
      case 'invoice.marked_uncollectible': {
        const { id: stripeInvoiceId, attempt_count: attempt } = event.data.object;
        const known = await tx
          .selectFrom('stripe_invoices')
          .select(['tenant_id', 'invoice_id'])
          .where('stripe_invoice_id', '=', String(stripeInvoiceId))
          .executeTakeFirst();
        if (!known) {
          return {
            effect: {
              outcome: 'ignored',
              detail: `Stripe invoice ${stripeInvoiceId} was not sent by Tenantry`,
            },
            tenantId: null,
          };
        }
        const e: SettlementEvent = {
          tenantId: known.tenant_id,
          invoiceId: known.invoice_id,
          stripeInvoiceId: String(stripeInvoiceId),
          ...(typeof attempt === 'number' ? { attempt } : {}),
          now,
          ctx,
        };
        const effect = await this.#invoices[INVOICE_EVENTS[event.type]](tx, e);
        // Voided in Stripe already: the void Tenantry queues for Stripe has nothing left to do.
        if (event.type === 'invoice.voided' && effect.outcome === 'applied')
          await tx
            .updateTable('stripe_invoices')
            .set({ voided_at: now })
            .where('stripe_invoice_id', '=', String(stripeInvoiceId))
            .where('voided_at', 'is', null)
            .execute();
        return { effect, tenantId: known.tenant_id };
      }
      case 'payment_method.attached': {
        const method = event.data.object;
        const customer = typeof method.customer === 'string' ? method.customer : method.customer?.id;
        return this.#paymentMethod(tx, customer, {
          reference: method.id,
          brand: method.card?.brand ?? null,
          last4: method.card?.last4 ?? null,
          now,
          ctx,
        });
      }
      case 'payment_method.detached': {
        // Detached, the method names no customer any more; its id is what Tenantry has on file.
        const method = event.data.object;
        const onFile = await tx
          .selectFrom('payment_methods')
          .select('tenant_id')
          .where('reference', '=', method.id)
          .executeTakeFirst();
        if (!onFile || !this.#paymentMethods) {
          return {
            effect: { outcome: 'ignored', detail: `payment method ${method.id} is on file for no tenant` },
            tenantId: null,
          };
        }
        const detached = {
          reference: method.id,
          brand: null,
          last4: null,
          now,
          ctx,
          tenantId: onFile.tenant_id,
        };
        return { effect: await this.#paymentMethods.detached(tx, detached), tenantId: onFile.tenant_id };
      }
      case 'customer.updated': {
        const customer = event.data.object;
        // Stripe sends this for any change of the customer; only a new default payment method matters.
        const previous = event.data.previous_attributes as
          | { invoice_settings?: Record<string, unknown> }
          | undefined;
        if (previous !== undefined && !('default_payment_method' in (previous.invoice_settings ?? {}))) {
          return {
            effect: {
              outcome: 'ignored',
              detail: `customer ${customer.id} changed, but not its default payment method`,
            },
            tenantId: null,
          };
        }
        const method = customer.invoice_settings?.default_payment_method;
        if (method === null || method === undefined) {
          return {
            effect: { outcome: 'ignored', detail: `customer ${customer.id} has no default payment method` },
            tenantId: null,
          };
        }
        return this.#paymentMethod(tx, customer.id, {
          reference: typeof method === 'string' ? method : method.id,
          brand: typeof method === 'string' ? null : (method.card?.brand ?? null),
          last4: typeof method === 'string' ? null : (method.card?.last4 ?? null),
          now,
          ctx,
        });
      }
      default:
        return {
          effect: { outcome: 'ignored', detail: `Tenantry does not act on ${event.type} events` },
          tenantId: null,
        };
    }
  }

  async #paymentMethod(
    tx: Transaction<Schema>,
    stripeCustomerId: string | undefined,
    method: Omit<PaymentMethodEvent, 'tenantId'>,
  ): Promise<{ effect: WebhookEffect; tenantId: string | null }> {
    const known =
      stripeCustomerId === undefined
        ? undefined
        : await tx
            .selectFrom('stripe_customers')
            .select('tenant_id')
            .where('stripe_customer_id', '=', stripeCustomerId)
            .executeTakeFirst();
    if (!known) {
      return {
        effect: {
          outcome: 'ignored',
          detail: `payment method ${method.reference} belongs to no Stripe customer of a tenant`,
        },
        tenantId: null,
      };
    }
    if (!this.#paymentMethods) {
      return {
        effect: { outcome: 'ignored', detail: 'this Tenantry keeps no payment methods on file' },
        tenantId: known.tenant_id,
      };
    }
    const effect = await this.#paymentMethods.onFile(tx, { ...method, tenantId: known.tenant_id });
    return { effect, tenantId: known.tenant_id };
  }
}
