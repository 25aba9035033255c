import type { Kysely, Transaction } from 'kysely';
import type Stripe from 'stripe';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import type { JobQueue } from '../jobs/index.ts';
import { type RequestContext, systemContext } from '../request-context.ts';
import { minorOf } from './decimal-text.ts';

/** An invoice by its tenant and id, as the invoice service reports it. */
interface InvoiceRef {
  readonly tenantId: string;
  readonly invoiceId: string;
}

/** Job kinds the Stripe adapter owns. */
export const STRIPE_JOBS = {
  syncInvoice: 'stripe.sync_invoice',
  voidInvoice: 'stripe.void_invoice',
} as const;

/**
 * Attempts of an invoice's sync before it is given up: with the queue's backoff (n² seconds, at
 * most an hour) they span about three days, so an outage of Stripe only delays the invoice.
 */
export const STRIPE_SYNC_ATTEMPTS = 120;

/** Stripe refuses a 251st item on one invoice. */
const MAX_STRIPE_LINES = 250;

const STRIPE_ACTOR: RequestContext = systemContext('stripe');

/** What the Stripe adapter needs of a finalized Tenantry invoice; amounts are decimal strings in major units. */
export interface FinalizedInvoice {
  readonly id: string;
  /** The vendor's sequential invoice number, shown on the Stripe invoice. */
  readonly number: string;
  readonly tenantId: string;
  /** ISO 4217, lowercase as Stripe takes it. */
  readonly currency: string;
  /** `open` and `uncollectible` invoices are collected; a `paid` or `void` one is not sent. */
  readonly status: string;
  readonly lines: ReadonlyArray<{
    readonly description: string;
    /** e.g. `"343.00"`; may be negative for a credit. */
    readonly amount: string;
    /** The part of the billing period the line covers, shown beside it. */
    readonly period?: { readonly start: Date; readonly end: Date };
  }>;
  /** The sum of the lines. */
  readonly total: string;
}

/** Where the adapter reads finalized invoices: the invoice service, adapted. */
export interface FinalizedInvoices {
  /** The invoice once it is final (open, paid, void, …); undefined while a draft or unknown. */
  finalized(tenantId: string, invoiceId: string): Promise<FinalizedInvoice | undefined>;
}

/** What Stripe was sent for one Tenantry invoice. */
export interface StripeInvoiceSync {
  readonly invoiceId: string;
  readonly stripeInvoiceId: string;
  readonly stripeCustomerId: string;
}

/** Statuses of a Tenantry invoice that Stripe should still collect. */
const COLLECTABLE = new Set(['open', 'uncollectible']);

/**
 * Sends tenants and their finalized invoices to Stripe, which collects the money.
 *
 * Everything sent is idempotent twice over: each request carries an idempotency key derived from
 * the Tenantry id (`tenantry-customer-<tenant>`, `tenantry-invoice-<invoice>-create|lines|finalize`),
 * so a request repeated within Stripe's 24 hours is answered with the first answer; and every
 * step Stripe has answered is recorded at once (`stripe_customers`, `stripe_invoices`), so a
 * retry later than that skips it instead of making a second customer or invoice.
 */
export class StripeSync {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #stripe: Stripe;
  readonly #jobs: JobQueue;
  readonly #invoices: FinalizedInvoices;

