import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { StripeFake } from '../../test/stripe-fake.ts';
import { applyPlans, auditRows, provisionedTenant } from '../../test/tenant-support.ts';
import { JobQueue } from '../jobs/index.ts';
import { createStripeClient } from './stripe-client.ts';
import { type FinalizedInvoice, type FinalizedInvoices, STRIPE_JOBS, StripeSync } from './stripe-sync.ts';

const SECRET_KEY = 'sk_test_51TenantryStripeSyncTest';

/** Final invoices held in memory: the adapter's view of the invoice service, and nothing else. */
class InvoiceBook implements FinalizedInvoices {
  readonly #invoices = new Map<string, FinalizedInvoice>();
  add(invoice: FinalizedInvoice): FinalizedInvoice {
    this.#invoices.set(invoice.id, invoice);
    return invoice;
  }
  async finalized(tenantId: string, invoiceId: string): Promise<FinalizedInvoice | undefined> {
    const invoice = this.#invoices.get(invoiceId);
    return invoice?.tenantId === tenantId ? invoice : undefined;
  }
}

let t: TestApp;
let fake: StripeFake;
let book: InvoiceBook;
let sync: StripeSync;
let invoiceCounter = 0;

beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
  fake = await StripeFake.start(SECRET_KEY);
  book = new InvoiceBook();
  sync = new StripeSync({
    db: t.services.database.db,
    clock: t.clock,
    stripe: createStripeClient({
      secretKey: SECRET_KEY,
      webhookSecret: 'whsec_unused_here_0000',
      api: fake.api,
      maxNetworkRetries: 0,
    }),
    jobs: t.services.jobs,
    invoices: book,
  });
});

afterAll(async () => {
  await fake.close();
  await t.close();
});

beforeEach(() => {
  fake.calls.length = 0;
});

function invoiceFor(tenantId: string, overrides: Partial<FinalizedInvoice> = {}): FinalizedInvoice {
  invoiceCounter += 1;
  return book.add({
    id: `inv_test${String(invoiceCounter).padStart(4, '0')}`,
    number: `INV-${String(invoiceCounter).padStart(6, '0')}`,
    tenantId,
    currency: 'usd',
    status: 'open',
    lines: [
      {
        description: 'Pro: 7 seats',
        amount: '343.00',
        period: { start: new Date('2026-11-01T00:00:00Z'), end: new Date('2026-12-01T00:00:00Z') },
      },
      { description: 'API calls: 10,000 included, 11,229 above', amount: '1212.28' },
      { description: 'Storage within what is included', amount: '0.00' },
    ],
    total: '1555.28',
    ...overrides,
  });
}

/** Queues the invoice's sync as the invoice service does, in the transaction that finalizes it. */
async function finalize(invoice: FinalizedInvoice): Promise<void> {
  await t.services.database.db
    .transaction()
    .execute((tx) => sync.invoicesFinalized(tx, [{ tenantId: invoice.tenantId, invoiceId: invoice.id }]));
}

function syncJob(invoiceId: string) {
  return t.services.database.db
    .selectFrom('jobs')
    .selectAll()
    .where('kind', '=', STRIPE_JOBS.syncInvoice)
    .where('dedupe_key', '=', `${STRIPE_JOBS.syncInvoice}:${invoiceId}`)
    .executeTakeFirstOrThrow();
}

function mapping(invoiceId: string) {
  return t.services.database.db
    .selectFrom('stripe_invoices')
    .selectAll()
    .where('invoice_id', '=', invoiceId)
    .executeTakeFirst();
}

