import {
  type DomainError,
  fail,
  ok,
  type Period,
  type RatedInvoice,
  type Result,
  ratePeriod,
} from '@tenantry/core';
import { type Kysely, sql, type Transaction } from 'kysely';
import { type Clock, type ClockScope, liveScope, onClock, tenantNow } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import type { RequestContext } from '../request-context.ts';
import type { BillingMonth } from './billing-month.ts';
import { type BillingUsageRequest, readBillingUsage } from './billing-usage.ts';
import { documentId, linesOfRating, type NewDocument, writeDocuments } from './invoice-documents.ts';
import { type BilledLines, billedLinesOf, lateUsageDocument } from './late-usage.ts';
import { type PeriodRating, periodRating } from './period-rating.ts';
import { PlanVersions } from './plan-versions.ts';
import {
  endedBy,
  loadSubscriptions,
  periodAt,
  periodStartingIn,
  type SubscriptionRecord,
} from './subscription-records.ts';

/**
 * Told of every invoice finalized as open, and of every invoice voided, inside the transaction
 * that does it (the Stripe adapter queues its jobs there, so they exist exactly when the change does).
 */
export interface FinalizedInvoiceListener {
  /** Invoices finalized as open (zero invoices are settled at once and not told). */
  invoicesFinalized(
    tx: Transaction<Schema>,
    invoices: readonly { tenantId: string; invoiceId: string }[],
  ): Promise<void>;
  /** Invoices voided. */
  invoicesVoided(
    tx: Transaction<Schema>,
    invoices: readonly { tenantId: string; invoiceId: string }[],
  ): Promise<void>;
  /** Called once such a transaction has committed. */
  wake(): void;
}

/** What to finalize: every ended period (the scheduled run), or those of one month, for one tenant or all. */
export interface RunRequest {
  /** Only periods that start before the end of this month; each of them must have ended. */
  readonly month?: BillingMonth | undefined;
  /** One tenant's id (run at the time of its clock); all tenants of `scope` when absent. */
  readonly tenantId?: string | undefined;
  /** Which tenants, at what time: the live ones now by default, or a test clock's at its time. */
  readonly scope?: ClockScope | undefined;
}

/** A period that could not be rated (nothing was written for it, nor for its later periods). */
export interface RunFailure {
  tenant_id: string;
  period: { start: string; end: string };
  code: string;
  detail: string;
}

/** What an invoice run did. */
export interface RunSummary {
  /** Tenants whose subscription was looked at. */
  tenants: number;
  /** Period invoices finalized. */
  invoices: number;
  /** Invoices for usage that arrived after a period was invoiced. */
  late_usage_invoices: number;
  /** Credit notes for usage voided after a period was invoiced. */
  credit_notes: number;
  /** The first and last number given by this run, if any. */
  numbers: { first: string; last: string } | null;
  failed: RunFailure[];
}

/** What an {@link InvoiceRunner} works with. */
export interface InvoiceRunnerOptions {
  readonly db: Kysely<Schema>;
  readonly clock: Clock;
  /** How long after a period ends usage events may still arrive for it (ingestion's late window). */
  readonly lateWindowMs: number;
  /** Tenants per transaction: read, rated and written together. */
  readonly batchSize?: number;
  readonly listener?: FinalizedInvoiceListener | undefined;
}

/** At most this many periods of one tenant per run, so a subscription with a broken history cannot loop. */
const MAX_PERIODS_PER_TENANT = 120;
const DEFAULT_BATCH = 500;

/** A billed period compared with its usage now: what to write back for it. */
interface Check {
  readonly tenantId: string;
  readonly periodStart: Date;
  /** `checked_at` as read: the write is skipped if another run changed it meanwhile. */
  readonly read: Date;
  /** The period's invoice was voided: stop following it. */
  readonly close: boolean;
  /** The new baseline, when a document was issued for the difference. */
  readonly billed: BilledLines | null;
  readonly documentId: string | null;
}

