import { CURRENCIES, type Currency, type DomainError, METER_CATEGORIES, type Result } from '@tenantry/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  conflict,
  notFound,
  PageQuery,
  pageOf,
  replyProblem,
  sendProblem,
  Timestamp,
  wantsCsv,
} from '../http/index.ts';
import type { Services } from '../services.ts';
import { BILLING_MONTH, type BillingMonth, monthOf, parseBillingMonth } from './billing-month.ts';
import { fleetShowback } from './fleet-showback.ts';
import { INVOICE_ACTIONS, type InvoiceAction } from './invoice-actions.ts';
import { invoiceHtml } from './invoice-html.ts';
import { invoicePdf } from './invoice-pdf.ts';
import type { InvoiceView } from './invoice-view.ts';
import { showback } from './showback.ts';
import { fleetShowbackCsv, showbackCsv } from './showback-csv.ts';

const Money = z.string().describe('Decimal in major units with the currency’s digits, e.g. "343.00"');
const Month = z
  .string()
  .regex(BILLING_MONTH, 'must be a month written YYYY-MM, e.g. 2026-11')
  .describe('The billing period that starts in this month (UTC), `YYYY-MM`');
const IsoPeriod = z.object({ start: Timestamp, end: Timestamp });
const Ref = z.object({ id: z.string(), number: z.string() });

const InvoiceLine = z.object({
  key: z.string(),
  kind: z.string().describe('flat, per_seat, usage or minimum'),
  price_key: z.string(),
  description: z.string(),
  period: IsoPeriod,
  quantity: z.string(),
  unit_amount: z.string().nullable(),
  amount: Money.describe('Negative only on a late-usage document, for a line that went down'),
  tiers: z
    .array(
      z.object({
        tier: z.number().int(),
        up_to: z.number().nullable(),
        quantity: z.string(),
        unit_amount: z.string(),
        flat_amount: z.string(),
        amount: z.string(),
      }),
    )
    .nullable(),
  usage: z
    .object({
      meter: z.string(),
      usage: z.string(),
      included: z.number(),
      billable: z.string(),
      package_size: z.number().nullable(),
      tiers_mode: z.string().nullable(),
    })
    .nullable(),
  proration: z.object({ seconds: z.number().int(), period_seconds: z.number().int() }).nullable(),
  minimum: z.object({ commitment: z.string(), charges: z.string() }).nullable(),
  plan: z.object({ key: z.string(), version: z.number().int() }),
  adjustment: z
    .object({
      previous_quantity: z.string().nullable(),
      previous_amount: z.string(),
      rated_amount: z.string(),
    })
    .nullable(),
});

export const Invoice = z
  .object({
    id: z.string().nullable().describe('`inv_…` or `cn_…`; null on a draft'),
    object: z.enum(['invoice', 'credit_note']),
    number: z
      .string()
      .nullable()
      .describe('`INV-000042`, `CN-000007`: sequential without gaps; null on a draft'),
    status: z.enum(['draft', 'open', 'paid', 'void', 'uncollectible', 'issued']),
    reason: z.enum(['period', 'late_usage', 'void']),
    tenant: z.object({ id: z.string(), slug: z.string(), name: z.string() }),
    adjusts: Ref.nullable(),
    credit_note: Ref.nullable(),
    currency: z.string(),
    period: IsoPeriod,
    lines: z.array(InvoiceLine),
    subtotal: Money,
    total: Money,
    amount_due: Money,
    issued_at: Timestamp.nullable(),
    paid_at: Timestamp.nullable(),
    voided_at: Timestamp.nullable(),
    marked_uncollectible_at: Timestamp.nullable(),
    payment: z.object({
      reference: z.string().nullable(),
      failures: z.number().int(),
      last_failure: z.string().nullable(),
      last_failed_at: Timestamp.nullable(),
    }),
    allowed_actions: z.array(z.enum(INVOICE_ACTIONS)),
  })
  .meta({ id: 'Invoice' });

const Subscription = z
  .object({
    tenant_id: z.string(),
    started_at: Timestamp,
    billing_starts_at: Timestamp.describe('The end of the trial, or the start: nothing before is charged'),
    ended_at: Timestamp.nullable().describe('When the subscription was cancelled'),
    current_period: IsoPeriod,
    invoiced_until: Timestamp,
    next_invoice_at: Timestamp.nullable(),
    segments: z.array(
      z.object({
        from: Timestamp,
        to: Timestamp.nullable(),
        plan: z.object({ id: z.string(), key: z.string(), version: z.number().int() }),
        seats: z.number().int(),
      }),
    ),
  })
  .meta({ id: 'Subscription' });

