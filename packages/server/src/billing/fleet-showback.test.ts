import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyBillingPlans,
  billedTenant,
  billingState,
  ingest,
  runInvoices,
  setClock,
} from '../../test/billing-support.ts';
import { backend, startTestApp, type TestApp } from '../../test/harness.ts';
import { applyAccess, memberAuthorization } from '../../test/member-support.ts';

let t: TestApp;
const tenants: Record<'pro' | 'starter' | 'team' | 'voided' | 'euro', any> = {} as never;

beforeAll(async () => {
  t = await startTestApp();
  await applyBillingPlans(t);
  await applyAccess(t);
  setClock(t, '2026-10-01T00:00:00Z');
  tenants.pro = await billedTenant(t, { plan: 'pro', seats: 2, name: 'Pro Co' });
  tenants.starter = await billedTenant(t, { plan: 'starter', seats: 1, name: '=HYPERLINK("x"), Inc' });
  tenants.team = await billedTenant(t, { plan: 'team', seats: 1, name: 'Team Co' });
  tenants.voided = await billedTenant(t, { plan: 'starter', seats: 3, name: 'Voided Co' });
  tenants.euro = await billedTenant(t, { plan: 'euro', seats: 1, name: 'Euro Co' });
  setClock(t, '2026-10-20T00:00:00Z');
  await ingest(t, tenants.pro.id, [
    { id: 'p1', meter: 'cpu_hours', value: 300, time: '2026-10-03T00:00:00Z' },
  ]);
  await ingest(t, tenants.starter.id, [
    { id: 's1', meter: 'cpu_hours', value: 100, time: '2026-10-04T00:00:00Z' },
  ]);
  setClock(t, '2026-11-02T00:00:00Z');
  await runInvoices(t, { period: '2026-10' });
  const [voided] = (
    await t.request({ method: 'GET', url: `/v1/tenants/${tenants.voided.id}/invoices?period=2026-10` })
  ).body.data;
  const voiding = await t.request({ method: 'POST', url: `/v1/invoices/${voided.id}/void`, payload: {} });
  expect(voiding.status, JSON.stringify(voiding.body)).toBe(200);
});
afterAll(() => t.close());

const get = (url: string, headers: Record<string, string> = {}) => t.request({ method: 'GET', url, headers });

describe(`GET /v1/showback (${backend})`, () => {
  it("adds up the month's finalized documents by category and ranks the tenants by cost, a voided invoice netting to nothing", async () => {
    const response = await get('/v1/showback?period=2026-10');
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const report = response.body;
    expect(report).toMatchObject({
      period: { month: '2026-10', start: '2026-10-01T00:00:00.000Z', end: '2026-11-01T00:00:00.000Z' },
      periods_open: true,
      // Five dollar documents (four invoices and the credit note of the voided one), one in euros.
      currency: 'usd',
      currencies: ['usd', 'eur'],
      tenant_count: 4,
      document_count: 5,
      // Pro 49 + 2 × 25 + 200 h × 0.04; Starter 19 + 10 + 100 h × 0.05; Team 49; the voided 0.
      total: '190.00',
      totals: {
        subscription: '177.00',
        compute: '13.00',
        storage: '0.00',
        network: '0.00',
        requests: '0.00',
        seats: '0.00',
        other: '0.00',
      },
      next_cursor: null,
    });
    expect(
      report.tenants.map((r: any) => [r.tenant.slug, r.amount, r.share, r.documents, r.invoice !== null]),
    ).toEqual([
      [tenants.pro.slug, '107.00', '56.32', 1, true],
      [tenants.team.slug, '49.00', '25.79', 1, true],
      [tenants.starter.slug, '34.00', '17.89', 1, true],
      [tenants.voided.slug, '0.00', '0.00', 2, true],
    ]);
    // The tenant's own invoice, as its billing view lists it.
    const own = (await get(`/v1/tenants/${tenants.pro.id}/invoices?period=2026-10`)).body.data[0];
    expect(report.tenants[0].invoice).toEqual({ id: own.id, number: own.number });
  });

  it('gives the tenants a page at a time, by cursor, in the same order', async () => {
    const all = (await get('/v1/showback?period=2026-10&limit=100')).body.tenants;
    const walked: unknown[] = [];
    let url: string | null = '/v1/showback?period=2026-10&limit=1';
    while (url !== null) {
      const page: any = (await get(url)).body;
      expect(page.tenants.length).toBeLessThanOrEqual(1);
      walked.push(...page.tenants);
      // Every page carries the month's totals.
      expect(page.total).toBe('190.00');
      url =
        page.next_cursor === null ? null : `/v1/showback?period=2026-10&limit=1&cursor=${page.next_cursor}`;
    }
    expect(walked).toEqual(all);
    expect(walked).toHaveLength(4);
  });

  it('adds up one currency at a time', async () => {
    const euro = await get('/v1/showback?period=2026-10&currency=eur');
    expect(euro.status).toBe(200);
    expect(euro.body).toMatchObject({ currency: 'eur', total: '99.00', tenant_count: 1, document_count: 1 });
    expect(euro.body.totals.subscription).toBe('99.00');
    expect(euro.body.tenants.map((r: any) => [r.tenant.id, r.share])).toEqual([[tenants.euro.id, '100.00']]);
  });

  it('counts no open period: the current month has no document yet, and is the default only when it is the previous one', async () => {
    const open = await get('/v1/showback?period=2026-11');
    expect(open.status).toBe(200);
    expect(open.body).toMatchObject({
      periods_open: true,
      currency: null,
      currencies: [],
      total: '0.00',
      tenant_count: 0,
      tenants: [],
      next_cursor: null,
    });
    // The clock is in November: the default is October.
    const byDefault = await get('/v1/showback');
    expect(byDefault.body.period.month).toBe('2026-10');
    expect(byDefault.body.total).toBe('190.00');
    // A month long closed says so.
    expect((await get('/v1/showback?period=2026-08')).body.periods_open).toBe(false);
    // A month without documents, asked in a currency without a minor unit: zero written its way.
    const yen = await get('/v1/showback?period=2026-08&currency=jpy');
    expect(yen.status).toBe(200);
    expect(yen.body).toMatchObject({ currency: 'jpy', total: '0', tenant_count: 0 });
  });

  it('answers CSV with every tenant, a spreadsheet formula in a name neutralised', async () => {
    for (const response of [
      await get('/v1/showback?period=2026-10&format=csv'),
      await get('/v1/showback?period=2026-10', { accept: 'text/csv' }),
    ]) {
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(response.headers['content-disposition']).toBe(
        'attachment; filename="showback-fleet-2026-10.csv"',
      );
      const rows = String(response.body).split('\r\n');
      expect(rows[0]).toBe('row,category,tenant_id,tenant_slug,tenant_name,invoice,amount,share');
      expect(rows).toContain('category,subscription,,,,,177.00,');
      expect(rows).toContain('total,2026-10 (usd),,,,,190.00,');
      const starter = rows.find((row) => row.includes(tenants.starter.id));
      expect(starter).toMatch(/^tenant,,ten_\w+,[\w-]+,"'=HYPERLINK\(""x""\), Inc",INV-\d+,34\.00,17\.89$/);
      expect(rows.filter((row) => row.startsWith('tenant,'))).toHaveLength(4);
    }
  });
});

