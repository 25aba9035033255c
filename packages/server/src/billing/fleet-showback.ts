import { type DomainError, fail, ok, type Result, unknownCursor } from '@tenantry/core';
import { type Kysely, sql } from 'kysely';
import type { Schema } from '../db/index.ts';
import { type BillingMonth, monthOf } from './billing-month.ts';
import { canonicalText, minorOf, moneyOf } from './decimal-text.ts';
import { CATEGORIES, percent, type ShowbackCategory } from './showback.ts';

/** One tenant's costs in the fleet's showback: what its documents of the period add up to. */
export interface FleetShowbackTenant {
  tenant: { id: string; slug: string; name: string };
  amount: string;
  /** Percent of the fleet's total in the currency, two decimals. */
  share: string;
  /** Its period invoice, when it has one (late-usage documents and credit notes come on top). */
  invoice: { id: string; number: string } | null;
  documents: number;
}

/** The fleet's costs for the billing periods that start in one month, from finalized documents. */
export interface FleetShowback {
  period: { month: string; start: string; end: string };
  /**
   * Whether some billing periods that start in the month may not have ended yet (now is before
   * the end of the following month): those are not invoiced, so they are not counted yet.
   */
  periods_open: boolean;
  /** The currency of `total`, `totals` and `tenants`; null when the month has no document. */
  currency: string | null;
  /** Every currency the month's documents are in: the fleet's costs are added up in one at a time. */
  currencies: string[];
  total: string;
  totals: Record<ShowbackCategory, string>;
  /** How many tenants have a document of the month in the currency, and how many documents. */
  tenant_count: number;
  document_count: number;
  /** The tenants by cost, highest first (tenant id on a tie). */
  tenants: FleetShowbackTenant[];
  next_cursor: string | null;
}

/** What {@link fleetShowback} is asked. */
export interface FleetShowbackRequest {
  readonly month: BillingMonth;
  /** Unset: the month's only currency, or the one most of its documents are in. */
  readonly currency?: string | undefined;
  /** Tenants per page; undefined: every tenant (the CSV). */
  readonly limit: number | undefined;
  readonly cursor?: string | undefined;
  readonly now: Date;
}

/** A credit note takes off what an invoice adds: the documents of a period add up to what it costs. */
const signedLine = sql<string>`case when i.type = 'credit_note' then -l.amount else l.amount end`;
const signedTotal = sql<string>`case when i.type = 'credit_note' then -i.total else i.total end`;

/**
 * Showback across the fleet: for the billing periods that start in `month` (UTC), what the
 * finalized documents (period invoices, late-usage invoices, credit notes taken off) add up to,
 * by cost category and by tenant. Only finalized documents count: a period still open, or ended
 * and not invoiced yet, is not in it (each tenant's own showback previews it). Three statements,
 * each finding the month's documents (not the fleet's whole history) through the
 * `invoices_period` index: the currencies, the
 * categories (the lines, each usage line's category from its own plan version's meter), and one
 * page of tenants ranked by cost. Money is added up by Postgres in `numeric`, never in floats.
 */