describe('Stripe customers', () => {
  it('are made once per tenant, with its name and its id and slug as metadata, however often synced', async () => {
    const tenant = await provisionedTenant(t, { name: 'Acme Corp' });
    const first = await sync.ensureCustomer(tenant.id);
    const again = await sync.ensureCustomer(tenant.id);
    const concurrently = await Promise.all([sync.ensureCustomer(tenant.id), sync.ensureCustomer(tenant.id)]);

    expect([again, ...concurrently]).toEqual([first, first, first]);
    const creates = fake.callsTo('POST', '/v1/customers');
    expect(creates).toHaveLength(1);
    expect(creates[0]?.idempotencyKey).toBe(`tenantry-customer-${tenant.id}`);
    expect(creates[0]?.body).toEqual({
      name: 'Acme Corp',
      metadata: { tenant_id: tenant.id, tenant_slug: tenant.slug },
    });
    expect([...fake.customers.values()].filter((c) => c.metadata.tenant_id === tenant.id)).toHaveLength(1);
    const audits = (await auditRows(t, tenant.id)).filter(
      (r) => r.action === 'tenant.stripe_customer_created',
    );
    expect(audits.map((r) => r.data)).toEqual([{ stripe_customer_id: first }]);
  });

  it('made by two processes at once are one customer: the idempotency key makes Stripe answer both alike', async () => {
    const tenant = await provisionedTenant(t);
    // Neither has a mapping yet, so both ask Stripe; the second is answered with the first's customer.
    const other = new StripeSync({
      db: t.services.database.db,
      clock: t.clock,
      stripe: createStripeClient({
        secretKey: SECRET_KEY,
        webhookSecret: 'whsec_x0000000000',
        api: fake.api,
        maxNetworkRetries: 0,
      }),
      jobs: new JobQueue(t.services.database.db, t.clock),
      invoices: book,
    });
    const [a, b] = await Promise.all([sync.ensureCustomer(tenant.id), other.ensureCustomer(tenant.id)]);
    expect(a).toBe(b);
    expect([...fake.customers.values()].filter((c) => c.metadata.tenant_id === tenant.id)).toHaveLength(1);
    const rows = await t.services.database.db
      .selectFrom('stripe_customers')
      .selectAll()
      .where('tenant_id', '=', tenant.id)
      .execute();
    expect(rows.map((r) => r.stripe_customer_id)).toEqual([a]);
  });
});

