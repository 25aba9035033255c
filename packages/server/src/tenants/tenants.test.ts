import { PLACEMENTS, TENANT_STATES } from '@tenantry/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp, uniqueSlug } from '../../test/harness.ts';
import {
  act,
  applyPlans,
  auditCount,
  auditRows,
  createTenant,
  fixture,
  getTenant,
  operatorKeyId,
  provisionedTenant,
  stateOf,
  tenantCount,
  tenantRow,
} from '../../test/tenant-support.ts';

let t: TestApp;
let keyId: string;
let planIds: Record<string, string>;

beforeAll(async () => {
  t = await startTestApp();
  const applied = await applyPlans(t);
  // A retired vendor data plane, and a customer's (which holds one tenant of its own).
  const db = t.services.database.db;
  await db
    .insertInto('data_planes')
    .values({ id: 'dpl_retired', name: 'retired', kind: 'vendor', retired_at: t.clock.now() })
    .execute();
  const owner = await provisionedTenant(t, { plan: 'pro' });
  await db
    .insertInto('data_planes')
    .values({ id: 'dpl_customer', name: 'customer', kind: 'customer', tenant_id: owner.id })
    .execute();
  planIds = Object.fromEntries(applied.plans.map((p: { key: string; id: string }) => [p.key, p.id]));
  keyId = await operatorKeyId(t);
});
afterAll(() => t.close());

const TENANT_KEYS = [
  'billing_anchor',
  'created_at',
  'current_period',
  'data_plane',
  'data_plane_health',
  'deleted_at',
  'id',
  'metadata',
  'name',
  'overrides',
  'placement',
  'plan',
  'provisioning',
  'region',
  'resources',
  'scheduled_change',
  'seats',
  'slug',
  'state',
  'state_reason',
  'test_clock',
  'trial_ends_at',
  'updated_at',
];

/** Expects a problem+json answer with this status and code; returns its body. */
function expectProblem(
  response: { status: number; body: any; headers: Record<string, unknown> },
  status: number,
  code: string,
) {
  expect(response.status, JSON.stringify(response.body)).toBe(status);
  expect(String(response.headers['content-type'])).toContain('application/problem+json');
  expect(response.body.code).toBe(code);
  expect(response.body.status).toBe(status);
  expect(typeof response.body.detail).toBe('string');
  expect(response.body.detail).not.toMatch(/\n\s+at /); // never a stack trace
  return response.body;
}

function paths(body: any): string[] {
  return (body.errors ?? []).map((e: { path: string }) => e.path);
}