export async function fleetShowback(
  db: Kysely<Schema>,
  request: FleetShowbackRequest,
): Promise<Result<FleetShowback, DomainError>> {
  const after = request.cursor === undefined ? undefined : decodeCursor(request.cursor);
  if (request.cursor !== undefined && after === undefined) {
    return unknownCursor();
  }
  const { start, end } = request.month;
  const ofMonth = db
    .selectFrom('invoices as i')
    .where('i.period_start', '>=', start)
    .where('i.period_start', '<', end);
  const currencies = await ofMonth
    .select((eb) => [
      'i.currency',
      eb.fn.count<string>('i.id').as('documents'),
      sql<string>`count(distinct i.tenant_id)`.as('tenants'),
      sql<string>`sum(${signedTotal})::text`.as('total'),
    ])
    .groupBy('i.currency')
    .orderBy(sql`count(i.id)`, 'desc')
    .orderBy('i.currency')
    .execute();
  const currency = request.currency ?? currencies[0]?.currency;
  const chosen = currencies.find((c) => c.currency === currency);
  const base = {
    period: { month: request.month.label, start: start.toISOString(), end: end.toISOString() },
    periods_open: request.now.getTime() < monthOf(end).end.getTime(),
    currencies: currencies.map((c) => c.currency),
  };
  if (chosen === undefined) {
    if (request.currency !== undefined && currencies.length > 0) {
      return fail(
        'validation_failed',
        `the periods of ${request.month.label} have no document in ${request.currency}: they are in ${base.currencies.join(', ')}`,
        { errors: [{ path: 'query.currency', message: `is none of ${base.currencies.join(', ')}` }] },
      );
    }
    const zero = moneyOf(0n, request.currency ?? 'usd');
    return ok({
      ...base,
      currency: request.currency ?? null,
      total: zero,
      totals: Object.fromEntries(CATEGORIES.map((c) => [c, zero])) as Record<ShowbackCategory, string>,
      tenant_count: 0,
      document_count: 0,
      tenants: [],
      next_cursor: null,
    });
  }
  const code = chosen.currency;
  const totalMinor = minorOf(canonicalText(chosen.total), code);

  // The lines added up per plan version and meter first, so that each plan definition (a large
  // jsonb) is read once per group rather than once per line.
  const grouped = ofMonth
    .where('i.currency', '=', code)
    .innerJoin('invoice_lines as l', (join) =>
      join.onRef('l.tenant_id', '=', 'i.tenant_id').onRef('l.invoice_id', '=', 'i.id'),
    )
    .select([
      sql<string>`l.detail->'plan'->>'key'`.as('plan'),
      sql<number>`(l.detail->'plan'->>'version')::int`.as('version'),
      sql<string | null>`case when l.kind = 'usage' then l.detail->'usage'->>'meter' end`.as('meter'),
      sql<string>`sum(${signedLine})`.as('amount'),
    ])
    .groupBy(sql`1, 2, 3`);
  const byCategory = await db
    .selectFrom(grouped.as('g'))
    .leftJoin('plans as p', 'p.key', 'g.plan')
    .leftJoin('plan_versions as pv', (join) =>
      join.onRef('pv.plan_id', '=', 'p.id').onRef('pv.version', '=', 'g.version'),
    )
    .select([
      sql<ShowbackCategory>`case when g.meter is null then 'subscription'
        else coalesce(pv.definition->'meters'->g.meter->>'category', 'other') end`.as('category'),
      sql<string>`sum(g.amount)::text`.as('amount'),
    ])
    .groupBy(sql`1`)
    .execute();
  const totals = Object.fromEntries(
    CATEGORIES.map((c) => {
      const row = byCategory.find((r) => r.category === c);
      return [c, moneyOf(row === undefined ? 0n : minorOf(canonicalText(row.amount), code), code)];
    }),
  ) as Record<ShowbackCategory, string>;

  const amount = sql<string>`sum(${signedTotal})`;
  let ranked = ofMonth
    .where('i.currency', '=', code)
    .innerJoin('tenants as t', 't.id', 'i.tenant_id')
    .select((eb) => [
      'i.tenant_id',
      't.slug',
      't.name',
      sql<string>`${amount}::text`.as('amount'),
      eb.fn.count<string>('i.id').as('documents'),
      sql<string | null>`max(i.id) filter (where i.reason = 'period')`.as('invoice_id'),
      sql<string | null>`max(i.number) filter (where i.reason = 'period')`.as('invoice_number'),
    ])
    .groupBy(['i.tenant_id', 't.slug', 't.name'])
    .orderBy(sql`${amount}`, 'desc')
    .orderBy('i.tenant_id');
  if (after !== undefined) {
    ranked = ranked.having((eb) =>
      eb.or([
        eb(sql`${amount}`, '<', sql`${after.amount}::numeric`),
        eb.and([
          eb(sql`${amount}`, '=', sql`${after.amount}::numeric`),
          eb('i.tenant_id', '>', after.tenant),
        ]),
      ]),
    );
  }
  if (request.limit !== undefined) ranked = ranked.limit(request.limit + 1);
  const rows = await ranked.execute();
  const more = request.limit !== undefined && rows.length > request.limit;
  const page = more ? rows.slice(0, request.limit) : rows;
  const last = page.at(-1);
  return ok({
    ...base,
    currency: code,
    total: moneyOf(totalMinor, code),
    totals,
    tenant_count: Number(chosen.tenants),
    document_count: Number(chosen.documents),
    tenants: page.map((row) => {
      const minor = minorOf(canonicalText(row.amount), code);
      return {
        tenant: { id: row.tenant_id, slug: row.slug, name: row.name },
        amount: moneyOf(minor, code),
        share: percent(minor, totalMinor),
        invoice:
          row.invoice_id === null || row.invoice_number === null
            ? null
            : { id: row.invoice_id, number: row.invoice_number },
        documents: Number(row.documents),
      };
    }),
    next_cursor: more && last ? encodeCursor(canonicalText(last.amount), last.tenant_id) : null,
  });
}

function encodeCursor(amount: string, tenant: string): string {
  return Buffer.from(JSON.stringify({ amount, tenant })).toString('base64url');
}

function decodeCursor(cursor: string): { amount: string; tenant: string } | undefined {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      amount?: unknown;
      tenant?: unknown;
    };
    if (typeof value.amount !== 'string' || !/^-?\d{1,30}(\.\d{1,10})?$/.test(value.amount)) return undefined;
    if (typeof value.tenant !== 'string' || !/^ten_[0-9A-Za-z]{1,64}$/.test(value.tenant)) return undefined;
    return { amount: value.amount, tenant: value.tenant };
  } catch {
    return undefined;
  }
}
