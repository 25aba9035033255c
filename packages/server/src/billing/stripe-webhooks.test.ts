import type { Transaction } from 'kysely';
import Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { stripeEvent } from '../../test/stripe-fake.ts';
import {
  invoiceEvent,
  STRIPE_WEBHOOK_SECRET,
  type StripeTestApp,
  startStripeTestApp,
} from '../../test/stripe-support.ts';
import { applyPlans, auditCount, provisionedTenant } from '../../test/tenant-support.ts';
import { recordChange } from '../changes/index.ts';
import type { Schema } from '../db/index.ts';
import type { FinalizedInvoice, FinalizedInvoices } from './stripe-sync.ts';
import type { InvoiceSettlement, SettlementEvent, WebhookEffect } from './stripe-webhooks.ts';

type Settlement = 'paid' | 'payment_failed' | 'voided' | 'uncollectible';

const SETTLED = {
  paid: 'invoice.paid',
  payment_failed: 'invoice.payment_failed',
  voided: 'invoice.voided',
  uncollectible: 'invoice.marked_uncollectible',
} as const satisfies Record<Settlement, string>;

/**
 * The invoice side as the adapter sees it: final invoices in memory, and payments recorded as
 * audit rows in the webhook's transaction (so that a rollback or a replay shows in the database).
 */
class InvoiceLedger implements FinalizedInvoices, InvoiceSettlement {
  readonly invoices = new Map<string, FinalizedInvoice>();
  readonly settled: Array<{ kind: Settlement; e: SettlementEvent }> = [];
  /** Set to make the next settlement throw, as a database failure would. */
  failNext: Error | undefined;

  async finalized(tenantId: string, invoiceId: string): Promise<FinalizedInvoice | undefined> {
    const invoice = this.invoices.get(invoiceId);
    return invoice?.tenantId === tenantId ? invoice : undefined;
  }
  paid(tx: Transaction<Schema>, e: SettlementEvent): Promise<WebhookEffect> {
    return this.#record(tx, 'paid', e);
  }
  paymentFailed(tx: Transaction<Schema>, e: SettlementEvent): Promise<WebhookEffect> {
    return this.#record(tx, 'payment_failed', e);
  }
  voided(tx: Transaction<Schema>, e: SettlementEvent): Promise<WebhookEffect> {
    return this.#record(tx, 'voided', e);
  }
  uncollectible(tx: Transaction<Schema>, e: SettlementEvent): Promise<WebhookEffect> {
    return this.#record(tx, 'uncollectible', e);
  }
  async #record(tx: Transaction<Schema>, kind: Settlement, e: SettlementEvent): Promise<WebhookEffect> {
    // What the invoice service records, so that a rollback can be seen to take it back.
    await recordChange(tx, e.ctx, {
      action: SETTLED[kind],
      tenantId: e.tenantId,
      target: { type: 'invoice', id: e.invoiceId },
      data: { invoice: e.invoiceId, number: 'INV-000000', from: 'open', to: 'open' },
      occurredAt: e.now,
    });
    const failure = this.failNext;
    this.failNext = undefined;
    if (failure) throw failure;
    this.settled.push({ kind, e });
    return { outcome: 'applied', detail: `invoice ${e.invoiceId} ${kind}` };
  }
}

let t: StripeTestApp;
let ledger: InvoiceLedger;
let counter = 0;

beforeAll(async () => {
  ledger = new InvoiceLedger();
  t = await startStripeTestApp({ invoices: ledger });
  await applyPlans(t);
});

afterAll(() => t.close());

beforeEach(() => {
  ledger.settled.length = 0;
});

/** A tenant with a final invoice already sent to Stripe; returns the ids. */
async function sentInvoice(): Promise<{ tenantId: string; invoiceId: string; stripeInvoiceId: string }> {
  const tenant = await provisionedTenant(t);
  counter += 1;
  const invoiceId = `inv_webhook${counter}`;
  ledger.invoices.set(invoiceId, {
    id: invoiceId,
    number: `INV-W${counter}`,
    tenantId: tenant.id,
    currency: 'usd',
    status: 'open',
    lines: [{ description: 'Pro: 2 seats', amount: '24.00' }],
    total: '24.00',
  });
  const synced = await t.stripe.sync.syncInvoice(tenant.id, invoiceId);
  if (!synced) throw new Error(`invoice ${invoiceId} was not sent to Stripe`);
  return { tenantId: tenant.id, invoiceId, stripeInvoiceId: synced.stripeInvoiceId };
}

