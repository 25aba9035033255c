import { CompiledQuery, type KyselyPlugin } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertFleet } from '../../test/fleet-support.ts';
import { SETTINGS, startTestApp, type TestApp } from '../../test/harness.ts';
import { act, applyPlans, createTenant, provisionedTenant } from '../../test/tenant-support.ts';
import { systemContext } from '../request-context.ts';
import { createServices } from '../services.ts';
import type { TenantFilter } from './tenant-service.ts';

// A fleet of 50,000 tenants: the list's first page comes from an index whatever the filter, and
// the CSV export carries every matching tenant, a page at a time.

const FLEET = 50_000;
let t: TestApp;
let hostile: { id: string; slug: string };

beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
  const template = await provisionedTenant(t, { plan: 'pro', name: 'Template' });
  await insertFleet(t.services.database.db, template.id, FLEET);
  hostile = await provisionedTenant(t, { name: '=HYPERLINK("http://evil.example","click")', plan: 'pro' });
  await createTenant(t, { name: '+1+2', plan: 'starter', placement: 'database' });
  await createTenant(t, { name: '@SUM(A1:A9)', plan: 'starter', placement: 'schema' });
  await createTenant(t, { name: '-3, "quoted"', plan: 'starter', placement: 'schema' });
}, 120_000);
afterAll(() => t.close());

/** Every node of an EXPLAIN (FORMAT JSON) plan. */
function planNodes(node: Record<string, unknown>): Record<string, unknown>[] {
  const children = (node.Plans as Record<string, unknown>[] | undefined) ?? [];
  return [node, ...children.flatMap(planNodes)];
}

describe('the first page of 50,000 tenants', () => {
  const cases: [string, TenantFilter][] = [
    ['no filter', {}],
    ['a state', { state: 'suspended' }],
    ['a placement', { placement: 'database' }],
    ['a plan', { plan: 'starter' }],
    ['a rare search', { search: 'fleet-4242' }],
    ['a common search', { search: 'Fleet' }],
    ['a search matching nothing', { search: 'zz-nothing' }],
    ['a search and a state', { search: 'tenant 77', state: 'suspended' }],
  ];

  it.each(cases)('is read through an index, never a scan of the table, with %s', async (_name, filter) => {
    // The list's own query, as the service sends it: caught on its way to the database.
    const base = t.services.database.db;
    const seen: CompiledQuery[] = [];
    const spy: KyselyPlugin = {
      transformQuery: (args) => {
        seen.push(base.getExecutor().compileQuery(args.node, args.queryId));
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const services = createServices({ ...t.services.database, db: base.withPlugin(spy) }, SETTINGS, t.clock);
    const page = await services.tenants.list(filter, { limit: 100 });
    expect(page.ok).toBe(true);
    const query = seen.find((q) => q.sql.includes('from "tenants" as "t"'));
    if (query === undefined) throw new Error('the list sent no query over tenants');
    const explained = await base.executeQuery<{ 'QUERY PLAN': unknown }>(
      CompiledQuery.raw(`explain (format json) ${query.sql}`, [...query.parameters]),
    );
    const raw = explained.rows[0]?.['QUERY PLAN'];
    const plan = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: Record<string, unknown> }[];
    const root = plan[0]?.Plan;
    if (root === undefined) throw new Error('EXPLAIN answered no plan');
    const overTenants = planNodes(root).filter((node) => node['Relation Name'] === 'tenants');
    expect(overTenants.length, JSON.stringify(plan)).toBeGreaterThan(0);
    expect(
      overTenants.map((node) => node['Node Type']),
      JSON.stringify(plan),
    ).not.toContain('Seq Scan');
  });
});

describe('GET /v1/tenants as CSV', () => {
  it('carries every matching tenant, read page by page, not one page of them', async () => {
    const response = await t.request({ method: 'GET', url: '/v1/tenants?search=fleet-&format=csv' });
    expect(response.status).toBe(200);
    expect(String(response.headers['content-type'])).toContain('text/csv');
    expect(String(response.headers['content-disposition'])).toContain('tenants.csv');
    const rows = String(response.body).split('\r\n');
    expect(rows[0]).toBe(
      'id,slug,name,state,state_reason,plan,plan_version,seats,placement,data_plane,data_plane_health,region,created_at',
    );
    expect(rows.at(-1)).toBe('');
    expect(rows.length).toBe(FLEET + 2);
    const ids = rows.slice(1, -1).map((row) => row.split(',')[0]);
    expect(new Set(ids).size).toBe(FLEET);
    expect(ids).toEqual([...ids].sort());
  });

  it('is asked for by Accept: text/csv too, and keeps the filters', async () => {
    const response = await t.request({
      method: 'GET',
      url: '/v1/tenants?placement=schema',
      headers: { accept: 'text/csv' },
    });
    expect(response.status).toBe(200);
    const rows = String(response.body).split('\r\n').slice(1, -1);
    expect(rows.length).toBe(2);
    for (const row of rows) expect(row).toContain(',schema,');
  });

  it('defuses the cells a spreadsheet would run as a formula', async () => {
    const response = await t.request({ method: 'GET', url: '/v1/tenants?plan=starter&format=csv' });
    const body = String(response.body);
    expect(body).toContain(`,'+1+2,`);
    expect(body).toContain(`,'@SUM(A1:A9),`);
    expect(body).toContain(`,"'-3, ""quoted""",`);
    const evil = await t.request({ method: 'GET', url: `/v1/tenants?search=${hostile.slug}&format=csv` });
    const row = String(evil.body).split('\r\n')[1];
    expect(row).toContain(`,"'=HYPERLINK(""http://evil.example"",""click"")",`);
    // No cell of any row starts with a formula character unquoted or unprefixed.
    for (const line of body.split('\r\n')) {
      for (const cell of line.split(',')) expect(cell).not.toMatch(/^"?[=+@]/);
    }
  });

  it('answers a bad cursor with a problem, not a broken download', async () => {
    const response = await t.request({ method: 'GET', url: '/v1/tenants?format=csv&cursor=nonsense' });
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_failed');
  });

  it('keeps the list JSON without format or Accept, and follows the state of each tenant', async () => {
    expect((await act(t, hostile.id, 'suspend')).status).toBe(200);
    const response = await t.request({
      method: 'GET',
      url: `/v1/tenants?search=${hostile.slug}&state=suspended`,
    });
    expect(response.body.data.map((x: { id: string }) => x.id)).toEqual([hostile.id]);
    const csv = await t.request({
      method: 'GET',
      url: `/v1/tenants?search=${hostile.slug}&state=suspended&format=csv`,
    });
    expect(String(csv.body)).toContain(`${hostile.id},${hostile.slug},`);
  });

  it('refuses a key without tenants:read, and no token at all', async () => {
    const key = await t.services.apiKeys.create(systemContext('test'), {
      name: 'no-read',
      scopes: ['usage:write'],
    });
    const denied = await t.request({
      method: 'GET',
      url: '/v1/tenants?format=csv',
      headers: { authorization: `Bearer ${key.secret}` },
    });
    expect(denied.status).toBe(403);
    const anonymous = await t.app.inject({ method: 'GET', url: '/v1/tenants?format=csv' });
    expect(anonymous.statusCode).toBe(401);
  });
});