  constructor(options: {
    db: Kysely<Schema>;
    clock: Clock;
    stripe: Stripe;
    jobs: JobQueue;
    invoices: FinalizedInvoices;
  }) {
    this.#db = options.db;
    this.#clock = options.clock;
    this.#stripe = options.stripe;
    this.#jobs = options.jobs;
    this.#invoices = options.invoices;
    options.jobs.handle(STRIPE_JOBS.syncInvoice, {
      run: async (payload) => {
        await this.syncInvoice(String(payload.tenant_id), String(payload.invoice_id));
      },
      onExhausted: (payload, error) =>
        this.#gaveUp(
          'invoice.stripe_sync_failed',
          String(payload.tenant_id),
          String(payload.invoice_id),
          error,
        ),
    });
    options.jobs.handle(STRIPE_JOBS.voidInvoice, {
      run: (payload) => this.voidInvoice(String(payload.tenant_id), String(payload.invoice_id)),
      onExhausted: (payload, error) =>
        this.#gaveUp(
          'invoice.stripe_void_failed',
          String(payload.tenant_id),
          String(payload.invoice_id),
          error,
        ),
    });
  }

  /**
   * Queues the sync of each invoice to Stripe. The invoice run calls it (as its
   * `FinalizedInvoiceListener`) inside the transaction that finalizes the invoices, so each job
   * exists exactly when its final invoice does; the jobs run after the commit and are retried
   * for days if Stripe is down.
   */
  invoicesFinalized(tx: Transaction<Schema>, invoices: readonly InvoiceRef[]): Promise<void> {
    return this.#enqueue(tx, STRIPE_JOBS.syncInvoice, invoices);
  }

  /**
   * Queues the void in Stripe of each invoice voided in Tenantry, so that Stripe stops collecting
   * it. The invoice service calls it inside the transaction that voids the invoices.
   */
  invoicesVoided(tx: Transaction<Schema>, invoices: readonly InvoiceRef[]): Promise<void> {
    return this.#enqueue(tx, STRIPE_JOBS.voidInvoice, invoices);
  }

  /**
   * One job of `kind` per invoice, at most one unfinished per invoice. Test tenants' invoices (of
   * tenants on a test clock) stay in Tenantry: Stripe would date them on the wall clock, and a
   * live Stripe account must not see them.
   */
  async #enqueue(tx: Transaction<Schema>, kind: string, all: readonly InvoiceRef[]): Promise<void> {
    if (all.length === 0) return;
    const test = await tx
      .selectFrom('tenants')
      .select('id')
      .where('id', 'in', [...new Set(all.map((e) => e.tenantId))])
      .where('test_clock_id', 'is not', null)
      .execute();
    const onClock = new Set(test.map((r) => r.id));
    const invoices = all.filter((e) => !onClock.has(e.tenantId));
    await this.#jobs.enqueue(
      tx,
      ...invoices.map((e) => ({
        kind,
        payload: { tenant_id: e.tenantId, invoice_id: e.invoiceId },
        dedupeKey: `${kind}:${e.invoiceId}`,
        maxAttempts: STRIPE_SYNC_ATTEMPTS,
      })),
    );
  }

  /** Tells the job worker that invoices were queued, once the caller's transaction has committed. */
  wake(): void {
    this.#jobs.notify();
  }

  /** The tenant's Stripe customer id, if it has one yet. */
  async customerOf(tenantId: string): Promise<string | undefined> {
    const row = await this.#db
      .selectFrom('stripe_customers')
      .select('stripe_customer_id')
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    return row?.stripe_customer_id;
  }

  /**
   * The tenant's Stripe customer, made on first use with the tenant's name and its id and slug in
   * the metadata. Throws when Stripe cannot be reached or the tenant does not exist.
   */
  async ensureCustomer(tenantId: string, ctx: RequestContext = STRIPE_ACTOR): Promise<string> {
    const known = await this.customerOf(tenantId);
    if (known !== undefined) return known;
    const tenant = await this.#db
      .selectFrom('tenants')
      .select(['id', 'slug', 'name'])
      .where('id', '=', tenantId)
      .executeTakeFirst();
    if (!tenant) throw new Error(`no tenant ${tenantId} to make a Stripe customer for`);
    const customer = await stripeCall(`creating the Stripe customer of tenant ${tenantId}`, () =>
      this.#stripe.customers.create(
        { name: tenant.name, metadata: { tenant_id: tenant.id, tenant_slug: tenant.slug } },
        { idempotencyKey: `tenantry-customer-${tenant.id}` },
      ),
    );
    await this.#db.transaction().execute(async (tx) => {
      const inserted = await tx
        .insertInto('stripe_customers')
        .values({ tenant_id: tenant.id, stripe_customer_id: customer.id, created_at: this.#clock.now() })
        .onConflict((oc) => oc.column('tenant_id').doNothing())
        .returning('tenant_id')
        .executeTakeFirst();
      if (!inserted) return;
      await recordChange(tx, ctx, {
        action: 'tenant.stripe_customer_created',
        tenantId: tenant.id,
        target: { type: 'tenant', id: tenant.id },
        data: { stripe_customer_id: customer.id },
        occurredAt: this.#clock.now(),
      });
    });
    // A concurrent sync may have recorded first; both got the same customer from the same key.
    return (await this.customerOf(tenantId)) ?? customer.id;
  }

  /**
   * Sends a finalized invoice to Stripe: a draft invoice for the tenant's customer, its lines in
   * minor units, then finalized, which makes Stripe charge the customer. Resumes after the last
   * step already done; throws (and the job retries) when Stripe fails or when the invoice is not
   * final. An invoice settled in Tenantry before Stripe finalized it (paid by API, voided) is not
   * collected: the answer is then undefined, and nothing more is sent.
   */
  async syncInvoice(tenantId: string, invoiceId: string): Promise<StripeInvoiceSync | undefined> {
    const invoice = await this.#invoices.finalized(tenantId, invoiceId);
    if (!invoice)
      throw new Error(
        `invoice ${invoiceId} of tenant ${tenantId} is not final, or does not exist: only final invoices go to Stripe`,
      );
    let row = await this.#invoiceRow(tenantId, invoiceId);
    if (!COLLECTABLE.has(invoice.status) && !row?.finalized_at) return undefined;
    const { lines, total } = stripeLines(invoice);
    const customer = await this.ensureCustomer(tenantId);
    const key = (step: string) => `tenantry-invoice-${invoice.id}-${step}`;
    if (!row) {
      const created = await stripeCall(`creating the Stripe invoice of ${invoice.id}`, () =>
        this.#stripe.invoices.create(
          {
            customer,
            currency: invoice.currency,
            collection_method: 'charge_automatically',
            // Stripe must not finalize or charge before every line is on it.
            auto_advance: false,
            // Only Tenantry's lines: never a stray pending item of the customer's.
            pending_invoice_items_behavior: 'exclude',
            description: `Invoice ${invoice.number}`,
            metadata: {
              tenantry_invoice_id: invoice.id,
              tenantry_invoice_number: invoice.number,
              tenant_id: tenantId,
            },
          },
          { idempotencyKey: key('create') },
        ),
      );
      await this.#db
        .insertInto('stripe_invoices')
        .values({
          tenant_id: tenantId,
          invoice_id: invoiceId,
          stripe_invoice_id: created.id,
          lines_added_at: null,
          finalized_at: null,
          voided_at: null,
          created_at: this.#clock.now(),
        })
        .onConflict((oc) => oc.columns(['tenant_id', 'invoice_id']).doNothing())
        .execute();
      row = await this.#invoiceRow(tenantId, invoiceId);
      if (!row) throw new Error(`the Stripe invoice of ${invoiceId} was made but not recorded`);
    }
    const stripeInvoiceId = row.stripe_invoice_id;

    if (row.finalized_at === null) {
      let stripeTotal: number;
      if (row.lines_added_at === null) {
        const added = await stripeCall(
          `adding the lines of ${invoice.id} to Stripe invoice ${stripeInvoiceId}`,
          () => this.#stripe.invoices.addLines(stripeInvoiceId, { lines }, { idempotencyKey: key('lines') }),
        );
        stripeTotal = added.total;
        await this.#db
          .updateTable('stripe_invoices')
          .set({ lines_added_at: this.#clock.now() })
          .where('tenant_id', '=', tenantId)
          .where('invoice_id', '=', invoiceId)
          .where('lines_added_at', 'is', null)
          .execute();
      } else {
        const draft = await stripeCall(`reading Stripe invoice ${stripeInvoiceId}`, () =>
          this.#stripe.invoices.retrieve(stripeInvoiceId),
        );
        stripeTotal = draft.total;
      }
      // Stripe must ask for exactly what Tenantry invoiced: a tax or discount set up in Stripe
      // would change it, and then the invoice stays a draft there for people to look at.
      if (stripeTotal !== total) {
        throw new Error(
          `Stripe invoice ${stripeInvoiceId} totals ${stripeTotal} minor units of ${invoice.currency}, ` +
            `but invoice ${invoice.number} (${invoice.id}) totals ${total}: it was left a draft in Stripe, not finalized`,
        );
      }
      const finalized = await stripeCall(`finalizing Stripe invoice ${stripeInvoiceId}`, () =>
        this.#stripe.invoices.finalizeInvoice(
          stripeInvoiceId,
          { auto_advance: true },
          { idempotencyKey: key('finalize') },
        ),
      );
      await this.#db.transaction().execute(async (tx) => {
        const updated = await tx
          .updateTable('stripe_invoices')
          .set({ finalized_at: this.#clock.now() })
          .where('tenant_id', '=', tenantId)
          .where('invoice_id', '=', invoiceId)
          .where('finalized_at', 'is', null)
          .executeTakeFirst();
        if (updated.numUpdatedRows === 0n) return;
        const data = {
          invoice_id: invoice.id,
          number: invoice.number,
          stripe_invoice_id: stripeInvoiceId,
          stripe_customer_id: customer,
          stripe_number: finalized.number ?? null,
          hosted_invoice_url: finalized.hosted_invoice_url ?? null,
        };
        await recordChange(tx, STRIPE_ACTOR, {
          action: 'invoice.sent_to_stripe',
          tenantId,
          target: { type: 'invoice', id: invoice.id },
          data,
          occurredAt: this.#clock.now(),
        });
      });
    }
    return { invoiceId, stripeInvoiceId, stripeCustomerId: customer };
  }

  #invoiceRow(tenantId: string, invoiceId: string) {
    return this.#db
      .selectFrom('stripe_invoices')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('invoice_id', '=', invoiceId)
      .executeTakeFirst();
  }

  /**
   * Stops Stripe collecting an invoice voided in Tenantry: voids the Stripe invoice (or deletes
   * it while still a draft). Waits (throws, and the job retries) while the invoice's sync is
   * under way, which could otherwise finalize it afterwards. A Stripe invoice already paid cannot
   * be voided: that is reported (`invoice.paid_in_stripe_after_void`) for a refund by hand.
   */
  async voidInvoice(tenantId: string, invoiceId: string): Promise<void> {
    const syncing = await this.#db
      .selectFrom('jobs')
      .select('id')
      .where('dedupe_key', '=', `${STRIPE_JOBS.syncInvoice}:${invoiceId}`)
      .where('status', 'in', ['pending', 'running'])
      .executeTakeFirst();
    if (syncing)
      throw new Error(`invoice ${invoiceId} is still being sent to Stripe; its void waits for that`);
    const row = await this.#invoiceRow(tenantId, invoiceId);
    if (!row || row.voided_at !== null) return;
    const stripeInvoiceId = row.stripe_invoice_id;
    const current = await stripeCall(`reading Stripe invoice ${stripeInvoiceId}`, () =>
      this.#stripe.invoices.retrieve(stripeInvoiceId),
    );
    let outcome: 'voided' | 'deleted' | 'paid' | 'already_void';
    if (current.status === 'draft') {
      await stripeCall(`deleting draft Stripe invoice ${stripeInvoiceId}`, () =>
        this.#stripe.invoices.del(stripeInvoiceId),
      );
      outcome = 'deleted';
    } else if (current.status === 'open' || current.status === 'uncollectible') {
      await stripeCall(`voiding Stripe invoice ${stripeInvoiceId}`, () =>
        this.#stripe.invoices.voidInvoice(
          stripeInvoiceId,
          {},
          { idempotencyKey: `tenantry-invoice-${invoiceId}-void` },
        ),
      );
      outcome = 'voided';
    } else {
      outcome = current.status === 'paid' ? 'paid' : 'already_void';
    }
    await this.#db.transaction().execute(async (tx) => {
      const updated = await tx
        .updateTable('stripe_invoices')
        .set({ voided_at: this.#clock.now() })
        .where('tenant_id', '=', tenantId)
        .where('invoice_id', '=', invoiceId)
        .where('voided_at', 'is', null)
        .executeTakeFirst();
      if (updated.numUpdatedRows === 0n) return;
      const data = {
        invoice_id: invoiceId,
        stripe_invoice_id: stripeInvoiceId,
        stripe_status: current.status,
        outcome,
      };
      await recordChange(tx, STRIPE_ACTOR, {
        action: outcome === 'paid' ? 'invoice.paid_in_stripe_after_void' : 'invoice.voided_in_stripe',
        tenantId,
        target: { type: 'invoice', id: invoiceId },
        data,
        occurredAt: this.#clock.now(),
      });
    });
  }

  /** The last attempt failed: say so where people look, since Stripe was not told. */
  async #gaveUp(
    action: 'invoice.stripe_sync_failed' | 'invoice.stripe_void_failed',
    tenantId: string,
    invoiceId: string,
    error: string,
  ): Promise<void> {
    await this.#db.transaction().execute(async (tx) => {
      await recordChange(tx, STRIPE_ACTOR, {
        action,
        tenantId,
        target: { type: 'invoice', id: invoiceId },
        data: { invoice_id: invoiceId, error },
        occurredAt: this.#clock.now(),
      });
    });
  }
}