/** A period to finalize, or a billed period to compare with its usage now. */
interface Job {
  readonly kind: 'finalize' | 'recheck';
  readonly subscription: SubscriptionRecord;
  readonly period: Period;
  readonly rating: PeriodRating | null;
  /** For a recheck: the period's invoice and what it billed. */
  readonly billed?: {
    invoiceId: string;
    lines: BilledLines;
    check: { tenantId: string; periodStart: Date; read: Date };
  };
}

/** Where a subscription's invoicing stands after the batch. */
interface Move {
  readonly tenantId: string;
  readonly invoicedUntil: Date;
  readonly nextDueAt: Date | null;
}

/**
 * Finalizes invoices: the scheduled job at each period's end, and `POST /v1/invoices/run` on
 * demand. Tenants are worked in batches read with a few set-based queries (subscriptions, plan
 * versions, the usage of every priced meter of every period in the batch), rated in memory, and
 * written in one transaction per batch that numbers the invoices from the gap-free counter.
 *
 * Idempotent: a period is finalized once (each tenant's `invoiced_until` moves past it in the
 * same transaction, which locks the subscription rows first and skips those another run moved),
 * and a run that finds nothing due writes nothing. Usage that arrives for an invoiced period (or
 * is voided) is settled when the tenant's next period is, or when the period's late window has
 * closed: an invoice for the difference, or a credit note.
 */
export class InvoiceRunner {
  readonly #o: InvoiceRunnerOptions;

  constructor(options: InvoiceRunnerOptions) {
    this.#o = options;
  }