describe('Stripe invoices', () => {
  it('are sent by the job with every line in minor units, idempotency keys from the invoice id, and finalized', async () => {
    const tenant = await provisionedTenant(t);
    const invoice = invoiceFor(tenant.id);
    await finalize(invoice);
    await t.services.jobs.runDue();

    expect((await syncJob(invoice.id)).status).toBe('succeeded');
    const row = await mapping(invoice.id);
    expect(row?.finalized_at).not.toBeNull();
    const customer = await sync.customerOf(tenant.id);

    const [create] = fake.callsTo('POST', '/v1/invoices');
    expect(create?.idempotencyKey).toBe(`tenantry-invoice-${invoice.id}-create`);
    expect(create?.body).toEqual({
      customer,
      currency: 'usd',
      collection_method: 'charge_automatically',
      auto_advance: 'false',
      pending_invoice_items_behavior: 'exclude',
      description: `Invoice ${invoice.number}`,
      metadata: {
        tenantry_invoice_id: invoice.id,
        tenantry_invoice_number: invoice.number,
        tenant_id: tenant.id,
      },
    });
    const [add] = fake.callsTo('POST', '/v1/invoices/:id/add_lines');
    expect(add?.path).toBe(`/v1/invoices/${row?.stripe_invoice_id}/add_lines`);
    expect(add?.idempotencyKey).toBe(`tenantry-invoice-${invoice.id}-lines`);
    expect(add?.body.lines).toEqual([
      {
        amount: '34300',
        description: 'Pro: 7 seats',
        metadata: { tenantry_invoice_id: invoice.id, line: '1' },
        period: {
          start: String(Date.parse('2026-11-01T00:00:00Z') / 1000),
          end: String(Date.parse('2026-12-01T00:00:00Z') / 1000),
        },
      },
      {
        amount: '121228',
        description: 'API calls: 10,000 included, 11,229 above',
        metadata: { tenantry_invoice_id: invoice.id, line: '2' },
      },
      {
        amount: '0',
        description: 'Storage within what is included',
        metadata: { tenantry_invoice_id: invoice.id, line: '3' },
      },
    ]);
    const [finalizeCall] = fake.callsTo('POST', '/v1/invoices/:id/finalize');
    expect(finalizeCall?.idempotencyKey).toBe(`tenantry-invoice-${invoice.id}-finalize`);
    expect(finalizeCall?.body).toEqual({ auto_advance: 'true' });

    const inStripe = fake.invoices.get(row?.stripe_invoice_id ?? '');
    expect(inStripe).toMatchObject({ status: 'open', currency: 'usd', total: 155528, customer });

    const audits = (await auditRows(t, tenant.id)).filter((r) => r.action === 'invoice.sent_to_stripe');
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({ actor_type: 'system', actor_id: 'stripe', target_id: invoice.id });
    const events = await t.services.database.db
      .selectFrom('domain_events')
      .selectAll()
      .where('tenant_id', '=', tenant.id)
      .where('type', '=', 'invoice.sent_to_stripe')
      .execute();
    expect(events.map((e) => e.data)).toEqual([
      expect.objectContaining({ invoice_id: invoice.id, stripe_invoice_id: row?.stripe_invoice_id }),
    ]);
  });

  it('use the minor unit of each currency: yen have none, euros two', async () => {
    const tenant = await provisionedTenant(t);
    const yen = invoiceFor(tenant.id, {
      currency: 'jpy',
      lines: [{ description: 'Seats', amount: '1500' }],
      total: '1500',
    });
    const euro = invoiceFor(tenant.id, {
      currency: 'eur',
      lines: [{ description: 'Seats', amount: '12.30' }],
      total: '12.30',
    });
    await sync.syncInvoice(tenant.id, yen.id);
    await sync.syncInvoice(tenant.id, euro.id);
    expect(fake.callsTo('POST', '/v1/invoices/:id/add_lines').map((c) => c.body.lines[0].amount)).toEqual([
      '1500',
      '1230',
    ]);
  });

  it('a Stripe 500 leaves the job to retry, and the retry finishes without a second invoice', async () => {
    const tenant = await provisionedTenant(t);
    const invoice = invoiceFor(tenant.id);
    await sync.ensureCustomer(tenant.id);
    await finalize(invoice);
    fake.failNext(1, { path: '/v1/invoices/:id/add_lines' });
    await t.services.jobs.runDue();

    const failed = await syncJob(invoice.id);
    expect(failed.status).toBe('pending');
    expect(failed.last_error).toContain('HTTP 500');
    expect(failed.last_error).toContain('adding the lines');
    expect((await mapping(invoice.id))?.finalized_at).toBeNull();

    t.clock.advance(1_000);
    await t.services.jobs.runDue();
    expect((await syncJob(invoice.id)).status).toBe('succeeded');
    expect(fake.callsTo('POST', '/v1/invoices')).toHaveLength(1);
    const mine = [...fake.invoices.values()].filter((i) => i.metadata.tenantry_invoice_id === invoice.id);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ status: 'open', total: 155528 });
    expect(mine[0]?.lines.data).toHaveLength(3);
  });

  it('a Stripe outage at any step only delays the invoice: each retry resumes, nothing is made twice', async () => {
    const tenant = await provisionedTenant(t);
    const invoice = invoiceFor(tenant.id);
    await finalize(invoice);
    const steps = [
      '/v1/customers',
      '/v1/invoices',
      '/v1/invoices/:id/add_lines',
      '/v1/invoices/:id/finalize',
    ];
    for (const path of steps) {
      fake.failNext(1, { path });
      await t.services.jobs.runDue();
      t.clock.advance(3_600_000);
    }
    await t.services.jobs.runDue();
    const job = await syncJob(invoice.id);
    expect(job).toMatchObject({ status: 'succeeded', attempts: steps.length + 1 });
    expect(fake.calls.filter((c) => c.status === 500)).toHaveLength(steps.length);
    expect([...fake.customers.values()].filter((c) => c.metadata.tenant_id === tenant.id)).toHaveLength(1);
    const mine = [...fake.invoices.values()].filter((i) => i.metadata.tenantry_invoice_id === invoice.id);
    expect(mine.map((i) => [i.status, i.total, i.lines.data.length])).toEqual([['open', 155528, 3]]);
  });

  it('a retry after Stripe has forgotten the idempotency keys (24 h) still makes no second invoice', async () => {
    const tenant = await provisionedTenant(t);
    const invoice = invoiceFor(tenant.id);
    await finalize(invoice);
    fake.failNext(1, { path: '/v1/invoices/:id/finalize' });
    await t.services.jobs.runDue();
    expect((await syncJob(invoice.id)).status).toBe('pending');

    fake.forgetIdempotencyKeys();
    t.clock.advance(86_400_000 + 1_000);
    await t.services.jobs.runDue();
    expect((await syncJob(invoice.id)).status).toBe('succeeded');
    const mine = [...fake.invoices.values()].filter((i) => i.metadata.tenantry_invoice_id === invoice.id);
    expect(mine.map((i) => [i.status, i.lines.data.length])).toEqual([['open', 3]]);
    expect([...fake.customers.values()].filter((c) => c.metadata.tenant_id === tenant.id)).toHaveLength(1);
  });

  it('is finalized once, even when the invoice service queues it twice', async () => {
    const tenant = await provisionedTenant(t);
    const invoice = invoiceFor(tenant.id);
    await finalize(invoice);
    await finalize(invoice);
    await t.services.jobs.runDue();
    // Queued again after it ran (a second finalize hook): the job finds every step done.
    await finalize(invoice);
    await t.services.jobs.runDue();
    expect(fake.callsTo('POST', '/v1/invoices')).toHaveLength(1);
    expect(fake.callsTo('POST', '/v1/invoices/:id/finalize')).toHaveLength(1);
  });

  it('refuses lines that do not add up to the total, or amounts finer than the currency, before calling Stripe', async () => {
    const tenant = await provisionedTenant(t);
    await sync.ensureCustomer(tenant.id);
    fake.calls.length = 0;
    const wrongTotal = invoiceFor(tenant.id, { total: '1555.29' });
    await expect(sync.syncInvoice(tenant.id, wrongTotal.id)).rejects.toThrow(
      `the lines of invoice ${wrongTotal.id} add up to 155528 minor units, not its total 155529`,
    );
    const tooFine = invoiceFor(tenant.id, {
      lines: [{ description: 'x', amount: '0.005' }],
      total: '0.005',
    });
    await expect(sync.syncInvoice(tenant.id, tooFine.id)).rejects.toThrow(
      'is "0.005", which is not a whole number of usd minor units',
    );
    expect(fake.calls).toEqual([]);
  });

  it('refuses an invoice that is not final', async () => {
    const tenant = await provisionedTenant(t);
    await expect(sync.syncInvoice(tenant.id, 'inv_draft')).rejects.toThrow(
      `invoice inv_draft of tenant ${tenant.id} is not final`,
    );
  });

  it('after the last attempt fails, says so in the audit log and as a domain event', async () => {
    const tenant = await provisionedTenant(t);
    const invoice = invoiceFor(tenant.id);
    await finalize(invoice);
    // The last attempt: what a three-day outage comes to.
    await t.services.database.db
      .updateTable('jobs')
      .set({ max_attempts: 1 })
      .where('dedupe_key', '=', `${STRIPE_JOBS.syncInvoice}:${invoice.id}`)
      .execute();
    fake.failNext(1, { status: 503 });
    await t.services.jobs.runDue();
    expect((await syncJob(invoice.id)).status).toBe('failed');
    const event = await t.services.database.db
      .selectFrom('domain_events')
      .selectAll()
      .where('tenant_id', '=', tenant.id)
      .where('type', '=', 'invoice.stripe_sync_failed')
      .executeTakeFirstOrThrow();
    expect(event.data).toMatchObject({ invoice_id: invoice.id, error: expect.stringContaining('HTTP 503') });
    const audits = (await auditRows(t, tenant.id)).filter((r) => r.action === 'invoice.stripe_sync_failed');
    expect(audits).toHaveLength(1);
  });
});

