import type { QueryParams, Schemas } from '@tenantry/core/api';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { CommandContext } from '../command-context.ts';
import { fetchList } from '../fetch-list.ts';
import { integerArgument } from '../integer-argument.ts';
import { formatTime, type Output } from '../output.ts';

type Invoice = Schemas['Invoice'];
type Showback = Schemas['Showback'];

/** The settlement commands, by name: the API route's last segment, and what each takes. */
const SETTLEMENTS = {
  pay: {
    description: 'record that an invoice was paid (when Stripe does not collect it)',
    field: 'reference',
  },
  'payment-failed': { description: 'record that a payment of an invoice failed', field: 'reason' },
  void: { description: 'void an invoice; a credit note for it is issued', field: 'reason' },
  'mark-uncollectible': {
    description: 'write an invoice off as uncollectible (it may still be paid)',
    field: 'reason',
  },
} as const;

const INVOICE_ARG = ['<invoice>', 'the invoice id (inv_…, cn_…) or number (INV-000042)'] as const;

type ListQuery = QueryParams<'/v1/invoices', 'get'>;

/** The statuses `invoices list --status` takes: those the API filters on. */
const INVOICE_STATUSES = ['open', 'paid', 'void', 'uncollectible', 'issued'] as const satisfies ReadonlyArray<
  NonNullable<ListQuery['status']>
>;

/** A `YYYY-MM` option: the billing period that starts in that month. */
function month(value: string): string {
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(value)) throw new InvalidArgumentError('Expected a month, YYYY-MM.');
  return value;
}

/** Adds `invoices preview|run|list|show|pay|payment-failed|void|mark-uncollectible|showback`. */
export function invoicesCommand(parent: Command, ctx: CommandContext): Command {
  const invoices = parent.command('invoices').description('preview, finalize and settle invoices; showback');

  invoices
    .command('preview')
    .description("a draft of a tenant's invoice: the current period, or the one that starts in --period")
    .requiredOption('--tenant <tenant>', 'the tenant id (ten_…) or slug')
    .option('--period <YYYY-MM>', 'the billing period that starts in this month', month)
    .action(async (options: { tenant: string; period?: string }, command: Command) => {
      const invoice = await ctx.client(command).get('/v1/tenants/{id}/invoices/upcoming', {
        path: { id: options.tenant },
        query: { period: options.period },
      });
      const out = ctx.output(command);
      out.result(invoice, () => printInvoice(out, invoice));
    });

  invoices
    .command('run')
    .description('finalize the invoices of the billing periods that have ended (what the scheduled run does)')
    .option('--period <YYYY-MM>', 'only periods that start in this month (each must have ended)', month)
    .option('--tenant <tenant>', 'only this tenant (id or slug)')
    .action(async (options: { period?: string; tenant?: string }, command: Command) => {
      const body: { period?: string; tenant?: string } = {};
      if (options.period !== undefined) body.period = options.period;
      if (options.tenant !== undefined) body.tenant = options.tenant;
      const summary = await ctx.client(command).post('/v1/invoices/run', { body });
      const out = ctx.output(command);
      out.result(summary, () => {
        const numbers = summary.numbers ? ` (${summary.numbers.first} to ${summary.numbers.last})` : '';
        out.line(
          `${summary.invoices} invoices finalized${numbers}, ${summary.late_usage_invoices} for late usage, ${summary.credit_notes} credit notes; ${summary.tenants} tenants looked at`,
        );
        for (const f of summary.failed)
          out.line(`not invoiced: ${f.tenant_id} from ${formatTime(f.period.start)}: ${f.detail}`);
      });
    });

  invoices
    .command('list')
    .description('list invoices and credit notes, newest first')
    .option('--tenant <tenant>', 'only this tenant (id or slug)')
    .addOption(
      new Option('--status <status>', 'only invoices in this status (issued: credit notes)').choices(
        INVOICE_STATUSES,
      ),
    )
    .option('--limit <n>', 'rows per page (1 to 100)', integerArgument(1, 100))
    .option('--cursor <cursor>', 'continue after a previous page')
    .option('--all', 'follow every page')
    .action(
      async (
        options: {
          tenant?: string;
          status?: ListQuery['status'];
          limit?: number;
          cursor?: string;
          all?: boolean;
        },
        command: Command,
      ) => {
        const list = await fetchList(
          ctx.client(command),
          '/v1/invoices',
          {
            query: {
              tenant: options.tenant,
              status: options.status,
              limit: options.limit,
              cursor: options.cursor,
            },
          },
          options.all === true,
        );
        const out = ctx.output(command);
        out.result(list.raw, () => {
          out.table(
            list.rows,
            [
              { header: 'NUMBER', value: (i) => i.number ?? '-' },
              { header: 'TENANT', value: (i) => i.tenant.slug },
              {
                header: 'PERIOD',
                value: (i) => `${formatTime(i.period.start)} → ${formatTime(i.period.end)}`,
              },
              { header: 'STATUS', value: (i) => i.status },
              { header: 'TOTAL', value: (i) => `${i.total} ${i.currency.toUpperCase()}` },
              { header: 'DUE', value: (i) => i.amount_due },
            ],
            'no invoices',
          );
          if (list.nextCursor) out.line(`more: --cursor ${list.nextCursor}`);
        });
      },
    );

  invoices
    .command('show')
    .description('show an invoice or credit note with its lines')
    .argument(...INVOICE_ARG)
    .action(async (ref: string, _options: unknown, command: Command) => {
      const invoice = await ctx.client(command).get('/v1/invoices/{id}', { path: { id: ref } });
      const out = ctx.output(command);
      out.result(invoice, () => printInvoice(out, invoice));
    });

  for (const [name, { description, field }] of Object.entries(SETTLEMENTS) as Array<
    [keyof typeof SETTLEMENTS, (typeof SETTLEMENTS)[keyof typeof SETTLEMENTS]]
  >) {
    invoices
      .command(name)
      .description(description)
      .argument(...INVOICE_ARG)
      .option(`--${field} <text>`, field === 'reference' ? "the payment's reference" : 'why')
      .action(async (ref: string, options: Record<string, string | undefined>, command: Command) => {
        const value = options[field];
        const invoice = await ctx.client(command).post(`/v1/invoices/{id}/${name}` as const, {
          path: { id: ref },
          body: value === undefined ? {} : { [field]: value },
        });
        const out = ctx.output(command);
        out.result(invoice, () => {
          const credit = invoice.credit_note ? `; credit note ${invoice.credit_note.number} issued` : '';
          out.line(`${invoice.number ?? ref} is ${invoice.status}, ${invoice.amount_due} due${credit}`);
        });
      });
  }

  invoices
    .command('showback')
    .description("a tenant's costs for a period, broken down, with its top consumers")
    .requiredOption('--tenant <tenant>', 'the tenant id (ten_…) or slug')
    .option(
      '--period <YYYY-MM>',
      'the billing period that starts in this month (default: the current one)',
      month,
    )
    .option('--top <n>', 'consumers listed by name (default 10)', integerArgument(1, 1000))
    .option('--csv', 'print CSV (the API also answers it: format=csv)')
    .action(
      async (options: { tenant: string; period?: string; top?: number; csv?: boolean }, command: Command) => {
        const path = '/v1/tenants/{id}/showback';
        const request = { path: { id: options.tenant }, query: { period: options.period, top: options.top } };
        const out = ctx.output(command);
        if (options.csv === true && !out.json) {
          // The control plane writes the CSV: one writer of it, whoever asks.
          ctx.io.stdout.write(await ctx.client(command).getText(path, 'text/csv', request));
          return;
        }
        const report = await ctx.client(command).get(path, request);
        out.result(report, () => printShowback(out, report));
      },
    );

  return invoices;
}