describe('POST /v1/tenants', () => {
  it('creates a tenant in state provisioning with the documented shape', async () => {
    const slug = uniqueSlug('acme');
    const response = await t.request({
      method: 'POST',
      url: '/v1/tenants',
      payload: { slug, name: 'Acme Corp', plan: 'pro' },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(201);
    const body = response.body;
    expect(Object.keys(body).sort()).toEqual(TENANT_KEYS);
    expect(body.id).toMatch(/^ten_[0-9a-z]{26}$/);
    expect(response.headers.location).toBe(`/v1/tenants/${body.id}`);
    const now = t.clock.now().toISOString();
    expect(body).toEqual({
      id: body.id,
      slug,
      name: 'Acme Corp',
      state: 'provisioning',
      state_reason: null,
      placement: 'pool',
      data_plane: 'dpl_default',
      data_plane_health: 'unknown',
      region: null,
      plan: { id: planIds.pro, key: 'pro', version: 1 },
      seats: 1,
      overrides: {},
      trial_ends_at: null,
      billing_anchor: now,
      current_period: { start: now, end: '2026-12-10T12:00:00.000Z' },
      scheduled_change: null,
      resources: { placement: 'pool', data_plane: 'dpl_default' },
      provisioning: { state: 'running', step: 'data_plane', error: null },
      metadata: {},
      created_at: now,
      updated_at: now,
      deleted_at: null,
      test_clock: null,
    });
    // Stored, with its provisioning run's first step queued in the same transaction.
    const row = await tenantRow(t, body.id);
    expect(row.slug).toBe(slug);
    const jobs = await t.services.database.db
      .selectFrom('jobs')
      .selectAll()
      .where('dedupe_key', '=', `provision:${body.id}:data_plane`)
      .execute();
    expect(jobs).toHaveLength(1);
    expect(jobs[0]?.status).toBe('pending');
  });

  it('takes every optional field', async () => {
    const slug = uniqueSlug();
    const body = await createTenant(t, {
      slug,
      name: 'Globex',
      plan: 'starter',
      plan_version: 1,
      placement: 'schema',
      region: 'eu-west',
      trial_days: 3,
      seats: 4,
      overrides: {
        features: { sso: true },
        limits: { meetings: { value: 250 } },
        config: { retention_days: 30 },
      },
      metadata: { crm_id: '42' },
    });
    expect(body).toMatchObject({
      slug,
      name: 'Globex',
      state: 'provisioning',
      placement: 'schema',
      region: 'eu-west',
      plan: { id: planIds.starter, key: 'starter', version: 1 },
      seats: 4,
      overrides: {
        features: { sso: true },
        limits: { meetings: { value: 250 } },
        config: { retention_days: 30 },
      },
      trial_ends_at: new Date(t.clock.now().getTime() + 3 * 86_400_000).toISOString(),
      resources: {
        placement: 'schema',
        data_plane: 'dpl_default',
        schema: body.id,
        role: `tenantry_${body.id}`,
      },
      metadata: { crm_id: '42' },
    });
  });

  it('names the database and role of a database placement after the id', async () => {
    const body = await createTenant(t, { placement: 'database' });
    expect(body.resources).toEqual({
      placement: 'database',
      data_plane: 'dpl_default',
      role: `tenantry_${body.id}`,
      database: `tenantry_${body.id}`,
    });
  });

  it('places a tenant on the data plane named, refusing one that is full with 409 data_plane_full', async () => {
    const db = t.services.database.db;
    await db
      .insertInto('data_planes')
      .values({ id: 'dpl_small', name: 'small', kind: 'vendor', capacity: 1 })
      .execute();
    // No connector reaches it yet (registered data planes come with their own connector); the
    // tenant is placed there and waits at its first step.
    const first = await createTenant(t, { placement: 'schema', data_plane: 'dpl_small' });
    expect(first).toMatchObject({
      data_plane: 'dpl_small',
      resources: { placement: 'schema', data_plane: 'dpl_small', schema: first.id },
    });
    const listed = await t.request({ method: 'GET', url: '/v1/tenants?data_plane=dpl_small' });
    expect(listed.body.data.map((x: { id: string }) => x.id)).toEqual([first.id]);

    const before = await stateOf(t);
    const full = await t.request({
      method: 'POST',
      url: '/v1/tenants',
      payload: { slug: uniqueSlug(), name: 'x', plan: 'pro', data_plane: 'dpl_small' },
    });
    const body = expectProblem(full, 409, 'data_plane_full');
    expect(paths(body)).toEqual(['data_plane']);
    expect(await stateOf(t)).toEqual(before);
  });

  it('lets overrides raise a hard seats limit', async () => {
    const body = await createTenant(t, {
      plan: 'starter',
      seats: 25,
      overrides: { limits: { seats: { value: 50 } } },
    });
    expect(body.seats).toBe(25);
  });

  const refused: {
    name: string;
    payload: unknown;
    status: number;
    code: string;
    paths?: string[];
    raw?: boolean;
  }[] = [
    { name: 'malformed JSON', payload: '{"slug": "x", ', raw: true, status: 400, code: 'malformed_request' },
    { name: 'a JSON array', payload: '[1, 2]', raw: true, status: 400, code: 'validation_failed' },
    {
      name: 'missing fields',
      payload: {},
      status: 400,
      code: 'validation_failed',
      paths: ['slug', 'name', 'plan'],
    },
    {
      name: 'wrong-typed fields',
      payload: { slug: 5, name: true, plan: 'pro', seats: 'many', trial_days: -1 },
      status: 400,
      code: 'validation_failed',
      paths: ['slug', 'name', 'seats', 'trial_days'],
    },
    {
      name: 'a slug that is not a DNS label',
      payload: { slug: 'Not A Slug', name: 'x', plan: 'pro' },
      status: 400,
      code: 'validation_failed',
      paths: ['slug'],
    },
    {
      name: 'a slug that looks like an id',
      payload: { slug: 'ten_01abc', name: 'x', plan: 'pro' },
      status: 400,
      code: 'validation_failed',
      paths: ['slug'],
    },
    {
      name: 'an unknown field',
      payload: { slug: 'unknown-field', name: 'x', plan: 'pro', colour: 'red' },
      status: 400,
      code: 'validation_failed',
      paths: ['colour'],
    },
    {
      name: 'an unknown placement',
      payload: { slug: 'unknown-placement', name: 'x', plan: 'pro', placement: 'kubernetes' },
      status: 400,
      code: 'validation_failed',
      paths: ['placement'],
    },
    {
      name: 'metadata that is not strings',
      payload: { slug: 'bad-metadata', name: 'x', plan: 'pro', metadata: { n: 1 } },
      status: 400,
      code: 'validation_failed',
      paths: ['metadata.n'],
    },
    {
      name: 'an unknown plan',
      payload: { slug: 'unknown-plan', name: 'x', plan: 'enterprise' },
      status: 400,
      code: 'validation_failed',
      paths: ['plan'],
    },
    {
      name: 'an unknown plan version',
      payload: { slug: 'unknown-version', name: 'x', plan: 'pro', plan_version: 9 },
      status: 400,
      code: 'validation_failed',
      paths: ['plan_version'],
    },
    {
      name: 'an override of an undeclared feature',
      payload: { slug: 'bad-override', name: 'x', plan: 'pro', overrides: { features: { x: true } } },
      status: 400,
      code: 'validation_failed',
      paths: ['overrides.features.x'],
    },
    {
      name: 'an override of the wrong type',
      payload: {
        slug: 'bad-override-type',
        name: 'x',
        plan: 'pro',
        overrides: { features: { sso: 'yes' } },
      },
      status: 400,
      code: 'validation_failed',
      paths: ['overrides.features.sso'],
    },
    {
      name: 'a config override of the wrong type',
      payload: {
        slug: 'bad-config-type',
        name: 'x',
        plan: 'pro',
        overrides: { config: { retention_days: 'long' } },
      },
      status: 400,
      code: 'validation_failed',
      paths: ['overrides.config.retention_days'],
    },
    {
      name: 'an override of an unknown section',
      payload: { slug: 'bad-override-section', name: 'x', plan: 'pro', overrides: { prices: {} } },
      status: 400,
      code: 'validation_failed',
      paths: ['overrides.prices'],
    },
    {
      name: 'a data plane that does not exist',
      payload: { slug: 'no-plane', name: 'x', plan: 'pro', data_plane: 'dpl_nowhere' },
      status: 400,
      code: 'validation_failed',
      paths: ['data_plane'],
    },
    {
      name: 'a data plane id of the wrong shape',
      payload: { slug: 'bad-plane', name: 'x', plan: 'pro', data_plane: "dpl_x'; drop table tenants; --" },
      status: 400,
      code: 'validation_failed',
      paths: ['data_plane'],
    },
    {
      name: 'a retired data plane',
      payload: { slug: 'retired-plane', name: 'x', plan: 'pro', data_plane: 'dpl_retired' },
      status: 400,
      code: 'validation_failed',
      paths: ['data_plane'],
    },
    {
      name: "a customer's data plane for a vendor placement",
      payload: {
        slug: 'customer-plane',
        name: 'x',
        plan: 'pro',
        placement: 'schema',
        data_plane: 'dpl_customer',
      },
      status: 400,
      code: 'validation_failed',
      paths: ['data_plane'],
    },
    {
      name: 'a data plane for a byoi tenant, which gets one of its own',
      payload: { slug: 'byoi-plane', name: 'x', plan: 'pro', placement: 'byoi', data_plane: 'dpl_default' },
      status: 400,
      code: 'validation_failed',
      paths: ['data_plane'],
    },
    {
      name: 'seats above a hard seats limit',
      payload: { slug: 'too-many-seats', name: 'x', plan: 'starter', seats: 11 },
      status: 400,
      code: 'validation_failed',
      paths: ['seats'],
    },
  ];

  for (const c of refused) {
    it(`refuses ${c.name} and writes nothing`, async () => {
      const before = await stateOf(t);
      const response = await t.request({
        method: 'POST',
        url: '/v1/tenants',
        payload: c.payload as string,
        headers: { 'content-type': 'application/json' },
      });
      const body = expectProblem(response, c.status, c.code);
      if (c.paths) {
        for (const path of c.paths) expect(paths(body), JSON.stringify(body)).toContain(path);
      }
      expect(await stateOf(t)).toEqual(before);
    });
  }

  it('refuses a slug in use with 409 slug_taken and writes nothing', async () => {
    const first = await createTenant(t);
    const before = await stateOf(t);
    const response = await t.request({
      method: 'POST',
      url: '/v1/tenants',
      payload: { slug: first.slug, name: 'Other', plan: 'starter' },
    });
    expectProblem(response, 409, 'slug_taken');
    expect(await stateOf(t)).toEqual(before);
  });

  it('gives one of two simultaneous creations of a slug and refuses the other with 409', async () => {
    const slug = uniqueSlug('race');
    const before = await tenantCount(t);
    const responses = await Promise.all(
      [1, 2, 3].map(() =>
        t.request({ method: 'POST', url: '/v1/tenants', payload: { slug, name: 'Race', plan: 'pro' } }),
      ),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses, JSON.stringify(responses.map((r) => r.body))).toEqual([201, 409, 409]);
    for (const r of responses.filter((r) => r.status === 409)) expect(r.body.code).toBe('slug_taken');
    expect(await tenantCount(t)).toBe(before + 1);
  });

  it('replays a retried creation with the same Idempotency-Key instead of creating twice', async () => {
    const slug = uniqueSlug();
    const request = {
      method: 'POST',
      url: '/v1/tenants',
      payload: { slug, name: 'Once', plan: 'pro' },
      headers: { 'idempotency-key': `create-${slug}` },
    };
    const first = await t.request(request);
    const second = await t.request(request);
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.body.id).toBe(first.body.id);
    const rows = await t.services.database.db
      .selectFrom('tenants')
      .select('id')
      .where('slug', '=', slug)
      .execute();
    expect(rows).toHaveLength(1);
  });
});

describe('GET /v1/tenants', () => {
  let made: any[];
  beforeAll(async () => {
    made = [
      await createTenant(t, { plan: 'starter', placement: 'pool' }),
      await createTenant(t, { plan: 'starter', placement: 'schema' }),
      await createTenant(t, { plan: 'pro', placement: 'schema' }),
      await createTenant(t, { plan: 'pro', placement: 'database' }),
    ];
  });

  it('lists tenants in id order with next_cursor null on the only page', async () => {
    const response = await t.request({ method: 'GET', url: '/v1/tenants?limit=100' });
    expect(response.status).toBe(200);
    expect(Object.keys(response.body).sort()).toEqual(['data', 'next_cursor']);
    expect(response.body.next_cursor).toBeNull();
    const ids = response.body.data.map((x: { id: string }) => x.id);
    expect(ids).toEqual([...ids].sort());
    expect(ids.length).toBe(await tenantCount(t));
    for (const m of made) expect(ids).toContain(m.id);
    expect(Object.keys(response.body.data[0]).sort()).toEqual(TENANT_KEYS);
  });

  it('defaults to 20 a page', async () => {
    while ((await tenantCount(t)) < 21) await createTenant(t);
    const response = await t.request({ method: 'GET', url: '/v1/tenants' });
    expect(response.body.data).toHaveLength(20);
    expect(typeof response.body.next_cursor).toBe('string');
  });

  it('walks every tenant once with cursor pagination', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/v1/tenants?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const response = await t.request({ method: 'GET', url });
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      expect(response.body.data.length).toBeLessThanOrEqual(3);
      seen.push(...response.body.data.map((x: { id: string }) => x.id));
      cursor = response.body.next_cursor;
      pages++;
    } while (cursor !== null && pages < 100);
    const all = await t.services.database.db.selectFrom('tenants').select('id').orderBy('id').execute();
    expect(seen).toEqual(all.map((r) => r.id));
    expect(pages).toBe(Math.ceil(all.length / 3));
  });

  it('filters by plan, placement and state, also across pages', async () => {
    const filtered = await t.request({
      method: 'GET',
      url: '/v1/tenants?plan=starter&placement=schema&limit=100',
    });
    expect(filtered.status).toBe(200);
    expect(filtered.body.data.length).toBeGreaterThan(0);
    for (const x of filtered.body.data) {
      expect(x.plan.key).toBe('starter');
      expect(x.placement).toBe('schema');
    }
    expect(filtered.body.data.map((x: { id: string }) => x.id)).toContain(made[1].id);

    const active = await provisionedTenant(t, { plan: 'pro' });
    const byState = await t.request({ method: 'GET', url: '/v1/tenants?state=active&limit=100' });
    expect(byState.body.data.map((x: { id: string }) => x.id)).toContain(active.id);
    for (const x of byState.body.data) expect(x.state).toBe('active');

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/v1/tenants?plan=pro&limit=1${cursor ? `&cursor=${cursor}` : ''}`;
      const response = await t.request({ method: 'GET', url });
      for (const x of response.body.data) expect(x.plan.key).toBe('pro');
      seen.push(...response.body.data.map((x: { id: string }) => x.id));
      cursor = response.body.next_cursor;
    } while (cursor !== null);
    const pro = await t.services.database.db
      .selectFrom('tenants')
      .select('id')
      .where('plan_id', '=', planIds.pro ?? '')
      .orderBy('id')
      .execute();
    expect(seen).toEqual(pro.map((r) => r.id));
  });

  it('searches the slug and the name, case-insensitively, with % and _ taken literally', async () => {
    const marker = uniqueSlug('srch');
    const bySlug = await createTenant(t, { slug: `${marker}-a`, name: 'Acme' });
    const byName = await createTenant(t, { name: `Globex ${marker.toUpperCase()} 100%_off` });
    await createTenant(t, { name: 'Initech' });
    const search = async (q: string) => {
      const response = await t.request({
        method: 'GET',
        url: `/v1/tenants?search=${encodeURIComponent(q)}&limit=100`,
      });
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      return response.body.data.map((x: { id: string }) => x.id).sort();
    };
    expect(await search(marker)).toEqual([bySlug.id, byName.id].sort());
    expect(await search('100%_off')).toEqual([byName.id]);
    // A wildcard in the search matches itself only: "%" alone is not "every tenant".
    expect(await search('%')).toEqual([byName.id]);
    expect(await search('_')).not.toContain(bySlug.id);
  });

  const badQueries: [string, string][] = [
    ['cursor=not-a-cursor', 'query.cursor'],
    [`cursor=${Buffer.from('{"after":5}').toString('base64url')}`, 'query.cursor'],
    [`cursor=${Buffer.from('null').toString('base64url')}`, 'query.cursor'],
    [`cursor=${Buffer.from('{"after":"pln_x"}').toString('base64url')}`, 'query.cursor'],
    ['limit=0', 'query.limit'],
    ['limit=101', 'query.limit'],
    ['limit=ten', 'query.limit'],
    ['state=paused', 'query.state'],
    ['placement=kubernetes', 'query.placement'],
    ['colour=red', 'query.colour'],
    ['search=', 'query.search'],
    [`search=${'x'.repeat(101)}`, 'query.search'],
  ];
  for (const [q, path] of badQueries) {
    it(`refuses ?${q} with 400 naming ${path}`, async () => {
      const response = await t.request({ method: 'GET', url: `/v1/tenants?${q}` });
      const body = expectProblem(response, 400, 'validation_failed');
      expect(paths(body)).toContain(path);
    });
  }
});

describe('GET /v1/tenant-counts', () => {
  it('counts every tenant once by state and once by placement, naming every state and placement', async () => {
    await createTenant(t, { placement: 'schema' });
    const suspended = await provisionedTenant(t, { plan: 'pro' });
    expect((await act(t, suspended.id, 'suspend')).status).toBe(200);
    const answer = await t.request({ method: 'GET', url: '/v1/tenant-counts' });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const rows = await t.services.database.db.selectFrom('tenants').select(['state', 'placement']).execute();
    const tally = (key: 'state' | 'placement') =>
      rows.reduce<Record<string, number>>((counts, row) => {
        counts[row[key]] = (counts[row[key]] ?? 0) + 1;
        return counts;
      }, {});
    expect(answer.body.total).toBe(rows.length);
    const nonZero = (counts: Record<string, number>) =>
      Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0));
    expect(nonZero(answer.body.by_state)).toEqual(tally('state'));
    expect(nonZero(answer.body.by_placement)).toEqual(tally('placement'));
    expect(answer.body.by_state.suspended).toBeGreaterThanOrEqual(1);
    expect(Object.keys(answer.body.by_state).sort()).toEqual([...TENANT_STATES].sort());
    expect(Object.keys(answer.body.by_placement).sort()).toEqual([...PLACEMENTS].sort());
  });
});

describe('GET /v1/tenants/{id}', () => {
  it('shows a tenant by id and by slug', async () => {
    const created = await createTenant(t, { placement: 'schema' });
    const byId = await t.request({ method: 'GET', url: `/v1/tenants/${created.id}` });
    const bySlug = await t.request({ method: 'GET', url: `/v1/tenants/${created.slug}` });
    expect(byId.status).toBe(200);
    expect(bySlug.status).toBe(200);
    expect(byId.body).toEqual(created);
    expect(bySlug.body).toEqual(created);
  });

  it('answers 404 tenant_not_found for an unknown id or slug', async () => {
    for (const id of ['ten_00000000000000000000000000', 'no-such-tenant', 'ten_']) {
      const response = await t.request({ method: 'GET', url: `/v1/tenants/${id}` });
      const body = expectProblem(response, 404, 'tenant_not_found');
      expect(body.instance).toBe(`/v1/tenants/${id}`);
    }
  });

  it("never answers with one tenant's data for another's id", async () => {
    const a = await createTenant(t, { name: 'Tenant A', metadata: { owner: 'a' } });
    const b = await createTenant(t, { name: 'Tenant B', metadata: { owner: 'b' } });
    const shownB = await getTenant(t, b.id);
    expect(shownB.id).toBe(b.id);
    expect(shownB.name).toBe('Tenant B');
    expect(JSON.stringify(shownB)).not.toContain(a.id);
    expect(JSON.stringify(shownB)).not.toContain(a.slug);
    // A made-up id next to A's (same time part) finds nothing rather than A.
    const madeUp = `${a.id.slice(0, -1)}${a.id.endsWith('0') ? '1' : '0'}`;
    expectProblem(await t.request({ method: 'GET', url: `/v1/tenants/${madeUp}` }), 404, 'tenant_not_found');
    expectProblem(
      await t.request({ method: 'GET', url: `/v1/tenants/${madeUp}/entitlements` }),
      404,
      'tenant_not_found',
    );
    // A slug is not a prefix or pattern match.
    expectProblem(
      await t.request({ method: 'GET', url: `/v1/tenants/${a.slug.slice(0, -1)}` }),
      404,
      'tenant_not_found',
    );
  });
});

describe('PATCH /v1/tenants/{id}', () => {
  it('changes name, region, seats, overrides and metadata', async () => {
    const created = await createTenant(t, { region: 'us-east', metadata: { a: '1' } });
    t.clock.advance(60_000);
    const response = await t.request({
      method: 'PATCH',
      url: `/v1/tenants/${created.slug}`,
      payload: {
        name: 'Renamed',
        region: 'eu-west',
        seats: 7,
        overrides: { features: { advanced_analytics: true } },
        metadata: { b: '2' },
      },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body).toEqual({
      ...created,
      name: 'Renamed',
      region: 'eu-west',
      seats: 7,
      overrides: { features: { advanced_analytics: true } },
      metadata: { b: '2' },
      updated_at: t.clock.now().toISOString(),
    });
    expect(await getTenant(t, created.id)).toEqual(response.body);
  });

  it('keeps what the body leaves out, and clears the region with null', async () => {
    const created = await createTenant(t, {
      region: 'us-east',
      seats: 3,
      overrides: { config: { retention_days: 10 } },
      metadata: { a: '1' },
    });
    const response = await t.request({
      method: 'PATCH',
      url: `/v1/tenants/${created.id}`,
      payload: { region: null },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body).toMatchObject({
      name: created.name,
      region: null,
      seats: 3,
      overrides: { config: { retention_days: 10 } },
      metadata: { a: '1' },
    });
  });

  const refused: { name: string; payload: unknown; status: number; code: string; paths?: string[] }[] = [
    { name: 'malformed JSON', payload: '{"name": ', status: 400, code: 'malformed_request' },
    {
      name: 'wrong-typed fields',
      payload: { name: 5, seats: 'many', region: 3 },
      status: 400,
      code: 'validation_failed',
      paths: ['name', 'seats', 'region'],
    },
    {
      name: 'negative seats',
      payload: { seats: -1 },
      status: 400,
      code: 'validation_failed',
      paths: ['seats'],
    },
    {
      name: 'an empty name',
      payload: { name: '  ' },
      status: 400,
      code: 'validation_failed',
      paths: ['name'],
    },
    {
      name: 'a field that only change-plan may change',
      payload: { plan: 'pro' },
      status: 400,
      code: 'validation_failed',
      paths: ['plan'],
    },
    {
      name: 'a field that is not for changing',
      payload: { state: 'active' },
      status: 400,
      code: 'validation_failed',
      paths: ['state'],
    },
    {
      name: 'an override of an undeclared feature',
      payload: { overrides: { features: { x: true } } },
      status: 400,
      code: 'validation_failed',
      paths: ['overrides.features.x'],
    },
    {
      name: 'an override of an undeclared limit',
      payload: { overrides: { limits: { cpu_hours: { value: 5 } } } },
      status: 400,
      code: 'validation_failed',
      paths: ['overrides.limits.cpu_hours'],
    },
    {
      name: 'seats above the hard seats limit',
      payload: { seats: 11 },
      status: 400,
      code: 'validation_failed',
      paths: ['seats'],
    },
    {
      name: 'overrides that lower the seats limit below the seats',
      payload: { overrides: { limits: { seats: { value: 2 } } } },
      status: 400,
      code: 'validation_failed',
      paths: ['seats'],
    },
  ];
  for (const c of refused) {
    it(`refuses ${c.name} and changes nothing`, async () => {
      const created = await createTenant(t, { plan: 'starter', seats: 5 });
      const before = await stateOf(t);
      const response = await t.request({
        method: 'PATCH',
        url: `/v1/tenants/${created.id}`,
        payload: c.payload as string,
        headers: { 'content-type': 'application/json' },
      });
      const body = expectProblem(response, c.status, c.code);
      for (const path of c.paths ?? []) expect(paths(body), JSON.stringify(body)).toContain(path);
      expect(await stateOf(t)).toEqual(before);
      expect(await getTenant(t, created.id)).toEqual(created);
    });
  }

  it('answers 404 for an unknown tenant and writes nothing', async () => {
    const before = await stateOf(t);
    const response = await t.request({
      method: 'PATCH',
      url: '/v1/tenants/ten_00000000000000000000000000',
      payload: { name: 'x' },
    });
    expectProblem(response, 404, 'tenant_not_found');
    expect(await stateOf(t)).toEqual(before);
  });
});

describe('POST /v1/tenants/{id}/change-plan', () => {
  it('moves the tenant now, by default', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter', trial_days: 0 });
    const response = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/change-plan`,
      payload: { plan: 'pro' },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body.plan).toEqual({ id: planIds.pro, key: 'pro', version: 1 });
    expect(response.body.scheduled_change).toBeNull();
    expect((await getTenant(t, tenant.id)).plan.key).toBe('pro');
  });

  it('replaces the overrides when the change carries new ones', async () => {
    const tenant = await provisionedTenant(t, {
      plan: 'starter',
      overrides: { config: { retention_days: 3 } },
    });
    const response = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/change-plan`,
      payload: { plan: 'pro', at: 'now', overrides: { features: { advanced_analytics: true } } },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body.overrides).toEqual({ features: { advanced_analytics: true } });
  });

  it('schedules a change at the end of the period', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    const response = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/change-plan`,
      payload: { plan: 'pro', at: 'period_end' },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body.plan.key).toBe('starter');
    expect(response.body.scheduled_change).toEqual({
      plan: { id: planIds.pro, key: 'pro', version: 1 },
      effective_at: tenant.current_period.end,
    });
  });

  const refused: { name: string; payload: unknown; status: number; code: string; paths?: string[] }[] = [
    { name: 'malformed JSON', payload: '{"plan"', status: 400, code: 'malformed_request' },
    { name: 'a missing plan', payload: {}, status: 400, code: 'validation_failed', paths: ['plan'] },
    {
      name: 'wrong-typed fields',
      payload: { plan: 3, plan_version: 'one' },
      status: 400,
      code: 'validation_failed',
      paths: ['plan', 'plan_version'],
    },
    {
      name: 'an unknown `at`',
      payload: { plan: 'pro', at: 'tomorrow' },
      status: 400,
      code: 'validation_failed',
      paths: ['at'],
    },
    {
      name: 'an unknown field',
      payload: { plan: 'pro', seats: 3 },
      status: 400,
      code: 'validation_failed',
      paths: ['seats'],
    },
    {
      name: 'an unknown plan',
      payload: { plan: 'gold' },
      status: 400,
      code: 'validation_failed',
      paths: ['plan'],
    },
    {
      name: 'an unknown plan version',
      payload: { plan: 'pro', plan_version: 7 },
      status: 400,
      code: 'validation_failed',
      paths: ['plan_version'],
    },
    {
      name: 'overrides of an undeclared feature',
      payload: { plan: 'pro', overrides: { features: { x: true } } },
      status: 400,
      code: 'validation_failed',
      paths: ['overrides.features.x'],
    },
    {
      name: 'a plan whose hard seats limit is below the seats',
      payload: { plan: 'starter' },
      status: 400,
      code: 'validation_failed',
      paths: ['seats'],
    },
    {
      name: 'a plan whose hard seats limit is below the seats, at the period end',
      payload: { plan: 'starter', at: 'period_end' },
      status: 400,
      code: 'validation_failed',
      paths: ['seats'],
    },
  ];
  for (const c of refused) {
    it(`refuses ${c.name} and changes nothing`, async () => {
      const tenant = await provisionedTenant(t, { plan: 'pro', seats: 12 });
      const before = await stateOf(t);
      const response = await t.request({
        method: 'POST',
        url: `/v1/tenants/${tenant.id}/change-plan`,
        payload: c.payload as string,
        headers: { 'content-type': 'application/json' },
      });
      const body = expectProblem(response, c.status, c.code);
      for (const path of c.paths ?? []) expect(paths(body), JSON.stringify(body)).toContain(path);
      expect(await stateOf(t)).toEqual(before);
      expect(await getTenant(t, tenant.id)).toEqual(tenant);
    });
  }

  it('answers 404 for an unknown tenant', async () => {
    const before = await stateOf(t);
    const response = await t.request({
      method: 'POST',
      url: '/v1/tenants/nobody-here/change-plan',
      payload: { plan: 'pro' },
    });
    expectProblem(response, 404, 'tenant_not_found');
    expect(await stateOf(t)).toEqual(before);
  });
});