const RunSummary = z
  .object({
    tenants: z.number().int(),
    invoices: z.number().int(),
    late_usage_invoices: z.number().int(),
    credit_notes: z.number().int(),
    numbers: z.object({ first: z.string(), last: z.string() }).nullable(),
    failed: z.array(
      z.object({ tenant_id: z.string(), period: IsoPeriod, code: z.string(), detail: z.string() }),
    ),
  })
  .meta({ id: 'InvoiceRun' });

const ShowbackCategory = z
  .enum(['subscription', ...METER_CATEGORIES])
  .describe("`subscription`, or a usage line's meter category as the plan file sets it (`other` when unset)");

const ShowbackLine = z.object({
  category: ShowbackCategory,
  description: z.string(),
  meter: z.string().nullable(),
  quantity: z.string(),
  unit_amount: z.string().nullable(),
  amount: Money,
});

const Showback = z
  .object({
    tenant: z.object({ id: z.string(), slug: z.string(), name: z.string() }),
    period: IsoPeriod,
    currency: z.string(),
    source: z.enum(['invoice', 'preview']),
    invoice: Ref.nullable(),
    total: Money,
    totals: z
      .object(Object.fromEntries(ShowbackCategory.options.map((category) => [category, Money])))
      .describe('Each category added up'),
    lines: z.array(ShowbackLine),
    consumers: z.array(
      z.object({
        subject: z.string(),
        amount: Money,
        share: z.string().describe('Percent of the usage charges (every category but subscription)'),
        usage: z.array(
          z.object({
            meter: z.string(),
            description: z.string(),
            quantity: z.string(),
            amount: Money,
            share: z.string().describe('Percent of the line’s usage'),
          }),
        ),
      }),
    ),
    other_consumers: z.object({ count: z.number().int(), amount: Money, share: z.string() }).nullable(),
  })
  .meta({ id: 'Showback' });

const FleetShowback = z
  .object({
    period: z.object({ month: z.string(), start: Timestamp, end: Timestamp }),
    periods_open: z
      .boolean()
      .describe(
        'Whether some periods that start in the month may not have ended yet: they are not invoiced, so not counted yet',
      ),
    currency: z
      .string()
      .nullable()
      .describe('The currency of the amounts; null when the month has no document'),
    currencies: z.array(z.string()).describe("Every currency the month's documents are in"),
    total: Money,
    totals: z
      .object(Object.fromEntries(ShowbackCategory.options.map((category) => [category, Money])))
      .describe('Each category added up over the fleet'),
    tenant_count: z.number().int(),
    document_count: z.number().int(),
    tenants: z.array(
      z.object({
        tenant: z.object({ id: z.string(), slug: z.string(), name: z.string() }),
        amount: Money,
        share: z.string().describe("Percent of the fleet's total in the currency"),
        invoice: Ref.nullable().describe("The tenant's period invoice"),
        documents: z.number().int(),
      }),
    ),
    next_cursor: z.string().nullable(),
  })
  .meta({ id: 'FleetShowback' });

