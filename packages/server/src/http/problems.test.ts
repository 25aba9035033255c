import { readFileSync } from 'node:fs';
import { errorCatalog } from '@tenantry/core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';

const FIXTURE = readFileSync(new URL('../../test/fixtures/plans.yaml', import.meta.url), 'utf8');

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  const applied = await t.request({ method: 'POST', url: '/v1/plans/apply', payload: { source: FIXTURE } });
  expect(applied.status).toBe(200);
});
afterAll(() => t.close());

/** Asserts the response is an RFC 9457 problem with every member Tenantry promises. */
function expectProblem(
  response: { status: number; body: any; headers: Record<string, unknown> },
  code: string,
  url?: string,
) {
  expect(response.headers['content-type']).toBe('application/problem+json');
  const entry = errorCatalog[code as keyof typeof errorCatalog];
  expect(entry, `${code} is in the catalogue`).toBeDefined();
  expect(response.body).toMatchObject({
    type: `https://tenantry.dev/docs/errors#${code}`,
    title: entry.title,
    status: entry.status,
    code,
    request_id: response.headers['x-request-id'],
  });
  expect(response.status).toBe(entry.status);
  expect(response.body.detail).toEqual(expect.any(String));
  expect(response.body.detail.length).toBeGreaterThan(0);
  expect(response.body.instance).toEqual(expect.any(String));
  if (url) expect(response.body.instance).toBe(url);
}

