import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { auditCount, provisionedTenant } from '../../test/tenant-support.ts';
import {
  type Aggregation,
  applyUsageMeters,
  at,
  checkReport,
  countRows,
  HOUR,
  ingestOk,
  meteredTenant,
  postEvents,
  rawEvents,
  rollupState,
  usage,
} from '../../test/usage-support.ts';

const DAY = 86_400_000;
let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
  await applyUsageMeters(t);
  // Billing periods start at a tenant's creation hour; leave room behind the clock for late events.
  t.clock.advance(2 * HOUR + 17 * 60_000);
});
afterAll(() => t.close());

async function storedIds(tenantId: string): Promise<string[]> {
  const rows = await t.db.database.db
    .selectFrom('usage_events')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .orderBy('id')
    .execute();
  return rows.map((r) => r.id);
}

describe('POST /v1/events: shapes', () => {
  it('takes one event as an object, by tenant slug, and stores it as sent', async () => {
    const tenant = await meteredTenant(t);
    const time = at(t, -60_000);
    const body = await ingestOk(t, {
      id: 'one',
      tenant: tenant.slug,
      meter: 'api_calls',
      value: 2.5,
      time,
      subject: 'alice',
      properties: { region: 'eu', quote: 'a "b" \\ c', n: 1 },
    });
    expect(body).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    const row = await t.db.database.db
      .selectFrom('usage_events')
      .selectAll()
      .where('tenant_id', '=', tenant.id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      id: 'one',
      meter: 'api_calls',
      subject: 'alice',
      properties: { region: 'eu', quote: 'a "b" \\ c', n: 1 },
      voided_at: null,
    });
    expect(Number(row.value)).toBe(2.5);
    expect(row.time.toISOString()).toBe(time);
    expect(row.received_at.toISOString()).toBe(t.clock.now().toISOString());
  });

  it('takes an array, with tenants by id or slug; a count event without value counts 1', async () => {
    const tenant = await meteredTenant(t);
    const body = await ingestOk(t, [
      { id: 'a', tenant: tenant.id, meter: 'meetings', time: at(t) },
      { id: 'b', tenant: tenant.slug, meter: 'meetings', value: 1, time: at(t) },
      { id: 'c', tenant: tenant.slug, meter: 'api_calls', value: 0, time: at(t) },
    ]);
    expect(body).toEqual({ accepted: 3, duplicates: 0, rejected: [] });
    expect(await storedIds(tenant.id)).toEqual(['a', 'b', 'c']);
    expect((await usage(t, tenant.id, { meter: 'meetings' })).total).toBe(2);
    expect((await usage(t, tenant.id, { meter: 'api_calls' })).total).toBe(0);
  });

  it('answers an empty array with nothing done', async () => {
    expect(await ingestOk(t, [])).toEqual({ accepted: 0, duplicates: 0, rejected: [] });
  });
});

