import { CompiledQuery, type KyselyPlugin, sql, type Transaction } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyBillingPlans,
  billedTenant,
  billingState,
  ingest,
  invoicesOf,
  runInvoices,
  setClock,
} from '../../test/billing-support.ts';
import { backend, startTestApp, type TestApp } from '../../test/harness.ts';
import type { Schema } from '../db/index.ts';
import { JobQueue } from '../jobs/index.ts';
import { InvoiceService } from './invoice-service.ts';
import type { PaymentEvents } from './payment-events.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
  await applyBillingPlans(t);
});
afterAll(() => t.close());

const LATE_WINDOW_MS = 35 * 86_400_000;

/** A tenant on Starter (19.00 + 10.00 per seat, CPU hours at 0.05) invoiced for November 2026. */
async function novemberInvoice(cpuHours = 100, seats = 1): Promise<{ tenant: any; invoice: any }> {
  setClock(t, '2026-11-01T00:00:00Z');
  const tenant = await billedTenant(t, { plan: 'starter', seats });
  setClock(t, '2026-11-30T00:00:00Z');
  if (cpuHours > 0) {
    await ingest(t, tenant.id, [
      { id: 'nov-1', meter: 'cpu_hours', value: cpuHours, time: '2026-11-10T10:00:00Z', subject: 'ana' },
    ]);
  }
  setClock(t, '2026-12-01T00:00:00Z');
  await runInvoices(t, { tenant: tenant.id });
  const [invoice] = await invoicesOf(t, tenant.id);
  return { tenant, invoice };
}

function problem(
  response: { status: number; body: any; headers: Record<string, unknown> },
  status: number,
  code: string,
) {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(String(response.headers['content-type'])).toContain('application/problem+json');
  expect(response.body.code).toBe(code);
  return response.body;
}

/** PaymentEvents that records each call, with the invoice's status as the caller's transaction sees it. */
class RecordingPayments implements PaymentEvents {
  readonly calls: { kind: string; tenantId: string; invoiceId: string; statusInTransaction: string }[] = [];
  failure: Error | null = null;

  paymentFailed(
    tx: Transaction<Schema>,
    e: { tenantId: string; invoiceId: string; now: Date },
  ): Promise<void> {
    return this.#record('failed', tx, e);
  }

  paymentSucceeded(
    tx: Transaction<Schema>,
    e: { tenantId: string; invoiceId: string; now: Date },
  ): Promise<void> {
    return this.#record('succeeded', tx, e);
  }

  invoiceClosed(
    tx: Transaction<Schema>,
    e: { tenantId: string; invoiceId: string; now: Date; as: 'void' | 'uncollectible' },
  ): Promise<void> {
    return this.#record(`closed as ${e.as}`, tx, e);
  }

  async #record(
    kind: string,
    tx: Transaction<Schema>,
    { tenantId, invoiceId }: { tenantId: string; invoiceId: string },
  ) {
    const e = { tenantId, invoiceId };
    const row = await tx
      .selectFrom('invoices')
      .select(['status', 'payment_failures'])
      .where('tenant_id', '=', e.tenantId)
      .where('id', '=', e.invoiceId)
      .executeTakeFirstOrThrow();
    this.calls.push({ kind, ...e, statusInTransaction: `${row.status}/${row.payment_failures}` });
    if (this.failure) throw this.failure;
  }
}

function recordingService(payments: PaymentEvents, db = t.services.database.db): InvoiceService {
  return new InvoiceService({
    db,
    clock: t.clock,
    jobs: new JobQueue(db, t.clock),
    payments,
    lateWindowMs: LATE_WINDOW_MS,
  });
}