describe('problem responses', () => {
  test('an unknown route is 404 route_not_found', async () => {
    for (const [method, url] of [
      ['GET', '/v1/nothing-here'],
      ['PUT', '/v1/tenants'],
      ['GET', '/nowhere'],
    ] as const) {
      const response = await t.request({ method, url });
      expectProblem(response, 'route_not_found', url);
    }
  });

  test('malformed JSON is 400 malformed_request', async () => {
    for (const payload of ['{"slug": ', '{bad}', "{'a': 1}"]) {
      const response = await t.request({
        method: 'POST',
        url: '/v1/tenants',
        payload,
        headers: { 'content-type': 'application/json' },
      });
      expectProblem(response, 'malformed_request');
    }
  });

  test('an empty JSON body is 400 malformed_request', async () => {
    const response = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: '',
      headers: { 'content-type': 'application/json' },
    });
    expectProblem(response, 'malformed_request');
  });

  test('a body that is not JSON is 415 unsupported_media_type', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const response = await t.request({
        method: 'POST',
        url: '/v1/api-keys',
        payload: 'name=x',
        headers: { 'content-type': type },
      });
      expectProblem(response, 'unsupported_media_type');
    }
  });

  test('a body over the limit is 413 payload_too_large', async () => {
    const response = await t.request({
      method: 'POST',
      url: '/v1/plans/apply',
      payload: JSON.stringify({ source: 'x'.repeat(6 * 1024 * 1024) }),
      headers: { 'content-type': 'application/json' },
    });
    expectProblem(response, 'payload_too_large');
  });

  test('validation errors name every field path', async () => {
    const body = await t.request({
      method: 'POST',
      url: '/v1/tenants',
      payload: { slug: 'Not A Slug', name: '', plan: 'pro', seats: -1, color: 'red' },
    });
    expectProblem(body, 'validation_failed');
    const paths = body.body.errors.map((e: any) => e.path).sort();
    expect(paths).toEqual(['color', 'name', 'seats', 'slug']);
    for (const error of body.body.errors) expect(error.message).toEqual(expect.any(String));
    expect(body.body.detail).toContain('slug');

    const query = await t.request({ method: 'GET', url: '/v1/tenants?limit=0' });
    expectProblem(query, 'validation_failed');
    expect(query.body.errors.map((e: any) => e.path)).toEqual(['query.limit']);

    const unknown = await t.request({ method: 'GET', url: '/v1/tenants?limt=5' });
    expectProblem(unknown, 'validation_failed');
    expect(unknown.body.errors.map((e: any) => e.path)).toEqual(['query.limt']);

    const param = await t.request({ method: 'GET', url: '/v1/plans/pro/versions/first' });
    expectProblem(param, 'validation_failed');
    expect(param.body.errors.map((e: any) => e.path)).toEqual(['params.version']);

    const whole = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: '[1]',
      headers: { 'content-type': 'application/json' },
    });
    expectProblem(whole, 'validation_failed');
    expect(whole.body.errors.map((e: any) => e.path)).toEqual(['(body)']);
  });

  test("validation messages name the field in words for people, the console forms' own", async () => {
    // Zod's own would read "Too small: expected number to be >=0" and "Unrecognized key: \"color\"".
    const body = await t.request({
      method: 'POST',
      url: '/v1/tenants',
      payload: { slug: 'acme', name: '', plan: 'pro', seats: -1, color: 'red' },
    });
    expectProblem(body, 'validation_failed');
    expect(body.body.errors).toEqual([
      { path: 'name', message: 'name must not be empty' },
      { path: 'seats', message: 'seats must be at least 0, not -1' },
      { path: 'color', message: 'unknown field "color"' },
    ]);
    const query = await t.request({ method: 'GET', url: '/v1/tenants?limit=101&limt=5' });
    expect(query.body.errors).toEqual([
      { path: 'query.limit', message: 'limit must be at most 100, not 101' },
      { path: 'query.limt', message: 'unknown field "limt"' },
    ]);
    const missing = await t.request({ method: 'POST', url: '/v1/api-keys', payload: {} });
    expect(missing.body.errors).toEqual([{ path: 'name', message: 'name is required' }]);
    const typed = await t.request({ method: 'POST', url: '/v1/api-keys', payload: { name: 5 } });
    expect(typed.body.errors).toEqual([{ path: 'name', message: 'name must be a string, not 5' }]);
  });

  test('a URL that is not valid percent-encoding is 400 malformed_request', async () => {
    for (const url of ['/v1/tenants/%', '/v1/plans/%E0%A4%A', '/v1/plans/%zz']) {
      const response = await t.request({ method: 'GET', url });
      expectProblem(response, 'malformed_request');
    }
  });

  test('a path parameter over the length limit is 400 validation_failed', async () => {
    const response = await t.request({ method: 'GET', url: `/v1/plans/${'p'.repeat(500)}` });
    expectProblem(response, 'validation_failed');
    expect(response.body.errors[0].path).toBe('params');
  });

  test('a NUL character anywhere in the input is 400 validation_failed naming where', async () => {
    const body = await t.request({ method: 'POST', url: '/v1/api-keys', payload: { name: 'a\u0000b' } });
    expectProblem(body, 'validation_failed');
    expect(body.body.errors.map((e: any) => e.path)).toEqual(['name']);

    const param = await t.request({ method: 'GET', url: '/v1/plans/a%00b' });
    expectProblem(param, 'validation_failed');
    expect(param.body.errors.map((e: any) => e.path)).toEqual(['params.key']);

    const query = await t.request({ method: 'GET', url: '/v1/tenants?cursor=%00' });
    expectProblem(query, 'validation_failed');
    expect(query.body.errors.map((e: any) => e.path)).toEqual(['query.cursor']);
  });

  test('an instant outside 0001-01-01 to 9999-12-31 UTC is 400 validation_failed naming the field, and nothing is written', async () => {
    // ISO 8601 admits year 0000 (and an offset can cross either end); PostgreSQL has no year 0.
    const clocksBefore = await t.request({ method: 'GET', url: '/v1/test-clocks' });
    for (const frozen of ['0000-01-01T00:00:00Z', '0001-01-01T00:00:00+01:00', '9999-12-31T23:00:00-02:00']) {
      const clock = await t.request({
        method: 'POST',
        url: '/v1/test-clocks',
        payload: { frozen_time: frozen },
      });
      expectProblem(clock, 'validation_failed');
      expect(clock.body.errors.map((e: any) => e.path)).toEqual(['frozen_time']);
      expect(clock.body.errors[0].message).toContain('between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z');
    }
    expect((await t.request({ method: 'GET', url: '/v1/test-clocks' })).body).toEqual(clocksBefore.body);

    const audit = await t.request({ method: 'GET', url: '/v1/audit?since=0000-06-01T00:00:00Z' });
    expectProblem(audit, 'validation_failed');
    expect(audit.body.errors.map((e: any) => e.path)).toEqual(['query.since']);
    const usage = await t.request({
      method: 'GET',
      url: '/v1/tenants/ten_x/usage?meter=m&to=0000-06-01T00:00:00Z',
    });
    expectProblem(usage, 'validation_failed');
    expect(usage.body.errors.map((e: any) => e.path)).toEqual(['query.to']);
    const replay = await t.request({
      method: 'POST',
      url: '/v1/webhook-endpoints/whe_x/replay',
      payload: { since: '0000-01-01T00:00:00Z', until: '2026-01-01T00:00:00Z' },
    });
    expectProblem(replay, 'validation_failed');
    expect(replay.body.errors.map((e: any) => e.path)).toEqual(['since']);
  });

  test("a plan version past the database's integer is 400 validation_failed naming it, not a 500", async () => {
    const version = await t.request({ method: 'GET', url: '/v1/plans/pro/versions/2147483648' });
    expectProblem(version, 'validation_failed');
    expect(version.body.errors.map((e: any) => e.path)).toEqual(['params.version']);
    expect((await t.request({ method: 'GET', url: '/v1/plans/pro/versions/2147483647' })).status).toBe(404);

    const created = await t.request({
      method: 'POST',
      url: '/v1/tenants',
      payload: { slug: 'huge-version', name: 'Huge', plan: 'pro', plan_version: 2 ** 31 },
    });
    expectProblem(created, 'validation_failed');
    expect(created.body.errors.map((e: any) => e.path)).toEqual(['plan_version']);
    expect((await t.request({ method: 'GET', url: '/v1/tenants/huge-version' })).status).toBe(404);
  });

  test('JSON nested past the limit is 400 malformed_request naming the limit, on every route with a body', async () => {
    for (const [url, levels] of [
      ['/v1/api-keys', 65],
      ['/v1/tenants', 4_000],
      ['/v1/events', 100_000],
    ] as const) {
      const response = await t.request({
        method: 'POST',
        url,
        payload: `{"name":${'['.repeat(levels)}${']'.repeat(levels)}}`,
        headers: { 'content-type': 'application/json' },
      });
      expectProblem(response, 'malformed_request');
      expect(response.body.detail).toContain('64 levels');
    }
    const at64 = `{"name":"x","deep":${'['.repeat(63)}${']'.repeat(63)}}`;
    const allowed = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: at64,
      headers: { 'content-type': 'application/json' },
    });
    // Not refused for its depth: 64 levels are allowed (the unknown member is what is wrong).
    expectProblem(allowed, 'validation_failed');
  });

  test('a charset other than UTF-8 is 415 naming it, and nothing is done', async () => {
    const keys = async () => (await t.db.database.db.selectFrom('api_keys').select('id').execute()).length;
    const before = await keys();
    for (const charset of ['utf-16', 'UTF-16LE', 'iso-8859-1', '"us-ascii"']) {
      const response = await t.request({
        method: 'POST',
        url: '/v1/api-keys',
        // ASCII text, so that a server reading it as UTF-8 would act on it.
        payload: JSON.stringify({ name: 'from another charset' }),
        headers: { 'content-type': `application/json; charset=${charset}` },
      });
      expectProblem(response, 'unsupported_media_type');
      expect(response.body.detail).toContain(charset.replaceAll('"', ''));
    }
    for (const charset of ['utf-8', 'UTF-8', 'utf8']) {
      const response = await t.request({
        method: 'POST',
        url: '/v1/api-keys',
        payload: JSON.stringify({ name: 'utf-8' }),
        headers: { 'content-type': `application/json; charset=${charset}` },
      });
      expect(response.status).toBe(201);
    }
    expect(await keys()).toBe(before + 3);
  });

  test('a body that is not valid UTF-8 is 400 malformed_request naming the encoding', async () => {
    for (const bad of [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
      const response = await t.request({
        method: 'POST',
        url: '/v1/api-keys',
        payload: Buffer.concat([Buffer.from('{"name":"'), Buffer.from(bad), Buffer.from('"}')]),
        headers: { 'content-type': 'application/json' },
      });
      expectProblem(response, 'malformed_request');
      expect(response.body.detail).toContain('UTF-8');
    }
  });

  test('a query string that is not valid percent-encoding is 400 malformed_request naming the parameter', async () => {
    for (const [url, name] of [
      ['/v1/tenants?plan=%ZZ', 'plan'],
      ['/v1/tenants?limit=5&cursor=%E0%A4', 'cursor'],
      ['/v1/plans?x=%ED%A0%80', 'x'],
      ['/healthz?%', '%'],
    ] as const) {
      const response = await t.request({ method: 'GET', url });
      expectProblem(response, 'malformed_request', url);
      expect(response.body.detail).toContain(`"${name}"`);
    }
    const fine = await t.request({ method: 'GET', url: '/v1/tenants?plan=%70ro' });
    expect(fine.status).toBe(200);
  });

  test('the request id of a problem is the x-request-id header', async () => {
    const response = await t.request({
      method: 'GET',
      url: '/v1/nothing',
      headers: { 'x-request-id': 'trace-1234' },
    });
    expect(response.headers['x-request-id']).toBe('trace-1234');
    expect(response.body.request_id).toBe('trace-1234');
  });
});