describe('Stripe invoices settled or voided in Tenantry', () => {
  /** Voids the invoice in Tenantry, as the invoice service does, queueing the void in Stripe. */
  async function voidInTenantry(invoice: FinalizedInvoice): Promise<void> {
    book.add({ ...invoice, status: 'void' });
    await t.services.database.db
      .transaction()
      .execute((tx) => sync.invoicesVoided(tx, [{ tenantId: invoice.tenantId, invoiceId: invoice.id }]));
  }

  function stripeInvoiceOf(invoiceId: string) {
    return [...fake.invoices.values()].filter((i) => i.metadata.tenantry_invoice_id === invoiceId);
  }

  it('an invoice paid by API before its sync ran is not sent to Stripe', async () => {
    const tenant = await provisionedTenant(t);
    const invoice = invoiceFor(tenant.id);
    await finalize(invoice);
    book.add({ ...invoice, status: 'paid' });
    await t.services.jobs.runDue();
    expect((await syncJob(invoice.id)).status).toBe('succeeded');
    expect(fake.calls).toEqual([]);
    expect(await mapping(invoice.id)).toBeUndefined();
  });

  it('a voided invoice is voided in Stripe, once, so that Stripe stops collecting it', async () => {
    const tenant = await provisionedTenant(t);
    const invoice = invoiceFor(tenant.id);
    await finalize(invoice);
    await t.services.jobs.runDue();
    await voidInTenantry(invoice);
    await voidInTenantry(invoice);
    await t.services.jobs.runDue();

    expect(stripeInvoiceOf(invoice.id).map((i) => i.status)).toEqual(['void']);
    const voids = fake.callsTo('POST', '/v1/invoices/:id/void');
    expect(voids.map((c) => c.idempotencyKey)).toEqual([`tenantry-invoice-${invoice.id}-void`]);
    expect((await mapping(invoice.id))?.voided_at).not.toBeNull();
    const audits = (await auditRows(t, tenant.id)).filter((r) => r.action === 'invoice.voided_in_stripe');
    expect(audits.map((r) => r.data)).toEqual([
      expect.objectContaining({ outcome: 'voided', stripe_status: 'open' }),
    ]);
  });

  it('a void waits for a sync under way, and a draft left in Stripe is deleted, never finalized', async () => {
    const tenant = await provisionedTenant(t);
    const invoice = invoiceFor(tenant.id);
    await finalize(invoice);
    fake.failNext(1, { path: '/v1/invoices/:id/finalize' });
    await t.services.jobs.runDue();
    expect(stripeInvoiceOf(invoice.id).map((i) => i.status)).toEqual(['draft']);

    await voidInTenantry(invoice);
    t.clock.advance(1_000);
    await t.services.jobs.runDue();
    t.clock.advance(60_000);
    await t.services.jobs.runDue();

    expect((await syncJob(invoice.id)).status).toBe('succeeded');
    expect(fake.callsTo('POST', '/v1/invoices/:id/finalize').filter((c) => c.status === 200)).toEqual([]);
    expect(stripeInvoiceOf(invoice.id)).toEqual([]);
    expect(fake.callsTo('DELETE', '/v1/invoices/:id')).toHaveLength(1);
  });

  it('an invoice Stripe had already collected when it was voided is reported for a refund by hand', async () => {
    const tenant = await provisionedTenant(t);
    const invoice = invoiceFor(tenant.id);
    await finalize(invoice);
    await t.services.jobs.runDue();
    const row = await mapping(invoice.id);
    fake.markPaid(row?.stripe_invoice_id ?? '');
    await voidInTenantry(invoice);
    await t.services.jobs.runDue();

    expect(stripeInvoiceOf(invoice.id).map((i) => i.status)).toEqual(['paid']);
    const event = await t.services.database.db
      .selectFrom('domain_events')
      .selectAll()
      .where('tenant_id', '=', tenant.id)
      .where('type', '=', 'invoice.paid_in_stripe_after_void')
      .executeTakeFirstOrThrow();
    expect(event.data).toMatchObject({ invoice_id: invoice.id, stripe_invoice_id: row?.stripe_invoice_id });
  });
});