describe(`invoices (${backend})`, () => {
  it('numbers every invoice of a run in sequence, audits it and announces it', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const tenants = [];
    for (let i = 0; i < 3; i++) tenants.push(await billedTenant(t, { plan: 'starter', seats: i + 1 }));
    const counter = await t.services.database.db
      .selectFrom('billing_counters')
      .select('value')
      .where('name', '=', 'invoice')
      .executeTakeFirstOrThrow();
    setClock(t, '2026-12-01T00:00:00Z');
    const run = await runInvoices(t);
    expect(run.failed).toEqual([]);
    expect(run.invoices).toBeGreaterThanOrEqual(3);
    const numbers: string[] = [];
    for (const tenant of tenants) {
      const [invoice] = await invoicesOf(t, tenant.id);
      numbers.push(invoice.number);
      const audit = await t.services.database.db
        .selectFrom('audit_events')
        .selectAll()
        .where('target_id', '=', invoice.id)
        .execute();
      expect(audit.map((a) => a.action)).toEqual(['invoice.finalized']);
      const events = await t.services.database.db
        .selectFrom('domain_events')
        .selectAll()
        .where('tenant_id', '=', tenant.id)
        .where('type', '=', 'invoice.finalized')
        .execute();
      expect(events).toHaveLength(1);
      expect(events[0]?.data).toMatchObject({
        invoice: invoice.id,
        number: invoice.number,
        total: invoice.total,
      });
    }
    const values = numbers.map((n) => Number(n.slice(4))).sort((a, b) => a - b);
    const first = values[0] ?? 0;
    expect(first).toBeGreaterThan(Number(counter.value));
    expect(values).toEqual([first, first + 1, first + 2]);
  });

  it('gives numbers without gaps or repeats when two runs race over many tenants', async () => {
    setClock(t, '2027-03-01T00:00:00Z');
    for (let i = 0; i < 24; i++) await billedTenant(t, { plan: 'team', seats: 1 });
    setClock(t, '2027-04-01T00:00:00Z');
    const db = t.services.database.db;
    const before = await db
      .selectFrom('billing_counters')
      .select('value')
      .where('name', '=', 'invoice')
      .executeTakeFirstOrThrow();
    const make = () =>
      new InvoiceService({
        db,
        clock: t.clock,
        jobs: new JobQueue(db, t.clock),
        payments: new RecordingPayments(),
        lateWindowMs: LATE_WINDOW_MS,
        batchSize: 5,
      });
    const ctx = { actor: { type: 'system' as const, id: 'test' }, requestId: null, sourceIp: null };
    const [a, b] = await Promise.all([make().run(ctx, {}), make().run(ctx, {})]);
    expect(a.ok && b.ok).toBe(true);
    const after = await db
      .selectFrom('billing_counters')
      .select('value')
      .where('name', '=', 'invoice')
      .executeTakeFirstOrThrow();
    const issued = await db
      .selectFrom('invoices')
      .select('number')
      .where('type', '=', 'invoice')
      .where('issued_at', '=', t.clock.now())
      .execute();
    const numbers = issued.map((r) => Number(r.number.slice(4))).sort((x, y) => x - y);
    expect(numbers.length).toBe(Number(after.value) - Number(before.value));
    expect(numbers).toEqual(numbers.map((_, i) => Number(before.value) + 1 + i));
    const perPeriod = await sql<{ n: number }>`
      select count(*)::int as n from invoices where reason = 'period'
      group by tenant_id, period_start having count(*) > 1`.execute(db);
    expect(perPeriod.rows).toEqual([]);
  });

  it('keeps a final invoice as it was: the database refuses to change its amounts or lines', async () => {
    const { invoice } = await novemberInvoice(10);
    const db = t.services.database.db;
    await expect(sql`update invoices set total = 1 where id = ${invoice.id}`.execute(db)).rejects.toThrow(
      /final/,
    );
    await expect(
      sql`update invoice_lines set amount = 0 where invoice_id = ${invoice.id}`.execute(db),
    ).rejects.toThrow(/final/);
    await expect(sql`delete from invoice_lines where invoice_id = ${invoice.id}`.execute(db)).rejects.toThrow(
      /final/,
    );
    await expect(sql`delete from invoices where id = ${invoice.id}`.execute(db)).rejects.toThrow(/final/);
    const shown = await t.request({ method: 'GET', url: `/v1/invoices/${invoice.id}` });
    expect(shown.body).toEqual(invoice);
  });

  it('rates the same events under the same plan version to the same amounts, to the last line', async () => {
    const { tenant, invoice } = await novemberInvoice(123.45, 3);
    const again = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/invoices/upcoming?period=2026-11`,
    });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    const strip = (lines: any[]) => lines.map(({ adjustment: _, ...line }) => line);
    expect(strip(again.body.lines)).toEqual(strip(invoice.lines));
    expect(again.body.total).toBe(invoice.total);
    // The next run compares the period with its usage again: nothing moved, nothing is issued.
    setClock(t, '2027-01-01T00:00:00Z');
    const run = await runInvoices(t, { tenant: tenant.id });
    expect(run).toMatchObject({ invoices: 1, late_usage_invoices: 0, credit_notes: 0 });
  });

  it('bills late usage of an invoiced period with the next invoice, and credits usage voided later', async () => {
    const { tenant, invoice } = await novemberInvoice(100);
    expect(invoice.total).toBe('34.00'); // 19.00 + 10.00 + 100 × 0.05
    setClock(t, '2026-12-10T00:00:00Z');
    await ingest(t, tenant.id, [
      { id: 'late-1', meter: 'cpu_hours', value: 40, time: '2026-11-20T10:00:00Z', subject: 'ben' },
    ]);
    setClock(t, '2027-01-01T00:00:00Z');
    const run = await runInvoices(t, { tenant: tenant.id });
    expect(run).toMatchObject({ invoices: 1, late_usage_invoices: 1, credit_notes: 0 });
    const late = (await invoicesOf(t, tenant.id)).find((i) => i.reason === 'late_usage');
    expect(late).toMatchObject({
      object: 'invoice',
      status: 'open',
      total: '2.00',
      adjusts: { id: invoice.id, number: invoice.number },
      period: invoice.period,
    });
    expect(late.lines).toHaveLength(1);
    expect(late.lines[0]).toMatchObject({
      key: 'usage_cpu_hours',
      quantity: '140',
      amount: '2.00',
      description: 'CPU hours (late usage: 100 → 140)',
      adjustment: { previous_quantity: '100', previous_amount: '5.00', rated_amount: '7.00' },
    });

    setClock(t, '2027-01-02T00:00:00Z');
    const voided = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/events/nov-1/void`,
      payload: { reason: 'double counted' },
    });
    expect(voided.status, JSON.stringify(voided.body)).toBe(200);
    // November's late window closes on 5 January: the run after it settles the period for good.
    setClock(t, '2027-01-06T00:00:00Z');
    const final = await runInvoices(t);
    expect(final.credit_notes).toBeGreaterThanOrEqual(1);
    const credit = (await invoicesOf(t, tenant.id)).find((i) => i.object === 'credit_note');
    expect(credit).toMatchObject({
      status: 'issued',
      reason: 'late_usage',
      total: '5.00',
      amount_due: '0.00',
    });
    expect(credit.number).toMatch(/^CN-\d{6}$/);
    expect(credit.lines[0]).toMatchObject({
      amount: '5.00',
      adjustment: { previous_amount: '7.00', rated_amount: '2.00' },
    });
    // Settled for good: no run looks at November again.
    const row = await t.services.database.db
      .selectFrom('billed_periods')
      .select(['checked_at', 'late_until'])
      .where('tenant_id', '=', tenant.id)
      .where('period_start', '=', new Date('2026-11-01T00:00:00Z'))
      .executeTakeFirstOrThrow();
    expect(row.checked_at.getTime()).toBeGreaterThanOrEqual(row.late_until.getTime());
  });

  it('issues a zero invoice as paid, and bills time-weighted, unique and max meters in their units', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const free = await billedTenant(t, { plan: 'free' });
    const cloud = await billedTenant(t, { plan: 'cloud', seats: 1 });
    setClock(t, '2026-11-30T00:00:00Z');
    await ingest(t, cloud.id, [
      { id: 's1', meter: 'storage_gb', value: 100, time: '2026-11-01T00:00:00Z', subject: 'vol-a' },
      { id: 'm1', meter: 'memory_gb', value: 2, time: '2026-11-01T00:00:00Z', subject: 'vm-1' },
      { id: 'm2', meter: 'memory_gb', value: 0, time: '2026-11-16T00:00:00Z', subject: 'vm-1' },
      { id: 'u1', meter: 'active_users', time: '2026-11-02T00:00:00Z', subject: 'u1' },
      { id: 'u2', meter: 'active_users', time: '2026-11-03T00:00:00Z', subject: 'u2' },
      { id: 'u3', meter: 'active_users', time: '2026-11-04T00:00:00Z', subject: 'u1' },
      { id: 'u4', meter: 'active_users', time: '2026-11-05T00:00:00Z', subject: 'u3' },
      { id: 'p1', meter: 'peak_sessions', value: 3, time: '2026-11-05T00:00:00Z' },
      { id: 'p2', meter: 'peak_sessions', value: 7, time: '2026-11-06T00:00:00Z' },
      { id: 'p3', meter: 'peak_sessions', value: 5, time: '2026-11-07T00:00:00Z' },
      { id: 'c1', meter: 'cpu_hours', value: 10, time: '2026-11-07T00:00:00Z' },
    ]);
    setClock(t, '2026-12-01T00:00:00Z');
    await runInvoices(t, { tenant: free.id });
    await runInvoices(t, { tenant: cloud.id });
    const [zero] = await invoicesOf(t, free.id);
    expect(zero).toMatchObject({ status: 'paid', total: '0.00', amount_due: '0.00', allowed_actions: [] });
    const [invoice] = await invoicesOf(t, cloud.id);
    expect(invoice.lines.map((l: any) => [l.description, l.quantity, l.amount])).toEqual([
      ['Users', '1', '30.00'],
      ['CPU hours', '10', '1.00'],
      ['Storage (GB-months)', '100', '10.00'],
      ['Memory (GB-hours)', '720', '7.20'],
      ['Active users', '3', '6.00'],
      ['Peak sessions', '7', '7.00'],
    ]);
    expect(invoice.total).toBe('61.20');
  });

  it('settles by API: pay, payment failed, void (with a credit note) and uncollectible, each audited and announced', async () => {
    const { tenant, invoice } = await novemberInvoice(0, 2); // 39.00
    const failed = await t.request({
      method: 'POST',
      url: `/v1/invoices/${invoice.number}/payment-failed`,
      payload: { reason: 'card declined' },
    });
    expect(failed.status, JSON.stringify(failed.body)).toBe(200);
    expect(failed.body).toMatchObject({
      status: 'open',
      payment: { failures: 1, last_failure: 'card declined' },
    });
    const written = await t.request({ method: 'POST', url: `/v1/invoices/${invoice.id}/mark-uncollectible` });
    expect(written.body).toMatchObject({ status: 'uncollectible', amount_due: '39.00' });
    const paid = await t.request({
      method: 'POST',
      url: `/v1/invoices/${invoice.id}/pay`,
      payload: { reference: 'wire 2026-12-04' },
    });
    expect(paid.status, JSON.stringify(paid.body)).toBe(200);
    expect(paid.body).toMatchObject({
      status: 'paid',
      amount_due: '0.00',
      paid_at: '2026-12-01T00:00:00.000Z',
      payment: { reference: 'wire 2026-12-04' },
      allowed_actions: [],
    });
    const types = (
      await t.services.database.db
        .selectFrom('domain_events')
        .select('type')
        .where('tenant_id', '=', tenant.id)
        .orderBy('occurred_at')
        .orderBy('id')
        .execute()
    ).map((e) => e.type);
    expect(types).toEqual(
      expect.arrayContaining([
        'invoice.finalized',
        'invoice.payment_failed',
        'invoice.marked_uncollectible',
        'invoice.paid',
      ]),
    );

    const other = await novemberInvoice(0, 1);
    const voided = await t.request({
      method: 'POST',
      url: `/v1/invoices/${other.invoice.id}/void`,
      payload: { reason: 'billed in error' },
    });
    expect(voided.status, JSON.stringify(voided.body)).toBe(200);
    expect(voided.body.status).toBe('void');
    expect(voided.body.credit_note.number).toMatch(/^CN-\d{6}$/);
    const credit = await t.request({ method: 'GET', url: `/v1/invoices/${voided.body.credit_note.number}` });
    expect(credit.body).toMatchObject({
      object: 'credit_note',
      reason: 'void',
      status: 'issued',
      total: '29.00',
      adjusts: { id: other.invoice.id },
    });
    expect(credit.body.lines.map((l: any) => l.amount)).toEqual(
      other.invoice.lines.map((l: any) => l.amount),
    );
  });

  const illegal: { name: string; setup: string[]; action: string; allowed: string[] }[] = [
    { name: 'paying a void invoice', setup: ['void'], action: 'pay', allowed: [] },
    { name: 'paying a paid invoice', setup: ['pay'], action: 'pay', allowed: [] },
    { name: 'voiding a paid invoice', setup: ['pay'], action: 'void', allowed: [] },
    {
      name: 'marking an uncollectible invoice uncollectible',
      setup: ['mark-uncollectible'],
      action: 'mark-uncollectible',
      allowed: ['pay', 'payment_failed', 'void'],
    },
  ];
  for (const c of illegal) {
    it(`refuses ${c.name} with illegal_invoice_transition and writes nothing`, async () => {
      const { invoice } = await novemberInvoice(0);
      for (const step of c.setup) {
        expect((await t.request({ method: 'POST', url: `/v1/invoices/${invoice.id}/${step}` })).status).toBe(
          200,
        );
      }
      const before = await billingState(t);
      const response = await t.request({ method: 'POST', url: `/v1/invoices/${invoice.id}/${c.action}` });
      const body = problem(response, 409, 'illegal_invoice_transition');
      expect(body.detail).toContain(invoice.number);
      expect(body.allowed_actions).toEqual(c.allowed);
      expect(await billingState(t)).toEqual(before);
    });
  }

  it('refuses any payment action on a credit note', async () => {
    const { invoice } = await novemberInvoice(0);
    const voided = await t.request({ method: 'POST', url: `/v1/invoices/${invoice.id}/void` });
    const before = await billingState(t);
    const response = await t.request({
      method: 'POST',
      url: `/v1/invoices/${voided.body.credit_note.id}/pay`,
    });
    expect(problem(response, 409, 'illegal_invoice_transition').detail).toContain('credit note');
    expect(await billingState(t)).toEqual(before);
  });

  it('tells dunning of each payment outcome inside the transaction that records it, and rolls back with it', async () => {
    const payments = new RecordingPayments();
    const service = recordingService(payments);
    const ctx = { actor: { type: 'system' as const, id: 'test' }, requestId: null, sourceIp: null };
    const { tenant, invoice } = await novemberInvoice(0);
    expect((await service.settle(ctx, invoice.id, 'payment_failed', { reason: 'declined' })).ok).toBe(true);
    expect((await service.settle(ctx, invoice.id, 'pay')).ok).toBe(true);
    expect(payments.calls).toEqual([
      { kind: 'failed', tenantId: tenant.id, invoiceId: invoice.id, statusInTransaction: 'open/1' },
      { kind: 'succeeded', tenantId: tenant.id, invoiceId: invoice.id, statusInTransaction: 'paid/1' },
    ]);

    const written = await novemberInvoice(0);
    expect((await service.settle(ctx, written.invoice.id, 'mark_uncollectible', { reason: 'gone' })).ok).toBe(
      true,
    );
    const voided = await novemberInvoice(0);
    expect((await service.settle(ctx, voided.invoice.id, 'void')).ok).toBe(true);
    expect(payments.calls.slice(2).map((c) => [c.kind, c.invoiceId, c.statusInTransaction])).toEqual([
      ['closed as uncollectible', written.invoice.id, 'uncollectible/0'],
      ['closed as void', voided.invoice.id, 'void/0'],
    ]);

    const second = await novemberInvoice(0);
    payments.failure = new Error('dunning is down');
    const before = await billingState(t);
    await expect(service.settle(ctx, second.invoice.id, 'pay')).rejects.toThrow('dunning is down');
    expect(await billingState(t)).toEqual(before);
  });

  it('shows an invoice as a printable HTML page, escaping what the data holds', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const tenant = await billedTenant(t, {
      plan: 'team',
      seats: 7,
      name: '<script>alert("x")</script> & Co',
    });
    setClock(t, '2026-12-01T00:00:00Z');
    await runInvoices(t, { tenant: tenant.id });
    const [invoice] = await invoicesOf(t, tenant.id);
    for (const url of [
      `/v1/invoices/${invoice.id}`,
      `/v1/tenants/${tenant.slug}/invoices/${invoice.number}`,
    ]) {
      const page = await t.request({ method: 'GET', url, headers: { accept: 'text/html' } });
      expect(page.status).toBe(200);
      expect(String(page.headers['content-type'])).toContain('text/html');
      expect(page.body).toContain(`Invoice ${invoice.number}`);
      expect(page.body).toContain('343.00 USD');
      expect(page.body).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co');
      expect(page.body).not.toContain('<script>');
    }
  });

  it('shows an invoice as a PDF, its text and cross-reference table whole', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const tenant = await billedTenant(t, { plan: 'team', seats: 7, name: 'Zoë (Paris) – “Ops”' });
    setClock(t, '2026-12-01T00:00:00Z');
    await runInvoices(t, { tenant: tenant.id });
    const [invoice] = await invoicesOf(t, tenant.id);
    const hex = (text: string) => Buffer.from(text, 'latin1').toString('hex');
    for (const url of [
      `/v1/invoices/${invoice.id}`,
      `/v1/tenants/${tenant.slug}/invoices/${invoice.number}`,
    ]) {
      const response = await t.app.inject({
        method: 'GET',
        url,
        headers: { authorization: `Bearer ${t.token}`, accept: 'application/pdf' },
      });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe('application/pdf');
      expect(response.headers['content-disposition']).toBe(`attachment; filename="${invoice.number}.pdf"`);
      const pdf = response.rawPayload.toString('latin1');
      expect(pdf.startsWith('%PDF-1.4\n')).toBe(true);
      expect(pdf.endsWith('%%EOF\n')).toBe(true);
      // Each offset of the cross-reference table points at its object, as a reader seeks them.
      const xref = Number(/startxref\n(\d+)\n/.exec(pdf)?.[1]);
      expect(pdf.slice(xref, xref + 4)).toBe('xref');
      const offsets = [...pdf.slice(xref).matchAll(/^(\d{10}) 00000 n $/gm)].map((m) => Number(m[1]));
      expect(offsets.length).toBeGreaterThan(5);
      expect(offsets.map((offset) => /^\d+ 0 obj/.exec(pdf.slice(offset))?.[0])).toEqual(
        offsets.map((_, i) => `${i + 1} 0 obj`),
      );
      // The text, in the standard fonts' encoding: the title, the total, the tenant's name (ë in
      // Latin-1, the dash and quotes in WinAnsi's own codes).
      expect(pdf).toContain(hex(`Invoice ${invoice.number}`));
      expect(pdf).toContain(hex('343.00 USD'));
      expect(pdf).toContain(`${hex('Zo')}eb${hex(' (Paris) ')}96${hex(' ')}93${hex('Ops')}94`);
    }
    // The upcoming invoice, a draft, has no number: its file is named after the tenant.
    const upcoming = await t.app.inject({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/invoices/upcoming`,
      headers: { authorization: `Bearer ${t.token}`, accept: 'application/pdf' },
    });
    expect(upcoming.statusCode).toBe(200);
    expect(upcoming.headers['content-disposition']).toBe(
      `attachment; filename="upcoming-${tenant.slug}.pdf"`,
    );
    // The PDF is the invoice: a key without billing:read gets neither.
    const key = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'no-billing', scopes: ['tenants:read'] },
    });
    const refused = await t.app.inject({
      method: 'GET',
      url: `/v1/invoices/${invoice.id}`,
      headers: { authorization: `Bearer ${key.body.secret}`, accept: 'application/pdf' },
    });
    expect(refused.statusCode).toBe(403);
    expect(refused.json().code).toBe('insufficient_scope');
    expect(refused.rawPayload.toString('latin1')).not.toContain('%PDF');
    // A problem stays a problem whatever was asked for.
    const missing = await t.app.inject({
      method: 'GET',
      url: '/v1/invoices/INV-999999',
      headers: { authorization: `Bearer ${t.token}`, accept: 'application/pdf' },
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-type']).toContain('application/problem+json');
  });

  it('answers 404 for an unknown invoice, and for another tenant’s invoice under a tenant path', async () => {
    const mine = await novemberInvoice(0);
    const theirs = await novemberInvoice(0);
    problem(
      await t.request({ method: 'GET', url: '/v1/invoices/inv_00000000000000000000000000' }),
      404,
      'invoice_not_found',
    );
    problem(await t.request({ method: 'GET', url: '/v1/invoices/INV-999999' }), 404, 'invoice_not_found');
    for (const ref of [theirs.invoice.id, theirs.invoice.number]) {
      const response = await t.request({
        method: 'GET',
        url: `/v1/tenants/${mine.tenant.id}/invoices/${ref}`,
      });
      problem(response, 404, 'invoice_not_found');
      expect(JSON.stringify(response.body)).not.toContain(
        theirs.invoice.total === '29.00' ? theirs.tenant.id : '',
      );
    }
    const own = await t.request({
      method: 'GET',
      url: `/v1/tenants/${mine.tenant.id}/invoices/${mine.invoice.id}`,
    });
    expect(own.body.id).toBe(mine.invoice.id);
    problem(
      await t.request({ method: 'POST', url: '/v1/invoices/INV-999999/pay' }),
      404,
      'invoice_not_found',
    );
    problem(
      await t.request({ method: 'GET', url: '/v1/tenants/nobody/invoices/upcoming' }),
      404,
      'tenant_not_found',
    );
  });

  it('refuses a malformed period, and a month in which no period of the tenant starts', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const annual = await billedTenant(t, { plan: 'annual', seats: 1 });
    for (const period of ['2026-13', '26-11', 'november']) {
      const response = await t.request({
        method: 'GET',
        url: `/v1/tenants/${annual.id}/invoices/upcoming?period=${period}`,
      });
      expect(problem(response, 400, 'validation_failed').errors.map((e: any) => e.path)).toEqual([
        'query.period',
      ]);
    }
    const none = await t.request({
      method: 'GET',
      url: `/v1/tenants/${annual.id}/invoices/upcoming?period=2027-03`,
    });
    expect(problem(none, 400, 'validation_failed').detail).toContain('2027-03');
    const ok = await t.request({
      method: 'GET',
      url: `/v1/tenants/${annual.id}/invoices/upcoming?period=2027-11`,
    });
    expect(ok.body.period).toEqual({ start: '2027-11-01T00:00:00.000Z', end: '2028-11-01T00:00:00.000Z' });
    expect(ok.body.total).toBe('300.00');
  });

  it('lists invoices by tenant, status and kind, newest first, a page at a time', async () => {
    const { tenant, invoice } = await novemberInvoice(0);
    setClock(t, '2026-12-02T00:00:00Z');
    await t.request({ method: 'POST', url: `/v1/invoices/${invoice.id}/void` });
    // The void's credit note, issued after the invoice, comes first; the cursor reads on to older.
    const all = await t.request({ method: 'GET', url: `/v1/invoices?tenant=${tenant.slug}&limit=1` });
    expect(all.body.data.map((i: any) => i.object)).toEqual(['credit_note']);
    const next = await t.request({
      method: 'GET',
      url: `/v1/invoices?tenant=${tenant.slug}&limit=1&cursor=${all.body.next_cursor}`,
    });
    expect(next.body.data.map((i: any) => i.id)).toEqual([invoice.id]);
    expect(next.body.next_cursor).toBeNull();
    const tenantList = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/invoices` });
    expect(tenantList.body.data.map((i: any) => i.object)).toEqual(['credit_note', 'invoice']);
    // A cursor of the oldest-first lists is refused, not read the other way round.
    const oldOrder = Buffer.from(JSON.stringify({ at: '2026-12-01T00:00:00.000Z', id: invoice.id })).toString(
      'base64url',
    );
    const stale = problem(
      await t.request({ method: 'GET', url: `/v1/invoices?cursor=${oldOrder}` }),
      400,
      'validation_failed',
    );
    expect(stale.errors).toEqual([{ path: 'query.cursor', message: 'is not a cursor from a previous page' }]);
    const voids = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/invoices?status=void` });
    expect(voids.body.data.map((i: any) => i.id)).toEqual([invoice.id]);
    problem(await t.request({ method: 'GET', url: '/v1/invoices?cursor=garbage' }), 400, 'validation_failed');
  });

  it('reads a first page newest first from an index, backwards, never sorting or scanning the table', async () => {
    await novemberInvoice(0);
    const base = t.services.database.db;
    const seen: CompiledQuery[] = [];
    const spy: KyselyPlugin = {
      transformQuery: (args) => {
        seen.push(base.getExecutor().compileQuery(args.node, args.queryId));
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const service = recordingService(new RecordingPayments(), base.withPlugin(spy));
    const tenant = (await base.selectFrom('invoices').select('tenant_id').executeTakeFirstOrThrow())
      .tenant_id;
    for (const filter of [{}, { tenant }, { status: 'open' as const }]) {
      seen.length = 0;
      expect((await service.list(filter, { limit: 20 })).ok).toBe(true);
      const query = seen.find((q) => q.sql.includes('from "invoices" as "i"'));
      if (query === undefined) throw new Error('the list sent no query over invoices');
      // With sorting and sequential scans priced out, a plan that still has either has no index
      // giving the order: on a small test table the planner would otherwise pick them anyway.
      const plan = await base.transaction().execute(async (tx) => {
        await sql`set local enable_seqscan = off`.execute(tx);
        await sql`set local enable_sort = off`.execute(tx);
        const explained = await tx.executeQuery<{ 'QUERY PLAN': unknown }>(
          CompiledQuery.raw(`explain (format json) ${query.sql}`, [...query.parameters]),
        );
        const raw = explained.rows[0]?.['QUERY PLAN'];
        return (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: Record<string, unknown> }[];
      });
      const root = plan[0]?.Plan;
      if (root === undefined) throw new Error('EXPLAIN answered no plan');
      const nodes = planNodes(root);
      const context = `${JSON.stringify(filter)}: ${JSON.stringify(plan)}`;
      expect(
        nodes.map((n) => n['Node Type']),
        context,
      ).not.toContain('Sort');
      const main = nodes.filter((n) => n.Alias === 'i');
      expect(
        main.map((n) => [n['Node Type'], n['Scan Direction']]),
        context,
      ).toEqual([['Index Scan', 'Backward']]);
    }
  });

  it('lists the documents of a billing period by the month it starts in', async () => {
    // November's invoice, then December's (the run on 1 January).
    const { tenant, invoice } = await novemberInvoice(0);
    setClock(t, '2027-01-01T00:00:00Z');
    await runInvoices(t, { tenant: tenant.id });
    const all = await invoicesOf(t, tenant.id);
    expect(all.map((i: any) => i.period.start)).toEqual([
      '2026-11-01T00:00:00.000Z',
      '2026-12-01T00:00:00.000Z',
    ]);
    const november = await t.request({
      method: 'GET',
      url: `/v1/invoices?tenant=${tenant.slug}&period=2026-11`,
    });
    expect(november.body.data.map((i: any) => i.id)).toEqual([invoice.id]);
    const december = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/invoices?period=2026-12`,
    });
    expect(december.body.data.map((i: any) => i.period.start)).toEqual(['2026-12-01T00:00:00.000Z']);
    const none = await t.request({ method: 'GET', url: `/v1/invoices?tenant=${tenant.slug}&period=2027-01` });
    expect(none.body.data).toEqual([]);
    const bad = problem(
      await t.request({ method: 'GET', url: '/v1/invoices?period=2026-13' }),
      400,
      'validation_failed',
    );
    expect(JSON.stringify(bad.errors)).toContain('period');
  });
});