describe('errors', () => {
  it('refuses bad queries naming the field, and writes nothing', async () => {
    const before = await billingState(t);
    for (const [query, path] of [
      ['period=2026-13', 'period'],
      ['period=October', 'period'],
      ['currency=USD', 'currency'],
      ['currency=gbp', 'query.currency'],
      // A month without documents cannot say which currencies are in it: the list Tenantry bills in does.
      ['period=2026-08&currency=aaa', 'currency'],
      ['limit=0', 'limit'],
      ['limit=101', 'limit'],
      ['cursor=bm9wZQ', 'query.cursor'],
      ['tenant=acme', 'tenant'],
      ['format=xml', 'format'],
      ['format=csv&limit=5', 'query.limit'],
      ['format=csv&cursor=abc', 'query.cursor'],
    ] as const) {
      const url = query.startsWith('period=')
        ? `/v1/showback?${query}`
        : `/v1/showback?period=2026-10&${query}`;
      const refused = await get(url);
      expect(refused.status, query).toBe(400);
      expect(refused.headers['content-type']).toBe('application/problem+json');
      expect(refused.body.code, query).toBe('validation_failed');
      expect(JSON.stringify(refused.body.errors), query).toContain(path);
    }
    expect(await billingState(t)).toEqual(before);
  });

  it('refuses a cursor forged to reach past the ranking with SQL', async () => {
    const forged = Buffer.from(JSON.stringify({ amount: '0) or (1=1', tenant: 'ten_x' })).toString(
      'base64url',
    );
    const refused = await get(`/v1/showback?period=2026-10&cursor=${forged}`);
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('validation_failed');
  });
});

describe('security', () => {
  it('needs an operator key with billing:read: none is 401, a key without the scope 403', async () => {
    const none = await t.app.inject({ method: 'GET', url: '/v1/showback?period=2026-10' });
    expect(none.statusCode).toBe(401);
    const key = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'tenants only', scopes: ['tenants:read'] },
    });
    expect(key.status, JSON.stringify(key.body)).toBe(201);
    const refused = await get('/v1/showback?period=2026-10', { authorization: `Bearer ${key.body.secret}` });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'insufficient_scope', required_scope: 'billing:read' });
    expect(JSON.stringify(refused.body)).not.toContain('190.00');
  });

  it("a tenant's key and a tenant's owner (billing:read in their tenant) cannot read the fleet's costs", async () => {
    const tenantKey = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenants.pro.id}/api-keys`,
      payload: { name: 'ci', permissions: ['meetings:read'] },
    });
    expect(tenantKey.status, JSON.stringify(tenantKey.body)).toBe(201);
    const owner = await memberAuthorization(t, tenants.pro.id, 'owner');
    // The owner may read their own tenant's showback…
    expect((await get(`/v1/tenants/${tenants.pro.id}/showback?period=2026-10`, owner)).status).toBe(200);
    for (const headers of [{ authorization: `Bearer ${tenantKey.body.secret}` }, owner]) {
      for (const url of ['/v1/showback?period=2026-10', '/v1/showback?period=2026-10&format=csv']) {
        const refused = await get(url, headers);
        expect([401, 403], `${url}: ${refused.status}`).toContain(refused.status);
        expect(refused.headers['content-type']).toBe('application/problem+json');
        // …never the other tenants'.
        for (const other of [tenants.team, tenants.starter, tenants.euro]) {
          expect(JSON.stringify(refused.body)).not.toContain(other.id);
        }
      }
    }
  });
});
