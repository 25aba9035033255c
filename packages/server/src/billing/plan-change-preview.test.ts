import type { Scope } from '@tenantry/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyBillingPlans,
  billedTenant,
  billingState,
  runInvoices,
  setClock,
} from '../../test/billing-support.ts';
import { backend, startTestApp, type TestApp } from '../../test/harness.ts';
import { applyAccess, memberAuthorization } from '../../test/member-support.ts';
import { act, query } from '../../test/tenant-support.ts';
import { systemContext } from '../request-context.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
  await applyBillingPlans(t);
  await applyAccess(t);
});
afterAll(() => t.close());

function preview(id: string, payload: Record<string, unknown>, headers: Record<string, string> = {}) {
  return t.request({ method: 'POST', url: `/v1/tenants/${id}/change-plan/preview`, payload, headers });
}

function changePlan(id: string, payload: Record<string, unknown>, headers: Record<string, string> = {}) {
  return t.request({ method: 'POST', url: `/v1/tenants/${id}/change-plan`, payload, headers });
}

async function upcoming(id: string): Promise<any> {
  const response = await t.request({ method: 'GET', url: `/v1/tenants/${id}/invoices/upcoming` });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

/** Everything a preview must leave alone: billing's tables, audit and events, and the job queue. */
async function written(): Promise<unknown> {
  const [jobs] = await query<{ n: string }>(t, 'select count(*)::text as n from jobs');
  return { billing: await billingState(t), jobs: jobs?.n };
}

/** What an invoice bills, line by line: comparable between a draft and the finalized invoice. */
function billed(invoice: any) {
  return {
    currency: invoice.currency,
    period: invoice.period,
    total: invoice.total,
    lines: invoice.lines.map((l: any) => [
      l.kind,
      l.price_key,
      `${l.plan.key}@${l.plan.version}`,
      l.period,
      l.amount,
    ]),
  };
}

async function key(scopes: Scope[]): Promise<Record<string, string>> {
  const created = await t.services.apiKeys.create(systemContext('test'), { name: scopes.join(','), scopes });
  return { authorization: `Bearer ${created.secret}` };
}

describe(`plan change preview (${backend})`, () => {
  it('previews an upgrade now: the proration and the next invoice, writes nothing, and is what the change then bills', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const tenant = await billedTenant(t, { plan: 'starter', seats: 3 });
    setClock(t, '2026-11-11T00:00:00Z');
    const before = await written();
    const seen = await preview(tenant.id, { plan: 'pro', at: 'now' });
    expect(seen.status, JSON.stringify(seen.body)).toBe(200);
    expect(await written()).toEqual(before);
    expect(seen.body).toMatchObject({
      tenant: tenant.id,
      from: { plan: 'starter', version: 1 },
      to: { plan: 'pro', version: 1 },
      seats: 3,
      effective: 'now',
      effective_at: '2026-11-11T00:00:00.000Z',
      currency: 'usd',
      first_invoice_on_new_plan: null,
    });
    // Ten of November's thirty days on Starter, twenty on Pro.
    const lines = seen.body.proration.lines.map((l: any) => [l.kind, l.price_key, l.plan.key, l.amount]);
    expect(lines).toHaveLength(4);
    expect(lines).toEqual(
      expect.arrayContaining([
        ['credit', expect.any(String), 'starter', '-12.67'],
        ['credit', expect.any(String), 'starter', '-20.00'],
        ['charge', expect.any(String), 'pro', '32.67'],
        ['charge', expect.any(String), 'pro', '50.00'],
      ]),
    );
    expect(seen.body.proration.amount).toBe('50.00');
    expect(seen.body.current_invoice.total).toBe('49.00');
    expect(seen.body.next_invoice.total).toBe('99.00');
    // The preview of the period as it stands is the upcoming invoice's.
    expect(billed(seen.body.current_invoice)).toEqual(billed(await upcoming(tenant.id)));

    const changed = await changePlan(tenant.id, { plan: 'pro', at: 'now' });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(billed(await upcoming(tenant.id))).toEqual(billed(seen.body.next_invoice));
    setClock(t, '2026-12-01T00:00:00Z');
    await runInvoices(t, { tenant: tenant.id });
    const issued = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/invoices?limit=10` });
    expect(issued.body.data).toHaveLength(1);
    expect(billed(issued.body.data[0])).toEqual(billed(seen.body.next_invoice));
  });

  it('credits all of the current plan for a change at the instant its period starts', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const tenant = await billedTenant(t, { plan: 'starter', seats: 3 });
    const seen = await preview(tenant.id, { plan: 'pro', at: 'now' });
    expect(seen.status, JSON.stringify(seen.body)).toBe(200);
    expect(seen.body.proration.lines.map((l: any) => [l.kind, l.amount])).toEqual(
      expect.arrayContaining([
        ['credit', '-19.00'],
        ['credit', '-30.00'],
        ['charge', '49.00'],
        ['charge', '75.00'],
      ]),
    );
    expect(seen.body.proration.amount).toBe('75.00');
    expect(seen.body.next_invoice.total).toBe('124.00');
  });

  it('previews a downgrade at the period end: no proration, and the first invoice on the new plan is what it bills', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const tenant = await billedTenant(t, { plan: 'pro', seats: 2 });
    setClock(t, '2026-11-20T00:00:00Z');
    const before = await written();
    const seen = await preview(tenant.id, { plan: 'starter' });
    expect(seen.status, JSON.stringify(seen.body)).toBe(200);
    expect(await written()).toEqual(before);
    expect(seen.body).toMatchObject({
      effective: 'period_end',
      effective_at: '2026-12-01T00:00:00.000Z',
      proration: { lines: [], amount: '0.00' },
    });
    expect(billed(seen.body.next_invoice)).toEqual(billed(seen.body.current_invoice));
    const first = seen.body.first_invoice_on_new_plan;
    expect(first.period).toEqual({ start: '2026-12-01T00:00:00.000Z', end: '2027-01-01T00:00:00.000Z' });
    expect(first.total).toBe('39.00');

    const changed = await changePlan(tenant.id, { plan: 'starter' });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body.scheduled_change.effective_at).toBe(seen.body.effective_at);
    setClock(t, '2027-01-01T00:00:00Z');
    await t.services.jobs.runDue();
    await runInvoices(t, { tenant: tenant.id });
    const issued = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/invoices?limit=10` });
    const december = issued.body.data.find((i: any) => i.period.start === '2026-12-01T00:00:00.000Z');
    expect(billed(december)).toEqual(billed(first));
  });

  it('refuses what the change refuses, with the same problem, and writes nothing', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const tenant = await billedTenant(t, { plan: 'starter', seats: 1 });
    const before = await written();
    for (const payload of [
      { plan: 'euro', at: 'now' },
      { plan: 'nope' },
      { plan: 'pro', plan_version: 99 },
      { plan: 'pro', at: 'sometime' },
      { plan: 'pro', extra: true },
    ]) {
      const previewed = await preview(tenant.id, payload);
      const changed = await changePlan(tenant.id, payload);
      expect(previewed.status, JSON.stringify(payload)).toBeGreaterThanOrEqual(400);
      expect(previewed.status, JSON.stringify(previewed.body)).toBeLessThan(500);
      expect([previewed.status, previewed.body.code]).toEqual([changed.status, changed.body.code]);
    }
    expect((await preview('ten_missing', { plan: 'pro' })).body.code).toBe('tenant_not_found');
    expect(await written()).toEqual(before);

    expect((await act(t, tenant.id, 'cancel')).status).toBe(200);
    expect((await t.request({ method: 'DELETE', url: `/v1/tenants/${tenant.id}` })).status).toBe(200);
    const deleted = await preview(tenant.id, { plan: 'pro' });
    expect([deleted.status, deleted.body.code]).toEqual([409, 'tenant_deleted']);
  });

  it('needs billing:read from a key; the change needs tenants:write', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const tenant = await billedTenant(t, { plan: 'starter', seats: 1 });
    const reader = await key(['billing:read']);
    const tenantsOnly = await key(['tenants:read', 'tenants:write']);
    expect((await preview(tenant.id, { plan: 'pro' }, reader)).status).toBe(200);
    const refused = await preview(tenant.id, { plan: 'pro' }, tenantsOnly);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'insufficient_scope', required_scope: 'billing:read' });
    const before = await written();
    const change = await changePlan(tenant.id, { plan: 'pro' }, reader);
    expect(change.body).toMatchObject({ code: 'insufficient_scope', required_scope: 'tenants:write' });
    expect((await preview(tenant.id, { plan: 'pro' }, { authorization: '' })).status).toBe(401);
    expect(await written()).toEqual(before);
  });

  it("lets the tenant's billing members preview and change plan, and refuses the rest", async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const tenant = await billedTenant(t, { plan: 'starter', seats: 1 });
    const other = await billedTenant(t, { plan: 'starter', seats: 1 });
    const billing = await memberAuthorization(t, tenant.id, 'billing');
    const admin = await memberAuthorization(t, tenant.id, 'admin');
    const stranger = await memberAuthorization(t, other.id, 'owner');
    const before = await written();

    // Another tenant's owner reaches neither this tenant's preview, change nor invoices.
    for (const response of [
      await preview(tenant.id, { plan: 'pro' }, stranger),
      await changePlan(tenant.id, { plan: 'pro' }, stranger),
      await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/invoices`, headers: stranger }),
    ]) {
      expect(response.status).toBe(403);
      expect(response.body.code).toBe('insufficient_permission');
    }
    // An admin reads billing but may not change what the tenant pays (no billing:write).
    expect((await preview(tenant.id, { plan: 'pro' }, admin)).status).toBe(200);
    const byAdmin = await changePlan(tenant.id, { plan: 'pro' }, admin);
    expect(byAdmin.body).toMatchObject({
      code: 'insufficient_permission',
      required_permission: 'billing:write',
    });
    // A member may not pin an older version or send overrides: those are the vendor's.
    for (const payload of [
      { plan: 'pro', overrides: { limits: { seats: 1000 } } },
      { plan: 'pro', plan_version: 1 },
    ]) {
      for (const response of [
        await changePlan(tenant.id, payload, billing),
        await preview(tenant.id, payload, billing),
      ]) {
        expect(response.status, JSON.stringify(response.body)).toBe(403);
        expect(response.body.code).toBe('insufficient_permission');
      }
    }
    expect(await written()).toEqual(before);

    const seen = await preview(tenant.id, { plan: 'pro' }, billing);
    expect(seen.status, JSON.stringify(seen.body)).toBe(200);
    const changed = await changePlan(tenant.id, { plan: 'pro' }, billing);
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    expect(changed.body.plan.key).toBe('pro');
    const audit = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/audit?limit=100` });
    const entry = audit.body.data.find((e: any) => e.action === 'tenant.plan_changed');
    expect(entry.actor).toMatchObject({ type: 'user' });
    for (const url of [
      `/v1/tenants/${tenant.id}/invoices`,
      `/v1/tenants/${tenant.id}/invoices/upcoming`,
      `/v1/tenants/${tenant.id}/subscription`,
      `/v1/tenants/${tenant.id}/payment-method`,
    ]) {
      const read = await t.request({ method: 'GET', url, headers: billing });
      expect([200, 404], `${url}: ${JSON.stringify(read.body)}`).toContain(read.status);
      if (read.status === 404) expect(read.body.code).toBe('payment_method_not_found');
    }
  });

  it('serves an invoice as a PDF to a key and to a billing member, and to no other tenant', async () => {
    setClock(t, '2026-11-01T00:00:00Z');
    const tenant = await billedTenant(t, { plan: 'starter', seats: 2 });
    setClock(t, '2026-12-01T00:00:00Z');
    await runInvoices(t, { tenant: tenant.id });
    const list = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/invoices` });
    const invoice = list.body.data[0];
    const billing = await memberAuthorization(t, tenant.id, 'billing');
    for (const headers of [{ authorization: `Bearer ${t.token}` }, billing]) {
      const pdf = await t.app.inject({
        method: 'GET',
        url: `/v1/tenants/${tenant.id}/invoices/${invoice.id}`,
        headers: { ...headers, accept: 'application/pdf' },
      });
      expect(pdf.statusCode).toBe(200);
      expect(pdf.headers['content-type']).toBe('application/pdf');
      const bytes = pdf.rawPayload.toString('latin1');
      expect(bytes.startsWith('%PDF-1.4\n')).toBe(true);
      expect(bytes.trimEnd().endsWith('%%EOF')).toBe(true);
      // Its text, as the PDF's hex strings (the layout is invoices.test.ts's to check): this invoice.
      expect(bytes).toContain(Buffer.from(`Invoice ${invoice.number}`, 'latin1').toString('hex'));
      // The cross-reference table points at each object.
      const xref = Number(/startxref\n(\d+)\n/.exec(bytes)?.[1]);
      expect(bytes.slice(xref, xref + 4)).toBe('xref');
    }
    const other = await billedTenant(t, { plan: 'starter', seats: 1 });
    const stranger = await memberAuthorization(t, other.id, 'owner');
    const refused = await t.app.inject({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/invoices/${invoice.id}`,
      headers: { ...stranger, accept: 'application/pdf' },
    });
    expect(refused.statusCode).toBe(403);
  });
});