const TenantParams = z.object({ id: z.string().describe('Tenant id (`ten_…`) or slug') });
const TenantInvoiceParams = TenantParams.extend({
  invoice_id: z.string().describe('Invoice id (`inv_…`, `cn_…`) or number (`INV-000042`)'),
});
const InvoiceParams = z.object({
  id: z.string().describe('Invoice id (`inv_…`, `cn_…`) or number (`INV-000042`)'),
});
const ListFilter = PageQuery.extend({
  status: z.enum(['open', 'paid', 'void', 'uncollectible', 'issued']).optional(),
  object: z.enum(['invoice', 'credit_note']).optional(),
  period: Month.optional().describe(
    'Only the documents of the billing periods that start in this month (UTC), `YYYY-MM`',
  ),
});
const PeriodQuery = z.strictObject({ period: Month.optional() });
const ShowbackQuery = z.strictObject({
  period: Month.optional(),
  top: z.coerce.number().int().min(1).max(1000).default(10).describe('Consumers listed by name'),
  format: z.enum(['json', 'csv']).optional().describe('Or send `Accept: text/csv`'),
});
const FleetShowbackQuery = z.strictObject({
  period: Month.optional().describe('Default: the month before the current one (UTC)'),
  // The closed list Tenantry bills in: a code outside it can have no document, and its amounts
  // (even zero) could not be written with the currency's digits.
  currency: z
    .enum(Object.keys(CURRENCIES) as [Currency, ...Currency[]])
    .optional()
    .describe("Default: the month's only currency, or the one most of its documents are in"),
  limit: z.coerce.number().int().min(1).max(100).optional().describe('Tenants per page, 1 to 100 (20)'),
  cursor: z.string().min(1).optional().describe('The `next_cursor` of the previous page'),
  format: z
    .enum(['json', 'csv'])
    .optional()
    .describe('Or send `Accept: text/csv`: every tenant, without `limit` and `cursor`'),
});
const RunBody = z
  .strictObject({
    period: Month.optional().describe(
      'Finalize only the periods that start in this month (and earlier ones not yet invoiced); each must have ended',
    ),
    tenant: z.string().min(1).max(200).optional().describe('One tenant (id or slug); all when left out'),
  })
  .nullish();
const Text = z.string().min(1).max(1000);
const PayBody = z.strictObject({ reference: Text.optional().describe('The payment’s reference') }).nullish();
const ReasonBody = z.strictObject({ reason: Text.optional() }).nullish();

/** The settlement routes: `/v1/invoices/{id}/<segment>`. */
const SETTLEMENTS: Record<
  string,
  { action: InvoiceAction; operationId: string; summary: string; body: 'pay' | 'reason' }
> = {
  pay: { action: 'pay', operationId: 'payInvoice', summary: 'Record that an invoice was paid', body: 'pay' },
  'payment-failed': {
    action: 'payment_failed',
    operationId: 'failInvoicePayment',
    summary: 'Record that a payment of an invoice failed',
    body: 'reason',
  },
  void: {
    action: 'void',
    operationId: 'voidInvoice',
    summary: 'Void an invoice; a credit note for it is issued',
    body: 'reason',
  },
  'mark-uncollectible': {
    action: 'mark_uncollectible',
    operationId: 'markInvoiceUncollectible',
    summary: 'Write an invoice off as uncollectible (it may still be paid)',
    body: 'reason',
  },
};

function month(text: string | undefined): BillingMonth | undefined {
  return text === undefined ? undefined : (parseBillingMonth(text) ?? undefined);
}

/**
 * What the client asks for: a PDF (`Accept: application/pdf`), an HTML page (`Accept: text/html`,
 * as a browser does) or, otherwise, JSON.
 */
function wanted(request: FastifyRequest): 'pdf' | 'html' | 'json' {
  const accept = String(request.headers.accept ?? '');
  if (/\bapplication\/pdf\b/.test(accept)) return 'pdf';
  return /\btext\/html\b/.test(accept) ? 'html' : 'json';
}

function sendInvoice(request: FastifyRequest, reply: FastifyReply, result: Result<InvoiceView, DomainError>) {
  if (!result.ok) return sendProblem(reply, result.error);
  const media = wanted(request);
  if (media === 'json') return reply.send(result.value);
  if (media === 'pdf') {
    // The number names the file; a draft (the upcoming invoice) has none yet.
    const name = result.value.number ?? `upcoming-${result.value.tenant.slug}`;
    return (
      reply
        .type('application/pdf')
        .header('content-disposition', `attachment; filename="${name}.pdf"`)
        // A Buffer is sent as it is, never through the JSON serializer.
        .send(invoicePdf(result.value))
    );
  }
  return reply
    .type('text/html; charset=utf-8')
    .serializer((payload: unknown) => String(payload))
    .send(invoiceHtml(result.value));
}

const HTML_NOTE =
  'With `Accept: text/html` the answer is a printable HTML page of the invoice; with `Accept: application/pdf`, a PDF of it.';

/** The answer of the routes that show one invoice: JSON, or an HTML page or a PDF when asked for. */
const InvoiceOrPage = {
  description: 'The invoice, as JSON, as a printable HTML page or as a PDF',
  content: {
    'application/json': { schema: Invoice },
    'text/html': { schema: z.string() },
    'application/pdf': { schema: z.string().describe('The PDF file (binary)') },
  },
};