describe('POST /v1/events: rejections', () => {
  it('keeps the valid events of a partly bad batch and names the problem of each bad one by index', async () => {
    const tenant = await meteredTenant(t);
    const ok = (id: string, extra: Record<string, unknown> = {}) => ({
      id,
      tenant: tenant.id,
      meter: 'api_calls',
      value: 1,
      time: at(t),
      ...extra,
    });
    const batch: unknown[] = [
      ok('good-1'),
      ok('r1', { tenant: 'no-such-tenant' }),
      ok('r2', { meter: 'no_such_meter' }),
      ok('r3', { value: undefined }),
      ok('r4', { value: -1 }),
      ok('r5', { value: '5' }),
      ok('r6', { time: at(t, 5 * 60_000 + 1000) }),
      ok('r7', { time: at(t, -36 * DAY) }),
      ok('r8', { meter: 'active_users' }),
      ok('r9', { meter: 'active_projects', subject: 'alice', properties: { other: 'x' } }),
      42,
      null,
      { tenant: tenant.id, meter: 'api_calls', value: 1, time: at(t) },
      ok('r13', { colour: 'red' }),
      ok('r14', { time: 'yesterday' }),
      ok('good-2', { meter: 'meetings', value: undefined }),
      ok('r16', { value: null }),
      ok('good-3', { time: at(t, 5 * 60_000) }),
      ok('good-4', { time: at(t, -34 * DAY) }),
      ok('r19', { tenant: 'ten_0000000000000000000000' }),
      ok('good-5', { meter: 'active_users', subject: 'alice' }),
      ok('good-6', { meter: 'active_projects', properties: { project: 'p1' } }),
    ];
    const before = await auditCount(t);
    const body = await ingestOk(t, batch);
    expect(body.accepted).toBe(6);
    expect(body.duplicates).toBe(0);
    const reasons = Object.fromEntries(body.rejected.map((r: any) => [r.index, r.reason]));
    expect(body.rejected.map((r: any) => r.index)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 19,
    ]);
    expect(reasons[1]).toBe('unknown tenant "no-such-tenant"');
    expect(reasons[2]).toBe('unknown meter "no_such_meter"');
    expect(reasons[3]).toBe('value is required for sum meter "api_calls"');
    expect(reasons[4]).toMatch(/^value: .*>=0/);
    expect(reasons[5]).toMatch(/^value: .*expected number, received string/);
    expect(reasons[6]).toMatch(/more than 5 minutes ahead/);
    expect(reasons[7]).toMatch(/before the late window/);
    expect(reasons[8]).toMatch(/active_users.*unique subject/);
    expect(reasons[9]).toMatch(/active_projects.*unique properties\.project/);
    expect(reasons[10]).toMatch(/expected object, received number/);
    expect(reasons[11]).toMatch(/expected object, received null/);
    expect(reasons[12]).toMatch(/^id: /);
    expect(reasons[13]).toMatch(/Unrecognized key.*colour/);
    expect(reasons[14]).toMatch(/^time: /);
    expect(reasons[16]).toMatch(/^value: /);
    expect(reasons[19]).toBe('unknown tenant "ten_0000000000000000000000"');
    const ids = Object.fromEntries(body.rejected.map((r: any) => [r.index, r.id]));
    expect(ids[1]).toBe('r1');
    expect(ids[10]).toBeNull();
    expect(ids[12]).toBeNull();
    expect(await storedIds(tenant.id)).toEqual(['good-1', 'good-2', 'good-3', 'good-4', 'good-5', 'good-6']);
    // Ingestion is not an audited change of configuration: nothing is written to the audit log.
    expect(await auditCount(t)).toBe(before);
  });

  it('answers a batch in which every event is bad with 400 validation_failed, listing them, and writes nothing', async () => {
    const tenant = await meteredTenant(t);
    const events = await countRows(t, 'usage_events');
    const rollups = await countRows(t, 'usage_rollups');
    const response = await postEvents(t, [
      { id: 'x1', tenant: tenant.id, meter: 'nope', value: 1, time: at(t) },
      { id: 'x2', tenant: 'nobody', meter: 'api_calls', value: 1, time: at(t) },
    ]);
    expect(response.status).toBe(400);
    expect(response.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(response.body).toMatchObject({
      code: 'validation_failed',
      rejected: [
        { index: 0, id: 'x1', reason: 'unknown meter "nope"' },
        { index: 1, id: 'x2', reason: 'unknown tenant "nobody"' },
      ],
      errors: [
        { path: '[0]', message: 'unknown meter "nope"' },
        { path: '[1]', message: 'unknown tenant "nobody"' },
      ],
    });
    expect(response.body.detail).toMatch(/every event was rejected \(2\)/);
    const single = await postEvents(t, { id: 'x3', tenant: tenant.id, meter: 'api_calls', time: at(t) });
    expect(single.status).toBe(400);
    expect(single.body.rejected).toEqual([
      { index: 0, id: 'x3', reason: 'value is required for sum meter "api_calls"' },
    ]);
    expect(await countRows(t, 'usage_events')).toBe(events);
    expect(await countRows(t, 'usage_rollups')).toBe(rollups);
  });

  it('refuses a batch of more than 10,000 events whole, and takes one of exactly 10,000', async () => {
    const tenant = await meteredTenant(t);
    const event = (i: number) => ({ id: `big-${i}`, tenant: tenant.id, meter: 'meetings', time: at(t, -i) });
    const tooBig = await postEvents(
      t,
      Array.from({ length: 10_001 }, (_, i) => event(i)),
    );
    expect(tooBig.status).toBe(400);
    expect(tooBig.body.code).toBe('validation_failed');
    expect(tooBig.body.errors).toEqual([
      { path: '(body)', message: 'a batch holds at most 10000 events, and this one has 10001' },
    ]);
    expect(await countRows(t, 'usage_events', tenant.id)).toBe(0);
    const full = await ingestOk(
      t,
      Array.from({ length: 10_000 }, (_, i) => event(i)),
    );
    expect(full).toEqual({ accepted: 10_000, duplicates: 0, rejected: [] });
    expect((await usage(t, tenant.id, { meter: 'meetings' })).total).toBe(10_000);
  });

  it('answers bodies that are not events with 400 and writes nothing', async () => {
    const events = await countRows(t, 'usage_events');
    const broken = await t.request({
      method: 'POST',
      url: '/v1/events',
      payload: '[{"id": ',
      headers: { 'content-type': 'application/json' },
    });
    expect(broken.status).toBe(400);
    const scalar = await postEvents(t, 'an event');
    expect(scalar.status).toBe(400);
    expect(scalar.body.code).toBe('validation_failed');
    const nul = await postEvents(t, [
      { id: 'a\u0000b', tenant: 'x', meter: 'api_calls', value: 1, time: at(t) },
    ]);
    expect(nul.status).toBe(400);
    expect(await countRows(t, 'usage_events')).toBe(events);
  });

  it('refuses events of a deleted tenant', async () => {
    const tenant = await meteredTenant(t);
    await sql`update tenants set state = 'deleted', deleted_at = ${t.clock.now()} where id = ${tenant.id}`.execute(
      t.db.database.db,
    );
    const response = await postEvents(t, { id: 'd1', tenant: tenant.id, meter: 'meetings', time: at(t) });
    expect(response.status).toBe(400);
    expect(response.body.rejected[0].reason).toBe(`tenant "${tenant.id}" is deleted`);
    expect(await countRows(t, 'usage_events', tenant.id)).toBe(0);
  });

  it('needs an API key', async () => {
    const tenant = await meteredTenant(t);
    const response = await t.app.inject({
      method: 'POST',
      url: '/v1/events',
      payload: { id: 'anon', tenant: tenant.id, meter: 'meetings', time: at(t) },
    });
    expect(response.statusCode).toBe(401);
    expect(await countRows(t, 'usage_events', tenant.id)).toBe(0);
  });
});

