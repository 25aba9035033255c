import {
  type AuditAction,
  type DomainError,
  fail,
  formatMinorUnits,
  keysetPage,
  ok,
  type Page,
  type Period,
  type RatedInvoice,
  type Result,
  unknownCursor,
} from '@tenantry/core';
import { type Kysely, sql, type Transaction } from 'kysely';
import { recordChange } from '../changes/index.ts';
import { type Clock, type ClockScope, tenantNow } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import type { JobQueue } from '../jobs/index.ts';
import { type RequestContext, systemContext } from '../request-context.ts';
import { tenantNotFound } from '../tenants/index.ts';
import type { BillingMonth } from './billing-month.ts';
import { applyInvoiceAction, type InvoiceAction, type InvoiceStatus } from './invoice-actions.ts';
import { documentId, linesOfRating, writeDocuments } from './invoice-documents.ts';
import {
  type FinalizedInvoiceListener,
  InvoiceRunner,
  type RunRequest,
  type RunSummary,
  rateJobs,
  versionsOf,
} from './invoice-run.ts';
import { type DocumentRecord, documentLineView, type InvoiceView, invoiceView } from './invoice-view.ts';
import type { PaymentEvents } from './payment-events.ts';
import { type PeriodRating, periodRating } from './period-rating.ts';
import { PlanVersions } from './plan-versions.ts';
import {
  loadSubscriptions,
  periodAt,
  periodStartingIn,
  type SubscriptionRecord,
} from './subscription-records.ts';

/** Job kinds the invoice service owns. */
export const INVOICE_JOBS = { run: 'billing.invoice_run' } as const;

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

/** The tenant an invoice request is about. */
export interface BillingTenant {
  readonly id: string;
  readonly slug: string;
  readonly name: string;
}

/** A period of a tenant's subscription, resolved, with what rating it needs. */
export interface ResolvedPeriod {
  readonly tenant: BillingTenant;
  readonly subscription: SubscriptionRecord;
  readonly plans: PlanVersions;
  readonly period: Period;
  readonly rating: PeriodRating | null;
}

/** A page of documents. */
/** Filters of a document list. */
export interface InvoiceFilter {
  tenant?: string | undefined;
  status?: Exclude<InvoiceStatus, 'draft'> | undefined;
  object?: 'invoice' | 'credit_note' | undefined;
  /** The documents of the billing periods that start in this month. */
  period?: BillingMonth | undefined;
}

/** A tenant's subscription as the API shows it: dates and the history of plan and seats. */
export interface SubscriptionView {
  tenant_id: string;
  started_at: string;
  billing_starts_at: string;
  ended_at: string | null;
  current_period: { start: string; end: string };
  invoiced_until: string;
  next_invoice_at: string | null;
  segments: {
    from: string;
    to: string | null;
    plan: { id: string; key: string; version: number };
    seats: number;
  }[];
}

/** What an {@link InvoiceService} works with. */
export interface InvoiceServiceOptions {
  readonly db: Kysely<Schema>;
  readonly clock: Clock;
  readonly jobs: JobQueue;
  /** Dunning: told of each payment outcome inside the transaction that records it. */
  readonly payments: PaymentEvents;
  /** How long after a period usage events may still arrive for it (ingestion's late window). */
  readonly lateWindowMs: number;
  /** Told of each invoice finalized as open (the Stripe adapter), inside the finalizing transaction. */
  readonly listener?: FinalizedInvoiceListener | undefined;
  /** Tenants per transaction in a run. */
  readonly batchSize?: number | undefined;
}

/** What a settlement (pay, payment failed, void, mark uncollectible) carries. */
export interface SettleInput {
  /** `pay`: the payment's reference (a transfer id, a Stripe invoice id…). */
  readonly reference?: string | undefined;
  /** `payment_failed`, `void`, `mark_uncollectible`: why. */
  readonly reason?: string | undefined;
}

/** The audit action (and event type) of each settlement. */
const SETTLED = {
  pay: 'invoice.paid',
  payment_failed: 'invoice.payment_failed',
  void: 'invoice.voided',
  mark_uncollectible: 'invoice.marked_uncollectible',
} as const satisfies Record<InvoiceAction, AuditAction>;

/**
 * Invoices: draft previews at any time, finalization (the scheduled run at each period's end and
 * runs on demand), payment outcomes settled by API or CLI (or by the Stripe adapter through
 * {@link settleIn}), voids with their credit notes, and the documents as the API shows them.
 */