  /** Runs; a month whose periods have not all ended is refused before anything is written. */
  async run(ctx: RequestContext, request: RunRequest): Promise<Result<RunSummary, DomainError>> {
    const scope = request.scope ?? liveScope(this.#o.clock);
    const now =
      request.tenantId !== undefined
        ? await tenantNow(this.#o.db, this.#o.clock, request.tenantId)
        : scope.now;
    const plans = new PlanVersions(this.#o.db);
    if (request.month !== undefined) {
      const open = await this.#openPeriods(plans, request.month, request.tenantId, scope, now);
      if (!open.ok) return open;
    }
    const summary: RunSummary = {
      tenants: 0,
      invoices: 0,
      late_usage_invoices: 0,
      credit_notes: 0,
      numbers: null,
      failed: [],
    };
    const batchSize = this.#o.batchSize ?? DEFAULT_BATCH;
    let after = '';
    let writing: Promise<void> = Promise.resolve();
    for (;;) {
      const ids =
        request.tenantId !== undefined
          ? after === ''
            ? [request.tenantId]
            : []
          : (
              await sql<{ tenant_id: string }>`
                select tenant_id from (
                  select tenant_id from subscriptions where next_due_at <= ${now}
                  union
                  select tenant_id from billed_periods where checked_at < late_until and late_until <= ${now}
                ) due
                join tenants t on t.id = due.tenant_id and ${onClock('t.test_clock_id', scope)}
                where tenant_id > ${after}
                order by tenant_id
                limit ${batchSize}`.execute(this.#o.db)
            ).rows.map((r) => r.tenant_id);
      const last = ids.at(-1);
      if (last === undefined) break;
      after = last;
      // The next batch is read and rated while the one before it is written.
      const commit = await this.#prepare(ctx, plans, ids, now, request.month, summary).catch(
        async (error: unknown) => {
          // Not before the write under way has ended: a failed run leaves nothing running.
          await writing.catch(() => undefined);
          throw error;
        },
      );
      await writing;
      if (commit !== null) {
        writing = commit();
        // Awaited before the next batch is written, or below; this only keeps a failure meanwhile
        // from being reported as unhandled.
        writing.catch(() => undefined);
      }
    }
    await writing;
    return ok(summary);
  }

  /**
   * When the next run has work: the earliest period end or late-window close still ahead (or
   * past) of the live tenants, or of a test clock's with its scope.
   */
  async nextWorkAt(scope: ClockScope = liveScope(this.#o.clock)): Promise<Date | null> {
    const row = await sql<{ at: Date | null }>`
      select least(
        (select min(s.next_due_at) from subscriptions s join tenants t on t.id = s.tenant_id
          where s.next_due_at is not null and ${onClock('t.test_clock_id', scope)}),
        (select min(b.late_until) from billed_periods b join tenants t on t.id = b.tenant_id
          where b.checked_at < b.late_until and ${onClock('t.test_clock_id', scope)})
      ) as at`.execute(this.#o.db);
    const at = row.rows[0]?.at;
    return at ? new Date(at) : null;
  }

  /** `period_not_ended` when a period of the month (of the tenant, or of any tenant) has not ended by `now`. */
  async #openPeriods(
    plans: PlanVersions,
    month: BillingMonth,
    tenantId: string | undefined,
    scope: ClockScope,
    now: Date,
  ): Promise<Result<null, DomainError>> {
    const open: { tenant_id: string; start: string; end: string }[] = [];
    let count = 0;
    let after = '';
    for (;;) {
      let query = this.#o.db
        .selectFrom('subscriptions')
        .innerJoin('tenants', 'tenants.id', 'subscriptions.tenant_id')
        .select('tenant_id')
        .where('started_at', '<', month.end)
        .where((eb) => eb.or([eb('ended_at', 'is', null), eb('ended_at', '>', month.start)]))
        .where('tenant_id', '>', after)
        .orderBy('tenant_id')
        .limit(this.#o.batchSize ?? DEFAULT_BATCH);
      query =
        tenantId !== undefined
          ? query.where('tenant_id', '=', tenantId)
          : query.where(onClock('tenants.test_clock_id', scope));
      const ids = (await query.execute()).map((r) => r.tenant_id);
      const last = ids.at(-1);
      if (last === undefined) break;
      after = last;
      const subscriptions = await loadSubscriptions(this.#o.db, ids);
      await plans.load([...subscriptions.values()].flatMap(versionsOf));
      for (const subscription of subscriptions.values()) {
        const period = periodStartingIn(subscription, plans, month);
        if (period === null || period.end <= now) continue;
        count++;
        if (open.length < 20) {
          open.push({
            tenant_id: subscription.tenantId,
            start: period.start.toISOString(),
            end: period.end.toISOString(),
          });
        }
      }
    }
    if (count === 0) return ok(null);
    const first = open[0];
    const example = first ? ` (tenant ${first.tenant_id}: ${first.start} to ${first.end})` : '';
    return fail(
      'period_not_ended',
      `${count === 1 ? 'a billing period' : `${count} billing periods`} of ${month.label} ${count === 1 ? 'has' : 'have'} not ended yet${example}: final invoices are made once a period has ended; nothing was finalized`,
      { details: { period: month.label, not_ended: count, periods: open } },
    );
  }

  /**
   * Reads, rates and builds one batch's documents; returns the write of them (one transaction),
   * or `null` when there is nothing to write.
   */
  async #prepare(
    ctx: RequestContext,
    plans: PlanVersions,
    ids: readonly string[],
    now: Date,
    month: BillingMonth | undefined,
    summary: RunSummary,
  ): Promise<(() => Promise<void>) | null> {
    const db = this.#o.db;
    const subscriptions = await loadSubscriptions(db, ids);
    await plans.load([...subscriptions.values()].flatMap(versionsOf));
    const billedPeriods = await db
      .selectFrom('billed_periods as b')
      .innerJoin('invoices as i', (join) =>
        join.onRef('i.tenant_id', '=', 'b.tenant_id').onRef('i.id', '=', 'b.invoice_id'),
      )
      .select([
        'b.tenant_id',
        'b.period_start',
        'b.period_end',
        'b.invoice_id',
        'b.billed',
        'b.checked_at',
        'i.status',
      ])
      .where('b.tenant_id', 'in', ids)
      .where(sql<boolean>`b.checked_at < b.late_until`)
      .execute();

    const jobs: Job[] = [];
    const moves: Move[] = [];
    for (const subscription of subscriptions.values()) {
      summary.tenants++;
      let cursor = subscription.invoicedUntil;
      for (let n = 0; n < MAX_PERIODS_PER_TENANT && !endedBy(subscription, cursor); n++) {
        const period = periodAt(subscription, plans, cursor);
        if (period.end > now || (month !== undefined && period.start >= month.end)) break;
        jobs.push({
          kind: 'finalize',
          subscription,
          period,
          rating: periodRating(subscription, plans, period),
        });
        cursor = period.end;
      }
      const nextDue = endedBy(subscription, cursor) ? null : periodAt(subscription, plans, cursor).end;
      if (
        cursor.getTime() !== subscription.invoicedUntil.getTime() ||
        nextDue?.getTime() !== subscription.nextDueAt?.getTime()
      ) {
        moves.push({ tenantId: subscription.tenantId, invoicedUntil: cursor, nextDueAt: nextDue });
      }
    }
    const checks: Check[] = [];
    for (const row of billedPeriods) {
      const subscription = subscriptions.get(row.tenant_id);
      const period = { start: row.period_start, end: row.period_end };
      const check = { tenantId: row.tenant_id, periodStart: row.period_start, read: row.checked_at };
      if (subscription === undefined || row.status === 'void') {
        // A voided period is not billed again: its late usage is not followed any more.
        checks.push({ ...check, close: true, billed: null, documentId: null });
        continue;
      }
      jobs.push({
        kind: 'recheck',
        subscription,
        period,
        rating: periodRating(subscription, plans, period),
        billed: { invoiceId: row.invoice_id, lines: row.billed as BilledLines, check },
      });
    }

    const rated = await rateJobs(db, jobs, now);
    const documents: NewDocument[] = [];
    const billedRows: Record<string, unknown>[] = [];
    const failedAt = new Map<string, Date>();
    for (const [index, job] of jobs.entries()) {
      const result = rated[index];
      const tenantId = job.subscription.tenantId;
      // A tenant's periods are finalized in order: none after one that could not be rated.
      if (job.kind === 'finalize' && failedAt.has(tenantId)) continue;
      if (result !== undefined && !result.ok) {
        summary.failed.push({
          tenant_id: tenantId,
          period: { start: job.period.start.toISOString(), end: job.period.end.toISOString() },
          code: result.error.code,
          detail: result.error.detail,
        });
        if (job.kind === 'finalize') failedAt.set(tenantId, job.period.start);
        continue;
      }
      const invoice = result?.value;
      if (job.billed !== undefined) {
        const document =
          invoice === undefined
            ? null
            : lateUsageDocument({
                tenantId,
                periodInvoiceId: job.billed.invoiceId,
                period: job.period,
                billed: job.billed.lines,
                rated: invoice,
              });
        if (document !== null) documents.push(document);
        checks.push({
          ...job.billed.check,
          close: false,
          billed: document !== null && invoice !== undefined ? billedLinesOf(invoice) : null,
          documentId: document?.id ?? null,
        });
        continue;
      }
      if (invoice === undefined) continue;
      const document: NewDocument = {
        id: documentId('invoice'),
        tenantId,
        type: 'invoice',
        reason: 'period',
        adjustsId: null,
        // Nothing to collect: a zero invoice is settled as it is issued.
        status: /^0(\.0+)?$/.test(invoice.total) ? 'paid' : 'open',
        currency: invoice.currency,
        period: job.period,
        lines: linesOfRating(invoice),
        total: invoice.total,
      };
      documents.push(document);
      billedRows.push({
        tenant_id: tenantId,
        period_start: job.period.start.toISOString(),
        period_end: job.period.end.toISOString(),
        invoice_id: document.id,
        billed: billedLinesOf(invoice),
        late_until: new Date(job.period.end.getTime() + this.#o.lateWindowMs).toISOString(),
        checked_at: now.toISOString(),
      });
    }
    // A tenant whose period could not be rated stays due at that period, to be tried again.
    const advances = moves.flatMap((m): Move[] => {
      const failed = failedAt.get(m.tenantId);
      if (failed === undefined) return [m];
      return failed.getTime() === subscriptions.get(m.tenantId)?.invoicedUntil.getTime()
        ? []
        : [{ tenantId: m.tenantId, invoicedUntil: failed, nextDueAt: failed }];
    });
    if (documents.length === 0 && advances.length === 0 && checks.length === 0) return null;

    return async () => {
      const written = await db.transaction().execute(async (tx) => {
        // Both counters first, in one order, so runs (and voids) take turns rather than deadlock.
        await sql`select name from billing_counters order by name for update`.execute(tx);
        const current = await tx
          .selectFrom('subscriptions')
          .select(['tenant_id', 'invoiced_until'])
          .where('tenant_id', 'in', ids)
          .orderBy('tenant_id')
          .forUpdate()
          .execute();
        // Another run got to these tenants first: leave them to it.
        const taken = new Set(
          current
            .filter(
              (r) => r.invoiced_until.getTime() !== subscriptions.get(r.tenant_id)?.invoicedUntil.getTime(),
            )
            .map((r) => r.tenant_id),
        );
        const locked =
          checks.length === 0
            ? []
            : await tx
                .selectFrom('billed_periods as b')
                .innerJoin('invoices as i', (join) =>
                  join.onRef('i.tenant_id', '=', 'b.tenant_id').onRef('i.id', '=', 'b.invoice_id'),
                )
                .select(['b.tenant_id', 'b.period_start', 'b.checked_at', 'i.status'])
                .where('b.tenant_id', 'in', [...new Set(checks.map((c) => c.tenantId))])
                .where(sql<boolean>`b.checked_at < b.late_until`)
                .orderBy('b.tenant_id')
                .orderBy('b.period_start')
                .forUpdate('b')
                .execute();
        const state = new Map(locked.map((r) => [`${r.tenant_id}|${r.period_start.getTime()}`, r]));
        const liveChecks = checks.filter((c) => {
          const row = state.get(`${c.tenantId}|${c.periodStart.getTime()}`);
          if (row === undefined || row.checked_at.getTime() !== c.read.getTime()) return false;
          return c.close || row.status !== 'void';
        });
        const liveAdjustments = new Set(liveChecks.map((c) => c.documentId));
        const docs = documents.filter((d) =>
          d.reason === 'period' ? !taken.has(d.tenantId) : liveAdjustments.has(d.id),
        );
        const done = await writeDocuments(tx, ctx, docs, now);
        const billed = billedRows.filter((row) => !taken.has(String(row.tenant_id)));
        if (billed.length > 0) {
          await sql`
          insert into billed_periods (tenant_id, period_start, period_end, invoice_id, billed, late_until, checked_at)
          select tenant_id, period_start, period_end, invoice_id, billed, late_until, checked_at
          from jsonb_to_recordset(${JSON.stringify(billed)}::jsonb) as x(tenant_id text, period_start timestamptz,
            period_end timestamptz, invoice_id text, billed jsonb, late_until timestamptz, checked_at timestamptz)`.execute(
            tx,
          );
        }
        // When the next invoice falls due is worked out again from the history as it is now,
        // under the lock: a plan change of another interval (which moves the anchor) or a
        // cancellation may have committed since the batch was read.
        const moving = advances.filter((m) => !taken.has(m.tenantId));
        const fresh = await loadSubscriptions(
          tx,
          moving.map((m) => m.tenantId),
        );
        await plans.load([...fresh.values()].flatMap(versionsOf));
        const subscriptionMoves = moving.map((m) => {
          const current = fresh.get(m.tenantId);
          const nextDue =
            current === undefined ||
            m.nextDueAt === null ||
            m.nextDueAt.getTime() === m.invoicedUntil.getTime()
              ? m.nextDueAt
              : endedBy(current, m.invoicedUntil)
                ? null
                : periodAt(current, plans, m.invoicedUntil).end;
          return {
            tenant_id: m.tenantId,
            invoiced_until: m.invoicedUntil.toISOString(),
            next_due_at: nextDue?.toISOString() ?? null,
          };
        });
        if (subscriptionMoves.length > 0) {
          await sql`
          update subscriptions s
          set invoiced_until = x.invoiced_until, next_due_at = x.next_due_at, updated_at = ${now}
          from jsonb_to_recordset(${JSON.stringify(subscriptionMoves)}::jsonb)
            as x(tenant_id text, invoiced_until timestamptz, next_due_at timestamptz)
          where s.tenant_id = x.tenant_id`.execute(tx);
        }
        if (liveChecks.length > 0) {
          const rows = liveChecks.map((c) => ({
            tenant_id: c.tenantId,
            period_start: c.periodStart.toISOString(),
            close: c.close,
            billed: c.billed,
          }));
          await sql`
          update billed_periods b
          set checked_at = case when x.close then b.late_until else ${now}::timestamptz end,
              billed = coalesce(x.billed, b.billed)
          from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
            as x(tenant_id text, period_start timestamptz, close boolean, billed jsonb)
          where b.tenant_id = x.tenant_id and b.period_start = x.period_start`.execute(tx);
        }
        const open = done.filter((w) => w.document.type === 'invoice' && w.document.status === 'open');
        if (open.length > 0 && this.#o.listener) {
          await this.#o.listener.invoicesFinalized(
            tx,
            open.map((w) => ({ tenantId: w.document.tenantId, invoiceId: w.document.id })),
          );
        }
        return done;
      });
      for (const w of written) {
        if (w.document.reason === 'period') summary.invoices++;
        else if (w.document.type === 'invoice') summary.late_usage_invoices++;
        else summary.credit_notes++;
      }
      const numbers = written.filter((w) => w.document.type === 'invoice').map((w) => w.number);
      const first = numbers[0];
      const last = numbers.at(-1);
      if (first !== undefined && last !== undefined) {
        summary.numbers = { first: summary.numbers?.first ?? first, last };
      }
      if (written.length > 0) this.#o.listener?.wake();
    };
  }
}

/** The plan versions a subscription's history refers to. */
export function versionsOf(subscription: SubscriptionRecord): { planId: string; version: number }[] {
  return subscription.segments.map((s) => ({ planId: s.planId, version: s.planVersion }));
}

/**
 * Rates periods of subscriptions: reads the usage of every priced meter of every period in one
 * set of queries, then rates each under its segments. `undefined` for a period with nothing
 * billable. Time-weighted levels count up to `now` at most.
 */
export async function rateJobs(
  db: Kysely<Schema> | Transaction<Schema>,
  jobs: readonly { rating: PeriodRating | null }[],
  now: Date,
): Promise<(Result<RatedInvoice, DomainError> | undefined)[]> {
  const requests: BillingUsageRequest[] = [];
  const owners: { job: number; meter: string }[] = [];
  for (const [index, job] of jobs.entries()) {
    const rating = job.rating;
    if (rating === null) continue;
    const periodSeconds =
      Math.floor(rating.period.end.getTime() / 1000) - Math.floor(rating.period.start.getTime() / 1000);
    for (const meter of rating.meters) {
      requests.push({
        tenantId: rating.tenantId,
        meter: meter.key,
        aggregation: meter.aggregation,
        unit: meter.unit,
        start: rating.usageWindow.start,
        end: rating.usageWindow.end,
        periodSeconds,
        periodMonths: rating.plan.interval === 'year' ? 12 : 1,
        now,
      });
      owners.push({ job: index, meter: meter.key });
    }
  }
  const usage = await readBillingUsage(db, requests);
  const perJob = new Map<number, Record<string, string>>();
  owners.forEach((owner, i) => {
    const quantities = perJob.get(owner.job) ?? {};
    quantities[owner.meter] = usage.totals.get(i) ?? '0';
    perJob.set(owner.job, quantities);
  });
  return jobs.map((job, index) =>
    job.rating === null
      ? undefined
      : ratePeriod({
          period: job.rating.period,
          segments: job.rating.segments,
          usage: perJob.get(index) ?? {},
        }),
  );
}