async function eventRows(id?: string) {
  let query = t.services.database.db.selectFrom('stripe_events').selectAll();
  if (id !== undefined) query = query.where('id', '=', id);
  return query.execute();
}

describe('POST /v1/stripe/webhooks', () => {
  it('invoice.paid marks the Tenantry invoice paid, in one transaction with the event id', async () => {
    const { tenantId, invoiceId, stripeInvoiceId } = await sentInvoice();
    const event = invoiceEvent(t.fake, 'invoice.paid', stripeInvoiceId);
    // Stripe holds no operator key: the signature alone lets the call in.
    const answer = await t.deliver(event);

    expect(answer).toEqual({
      status: 200,
      body: {
        event_id: event.id,
        type: 'invoice.paid',
        outcome: 'applied',
        detail: `invoice ${invoiceId} paid`,
      },
    });
    expect(ledger.settled).toEqual([
      {
        kind: 'paid',
        e: expect.objectContaining({ tenantId, invoiceId, stripeInvoiceId, now: t.clock.now() }),
      },
    ]);
    expect(ledger.settled[0]?.e.ctx.actor).toEqual({ type: 'system', id: 'stripe-webhook' });
    expect(await eventRows(String(event.id))).toEqual([
      expect.objectContaining({ type: 'invoice.paid', tenant_id: tenantId, outcome: 'applied' }),
    ]);
  });

  it('invoice.payment_failed records a failed payment of the invoice', async () => {
    const { invoiceId, stripeInvoiceId } = await sentInvoice();
    const answer = await t.deliver(invoiceEvent(t.fake, 'invoice.payment_failed', stripeInvoiceId));
    expect(answer.status).toBe(200);
    expect(answer.body.outcome).toBe('applied');
    expect(ledger.settled.map((s) => [s.kind, s.e.invoiceId])).toEqual([['payment_failed', invoiceId]]);
  });

  it('a replayed event (same id) changes nothing and says it is a duplicate', async () => {
    const { stripeInvoiceId } = await sentInvoice();
    const event = invoiceEvent(t.fake, 'invoice.paid', stripeInvoiceId);
    expect((await t.deliver(event)).body.outcome).toBe('applied');
    const audits = await auditCount(t);
    const events = (await eventRows()).length;

    // Stripe delivers it again (a retry, or someone replaying it), later and freshly signed.
    t.clock.advance(60_000);
    const again = await t.deliver(event);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ event_id: event.id, outcome: 'duplicate' });
    expect(again.body.detail).toContain('nothing was done again');
    const twice = await Promise.all([t.deliver(event), t.deliver(event)]);
    expect(twice.map((a) => a.body.outcome)).toEqual(['duplicate', 'duplicate']);

    expect(ledger.settled).toHaveLength(1);
    expect(await auditCount(t)).toBe(audits);
    expect(await eventRows()).toHaveLength(events);
  });

  it('the same new event delivered twice at once is applied once', async () => {
    const { stripeInvoiceId } = await sentInvoice();
    const event = invoiceEvent(t.fake, 'invoice.paid', stripeInvoiceId);
    const answers = await Promise.all([t.deliver(event), t.deliver(event), t.deliver(event)]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers.map((a) => a.body.outcome).sort()).toEqual(['applied', 'duplicate', 'duplicate']);
    expect(ledger.settled).toHaveLength(1);
  });

  describe('a bad signature is refused with 400 and nothing is written', () => {
    const cases: Array<[string, (body: string) => Parameters<StripeTestApp['deliver']>[1]]> = [
      ['no Stripe-Signature header', () => ({ signature: null })],
      ['signed with another secret', () => ({ secret: 'whsec_SomeoneElsesEndpoint000000' })],
      ['a header that is not a signature', () => ({ signature: 't=1,v1=abc' })],
      [
        'a body other than the one signed',
        (body) => ({
          body: body.replace('"livemode":false', '"livemode":true'),
          signature: Stripe.webhooks.generateTestHeaderString({
            payload: body,
            secret: STRIPE_WEBHOOK_SECRET,
            timestamp: Math.floor(t.clock.now().getTime() / 1000),
          }),
        }),
      ],
      [
        'signed more than five minutes ago (a captured delivery replayed)',
        () => ({ timestamp: Math.floor(t.clock.now().getTime() / 1000) - 301 }),
      ],
    ];
    it.each(cases)('%s', async (_name, delivery) => {
      const { stripeInvoiceId } = await sentInvoice();
      const event = invoiceEvent(t.fake, 'invoice.paid', stripeInvoiceId);
      const audits = await auditCount(t);
      const events = (await eventRows()).length;

      const answer = await t.deliver(event, delivery(JSON.stringify(event)));
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({ code: 'invalid_stripe_signature' });
      expect(answer.body.detail).toMatch(/^the Stripe-Signature header does not verify: \S/);
      expect(ledger.settled).toEqual([]);
      expect(await auditCount(t)).toBe(audits);
      expect(await eventRows()).toHaveLength(events);
    });

    it('an operator key does not stand in for the signature', async () => {
      const { stripeInvoiceId } = await sentInvoice();
      const event = invoiceEvent(t.fake, 'invoice.paid', stripeInvoiceId);
      const answer = await t.request({
        method: 'POST',
        url: '/v1/stripe/webhooks',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(event),
      });
      expect(answer.status).toBe(400);
      expect(answer.body.code).toBe('invalid_stripe_signature');
      expect(ledger.settled).toEqual([]);
    });
  });

  it('a failure while applying the event writes nothing, answers 500, and Stripe’s next delivery applies it', async () => {
    const { invoiceId, stripeInvoiceId } = await sentInvoice();
    const event = invoiceEvent(t.fake, 'invoice.paid', stripeInvoiceId);
    const audits = await auditCount(t);
    ledger.failNext = new Error('the database went away');
    const failed = await t.deliver(event);
    expect(failed.status).toBe(500);
    expect(await eventRows(String(event.id))).toEqual([]);
    expect(await auditCount(t)).toBe(audits);

    const retried = await t.deliver(event);
    expect(retried.body.outcome).toBe('applied');
    expect(ledger.settled.map((s) => s.e.invoiceId)).toEqual([invoiceId]);
  });

  it('acknowledges and ignores events Tenantry does not act on, and invoices it did not send', async () => {
    const unknownType = stripeEvent('charge.refunded', { id: 'ch_1', object: 'charge' });
    const answer = await t.deliver(unknownType);
    expect(answer).toMatchObject({
      status: 200,
      body: { outcome: 'ignored', detail: 'Tenantry does not act on charge.refunded events' },
    });
    const foreign = stripeEvent('invoice.paid', { id: 'in_madeInTheDashboard', object: 'invoice' });
    const other = await t.deliver(foreign);
    expect(other.body).toMatchObject({
      outcome: 'ignored',
      detail: 'Stripe invoice in_madeInTheDashboard was not sent by Tenantry',
    });
    expect(ledger.settled).toEqual([]);
    // Recorded all the same: a replay of them is a duplicate too.
    expect((await t.deliver(unknownType)).body.outcome).toBe('duplicate');
  });

  it('an empty body or another media type is refused with a 4xx problem, never a 500', async () => {
    const events = (await eventRows()).length;
    const empty = await t.app.inject({
      method: 'POST',
      url: '/v1/stripe/webhooks',
      headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=00' },
    });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().code).toBe('invalid_stripe_signature');
    const text = await t.app.inject({
      method: 'POST',
      url: '/v1/stripe/webhooks',
      headers: { 'content-type': 'text/plain' },
      payload: 'hello',
    });
    expect(text.statusCode).toBe(415);
    expect(text.json().code).toBe('unsupported_media_type');
    expect(await eventRows()).toHaveLength(events);
  });

  it('a signed body that is not JSON is a 400 naming it, with nothing written', async () => {
    const body = 'not json';
    const answer = await t.deliver(
      {},
      {
        body,
        signature: Stripe.webhooks.generateTestHeaderString({
          payload: body,
          secret: STRIPE_WEBHOOK_SECRET,
          timestamp: Math.floor(t.clock.now().getTime() / 1000),
        }),
      },
    );
    expect(answer.status).toBe(400);
    expect(answer.body.code).toBe('malformed_request');
  });

  describe('payment methods', () => {
    it('payment_method.attached puts the card on file for the tenant of the Stripe customer', async () => {
      const tenant = await provisionedTenant(t);
      const customer = await t.stripe.sync.ensureCustomer(tenant.id);
      const answer = await t.deliver(
        stripeEvent('payment_method.attached', {
          id: 'pm_1TenantryVisa',
          object: 'payment_method',
          type: 'card',
          card: { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030 },
          customer,
        }),
      );
      expect(answer.body.outcome).toBe('applied');
      const shown = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/payment-method` });
      expect(shown.status).toBe(200);
      expect(shown.body).toMatchObject({ reference: 'pm_1TenantryVisa', brand: 'visa', last4: '4242' });
    });

    it('customer.updated with a new default payment method puts it on file; other changes do nothing', async () => {
      const tenant = await provisionedTenant(t, { name: 'Initech' });
      const customer = await t.stripe.sync.ensureCustomer(tenant.id);
      const withDefault = {
        ...structuredClone(t.fake.customers.get(customer)),
        invoice_settings: {
          default_payment_method: 'pm_1TenantryDefault',
          custom_fields: null,
          footer: null,
        },
      };
      const answer = await t.deliver(
        stripeEvent('customer.updated', withDefault, {
          previousAttributes: { invoice_settings: { default_payment_method: null } },
        }),
      );
      expect(answer.body.outcome).toBe('applied');
      const shown = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/payment-method` });
      expect(shown.body).toMatchObject({ reference: 'pm_1TenantryDefault', brand: null, last4: null });

      // Stripe sends customer.updated for any change: a rename leaves the method alone, unaudited.
      const audits = await auditCount(t);
      const renamed = await t.deliver(
        stripeEvent(
          'customer.updated',
          { ...withDefault, name: 'Initrode' },
          { previousAttributes: { name: 'Initech' } },
        ),
      );
      expect(renamed.body).toMatchObject({
        outcome: 'ignored',
        detail: `customer ${customer} changed, but not its default payment method`,
      });
      expect(await auditCount(t)).toBe(audits);
    });

    it('a payment method of a customer that is no tenant’s is ignored', async () => {
      const answer = await t.deliver(
        stripeEvent('payment_method.attached', {
          id: 'pm_1Elsewhere',
          object: 'payment_method',
          type: 'card',
          card: { brand: 'visa', last4: '4242' },
          customer: 'cus_notATenant',
        }),
      );
      expect(answer.body).toMatchObject({
        outcome: 'ignored',
        detail: 'payment method pm_1Elsewhere belongs to no Stripe customer of a tenant',
      });
    });
  });
});