export class InvoiceService {
  readonly #o: InvoiceServiceOptions;
  readonly #runner: InvoiceRunner;

  constructor(options: InvoiceServiceOptions) {
    this.#o = options;
    this.#runner = new InvoiceRunner({
      db: options.db,
      clock: options.clock,
      lateWindowMs: options.lateWindowMs,
      listener: options.listener,
      ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
    });
    options.jobs.handle(INVOICE_JOBS.run, {
      run: async () => {
        const result = await this.run(systemContext('invoice-run'), {});
        // Periods that could not be rated stay due; the run reports them, and they are tried again.
        if (result.ok && result.value.failed.length > 0) {
          throw new Error(
            `${result.value.failed.length} periods could not be invoiced: ${result.value.failed
              .slice(0, 3)
              .map((f) => `${f.tenant_id} ${f.period.start}: ${f.detail}`)
              .join('; ')}`,
          );
        }
        await this.schedule();
      },
      onExhausted: async () => {
        await this.schedule(new Date(this.#o.clock.now().getTime() + HOUR_MS));
      },
    });
  }

  /**
   * Makes sure an invoice run is scheduled: at the next period end or late-window close (at most a
   * day ahead), or at `at`. Idempotent: one run per instant.
   */
  async schedule(at?: Date): Promise<void> {
    const now = this.#o.clock.now();
    let runAt = at;
    if (runAt === undefined) {
      const next = await this.#runner.nextWorkAt();
      const dayAhead = new Date(now.getTime() + DAY_MS);
      // Work still due now (a tenant with more periods than one run takes) waits a minute: a run
      // scheduled for now would be the same job as the one running, and be dropped as a duplicate.
      const soon = new Date(now.getTime() + MINUTE_MS);
      runAt = next === null || next > dayAhead ? dayAhead : next > now ? next : soon;
    }
    await this.#o.db.transaction().execute((tx) =>
      this.#o.jobs.enqueue(tx, {
        kind: INVOICE_JOBS.run,
        payload: {},
        dedupeKey: `${INVOICE_JOBS.run}:${runAt.toISOString()}`,
        runAt,
      }),
    );
  }

  /** When the next run has work for the tenants of `scope` (see {@link InvoiceRunner.nextWorkAt}). */
  nextWorkAt(scope: ClockScope): Promise<Date | null> {
    return this.#runner.nextWorkAt(scope);
  }

  /** Schedules a run unless one is waiting (at start-up). */
  async ensureScheduled(): Promise<void> {
    const waiting = await this.#o.db
      .selectFrom('jobs')
      .select('id')
      .where('kind', '=', INVOICE_JOBS.run)
      .where('status', 'in', ['pending', 'running'])
      .executeTakeFirst();
    if (!waiting) await this.schedule();
  }

  /**
   * Finalizes the periods that have ended (of one tenant, or all), or with a month only those that
   * start in it or before; see {@link InvoiceRunner}.
   */
  async run(
    ctx: RequestContext,
    request: {
      month?: BillingMonth | undefined;
      tenant?: string | undefined;
      scope?: ClockScope | undefined;
    },
  ): Promise<Result<RunSummary, DomainError>> {
    const runRequest: { month?: BillingMonth; tenantId?: string; scope?: ClockScope } = {};
    if (request.month !== undefined) runRequest.month = request.month;
    if (request.scope !== undefined) runRequest.scope = request.scope;
    if (request.tenant !== undefined) {
      const tenant = await this.#tenant(request.tenant);
      if (!tenant.ok) return tenant;
      runRequest.tenantId = tenant.value.id;
    }
    return this.#runner.run(ctx, runRequest as RunRequest);
  }

  /**
   * A draft of a tenant's invoice for a period (the one that starts in `month`, or the current
   * one): the recurring prices as the subscription stands, and the usage recorded so far.
   */
  async preview(tenantRef: string, month?: BillingMonth): Promise<Result<InvoiceView, DomainError>> {
    const resolved = await this.resolvePeriod(tenantRef, month);
    if (!resolved.ok) return resolved;
    const now = await tenantNow(this.#o.db, this.#o.clock, resolved.value.tenant.id);
    return draftOfPeriod(this.#o.db, resolved.value, now);
  }

  /**
   * The tenant and the period `month` names (the one that starts in it; the current one without a
   * month), with what rating it needs.
   */
  async resolvePeriod(tenantRef: string, month?: BillingMonth): Promise<Result<ResolvedPeriod, DomainError>> {
    const tenant = await this.#tenant(tenantRef);
    if (!tenant.ok) return tenant;
    const subscription = (await loadSubscriptions(this.#o.db, [tenant.value.id])).get(tenant.value.id);
    if (subscription === undefined) {
      return fail('validation_failed', `tenant "${tenantRef}" has no subscription to bill`, {
        errors: [{ path: 'params.id', message: 'has no subscription' }],
      });
    }
    const plans = new PlanVersions(this.#o.db);
    await plans.load(versionsOf(subscription));
    const now = await tenantNow(this.#o.db, this.#o.clock, tenant.value.id);
    let period: Period | null;
    if (month === undefined) {
      period = periodAt(subscription, plans, now);
    } else {
      period = periodStartingIn(subscription, plans, month);
      if (period === null) {
        const current = periodAt(subscription, plans, now);
        return fail(
          'validation_failed',
          `no billing period of tenant "${tenant.value.slug}" starts in ${month.label} (its current period runs from ${current.start.toISOString()} to ${current.end.toISOString()})`,
          {
            errors: [
              { path: 'query.period', message: `no billing period of the tenant starts in ${month.label}` },
            ],
          },
        );
      }
    }
    return ok({
      tenant: tenant.value,
      subscription,
      plans,
      period,
      rating: periodRating(subscription, plans, period),
    });
  }

  /** Rates a resolved period on its usage so far; `null` when nothing of it is billable. */
  async rate(resolved: ResolvedPeriod): Promise<Result<RatedInvoice | null, DomainError>> {
    const now = await tenantNow(this.#o.db, this.#o.clock, resolved.tenant.id);
    const [result] = await rateJobs(this.#o.db, [{ rating: resolved.rating }], now);
    if (result === undefined) return ok(null);
    return result;
  }

  /** A document by id (`inv_…`, `cn_…`) or number (`INV-000042`), optionally only if it is the tenant's. */
  async get(ref: string, tenantRef?: string): Promise<Result<InvoiceView, DomainError>> {
    let tenantId: string | undefined;
    if (tenantRef !== undefined) {
      const tenant = await this.#tenant(tenantRef);
      if (!tenant.ok) return tenant;
      tenantId = tenant.value.id;
    }
    const record = await this.#find(this.#o.db, ref, tenantId);
    if (!record) return invoiceNotFound(ref, tenantRef);
    return ok(await this.#view(this.#o.db, record));
  }

  /**
   * Documents newest first (by issue time, then id, so that a page never splits or repeats
   * documents issued at the same moment), filtered, one page at a time. The indexes on
   * `(issued_at, id)` and `(tenant_id, issued_at, id)` are read backwards: a first page is an
   * index scan, not a sort of the table.
   */
  async list(
    filter: InvoiceFilter,
    page: { limit: number; cursor?: string | undefined },
  ): Promise<Result<Page<InvoiceView>, DomainError>> {
    let query = this.#select(this.#o.db)
      .orderBy('i.issued_at', 'desc')
      .orderBy('i.id', 'desc')
      .limit(page.limit + 1);
    if (page.cursor !== undefined) {
      const after = decodeCursor(page.cursor);
      if (after === undefined) {
        return unknownCursor();
      }
      query = query.where((eb) =>
        eb.or([
          eb('i.issued_at', '<', after.at),
          eb.and([eb('i.issued_at', '=', after.at), eb('i.id', '<', after.id)]),
        ]),
      );
    }
    if (filter.tenant !== undefined) {
      const tenant = await this.#tenant(filter.tenant);
      if (!tenant.ok) return tenant;
      query = query.where('i.tenant_id', '=', tenant.value.id);
    }
    if (filter.status !== undefined) query = query.where('i.status', '=', filter.status);
    if (filter.object !== undefined) query = query.where('i.type', '=', filter.object);
    if (filter.period !== undefined) {
      query = query
        .where('i.period_start', '>=', filter.period.start)
        .where('i.period_start', '<', filter.period.end);
    }
    const rows = (await query.execute()) as DocumentRecord[];
    // The page's records first: their views are read together, in a few queries for the page.
    const shown = keysetPage(
      rows,
      page.limit,
      (record) => record,
      (record) => encodeCursor(record.issued_at, record.id),
    );
    return ok({ data: await this.#views(this.#o.db, shown.data), next_cursor: shown.next_cursor });
  }

  /**
   * Records a payment outcome or a status change of a document: `pay`, `payment_failed` (the
   * invoice stays as it is, the failure is counted), `void` (a credit note for the whole invoice
   * is issued with it) or `mark_uncollectible`. Audited, announced as an event, and told to dunning
   * in the same transaction. An action the status does not allow is `illegal_invoice_transition`
   * and changes nothing.
   */
  async settle(
    ctx: RequestContext,
    ref: string,
    action: InvoiceAction,
    input: SettleInput = {},
  ): Promise<Result<InvoiceView, DomainError>> {
    const result = await this.#o.db.transaction().execute(async (tx) => {
      const record = await this.#find(tx, ref, undefined, true);
      if (!record) return invoiceNotFound(ref);
      const done = await this.settleIn(tx, ctx, record.tenant_id, record.id, action, input);
      if (!done.ok) return done;
      const after = await this.#find(tx, record.id, record.tenant_id);
      if (!after) throw new Error(`invoice ${record.id} vanished inside its own transaction`);
      return ok(await this.#view(tx, after));
    });
    if (result.ok && action === 'void') this.#o.listener?.wake();
    return result;
  }

  /**
   * {@link settle} inside the caller's transaction (the Stripe adapter records its webhook in the
   * same one). Locks the document's row.
   */
  async settleIn(
    tx: Transaction<Schema>,
    ctx: RequestContext,
    tenantId: string,
    invoiceId: string,
    action: InvoiceAction,
    input: SettleInput = {},
  ): Promise<Result<InvoiceStatus, DomainError>> {
    const record = await this.#find(tx, invoiceId, tenantId, true);
    if (!record) return invoiceNotFound(invoiceId);
    const next = applyInvoiceAction(record.number, record.status as InvoiceStatus, action);
    if (!next.ok) return next;
    const now = await tenantNow(tx, this.#o.clock, record.tenant_id);
    let creditNote: { id: string; number: string } | null = null;
    if (action === 'void') {
      const lines = await tx
        .selectFrom('invoice_lines')
        .selectAll()
        .where('tenant_id', '=', record.tenant_id)
        .where('invoice_id', '=', record.id)
        .orderBy('position')
        .execute();
      const [written] = await writeDocuments(
        tx,
        ctx,
        [
          {
            id: documentId('credit_note'),
            tenantId: record.tenant_id,
            type: 'credit_note',
            reason: 'void',
            adjustsId: record.id,
            status: 'issued',
            currency: record.currency,
            period: { start: record.period_start, end: record.period_end },
            lines: lines.map((line) => ({
              key: line.key,
              kind: line.kind,
              description: line.description,
              period: { start: line.period_start, end: line.period_end },
              quantity: line.quantity,
              unitAmount: line.unit_amount,
              amount: this.#money(line.amount, record.currency),
              detail: line.detail as never,
            })),
            total: this.#money(record.total, record.currency),
          },
        ],
        now,
      );
      if (written) creditNote = { id: written.document.id, number: written.number };
    }
    if (action === 'void') {
      await this.#o.listener?.invoicesVoided(tx, [{ tenantId: record.tenant_id, invoiceId: record.id }]);
    }
    await tx
      .updateTable('invoices')
      .set(
        action === 'pay'
          ? { status: 'paid', paid_at: now, payment_reference: input.reference ?? null }
          : action === 'void'
            ? { status: 'void', voided_at: now, credit_note_id: creditNote?.id ?? null }
            : action === 'mark_uncollectible'
              ? { status: 'uncollectible', uncollectible_at: now }
              : {
                  payment_failures: sql<number>`payment_failures + 1`,
                  last_payment_failure: input.reason ?? null,
                  last_payment_failed_at: now,
                },
      )
      .where('tenant_id', '=', record.tenant_id)
      .where('id', '=', record.id)
      .execute();
    await recordChange(tx, ctx, {
      action: SETTLED[action],
      tenantId: record.tenant_id,
      target: { type: 'invoice', id: record.id },
      before: { status: record.status },
      after: { status: next.value },
      data: {
        invoice: record.id,
        number: record.number,
        from: record.status,
        to: next.value,
        ...(creditNote === null ? {} : { credit_note: creditNote }),
        ...(input.reference === undefined ? {} : { reference: input.reference }),
        ...(input.reason === undefined ? {} : { reason: input.reason }),
      },
      occurredAt: now,
    });
    const outcome = { tenantId: record.tenant_id, invoiceId: record.id, now, requestId: ctx.requestId };
    if (action === 'pay') {
      await this.#o.payments.paymentSucceeded(tx, outcome);
    } else if (action === 'payment_failed') {
      await this.#o.payments.paymentFailed(tx, outcome);
    } else if (action === 'void' || action === 'mark_uncollectible') {
      await this.#o.payments.invoiceClosed(tx, {
        ...outcome,
        as: action === 'void' ? 'void' : 'uncollectible',
      });
    }
    return ok(next.value);
  }

  /** A tenant's subscription: start and cancel dates, the current period and the history of plan and seats. */
  async subscription(tenantRef: string): Promise<Result<SubscriptionView, DomainError>> {
    const resolved = await this.resolvePeriod(tenantRef);
    if (!resolved.ok) return resolved;
    const { subscription: s, period } = resolved.value;
    const keys = new Map(
      (
        await this.#o.db
          .selectFrom('plans')
          .select(['id', 'key'])
          .where(
            'id',
            'in',
            s.segments.map((segment) => segment.planId),
          )
          .execute()
      ).map((p) => [p.id, p.key]),
    );
    return ok({
      tenant_id: s.tenantId,
      started_at: s.startedAt.toISOString(),
      billing_starts_at: s.billingStartsAt.toISOString(),
      ended_at: s.endedAt?.toISOString() ?? null,
      current_period: { start: period.start.toISOString(), end: period.end.toISOString() },
      invoiced_until: s.invoicedUntil.toISOString(),
      next_invoice_at: s.nextDueAt?.toISOString() ?? null,
      segments: s.segments.map((segment) => ({
        from: segment.from.toISOString(),
        to: segment.to?.toISOString() ?? null,
        plan: { id: segment.planId, key: keys.get(segment.planId) ?? '', version: segment.planVersion },
        seats: segment.seats,
      })),
    });
  }

  /** The finalized invoice of a tenant's period, if there is one. */
  async periodInvoice(tenantId: string, period: Period): Promise<InvoiceView | undefined> {
    const record = (await this.#select(this.#o.db)
      .where('i.tenant_id', '=', tenantId)
      .where('i.reason', '=', 'period')
      .where('i.period_start', '=', period.start)
      .executeTakeFirst()) as DocumentRecord | undefined;
    return record ? this.#view(this.#o.db, record) : undefined;
  }

  async #tenant(ref: string): Promise<Result<BillingTenant, DomainError>> {
    let query = this.#o.db.selectFrom('tenants').select(['id', 'slug', 'name']);
    query = ref.startsWith('ten_')
      ? query.where('id', '=', ref)
      : query.where('slug', '=', ref).where('state', '<>', 'deleted');
    const row = await query.executeTakeFirst();
    return row ? ok(row) : tenantNotFound(ref);
  }

  /** A numeric read back from Postgres, written with the currency's digits. */
  #money(amount: string, currency: string): string {
    const zero = formatMinorUnits(0n, currency);
    const digits = zero.includes('.') ? (zero.split('.')[1] ?? '').length : 0;
    const [whole = '0', fraction = ''] = amount.split('.');
    return digits === 0 ? whole : `${whole}.${fraction.padEnd(digits, '0').slice(0, digits)}`;
  }

  #select(db: Kysely<Schema> | Transaction<Schema>) {
    return db
      .selectFrom('invoices as i')
      .innerJoin('tenants as t', 't.id', 'i.tenant_id')
      .selectAll('i')
      .select([
        't.slug as tenant_slug',
        't.name as tenant_name',
        sql<
          string | null
        >`(select a.number from invoices a where a.tenant_id = i.tenant_id and a.id = i.adjusts_id)`.as(
          'adjusts_number',
        ),
        sql<
          string | null
        >`(select c.number from invoices c where c.tenant_id = i.tenant_id and c.id = i.credit_note_id)`.as(
          'credit_note_number',
        ),
      ]);
  }

  async #find(
    db: Kysely<Schema> | Transaction<Schema>,
    ref: string,
    tenantId?: string,
    lock = false,
  ): Promise<DocumentRecord | undefined> {
    let query = this.#select(db);
    query = /^(inv|cn)_/.test(ref)
      ? query.where('i.id', '=', ref)
      : query.where('i.number', '=', ref.toUpperCase());
    if (tenantId !== undefined) query = query.where('i.tenant_id', '=', tenantId);
    if (lock) query = query.forUpdate('i');
    return (await query.executeTakeFirst()) as DocumentRecord | undefined;
  }

  async #view(db: Kysely<Schema> | Transaction<Schema>, record: DocumentRecord): Promise<InvoiceView> {
    const [view] = await this.#views(db, [record]);
    if (!view) throw new Error(`no view of invoice ${record.id}`);
    return view;
  }

  async #views(
    db: Kysely<Schema> | Transaction<Schema>,
    records: readonly DocumentRecord[],
  ): Promise<InvoiceView[]> {
    if (records.length === 0) return [];
    const lines = await db
      .selectFrom('invoice_lines')
      .selectAll()
      .where(
        'invoice_id',
        'in',
        records.map((r) => r.id),
      )
      .orderBy('invoice_id')
      .orderBy('position')
      .execute();
    return records.map((record) =>
      invoiceView(
        record,
        lines.filter((line) => line.invoice_id === record.id && line.tenant_id === record.tenant_id),
        formatMinorUnits(0n, record.currency),
      ),
    );
  }
}

/**
 * The draft of the invoice of the billing period holding `at`, as the subscription stands in `db`
 * (a transaction sees its own uncommitted changes: a plan change's preview rates the change it
 * made and then rolls back). `null` when the tenant has no subscription.
 */
export async function draftInvoiceAt(
  db: Kysely<Schema> | Transaction<Schema>,
  tenant: BillingTenant,
  at: Date,
  now: Date,
): Promise<Result<InvoiceView, DomainError> | null> {
  const subscription = (await loadSubscriptions(db, [tenant.id])).get(tenant.id);
  if (subscription === undefined) return null;
  const plans = new PlanVersions(db);
  await plans.load(versionsOf(subscription));
  const period = periodAt(subscription, plans, at);
  return draftOfPeriod(
    db,
    { tenant, subscription, plans, period, rating: periodRating(subscription, plans, period) },
    now,
  );
}

/**
 * A draft of a resolved period's invoice: its recurring prices as the subscription stands and its
 * usage so far (time-weighted levels counted up to `now`).
 */
async function draftOfPeriod(
  db: Kysely<Schema> | Transaction<Schema>,
  resolved: ResolvedPeriod,
  now: Date,
): Promise<Result<InvoiceView, DomainError>> {
  const [result] = await rateJobs(db, [{ rating: resolved.rating }], now);
  if (result !== undefined && !result.ok) return result;
  const rated = result?.value ?? null;
  const { tenant, period, subscription, plans } = resolved;
  const last = subscription.segments.at(-1);
  const currency =
    rated?.currency ?? (last ? plans.get(last.planId, last.planVersion).definition.currency : 'usd');
  const zero = formatMinorUnits(0n, currency);
  const lines = rated === null ? [] : linesOfRating(rated);
  return ok({
    id: null,
    object: 'invoice',
    number: null,
    status: 'draft',
    reason: 'period',
    tenant,
    adjusts: null,
    credit_note: null,
    currency,
    period: { start: period.start.toISOString(), end: period.end.toISOString() },
    lines: lines.map(documentLineView),
    subtotal: rated?.subtotal ?? zero,
    total: rated?.total ?? zero,
    amount_due: rated?.total ?? zero,
    issued_at: null,
    paid_at: null,
    voided_at: null,
    marked_uncollectible_at: null,
    payment: { reference: null, failures: 0, last_failure: null, last_failed_at: null },
    allowed_actions: [],
  });
}

/** The answer to an invoice id or number that names no document (of the tenant, when one is named). */
export function invoiceNotFound(
  ref: string,
  tenantRef?: string,
): { readonly ok: false; readonly error: DomainError } {
  return fail(
    'invoice_not_found',
    tenantRef === undefined
      ? `no invoice or credit note has the id or number "${ref}"`
      : `tenant "${tenantRef}" has no invoice or credit note with the id or number "${ref}"`,
  );
}

/**
 * A page's cursor: the last document's issue time and id, marked newest-first, so that a cursor
 * given out when lists ran oldest first is refused rather than read the other way.
 */
function encodeCursor(at: Date, id: string): string {
  return Buffer.from(JSON.stringify({ at: at.toISOString(), id, order: 'newest' })).toString('base64url');
}

function decodeCursor(cursor: string): { at: Date; id: string } | undefined {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      at?: unknown;
      id?: unknown;
      order?: unknown;
    };
    if (typeof value.at !== 'string' || typeof value.id !== 'string' || !/^(inv|cn)_/.test(value.id))
      return undefined;
    if (value.order !== 'newest') return undefined;
    const at = new Date(value.at);
    return Number.isNaN(at.getTime()) ? undefined : { at, id: value.id };
  } catch {
    return undefined;
  }
}