function printInvoice(out: Output, invoice: Invoice): void {
  const title = invoice.object === 'credit_note' ? 'credit note' : 'invoice';
  out.fields([
    [title, invoice.number ?? '(draft)'],
    ['status', invoice.status],
    ['tenant', `${invoice.tenant.slug} (${invoice.tenant.id})`],
    ['period', `${formatTime(invoice.period.start)} → ${formatTime(invoice.period.end)}`],
    ['adjusts', invoice.adjusts?.number],
    ['credit note', invoice.credit_note?.number],
    ['issued', invoice.issued_at === null ? undefined : formatTime(invoice.issued_at)],
    ['paid', invoice.paid_at === null ? undefined : formatTime(invoice.paid_at)],
  ]);
  out.line();
  const rows = invoice.lines.flatMap((line) => [
    {
      description: line.description,
      quantity: line.quantity,
      unit: line.unit_amount ?? 'tiers',
      proration: line.proration ? `${line.proration.seconds}/${line.proration.period_seconds} s` : '',
      amount: line.amount,
    },
    ...(line.tiers ?? []).map((tier) => ({
      description: `  tier ${tier.tier} (${tier.up_to === null ? 'no upper bound' : `up to ${tier.up_to}`})`,
      quantity: tier.quantity,
      unit: /^0(\.0+)?$/.test(tier.flat_amount)
        ? tier.unit_amount
        : `${tier.unit_amount} + ${tier.flat_amount}`,
      proration: '',
      amount: tier.amount,
    })),
  ]);
  out.table(
    rows,
    [
      { header: 'DESCRIPTION', value: (r) => r.description },
      { header: 'QUANTITY', value: (r) => r.quantity },
      { header: 'UNIT PRICE', value: (r) => r.unit },
      { header: 'PRORATION', value: (r) => r.proration },
      { header: 'AMOUNT', value: (r) => r.amount },
    ],
    'no lines',
  );
  out.line();
  out.fields([
    ['total', `${invoice.total} ${invoice.currency.toUpperCase()}`],
    ['amount due', invoice.amount_due],
  ]);
}

function printShowback(out: Output, report: Showback): void {
  out.fields([
    ['tenant', report.tenant.slug],
    ['period', `${formatTime(report.period.start)} → ${formatTime(report.period.end)}`],
    ['source', report.source],
    ['total', `${report.total} ${report.currency.toUpperCase()}`],
  ]);
  out.line();
  out.table(
    report.lines,
    [
      { header: 'CATEGORY', value: (l) => l.category },
      { header: 'DESCRIPTION', value: (l) => l.description },
      { header: 'QUANTITY', value: (l) => l.quantity },
      { header: 'UNIT PRICE', value: (l) => l.unit_amount ?? 'tiers' },
      { header: 'AMOUNT', value: (l) => l.amount },
    ],
    'nothing charged',
  );
  out.line();
  const consumers = [
    ...report.consumers.map((c) => ({
      subject: c.subject || '(none)',
      amount: c.amount,
      share: `${c.share}%`,
    })),
    ...(report.other_consumers
      ? [
          {
            subject: `(${report.other_consumers.count} more)`,
            amount: report.other_consumers.amount,
            share: `${report.other_consumers.share}%`,
          },
        ]
      : []),
  ];
  out.table(
    consumers,
    [
      { header: 'CONSUMER', value: (c) => c.subject },
      { header: 'AMOUNT', value: (c) => c.amount },
      { header: 'SHARE', value: (c) => c.share },
    ],
    'no usage by subject',
  );
}