describe('test tenants', () => {
  it('are not synced: a tenant on a test clock keeps its invoices out of Stripe, a live one does not', async () => {
    const clock = await t.request({
      method: 'POST',
      url: '/v1/test-clocks',
      payload: { frozen_time: '2027-01-01T00:00:00Z' },
    });
    expect(clock.status, JSON.stringify(clock.body)).toBe(201);
    const test = await provisionedTenant(t, { test_clock: clock.body.id });
    const live = await provisionedTenant(t);
    const [testInvoice, liveInvoice] = [invoiceFor(test.id), invoiceFor(live.id)];
    await t.services.database.db.transaction().execute((tx) =>
      sync.invoicesFinalized(tx, [
        { tenantId: test.id, invoiceId: testInvoice.id },
        { tenantId: live.id, invoiceId: liveInvoice.id },
      ]),
    );
    const queued = await t.services.database.db
      .selectFrom('jobs')
      .select('dedupe_key')
      .where('kind', '=', STRIPE_JOBS.syncInvoice)
      .where(
        'dedupe_key',
        'in',
        [testInvoice.id, liveInvoice.id].map((id) => `${STRIPE_JOBS.syncInvoice}:${id}`),
      )
      .execute();
    expect(queued.map((j) => j.dedupe_key)).toEqual([`${STRIPE_JOBS.syncInvoice}:${liveInvoice.id}`]);
  });
});