describe('plan files', () => {
  test('an alias bomb or nesting past the limit is 400 naming the limit, and nothing is stored', async () => {
    const versions = async () =>
      (await t.db.database.db.selectFrom('plan_versions').select('plan_id').execute()).length;
    const before = await versions();
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (const name of 'bcdefghi')
      levels.push(
        `${name}: &${name} [${Array(9)
          .fill(`*${String.fromCharCode(name.charCodeAt(0) - 1)}`)
          .join(',')}]`,
      );
    const bomb = `${levels.join('\n')}\nplans: { pro: { name: Pro } }\n`;
    const cases = [
      [bomb, 'aliases'],
      [`plans: ${'['.repeat(20_000)}${']'.repeat(20_000)}`, '64 levels'],
      [`plans: ${'{a: '.repeat(100)}1${'}'.repeat(100)}`, '64 levels'],
    ] as const;
    for (const [source, named] of cases) {
      const response = await t.request({ method: 'POST', url: '/v1/plans/apply', payload: { source } });
      expectProblem(response, 'validation_failed');
      expect(response.body.errors[0].message).toContain(named);
    }
    // A few aliases, as a file sharing limits between plans uses them, are fine.
    const shared =
      'x-limits: &limits { seats: { value: 5 } }\nplans:\n  small: { name: Small, limits: *limits }\n';
    const dry = await t.request({
      method: 'POST',
      url: '/v1/plans/apply',
      payload: { source: shared, dry_run: true },
    });
    expect(dry.status, JSON.stringify(dry.body)).toBeLessThan(500);
    expect(JSON.stringify(dry.body)).not.toContain('aliases');
    expect(await versions()).toBe(before);
  });

  test('plan files of every strange shape get 400 problems, never a 500', async () => {
    const sources = [
      'plans',
      '~',
      '[]',
      '- 1\n- 2',
      '"just text"',
      '---\na: 1\n---\nb: 2',
      'plans: []',
      'plans: { pro: null }',
      'plans: { pro: [] }',
      'plans: { "Pro Plan": { name: x } }',
      'currency: zzz\nplans: { pro: { name: Pro } }',
      'plans: { pro: { name: Pro, limits: { seats: { value: 1e400 } } } }',
      'plans: { pro: { name: Pro, prices: [ { type: per_seat, unit_amount: 99999999999999999999999999.99 } ] } }',
      'plans: { pro: { name: Pro, prices: [ { type: usage, meter: nope, unit_amount: "1" } ] } }',
      'meters: { a: { aggregation: median } }\nplans: { pro: { name: Pro } }',
      'a: &a [*a]',
      'a: !!binary AAAA\nplans: { pro: { name: Pro } }',
      'plans: { pro: { name: "\\0" } }',
      `plans: { pro: { name: ${'x'.repeat(100_000)} } }`,
      `${'a: {'.repeat(500)}${'}'.repeat(500)}`,
      '\ufeffplans: { pro: { name: Pro } }',
      'plans: { pro: { name: Pro, trial_days: -1 } }',
    ];
    for (const source of sources) {
      const response = await t.request({ method: 'POST', url: '/v1/plans/apply', payload: { source } });
      expect(response.status, `${source.slice(0, 80)} → ${JSON.stringify(response.body)}`).toBeLessThan(500);
      if (response.status >= 400) {
        expect(response.headers['content-type']).toBe('application/problem+json');
        for (const error of response.body.errors ?? []) expect(error.path).toEqual(expect.any(String));
      }
    }
  });
});
