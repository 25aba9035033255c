import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stripeEvent } from '../../test/stripe-fake.ts';
import { invoiceEvent, type StripeTestApp, startStripeTestApp } from '../../test/stripe-support.ts';
import { applyPlans, auditCount, DAY_MS, getTenant, provisionedTenant } from '../../test/tenant-support.ts';
import { STRIPE_JOBS } from './stripe-sync.ts';

// The whole path, with the real invoice service and dunning: the invoice run finalizes an
// invoice, the job sends it to Stripe (the local fake), and Stripe's webhooks settle it.
let t: StripeTestApp;

beforeAll(async () => {
  t = await startStripeTestApp();
  await applyPlans(t);
});

afterAll(() => t.close());

/** A tenant on Pro (12.00 per seat) with 3 seats, its first month invoiced and sent to Stripe. */
async function invoicedTenant(): Promise<{ tenant: any; invoice: any; stripeInvoiceId: string }> {
  const tenant = await provisionedTenant(t, { plan: 'pro', seats: 3 });
  t.clock.advance(32 * DAY_MS);
  const run = await t.request({ method: 'POST', url: '/v1/invoices/run', payload: { tenant: tenant.id } });
  expect(run.status, JSON.stringify(run.body)).toBe(200);
  const listed = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/invoices` });
  expect(listed.status, JSON.stringify(listed.body)).toBe(200);
  const invoice = listed.body.data.find((i: any) => i.object === 'invoice' && i.status === 'open');
  expect(invoice, JSON.stringify(listed.body)).toBeDefined();
  await t.services.jobs.runDue();
  const row = await t.services.database.db
    .selectFrom('stripe_invoices')
    .selectAll()
    .where('invoice_id', '=', invoice.id)
    .executeTakeFirstOrThrow();
  expect(row.finalized_at).not.toBeNull();
  return { tenant, invoice, stripeInvoiceId: row.stripe_invoice_id };
}

async function invoiceNow(id: string): Promise<any> {
  const shown = await t.request({ method: 'GET', url: `/v1/invoices/${id}` });
  expect(shown.status, JSON.stringify(shown.body)).toBe(200);
  return shown.body;
}

describe('Stripe with the invoice service', () => {
  it('an invoice finalized by the run is sent to Stripe by a job queued in the same transaction', async () => {
    const { tenant, invoice, stripeInvoiceId } = await invoicedTenant();
    const job = await t.services.database.db
      .selectFrom('jobs')
      .select(['status', 'attempts'])
      .where('dedupe_key', '=', `${STRIPE_JOBS.syncInvoice}:${invoice.id}`)
      .executeTakeFirstOrThrow();
    expect(job).toEqual({ status: 'succeeded', attempts: 1 });
    const inStripe = t.fake.invoices.get(stripeInvoiceId);
    expect(inStripe).toMatchObject({
      status: 'open',
      currency: invoice.currency,
      metadata: {
        tenantry_invoice_id: invoice.id,
        tenantry_invoice_number: invoice.number,
        tenant_id: tenant.id,
      },
    });
    // Every line, in minor units, adding up to the invoice's total.
    expect(inStripe?.lines.data.map((l: any) => [l.description, l.amount])).toEqual(
      invoice.lines.map((l: any) => [l.description, Math.round(Number(l.amount) * 100)]),
    );
    expect(inStripe?.total).toBe(Math.round(Number(invoice.total) * 100));
    expect(Number(invoice.total)).toBeGreaterThan(0);
  });

  it('invoice.paid marks the invoice paid with the Stripe invoice as its reference; a replay changes nothing', async () => {
    const { invoice, stripeInvoiceId } = await invoicedTenant();
    const event = invoiceEvent(t.fake, 'invoice.paid', stripeInvoiceId);
    const answer = await t.deliver(event);
    expect(answer.body).toMatchObject({ outcome: 'applied' });
    const paid = await invoiceNow(invoice.id);
    expect(paid).toMatchObject({ status: 'paid', payment: { reference: stripeInvoiceId } });
    expect(paid.paid_at).toBe(t.clock.now().toISOString());

    const audits = await auditCount(t);
    t.clock.advance(1_000);
    const replay = await t.deliver(event);
    expect(replay.body.outcome).toBe('duplicate');
    expect(await invoiceNow(invoice.id)).toEqual(paid);
    expect(await auditCount(t)).toBe(audits);
  });

  it('invoice.payment_failed puts the tenant in dunning (past_due); invoice.paid then reactivates it', async () => {
    const { tenant, invoice, stripeInvoiceId } = await invoicedTenant();
    const failed = await t.deliver(invoiceEvent(t.fake, 'invoice.payment_failed', stripeInvoiceId));
    expect(failed.body.outcome).toBe('applied');
    const open = await invoiceNow(invoice.id);
    expect(open).toMatchObject({ status: 'open', payment: { failures: 1 } });
    expect(open.payment.last_failure).toContain(stripeInvoiceId);
    expect((await getTenant(t, tenant.id)).state).toBe('past_due');

    const paid = await t.deliver(invoiceEvent(t.fake, 'invoice.paid', stripeInvoiceId));
    expect(paid.body.outcome).toBe('applied');
    expect((await invoiceNow(invoice.id)).status).toBe('paid');
    expect((await getTenant(t, tenant.id)).state).toBe('active');
  });

  it('invoice.voided in Stripe voids the invoice with its credit note and ends dunning; Stripe is not called again', async () => {
    const { tenant, invoice, stripeInvoiceId } = await invoicedTenant();
    expect(
      (await t.deliver(invoiceEvent(t.fake, 'invoice.payment_failed', stripeInvoiceId))).body.outcome,
    ).toBe('applied');
    expect((await getTenant(t, tenant.id)).state).toBe('past_due');
    const answer = await t.deliver(invoiceEvent(t.fake, 'invoice.voided', stripeInvoiceId));
    expect(answer.body).toMatchObject({ outcome: 'applied' });
    const voided = await invoiceNow(invoice.id);
    expect(voided.status).toBe('void');
    expect(voided.credit_note).toMatchObject({ number: expect.stringMatching(/^CN-/) });
    expect((await getTenant(t, tenant.id)).state).toBe('active');
    // The void Tenantry queues for Stripe finds it done: no call to read or void the invoice.
    const calls = t.fake.calls.length;
    await t.services.jobs.runDue();
    expect(t.fake.calls.slice(calls).filter((c) => c.path.includes(stripeInvoiceId))).toEqual([]);
    const row = await t.services.database.db
      .selectFrom('stripe_invoices')
      .select('voided_at')
      .where('invoice_id', '=', invoice.id)
      .executeTakeFirstOrThrow();
    expect(row.voided_at).not.toBeNull();
  });

  it('invoice.marked_uncollectible in Stripe writes the invoice off; a paid invoice stays paid', async () => {
    const { invoice, stripeInvoiceId } = await invoicedTenant();
    const answer = await t.deliver(invoiceEvent(t.fake, 'invoice.marked_uncollectible', stripeInvoiceId));
    expect(answer.body).toMatchObject({ outcome: 'applied' });
    expect((await invoiceNow(invoice.id)).status).toBe('uncollectible');

    const other = await invoicedTenant();
    expect((await t.deliver(invoiceEvent(t.fake, 'invoice.paid', other.stripeInvoiceId))).body.outcome).toBe(
      'applied',
    );
    const late = await t.deliver(invoiceEvent(t.fake, 'invoice.marked_uncollectible', other.stripeInvoiceId));
    expect(late.body.outcome).toBe('ignored');
    expect(late.body.detail).toContain(other.invoice.number);
    expect((await invoiceNow(other.invoice.id)).status).toBe('paid');
  });

  it('payment_method.detached takes the card off file if it is the one on file, and only then', async () => {
    const tenant = await provisionedTenant(t);
    const customer = await t.stripe.sync.ensureCustomer(tenant.id);
    const card = (id: string, owner: string | null) => ({
      id,
      object: 'payment_method',
      type: 'card',
      card: { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030 },
      customer: owner,
    });
    expect(
      (await t.deliver(stripeEvent('payment_method.attached', card('pm_1OnFile', customer)))).body.outcome,
    ).toBe('applied');
    const other = await t.deliver(stripeEvent('payment_method.detached', card('pm_1NotOnFile', null)));
    expect(other.body).toMatchObject({
      outcome: 'ignored',
      detail: 'payment method pm_1NotOnFile is on file for no tenant',
    });
    const shown = () => t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/payment-method` });
    expect((await shown()).body).toMatchObject({ reference: 'pm_1OnFile' });

    const detached = await t.deliver(stripeEvent('payment_method.detached', card('pm_1OnFile', null)));
    expect(detached.body.outcome).toBe('applied');
    expect((await shown()).body.code).toBe('payment_method_not_found');
  });

  it('a Stripe payment of an invoice voided meanwhile is acknowledged and ignored, with the reason', async () => {
    const { invoice, stripeInvoiceId } = await invoicedTenant();
    const voided = await t.request({ method: 'POST', url: `/v1/invoices/${invoice.id}/void`, payload: {} });
    expect(voided.status, JSON.stringify(voided.body)).toBe(200);
    const answer = await t.deliver(invoiceEvent(t.fake, 'invoice.paid', stripeInvoiceId));
    expect(answer.status).toBe(200);
    expect(answer.body.outcome).toBe('ignored');
    expect(answer.body.detail).toContain(invoice.number);
    expect((await invoiceNow(invoice.id)).status).toBe('void');
  });
});