/** `/v1/invoices…` and `/v1/tenants/{id}/invoices|showback|subscription`: billing. */
export const invoiceRoutes: FastifyPluginAsyncZod<Pick<Services, 'invoices' | 'database' | 'clock'>> = async (
  app,
  services,
) => {
  const { invoices } = services;

  app.get(
    '/tenants/:id/subscription',
    {
      config: { scope: 'billing:read', permission: 'billing:read' },
      schema: {
        tags: ['Billing'],
        operationId: 'getTenantSubscription',
        summary: "A tenant's subscription: start and cancel dates, and the history of its plan and seats",
        params: TenantParams,
        response: { 200: Subscription, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await invoices.subscription(request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/tenants/:id/invoices/upcoming',
    {
      config: { scope: 'billing:read', permission: 'billing:read' },
      schema: {
        tags: ['Billing'],
        operationId: 'previewInvoice',
        summary:
          "Preview a tenant's invoice: a draft for the current period, or for the one that starts in `period`",
        description: `The recurring prices as the subscription stands and the usage recorded so far; nothing is stored. ${HTML_NOTE}`,
        params: TenantParams,
        querystring: PeriodQuery,
        response: { 200: InvoiceOrPage, ...notFound, ...conflict },
      },
    },
    async (request, reply) =>
      sendInvoice(request, reply, await invoices.preview(request.params.id, month(request.query.period))),
  );

  app.get(
    '/tenants/:id/invoices',
    {
      config: { scope: 'billing:read', permission: 'billing:read' },
      schema: {
        tags: ['Billing'],
        operationId: 'listTenantInvoices',
        summary: "List a tenant's invoices and credit notes, newest first",
        description:
          'Newest first, as Stripe lists them: by `issued_at`, then `id` among documents issued at the same moment. `next_cursor` reads on to older ones.',
        params: TenantParams,
        querystring: ListFilter,
        response: { 200: pageOf(Invoice), ...notFound },
      },
    },
    async (request, reply) => {
      const { limit, cursor, status, object, period } = request.query;
      const result = await invoices.list(
        { tenant: request.params.id, status, object, period: month(period) },
        { limit, cursor },
      );
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/tenants/:id/invoices/:invoice_id',
    {
      config: { scope: 'billing:read', permission: 'billing:read' },
      schema: {
        tags: ['Billing'],
        operationId: 'getTenantInvoice',
        summary: "Show one of a tenant's invoices or credit notes",
        description: HTML_NOTE,
        params: TenantInvoiceParams,
        response: { 200: InvoiceOrPage, ...notFound },
      },
    },
    async (request, reply) =>
      sendInvoice(request, reply, await invoices.get(request.params.invoice_id, request.params.id)),
  );

  app.get(
    '/tenants/:id/showback',
    {
      config: { scope: 'billing:read', permission: 'billing:read' },
      schema: {
        tags: ['Billing'],
        operationId: 'getTenantShowback',
        summary: "A tenant's costs for a period, broken down, with its top consumers",
        description:
          'From the final invoice when the period has one, from a preview otherwise. CSV with `format=csv` or `Accept: text/csv`.',
        params: TenantParams,
        querystring: ShowbackQuery,
        response: {
          200: {
            description: 'The showback, as JSON or as CSV',
            content: { 'application/json': { schema: Showback }, 'text/csv': { schema: z.string() } },
          },
          ...notFound,
          ...conflict,
        },
      },
    },
    async (request, reply) => {
      const result = await showback(services.database.db, invoices, request.params.id, {
        month: month(request.query.period),
        top: request.query.top,
        now: services.clock.now(),
      });
      if (!result.ok) return sendProblem(reply, result.error);
      if (!wantsCsv(request.query.format, request.headers.accept)) return result.value;
      const name = `showback-${result.value.tenant.slug}-${result.value.period.start.slice(0, 10)}.csv`;
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="${name}"`)
        .serializer((payload: unknown) => String(payload))
        .send(showbackCsv(result.value) as never);
    },
  );

  app.get(
    '/showback',
    {
      config: { scope: 'billing:read' },
      schema: {
        tags: ['Billing'],
        operationId: 'getFleetShowback',
        summary: "The fleet's costs for a month's billing periods, by category and by tenant",
        description:
          'From finalized documents only (period invoices and late-usage invoices, credit notes taken off): a ' +
          'period still open, or ended and not invoiced yet, is not counted (`periods_open` says the month may ' +
          "have some; a tenant's own showback previews it). The tenants come by cost, highest first, a page at a " +
          'time. CSV with `format=csv` or `Accept: text/csv`, holding every tenant.',
        querystring: FleetShowbackQuery,
        response: {
          200: {
            description: "The fleet's showback, as JSON or as CSV",
            content: { 'application/json': { schema: FleetShowback }, 'text/csv': { schema: z.string() } },
          },
        },
      },
    },
    async (request, reply) => {
      const { period, currency, limit, cursor, format } = request.query;
      const csv = wantsCsv(format, request.headers.accept);
      if (csv && (limit !== undefined || cursor !== undefined)) {
        return replyProblem(
          reply,
          'validation_failed',
          'the CSV holds every tenant: leave limit and cursor out',
          [{ path: limit === undefined ? 'query.cursor' : 'query.limit', message: 'is not taken with CSV' }],
        );
      }
      const now = services.clock.now();
      const result = await fleetShowback(services.database.db, {
        // By default the month before now's: the latest whose periods have all begun, and mostly been invoiced.
        month: month(period) ?? monthOf(now, -1),
        currency,
        limit: csv ? undefined : (limit ?? 20),
        cursor,
        now,
      });
      if (!result.ok) return sendProblem(reply, result.error);
      if (!csv) return result.value;
      return reply
        .type('text/csv; charset=utf-8')
        .header(
          'content-disposition',
          `attachment; filename="showback-fleet-${result.value.period.month}.csv"`,
        )
        .serializer((payload: unknown) => String(payload))
        .send(fleetShowbackCsv(result.value) as never);
    },
  );

  app.get(
    '/invoices',
    {
      config: { scope: 'billing:read' },
      schema: {
        tags: ['Billing'],
        operationId: 'listInvoices',
        summary: 'List invoices and credit notes, newest first',
        description:
          'Newest first, as Stripe lists them: by `issued_at`, then `id` among documents issued at the same moment. `next_cursor` reads on to older ones.',
        querystring: ListFilter.extend({ tenant: z.string().optional().describe('Tenant id or slug') }),
        response: { 200: pageOf(Invoice) },
      },
    },
    async (request, reply) => {
      const { limit, cursor, period, ...filter } = request.query;
      const result = await invoices.list({ ...filter, period: month(period) }, { limit, cursor });
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/invoices/:id',
    {
      config: { scope: 'billing:read' },
      schema: {
        tags: ['Billing'],
        operationId: 'getInvoice',
        summary: 'Show an invoice or credit note',
        description: HTML_NOTE,
        params: InvoiceParams,
        response: { 200: InvoiceOrPage, ...notFound },
      },
    },
    async (request, reply) => sendInvoice(request, reply, await invoices.get(request.params.id)),
  );

  app.post(
    '/invoices/run',
    {
      config: { scope: 'billing:write' },
      schema: {
        tags: ['Billing'],
        operationId: 'runInvoices',
        summary: 'Finalize the invoices of the billing periods that have ended',
        description:
          'What the scheduled run does at each period end, on demand. Idempotent: a period is invoiced once. Usage that came (or was voided) after a period was invoiced is settled with an invoice or credit note for the difference.',
        body: RunBody,
        response: { 200: RunSummary, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await invoices.run(request.ctx, {
        month: month(request.body?.period),
        tenant: request.body?.tenant,
      });
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  for (const [segment, { action, operationId, summary, body }] of Object.entries(SETTLEMENTS)) {
    app.post(
      `/invoices/:id/${segment}`,
      {
        config: { scope: 'billing:write' },
        schema: {
          tags: ['Billing'],
          operationId,
          summary,
          description:
            'A transition the invoice cannot make from its status is refused with 409 `illegal_invoice_transition`.',
          params: InvoiceParams,
          body: body === 'pay' ? PayBody : ReasonBody,
          response: { 200: Invoice, ...notFound, ...conflict },
        },
      },
      async (request, reply) => {
        const input = (request.body ?? {}) as { reference?: string; reason?: string };
        const result = await invoices.settle(request.ctx, request.params.id, action, input);
        return result.ok ? result.value : sendProblem(reply, result.error);
      },
    );
  }
};