describe('lifecycle actions and DELETE', () => {
  it('suspends, resumes, cancels and deletes, answering the tenant each time', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    expect(tenant.state).toBe('active');
    const suspended = await act(t, tenant.id, 'suspend', { reason: 'unpaid invoice' });
    expect(suspended.status, JSON.stringify(suspended.body)).toBe(200);
    expect(suspended.body).toMatchObject({
      id: tenant.id,
      state: 'suspended',
      state_reason: 'unpaid invoice',
    });
    const resumed = await act(t, tenant.id, 'resume');
    expect(resumed.body).toMatchObject({ state: 'active', state_reason: null });
    const cancelled = await act(t, tenant.slug, 'cancel', {});
    expect(cancelled.body.state).toBe('cancelled');
    const deleted = await t.request({ method: 'DELETE', url: `/v1/tenants/${tenant.id}` });
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
    expect(deleted.body).toMatchObject({ state: 'deleted', deleted_at: t.clock.now().toISOString() });
    expect(Object.keys(deleted.body).sort()).toEqual(TENANT_KEYS);
  });

  it('refuses an illegal transition with 409 illegal_transition and allowed_actions, changing nothing', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    for (const [method, url] of [
      ['POST', `/v1/tenants/${tenant.id}/resume`],
      ['POST', `/v1/tenants/${tenant.id}/activate`],
      ['POST', `/v1/tenants/${tenant.id}/retry-provisioning`],
      ['DELETE', `/v1/tenants/${tenant.id}`],
    ] as const) {
      const before = await stateOf(t);
      const body = expectProblem(await t.request({ method, url }), 409, 'illegal_transition');
      expect(body.state).toBe('active');
      expect(body.allowed_actions).toEqual(expect.arrayContaining(['suspend', 'cancel']));
      expect(body.allowed_actions).not.toContain('delete');
      expect(await stateOf(t)).toEqual(before);
    }
  });

  it('refuses a malformed or unknown reason and unknown tenants', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const before = await stateOf(t);
    const cases = [
      { payload: { reason: 5 }, path: 'reason' },
      { payload: { reason: 'x', force: true }, path: 'force' },
      { payload: { reason: 'x'.repeat(1001) }, path: 'reason' },
    ];
    for (const c of cases) {
      const body = expectProblem(await act(t, tenant.id, 'suspend', c.payload), 400, 'validation_failed');
      expect(paths(body)).toContain(c.path);
    }
    expectProblem(
      await t.request({
        method: 'POST',
        url: `/v1/tenants/${tenant.id}/suspend`,
        payload: '{"reason"',
        headers: { 'content-type': 'application/json' },
      }),
      400,
      'malformed_request',
    );
    for (const action of ['activate', 'suspend', 'resume', 'cancel', 'retry-provisioning']) {
      expectProblem(await act(t, 'ten_00000000000000000000000000', action), 404, 'tenant_not_found');
    }
    expectProblem(
      await t.request({ method: 'DELETE', url: '/v1/tenants/ten_00000000000000000000000000' }),
      404,
      'tenant_not_found',
    );
    expect(await stateOf(t)).toEqual(before);
  });
});