/**
 * The invoice's lines as Stripe takes them (integer minor units, which is what `toMinorUnits`
 * gives) and their total; throws when an amount is not whole minor units or the lines do not add
 * up to the total, rather than bill something other than the invoice.
 */
function stripeLines(invoice: FinalizedInvoice): {
  lines: Stripe.InvoiceAddLinesParams.Line[];
  total: number;
} {
  if (invoice.lines.length > MAX_STRIPE_LINES)
    throw new Error(
      `invoice ${invoice.id} has ${invoice.lines.length} lines; Stripe takes at most ${MAX_STRIPE_LINES}`,
    );
  let sum = 0n;
  const lines = invoice.lines.map((line, index): Stripe.InvoiceAddLinesParams.Line => {
    const minor = signedMinorUnits(
      line.amount,
      invoice.currency,
      `line ${index + 1} of invoice ${invoice.id}`,
    );
    sum += minor;
    return {
      amount: safeNumber(minor, invoice.id),
      description: line.description,
      metadata: { tenantry_invoice_id: invoice.id, line: String(index + 1) },
      ...(line.period
        ? { period: { start: unixSeconds(line.period.start), end: unixSeconds(line.period.end) } }
        : {}),
    };
  });
  const total = signedMinorUnits(invoice.total, invoice.currency, `the total of invoice ${invoice.id}`);
  if (sum !== total)
    throw new Error(
      `the lines of invoice ${invoice.id} add up to ${sum} minor units, not its total ${total}`,
    );
  return { lines, total: safeNumber(total, invoice.id) };
}

/** {@link minorOf}, its refusal naming what the amount is. */
function signedMinorUnits(amount: string, currency: string, what: string): bigint {
  try {
    return minorOf(amount, currency);
  } catch {
    throw new Error(`${what} is "${amount}", which is not a whole number of ${currency} minor units`);
  }
}

function safeNumber(minor: bigint, invoiceId: string): number {
  if (minor > BigInt(Number.MAX_SAFE_INTEGER) || minor < -BigInt(Number.MAX_SAFE_INTEGER))
    throw new Error(`an amount of invoice ${invoiceId} (${minor} minor units) is too large for Stripe`);
  return Number(minor);
}

function unixSeconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

/** A request to Stripe failed (unreachable, or an error answer); the message names the step and why. */
export class StripeRequestError extends Error {
  override readonly name = 'StripeRequestError';
}

/** Runs one Stripe call; its failure says which step failed and why, for the job's last error. */
async function stripeCall<T>(step: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const status = (error as { statusCode?: unknown }).statusCode;
    throw new StripeRequestError(
      `${step} failed${typeof status === 'number' ? ` (HTTP ${status})` : ''}: ${message}`,
      { cause: error },
    );
  }
}