describe('POST /v1/events: CloudEvents', () => {
  const cloud = (tenant: string, id: string, extra: Record<string, unknown> = {}) => ({
    specversion: '1.0',
    id,
    source: tenant,
    type: 'api_calls',
    time: at(t),
    subject: 'alice',
    datacontenttype: 'application/json',
    data: { value: 4, region: 'eu' },
    ...extra,
  });

  it('takes a batch as application/cloudevents-batch+json: source is the tenant, type the meter, data.value the value', async () => {
    const tenant = await meteredTenant(t);
    const response = await postEvents(
      t,
      [
        cloud(tenant.slug, 'c1'),
        cloud(tenant.id, 'c2', { type: 'active_projects', data: { value: 1, project: 'p9' } }),
        cloud(tenant.id, 'c3', { type: 'meetings', data: undefined }),
        cloud(tenant.id, 'c4', { specversion: '0.3' }),
        cloud(tenant.id, 'c5', { data: { value: 'four' } }),
        cloud('nobody', 'c6'),
      ],
      'application/cloudevents-batch+json',
    );
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body.accepted).toBe(3);
    expect(response.body.rejected).toEqual([
      { index: 3, id: 'c4', reason: expect.stringMatching(/^specversion: /) },
      { index: 4, id: 'c5', reason: expect.stringMatching(/^value: /) },
      { index: 5, id: 'c6', reason: 'unknown tenant "nobody"' },
    ]);
    const rows = await t.db.database.db
      .selectFrom('usage_events')
      .select(['id', 'meter', 'value', 'subject', 'properties', 'unique_value'])
      .where('tenant_id', '=', tenant.id)
      .orderBy('id')
      .execute();
    expect(rows).toEqual([
      {
        id: 'c1',
        meter: 'api_calls',
        value: '4',
        subject: 'alice',
        properties: { region: 'eu' },
        unique_value: null,
      },
      {
        id: 'c2',
        meter: 'active_projects',
        value: '1',
        subject: 'alice',
        properties: { project: 'p9' },
        unique_value: 'p9',
      },
      { id: 'c3', meter: 'meetings', value: '1', subject: 'alice', properties: null, unique_value: null },
    ]);
  });

  it('takes one event as application/cloudevents+json, also with a charset', async () => {
    const tenant = await meteredTenant(t);
    const one = await postEvents(t, cloud(tenant.id, 's1'), 'application/cloudevents+json');
    expect(one.status, JSON.stringify(one.body)).toBe(200);
    expect(one.body).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    const charset = await postEvents(
      t,
      cloud(tenant.id, 's2'),
      'application/cloudevents+json; charset=utf-8',
    );
    expect(charset.status, JSON.stringify(charset.body)).toBe(200);
    expect(charset.body.accepted).toBe(1);
    const again = await postEvents(t, [cloud(tenant.id, 's1')], 'application/cloudevents-batch+json');
    expect(again.body).toEqual({ accepted: 0, duplicates: 1, rejected: [] });
    expect((await usage(t, tenant.id, { meter: 'api_calls' })).total).toBe(8);
  });

  it('answers a CloudEvents body that is not JSON with 400', async () => {
    const response = await t.request({
      method: 'POST',
      url: '/v1/events',
      payload: 'not json',
      headers: { 'content-type': 'application/cloudevents-batch+json' },
    });
    expect(response.status).toBe(400);
    expect(response.body.code).toBeDefined();
  });
});

