import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

function open(url: string, headers: Record<string, string> = {}) {
  return t.app.inject({ method: 'GET', url, headers });
}

describe('health and readiness', () => {
  test('/healthz answers 200 without a key', async () => {
    const response = await open('/healthz');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
  });

  test('/readyz answers 200 when the database is migrated', async () => {
    const response = await open('/readyz');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ready', checks: { database: 'ok', migrations: 'current' } });
  });

  test('/readyz answers 503 not_ready while a migration is pending, and again when current', async () => {
    const db = t.db.database.db;
    const applied = await sql<{ name: string }>`select name from tenantry.schema_migrations`.execute(db);
    const names = applied.rows.map((r) => r.name);
    expect(names.length).toBeGreaterThan(0);
    await sql`delete from tenantry.schema_migrations`.execute(db);
    try {
      const response = await open('/readyz');
      expect(response.statusCode).toBe(503);
      expect(response.headers['content-type']).toBe('application/problem+json');
      expect(response.json()).toMatchObject({ code: 'not_ready', status: 503 });
      expect(response.json().detail).toContain(`pending: ${names.length}`);
    } finally {
      for (const name of names) {
        await sql`insert into tenantry.schema_migrations (name, timestamp) values (${name}, now())`.execute(
          db,
        );
      }
    }
    expect((await open('/readyz')).statusCode).toBe(200);
  });

  test('/readyz answers 503 not_ready when the database has a migration this build does not know', async () => {
    const db = t.db.database.db;
    await sql`insert into tenantry.schema_migrations (name, timestamp) values ('9999_from_the_future', now())`.execute(
      db,
    );
    try {
      const response = await open('/readyz');
      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({ code: 'not_ready' });
      expect(response.json().detail).toContain('unknown: 1');
    } finally {
      await sql`delete from tenantry.schema_migrations where name = '9999_from_the_future'`.execute(db);
    }
  });
});

describe('/metrics', () => {
  test('counts requests by route pattern, not by URL', async () => {
    const id = 'ten_01jzzzzzzzzzzzzzzzzzzzzzzz';
    await t.request({ method: 'GET', url: `/v1/tenants/${id}` });
    await t.request({ method: 'GET', url: '/v1/tenants/acme' });
    await t.request({ method: 'GET', url: '/v1/plans' });
    const response = await open('/metrics');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    const text = response.body;
    const tenantLines = text
      .split('\n')
      .filter((l) => l.startsWith('http_requests_total{') && l.includes('route="/v1/tenants/:id"'));
    expect(tenantLines.length).toBeGreaterThan(0);
    expect(tenantLines.some((l) => l.includes('method="GET"') && l.includes('status_code="404"'))).toBe(true);
    const count = tenantLines
      .filter((l) => l.includes('method="GET"') && l.includes('status_code="404"'))
      .map((l) => Number(l.split(' ').at(-1)))
      .reduce((a, b) => a + b, 0);
    expect(count).toBeGreaterThanOrEqual(2);
    expect(text).toMatch(/http_requests_total\{[^}]*route="\/v1\/plans"[^}]*status_code="200"/);
    expect(text).not.toContain(id);
    expect(text).not.toContain('/v1/tenants/acme');
    expect(text).toContain('http_request_duration_seconds_bucket');
  });

  test('the duration histogram agrees with the request counter', async () => {
    for (let i = 0; i < 3; i++) await t.request({ method: 'GET', url: '/v1/plans' });
    const text = (await open('/metrics')).body;
    const series = 'method="GET",route="/v1/plans",status_code="200"';
    const value = (line: string | undefined) => Number(line?.split(' ').at(-1));
    const lines = text.split('\n');
    const buckets = lines.filter(
      (l) => l.startsWith('http_request_duration_seconds_bucket{le=') && l.includes(series),
    );
    expect(buckets.map((l) => l.slice(0, l.indexOf(',')))).toEqual(
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, '+Inf'].map(
        (le) => `http_request_duration_seconds_bucket{le="${le}"`,
      ),
    );
    const counts = buckets.map(value);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    const total = value(lines.find((l) => l.startsWith(`http_requests_total{${series}}`)));
    expect(total).toBeGreaterThanOrEqual(3);
    expect(counts.at(-1)).toBe(total);
    expect(value(lines.find((l) => l.startsWith(`http_request_duration_seconds_count{${series}}`)))).toBe(
      total,
    );
    expect(
      value(lines.find((l) => l.startsWith(`http_request_duration_seconds_sum{${series}}`))),
    ).toBeGreaterThan(0);
    expect(text).toContain('# TYPE http_requests_total counter');
    expect(text).toContain('# TYPE http_request_duration_seconds histogram');
  });
});

/** The member names a JSON schema documents, through `$ref`s and `anyOf`/`oneOf` variants. */
function membersOf(schema: any, spec: any): string[] {
  if (!schema || typeof schema !== 'object') return [];
  if (typeof schema.$ref === 'string') {
    return membersOf(spec.components.schemas[schema.$ref.replace('#/components/schemas/', '')], spec);
  }
  const variants = [...(schema.anyOf ?? []), ...(schema.oneOf ?? []), ...(schema.allOf ?? [])];
  return [...Object.keys(schema.properties ?? {}), ...variants.flatMap((v: any) => membersOf(v, spec))];
}