describe('authentication', () => {
  /** Every tenant endpoint, with a body where it takes one. */
  function endpoints(id: string): { method: string; url: string; payload?: Record<string, unknown> }[] {
    return [
      { method: 'POST', url: '/v1/tenants', payload: { slug: uniqueSlug(), name: 'x', plan: 'pro' } },
      { method: 'GET', url: '/v1/tenants' },
      { method: 'GET', url: `/v1/tenants/${id}` },
      { method: 'PATCH', url: `/v1/tenants/${id}`, payload: { name: 'Hijacked' } },
      { method: 'POST', url: `/v1/tenants/${id}/change-plan`, payload: { plan: 'starter' } },
      { method: 'POST', url: `/v1/tenants/${id}/activate` },
      { method: 'POST', url: `/v1/tenants/${id}/suspend` },
      { method: 'POST', url: `/v1/tenants/${id}/resume` },
      { method: 'POST', url: `/v1/tenants/${id}/cancel` },
      { method: 'POST', url: `/v1/tenants/${id}/retry-provisioning` },
      { method: 'DELETE', url: `/v1/tenants/${id}` },
      { method: 'GET', url: `/v1/tenants/${id}/entitlements` },
    ];
  }

  async function expectRefusedEverywhere(authorization: string | undefined, code: string) {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const before = await stateOf(t);
    for (const e of endpoints(tenant.id)) {
      const response = await t.app.inject({
        method: e.method as 'GET',
        url: e.url,
        ...(e.payload ? { payload: e.payload } : {}),
        headers: authorization === undefined ? {} : { authorization },
      });
      expect(response.statusCode, `${e.method} ${e.url}: ${response.body}`).toBe(401);
      const body = response.json();
      expect(body.code).toBe(code);
      expect(response.body).not.toContain(tenant.slug);
      expect(body.state).toBeUndefined();
    }
    expect(await stateOf(t)).toEqual(before);
  }

  it('refuses every tenant endpoint without Authorization: 401 missing_api_key, nothing written', async () => {
    await expectRefusedEverywhere(undefined, 'missing_api_key');
  });

  it('refuses every tenant endpoint with a wrong key: 401 invalid_api_key, nothing written', async () => {
    await expectRefusedEverywhere(`Bearer ${t.token.slice(0, -4)}AAAA`, 'invalid_api_key');
    await expectRefusedEverywhere('Bearer tnt_op_made-up-key-that-is-long-enough', 'invalid_api_key');
    await expectRefusedEverywhere(`Basic ${Buffer.from('operator:x').toString('base64')}`, 'invalid_api_key');
    await expectRefusedEverywhere(`Bearer ${t.token} extra`, 'invalid_api_key');
  });

  it('refuses a revoked key', async () => {
    const created = await t.request({ method: 'POST', url: '/v1/api-keys', payload: { name: 'temporary' } });
    expect(created.status).toBe(201);
    const auth = { authorization: `Bearer ${created.body.secret}` };
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const allowed = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}`, headers: auth });
    expect(allowed.status).toBe(200);
    const revoked = await t.request({ method: 'POST', url: `/v1/api-keys/${created.body.id}/revoke` });
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    await expectRefusedEverywhere(`Bearer ${created.body.secret}`, 'invalid_api_key');
    // The operator key still works.
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}` })).status).toBe(200);
  });

  it('records the key that made a change, never anything the caller claims', async () => {
    const other = await t.request({ method: 'POST', url: '/v1/api-keys', payload: { name: 'second' } });
    const tenant = await createTenant(t);
    const response = await t.request({
      method: 'PATCH',
      url: `/v1/tenants/${tenant.id}`,
      payload: { name: 'By the second key' },
      headers: { authorization: `Bearer ${other.body.secret}`, 'x-api-key-id': keyId, 'x-actor': keyId },
    });
    expect(response.status).toBe(200);
    const rows = await auditRows(t, tenant.id);
    expect(rows.at(-1)).toMatchObject({
      action: 'tenant.updated',
      actor_type: 'api_key',
      actor_id: other.body.id,
    });
  });
});