describe('after ingestion', () => {
  it("brings new usage and voids into the tenant's entitlements at once", async () => {
    const tenant = await provisionedTenant(t, { plan: 'limited', trial_days: 0 });
    const limit = async () => {
      const shown = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
      expect(shown.status, JSON.stringify(shown.body)).toBe(200);
      return shown.body.limits.meetings;
    };
    expect(await limit()).toMatchObject({ limit: 100, used: 0, remaining: 100 });
    await ingestOk(
      t,
      Array.from({ length: 5 }, (_, i) => ({
        id: `m${i}`,
        tenant: tenant.slug,
        meter: 'meetings',
        time: at(t),
      })),
    );
    expect(await limit()).toMatchObject({ limit: 100, used: 5, remaining: 95 });
    const voided = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/events/m0/void`,
      payload: { reason: 'test' },
    });
    expect(voided.status).toBe(200);
    expect(await limit()).toMatchObject({ used: 4, remaining: 96 });
  });
});

describe('exactly once', () => {
  const mixed = (tenant: string, prefix: string, count: number) =>
    Array.from({ length: count }, (_, i) => {
      const meters = [
        'meetings',
        'api_calls',
        'peak_memory',
        'active_users',
        'active_projects',
        'storage_level',
        'concurrent_sessions',
      ];
      const meter = meters[i % meters.length] as string;
      return {
        id: `${prefix}${String(i).padStart(4, '0')}`,
        tenant,
        meter,
        value: (i * 7) % 13,
        time: at(t, -((i * 7919) % (5 * HOUR))),
        subject: `s${i % 3}`,
        ...(meter === 'active_projects' ? { properties: { project: `p${i % 4}` } } : {}),
      };
    });

  it('counts a replayed batch as duplicates and leaves events and rollups as they were', async () => {
    const tenant = await meteredTenant(t);
    const batch = mixed(tenant.id, 'r', 70);
    expect(await ingestOk(t, batch)).toEqual({ accepted: 70, duplicates: 0, rejected: [] });
    const rollups = await rollupState(t, tenant.id);
    const events = await rawEvents(t, tenant.id);
    expect(await ingestOk(t, batch)).toEqual({ accepted: 0, duplicates: 70, rejected: [] });
    // Replayed in other splits, in reverse, with one new event among them.
    expect(await ingestOk(t, batch.slice(0, 30).reverse())).toEqual({
      accepted: 0,
      duplicates: 30,
      rejected: [],
    });
    expect(await rollupState(t, tenant.id)).toEqual(rollups);
    expect(await rawEvents(t, tenant.id)).toEqual(events);
  });

  it('keeps the first value of an id re-sent with another value, meter or time', async () => {
    const tenant = await meteredTenant(t);
    await ingestOk(t, { id: 'k', tenant: tenant.id, meter: 'api_calls', value: 5, time: at(t) });
    t.clock.advance(60_000);
    const body = await ingestOk(t, [
      { id: 'k', tenant: tenant.slug, meter: 'api_calls', value: 500, time: at(t) },
      { id: 'k', tenant: tenant.id, meter: 'storage_gb', value: 9, time: at(t) },
    ]);
    expect(body).toEqual({ accepted: 0, duplicates: 2, rejected: [] });
    const [row] = await rawEvents(t, tenant.id);
    expect(row).toMatchObject({ id: 'k', meter: 'api_calls', value: '5' });
    expect((await usage(t, tenant.id, { meter: 'api_calls' })).total).toBe(5);
    expect((await usage(t, tenant.id, { meter: 'storage_gb' })).total).toBe(0);
  });

  it('counts an id twice in one batch once, keeping its first occurrence whatever the meters', async () => {
    const tenant = await meteredTenant(t);
    const body = await ingestOk(t, [
      { id: 'same', tenant: tenant.id, meter: 'api_calls', value: 3, time: at(t) },
      { id: 'same', tenant: tenant.id, meter: 'api_calls', value: 4, time: at(t) },
      { id: 'gauge-first', tenant: tenant.id, meter: 'storage_gb', value: 2, time: at(t, -HOUR) },
      { id: 'gauge-next', tenant: tenant.id, meter: 'storage_gb', value: 0, time: at(t) },
      { id: 'gauge-first', tenant: tenant.slug, meter: 'api_calls', value: 100, time: at(t) },
      { id: 'same', tenant: tenant.slug, meter: 'api_calls', value: 5, time: at(t) },
    ]);
    expect(body).toEqual({ accepted: 3, duplicates: 3, rejected: [] });
    const rows = await rawEvents(t, tenant.id);
    expect(rows.map((r) => [r.id, r.meter, r.value]).sort()).toEqual([
      ['gauge-first', 'storage_gb', '2'],
      ['gauge-next', 'storage_gb', '0'],
      ['same', 'api_calls', '3'],
    ]);
    expect((await usage(t, tenant.id, { meter: 'api_calls' })).total).toBe(3);
    // 2 for the hour before the tenant's first period began; its range is given explicitly.
    const hourBefore = await usage(t, tenant.id, {
      meter: 'storage_gb',
      from: new Date(Date.parse(tenant.billing_anchor) - 2 * HOUR).toISOString(),
      to: new Date(Date.parse(tenant.billing_anchor) + 2 * HOUR).toISOString(),
    });
    expect(hourBefore.total).toBe(2);
  });

  it('keys ids per tenant: two tenants may use the same id', async () => {
    const a = await meteredTenant(t);
    const b = await meteredTenant(t);
    const body = await ingestOk(t, [
      { id: 'shared', tenant: a.id, meter: 'api_calls', value: 1, time: at(t) },
      { id: 'shared', tenant: b.id, meter: 'api_calls', value: 2, time: at(t) },
    ]);
    expect(body).toEqual({ accepted: 2, duplicates: 0, rejected: [] });
    expect((await usage(t, a.id, { meter: 'api_calls' })).total).toBe(1);
    expect((await usage(t, b.id, { meter: 'api_calls' })).total).toBe(2);
  });

  it('stores an id sent in 8 overlapping concurrent batches once, and the rollups equal a recompute', async () => {
    const a = await meteredTenant(t);
    const b = await meteredTenant(t);
    const all = [...mixed(a.id, 'c', 140), ...mixed(b.id, 'c', 140)];
    // Some events are stored first, to be voided while the batches run.
    const early = all.filter((_, i) => i % 9 === 0);
    await ingestOk(t, early);
    const voids = early.slice(0, 12).map((e) =>
      t.request({
        method: 'POST',
        url: `/v1/tenants/${e.tenant}/events/${e.id}/void`,
        payload: { reason: 'concurrent correction' },
      }),
    );
    // Batch k holds a window of the events, overlapping its neighbours, in its own order.
    const batches = Array.from({ length: 8 }, (_, k) => {
      const slice = [...all.slice(k * 30, k * 30 + 90), ...all.slice(200 + k * 10, 240 + k * 10)];
      return k % 2 === 0 ? slice : slice.reverse();
    });
    const sent = batches.flat();
    const key = (e: { tenant: string; id: string }) => `${e.tenant}/${e.id}`;
    const before = new Set(early.map(key));
    const distinct = new Set(sent.map(key).filter((k) => !before.has(k)));
    const [answers, voided] = await Promise.all([
      Promise.all(batches.map((batch) => postEvents(t, batch))),
      Promise.all(voids),
    ]);
    for (const answer of answers) expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    for (const answer of voided) expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const accepted = answers.reduce((n, r) => n + r.body.accepted, 0);
    const duplicates = answers.reduce((n, r) => n + r.body.duplicates, 0);
    expect(accepted).toBe(distinct.size);
    expect(duplicates).toBe(sent.length - distinct.size);
    const stored = [...(await rawEvents(t, a.id)), ...(await rawEvents(t, b.id))];
    expect(stored).toHaveLength(distinct.size + before.size);
    expect(stored.filter((e) => e.voided)).toHaveLength(12);
    const now = t.clock.now().getTime();
    const to = Math.ceil(now / HOUR) * HOUR + HOUR;
    const from = to - 8 * HOUR;
    for (const tenant of [a, b]) {
      const events = await rawEvents(t, tenant.id);
      const meters: [string, Aggregation][] = [
        ['meetings', 'count'],
        ['api_calls', 'sum'],
        ['peak_memory', 'max'],
        ['active_users', 'unique_count'],
        ['active_projects', 'unique_count'],
        ['storage_level', 'latest'],
        ['concurrent_sessions', 'time_weighted'],
      ];
      for (const [meter, aggregation] of meters) {
        const report = await usage(t, tenant.id, {
          meter,
          from: new Date(from).toISOString(),
          to: new Date(to).toISOString(),
          window: 'hour',
          group_by: 'subject',
        });
        checkReport(
          report,
          events.filter((e) => e.meter === meter),
          aggregation,
          { from, to, window: 'hour', bySubject: true, now, anchor: new Date(tenant.billing_anchor) },
        );
      }
    }
  });
});