describe(`billing routes need an operator key (${backend})`, () => {
  it('answers 401 without a key or with a wrong one, and writes nothing', async () => {
    const { tenant, invoice } = await novemberInvoice(0);
    const routes: [string, string][] = [
      ['GET', `/v1/tenants/${tenant.id}/subscription`],
      ['GET', `/v1/tenants/${tenant.id}/invoices/upcoming`],
      ['GET', `/v1/tenants/${tenant.id}/invoices`],
      ['GET', `/v1/tenants/${tenant.id}/invoices/${invoice.id}`],
      ['GET', `/v1/tenants/${tenant.id}/showback`],
      ['GET', '/v1/invoices'],
      ['GET', `/v1/invoices/${invoice.id}`],
      ['POST', '/v1/invoices/run'],
      ['POST', `/v1/invoices/${invoice.id}/pay`],
      ['POST', `/v1/invoices/${invoice.id}/payment-failed`],
      ['POST', `/v1/invoices/${invoice.id}/void`],
      ['POST', `/v1/invoices/${invoice.id}/mark-uncollectible`],
    ];
    setClock(t, '2027-06-01T00:00:00Z');
    const before = await billingState(t);
    for (const [method, url] of routes) {
      for (const [authorization, code] of [
        [undefined, 'missing_api_key'],
        ['Bearer tnt_op_wrong', 'invalid_api_key'],
      ] as const) {
        const response = await t.app.inject({
          method: method as 'GET',
          url,
          headers: authorization === undefined ? {} : { authorization },
          ...(method === 'POST' ? { payload: {} } : {}),
        });
        expect(response.statusCode, `${method} ${url}`).toBe(401);
        expect(response.json().code).toBe(code);
      }
    }
    expect(await billingState(t)).toEqual(before);
  });
});

/** Every node of an EXPLAIN (FORMAT JSON) plan. */
function planNodes(node: Record<string, unknown>): Record<string, unknown>[] {
  const children = (node.Plans as Record<string, unknown>[] | undefined) ?? [];
  return [node, ...children.flatMap(planNodes)];
}