describe('POST /v1/tenants/{id}/stripe-customer', () => {
  it("returns the tenant's Stripe customer, made on the first call only", async () => {
    const tenant = await provisionedTenant(t, { name: 'Globex' });
    const creates = () => t.fake.callsTo('POST', '/v1/customers').length;
    const before = creates();
    const first = await t.request({ method: 'POST', url: `/v1/tenants/${tenant.slug}/stripe-customer` });
    const second = await t.request({ method: 'POST', url: `/v1/tenants/${tenant.id}/stripe-customer` });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ tenant_id: tenant.id, stripe_customer_id: expect.stringMatching(/^cus_/) });
    expect(second.body).toEqual(first.body);
    expect(creates() - before).toBe(1);
    expect(t.fake.customers.get(first.body.stripe_customer_id)).toMatchObject({
      name: 'Globex',
      metadata: { tenant_id: tenant.id, tenant_slug: tenant.slug },
    });
  });

  it('needs an operator key, and names an unknown tenant', async () => {
    const tenant = await provisionedTenant(t);
    const anonymous = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/stripe-customer`,
      headers: { authorization: '' },
    });
    expect(anonymous.status).toBe(401);
    const unknown = await t.request({ method: 'POST', url: '/v1/tenants/nobody/stripe-customer' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('tenant_not_found');
    expect(await t.stripe.sync.customerOf(tenant.id)).toBeUndefined();
  });

  it('answers 502 stripe_unavailable when Stripe fails, records nothing, and works once Stripe is back', async () => {
    const tenant = await provisionedTenant(t);
    const audits = await auditCount(t);
    t.fake.failNext(1, { status: 503 });
    const down = await t.request({ method: 'POST', url: `/v1/tenants/${tenant.id}/stripe-customer` });
    expect(down.status).toBe(502);
    expect(down.body.code).toBe('stripe_unavailable');
    expect(down.body.detail).toContain(
      `creating the Stripe customer of tenant ${tenant.id} failed (HTTP 503)`,
    );
    expect(await t.stripe.sync.customerOf(tenant.id)).toBeUndefined();
    expect(await auditCount(t)).toBe(audits);

    const up = await t.request({ method: 'POST', url: `/v1/tenants/${tenant.id}/stripe-customer` });
    expect(up.status).toBe(200);
    expect(await auditCount(t)).toBe(audits + 1);
  });
});
