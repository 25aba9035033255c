import { readFileSync } from 'node:fs';
import { errorCatalog } from '@tenantry/core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp, type TestApp, uniqueSlug } from '../../test/harness.ts';

const FIXTURE = readFileSync(new URL('../../test/fixtures/plans.yaml', import.meta.url), 'utf8');

let t: TestApp;
let tenantId: string;
beforeAll(async () => {
  t = await startTestApp();
  const applied = await t.request({ method: 'POST', url: '/v1/plans/apply', payload: { source: FIXTURE } });
  expect(applied.status).toBe(200);
  const created = await t.request({
    method: 'POST',
    url: '/v1/tenants',
    payload: { slug: uniqueSlug(), name: 'Acme', plan: 'pro' },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  tenantId = created.body.id;
  await t.services.jobs.runDue();
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

/** Strange values for a path parameter: each must get a 4xx problem or a success, never a 5xx. */
function paramValues(): string[] {
  return [
    tenantId,
    'pro',
    'nope',
    '0',
    '-1',
    '99999999999999999999',
    '1e309',
    'NaN',
    '%00',
    '%27%20or%201%3D1--',
    '..%2F..%2Fetc',
    '%F0%9F%92%A9',
    '%ED%A0%80',
    encodeURIComponent('ten_'.padEnd(90, 'z')),
    'x'.repeat(100),
  ];
}

/** Bodies of every shape, and the same members with values of every wrong type. */
function bodies(properties: string[]): unknown[] {
  const odd: unknown[] = [
    null,
    '',
    ' ',
    'x'.repeat(10_000),
    'a\u0000b',
    '\ud800',
    -1,
    0,
    1.5,
    2 ** 31,
    2 ** 53,
    1e308,
    true,
    [],
    [1, 2],
    {},
    { __proto__: { polluted: true } },
    { nested: { deeper: { deepest: [{}] } } },
    '2026-13-45T99:99:99Z',
    'now',
    'period_end',
  ];
  const shapes: unknown[] = [undefined, null, [], 'text', 42, true, {}, { unexpected: 1 }];
  for (const property of properties) {
    for (const value of odd) shapes.push({ [property]: value });
    // A plausible body with one member wrong.
    for (const value of odd) {
      shapes.push({
        slug: uniqueSlug(),
        name: 'Fuzz',
        plan: 'pro',
        source: 'plans: {}',
        reason: 'fuzz',
        [property]: value,
      });
    }
  }
  return shapes;
}

const QUERIES = [
  '',
  '?limit=0',
  '?limit=101',
  '?limit=-5',
  '?limit=abc',
  '?limit=1e2',
  '?limit=99999999999999999999',
  '?limit=1&limit=2',
  '?cursor=',
  '?cursor=garbage',
  '?cursor=%00',
  '?cursor=eyJpZCI6IngifQ',
  `?cursor=${Buffer.from('{"id":"\'"}').toString('base64url')}`,
  `?cursor=${Buffer.from('[1,2]').toString('base64url')}`,
  `?cursor=${Buffer.from('null').toString('base64url')}`,
  '?state=nope',
  '?state=active&state=cancelled',
  '?plan=%00',
  '?plan=pro',
  '?placement=moon',
  '?unknown=1',
  '?__proto__[x]=1',
];

describe('no input produces a 500', () => {
  test('a table of bad inputs fired at every route gets 4xx problems or successes', async () => {
    const spec = (await t.request({ method: 'GET', url: '/openapi.json' })).body;
    const failures: string[] = [];
    let sent = 0;
    const fire = async (
      method: string,
      url: string,
      payload?: unknown,
      headers: Record<string, string> = {},
    ) => {
      sent += 1;
      const response = await t.request({
        method,
        url,
        ...(payload === undefined
          ? {}
          : {
              payload: JSON.stringify(payload),
              headers: { 'content-type': 'application/json', ...headers },
            }),
        ...(payload === undefined ? { headers } : {}),
      });
      const type = String(response.headers['content-type'] ?? '');
      const wrong =
        response.status >= 500 ||
        (response.status >= 400 && type !== 'application/problem+json') ||
        (response.status >= 400 && typeof response.body?.code !== 'string');
      if (wrong) {
        failures.push(
          `${method} ${url} ${payload === undefined ? '' : JSON.stringify(payload).slice(0, 120)} → ${response.status} ${JSON.stringify(response.body).slice(0, 200)}`,
        );
      }
    };

    const routes = Object.entries(spec.paths as Record<string, Record<string, any>>).filter(([path]) =>
      path.startsWith('/v1/'),
    );
    expect(routes.length).toBeGreaterThanOrEqual(10);
    for (const [path, operations] of routes) {
      for (const [method, operation] of Object.entries(operations)) {
        const upper = method.toUpperCase();
        const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? '');
        const urls = params.length === 0 ? [path] : paramValues().map((v) => path.replace(/\{\w+\}/g, v));
        const schema = operation.requestBody?.content?.['application/json']?.schema;
        const properties = Object.keys(schema?.properties ?? {});
        for (const url of urls) {
          if (upper === 'GET' || upper === 'DELETE') {
            for (const query of params.length === 0 ? QUERIES : ['', '?limit=0', '?x=%00']) {
              await fire(upper, url + query);
            }
          } else {
            await fire(upper, url);
            for (const payload of url === urls[0] ? bodies(properties) : [{}, null, { reason: 'x' }]) {
              await fire(upper, url, payload);
            }
            await fire(upper, url, { name: 'x' }, { 'content-type': 'text/plain' });
            await fire(upper, url, { name: 'x' }, { 'idempotency-key': 'x'.repeat(300) });
          }
        }
      }
    }
    expect(sent).toBeGreaterThan(1000);
    expect(failures, failures.join('\n')).toEqual([]);
  }, 240_000);

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