describe('audit', () => {
  /** Sends `request` with a request id and expects exactly one new audit row for the tenant. */
  async function expectOneAuditRow(
    tenantId: string | null,
    request: { method: string; url: string; payload?: unknown },
    action: string,
    status = 200,
  ) {
    const before = await auditCount(t);
    const requestId = `req-${uniqueSlug()}`;
    const response = await t.request({
      ...(request as { method: string; url: string }),
      headers: { 'x-request-id': requestId },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(status);
    expect(response.headers['x-request-id']).toBe(requestId);
    const id = tenantId ?? response.body.id;
    expect(await auditCount(t)).toBe(before + 1);
    const rows = await auditRows(t, id);
    const row = rows.at(-1);
    expect(row).toMatchObject({
      actor_type: 'api_key',
      actor_id: keyId,
      tenant_id: id,
      action,
      target_type: 'tenant',
      target_id: id,
      request_id: requestId,
    });
    return { row, body: response.body };
  }

  it('writes one audit row per mutation, with actor, tenant, action, target and request id', async () => {
    const { row, body: created } = await expectOneAuditRow(
      null,
      {
        method: 'POST',
        url: '/v1/tenants',
        payload: { slug: uniqueSlug(), name: 'Audited', plan: 'starter' },
      },
      'tenant.created',
      201,
    );
    expect(row?.data).toMatchObject({ plan: 'starter', plan_version: 1, placement: 'pool' });
    const id = created.id;
    await t.services.jobs.runDue();
    await expectOneAuditRow(
      id,
      { method: 'PATCH', url: `/v1/tenants/${id}`, payload: { seats: 2 } },
      'tenant.updated',
    );
    await expectOneAuditRow(
      id,
      { method: 'POST', url: `/v1/tenants/${id}/change-plan`, payload: { plan: 'pro' } },
      'tenant.plan_changed',
    );
    await expectOneAuditRow(
      id,
      {
        method: 'POST',
        url: `/v1/tenants/${id}/change-plan`,
        payload: { plan: 'starter', at: 'period_end' },
      },
      'tenant.plan_change_scheduled',
    );
    await expectOneAuditRow(id, { method: 'POST', url: `/v1/tenants/${id}/suspend` }, 'tenant.suspended');
    await expectOneAuditRow(id, { method: 'POST', url: `/v1/tenants/${id}/resume` }, 'tenant.resumed');
    await expectOneAuditRow(id, { method: 'POST', url: `/v1/tenants/${id}/cancel` }, 'tenant.cancelled');
    const { row: deleted } = await expectOneAuditRow(
      id,
      { method: 'DELETE', url: `/v1/tenants/${id}` },
      'tenant.deleted',
    );
    expect(deleted?.data).toMatchObject({ from: 'cancelled', to: 'deleted' });
  });

  it('audits activation of a trial', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    expect(tenant.state).toBe('trialing');
    await expectOneAuditRow(
      tenant.id,
      { method: 'POST', url: `/v1/tenants/${tenant.id}/activate` },
      'tenant.activated',
    );
  });

  it('writes no audit row for reads', async () => {
    const tenant = await createTenant(t);
    const before = await auditCount(t);
    await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}` });
    await t.request({ method: 'GET', url: '/v1/tenants' });
    await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
    expect(await auditCount(t)).toBe(before);
  });
});

describe('grandfathering', () => {
  it('keeps tenants on their plan version when a new one is applied, until moved with plan_version', async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    expect(tenant.plan.version).toBe(1);
    const changed = fixture('plans.yaml')
      .replace('features: [sso]', 'features: [sso, advanced_analytics]')
      .replace('retention_days: 90', 'retention_days: 120');
    const applied = await applyPlans(t, changed);
    expect(applied.plans.find((p: { key: string }) => p.key === 'pro')).toMatchObject({
      change: 'updated',
      version: 2,
      previous_version: 1,
    });
    // Existing tenants stay on v1; new ones get v2.
    expect((await getTenant(t, tenant.id)).plan.version).toBe(1);
    const before = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
    expect(before.body.features.advanced_analytics).toBe(false);
    expect(before.body.config.retention_days).toBe(90);
    const fresh = await createTenant(t, { plan: 'pro' });
    expect(fresh.plan.version).toBe(2);
    const old = await createTenant(t, { plan: 'pro', plan_version: 1 });
    expect(old.plan.version).toBe(1);

    const moved = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/change-plan`,
      payload: { plan: 'pro', plan_version: 2 },
    });
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    expect(moved.body.plan).toEqual({ id: planIds.pro, key: 'pro', version: 2 });
    const after = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
    expect(after.body.plan).toEqual({ key: 'pro', version: 2 });
    expect(after.body.features.advanced_analytics).toBe(true);
    expect(after.body.config.retention_days).toBe(120);
  });
});