describe('/openapi.json and /docs', () => {
  test('is OpenAPI 3.1 with every /v1 route, its request schema, bearer security and the Problem schema', async () => {
    const response = await open('/openapi.json');
    expect(response.statusCode).toBe(200);
    const spec = response.json();
    expect(spec.openapi).toMatch(/^3\.1\.\d+$/);
    expect(spec.components.securitySchemes.apiKey).toMatchObject({ type: 'http', scheme: 'bearer' });
    const problem = spec.components.schemas.Problem;
    expect(problem).toBeDefined();
    expect(problem.required).toEqual(
      expect.arrayContaining(['type', 'title', 'status', 'detail', 'code', 'instance', 'request_id']),
    );

    // Every /v1 route of the API contract is documented, with its body schema when it takes one.
    const expected: Array<[string, string, boolean]> = [
      ['post', '/v1/api-keys', true],
      ['get', '/v1/api-keys', false],
      ['post', '/v1/api-keys/{id}/roll', false],
      ['post', '/v1/api-keys/{id}/revoke', false],
      ['post', '/v1/plans/apply', true],
      ['get', '/v1/plans', false],
      ['get', '/v1/plans/{key}', false],
      ['get', '/v1/plans/{key}/versions/{version}', false],
      ['post', '/v1/tenants', true],
      ['get', '/v1/tenants', false],
      ['get', '/v1/tenants/{id}', false],
      ['patch', '/v1/tenants/{id}', true],
      ['delete', '/v1/tenants/{id}', false],
      ['post', '/v1/tenants/{id}/change-plan', true],
      ['post', '/v1/tenants/{id}/suspend', true],
      ['post', '/v1/tenants/{id}/resume', true],
      ['post', '/v1/tenants/{id}/cancel', true],
      ['get', '/v1/tenants/{id}/entitlements', false],
    ];
    for (const [method, path, hasBody] of expected) {
      const operation = spec.paths[path]?.[method];
      expect(operation, `${method.toUpperCase()} ${path} is documented`).toBeDefined();
      if (hasBody) {
        const given = operation.requestBody?.content?.['application/json']?.schema;
        expect(given, `${method.toUpperCase()} ${path} documents its body`).toBeDefined();
        expect(membersOf(given, spec).length, `${path} body members`).toBeGreaterThan(0);
      }
      // Each operation names the one scope its key must hold (scopes.test.ts walks them all).
      expect(operation.security[0]).toEqual({ apiKey: [expect.stringMatching(/^[a-z-]+:[a-z]+$/)] });
      // A route a tenant's member may call with their token names the permission it needs too.
      expect(operation.security.slice(1)).toEqual(
        path === '/v1/tenants/{id}/entitlements'
          ? [{ userToken: ['billing:read'] }]
          : path === '/v1/tenants/{id}/change-plan'
            ? [{ userToken: ['billing:write'] }]
            : [],
      );
      // Problems are shared responses of the document, each a Problem (openapi.test.ts checks them).
      expect(operation.responses['401']).toEqual({ $ref: '#/components/responses/Unauthorized' });
    }
    const apply = spec.paths['/v1/plans/apply'].post.requestBody.content['application/json'].schema;
    expect(apply.required).toContain('source');
    const create = spec.paths['/v1/tenants'].post.requestBody.content['application/json'].schema;
    expect(create.required).toEqual(expect.arrayContaining(['slug', 'name', 'plan']));

    // Every documented /v1 operation is really served (no stale entries).
    for (const [path, operations] of Object.entries(spec.paths as Record<string, object>)) {
      if (!path.startsWith('/v1/')) continue;
      for (const method of Object.keys(operations)) {
        const found = t.app.hasRoute({
          method: method.toUpperCase() as 'GET',
          url: path.replace(/\{(\w+)\}/g, ':$1'),
        });
        expect(found, `${method} ${path}`).toBe(true);
      }
    }
  });

  test('/docs answers with HTML', async () => {
    let response = await open('/docs');
    if (response.statusCode >= 300 && response.statusCode < 400) {
      response = await open(String(response.headers.location).replace(/^\.\//, '/docs/'));
    }
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/text\/html/);
    expect(response.body).toMatch(/<html/i);
  });
});

describe('x-request-id', () => {
  test('a sane incoming id is echoed and used in problems', async () => {
    const response = await open('/v1/plans', { 'x-request-id': 'abc-123.DEF_4' });
    expect(response.headers['x-request-id']).toBe('abc-123.DEF_4');
    expect(response.json().request_id).toBe('abc-123.DEF_4');
  });

  test('an absent or unsafe id is replaced by a generated one', async () => {
    const absent = await open('/healthz');
    expect(absent.headers['x-request-id']).toMatch(/^req_[0-9a-f-]{36}$/);
    for (const unsafe of ['has space', 'x'.repeat(200), 'new\u2028line', '<script>']) {
      const response = await open('/healthz', { 'x-request-id': unsafe });
      expect(response.headers['x-request-id']).toMatch(/^req_[0-9a-f-]{36}$/);
    }
    const a = await open('/healthz');
    const b = await open('/healthz');
    expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
  });

  test('the request id reaches the audit trail', async () => {
    const response = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'traced' },
      headers: { 'x-request-id': 'trace-audit-1' },
    });
    expect(response.status).toBe(201);
    const event = await t.db.database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('target_id', '=', response.body.id)
      .executeTakeFirstOrThrow();
    expect(event.request_id).toBe('trace-audit-1');
  });
});
