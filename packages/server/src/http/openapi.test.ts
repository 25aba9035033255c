import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp, type TestApp, uniqueSlug } from '../../test/harness.ts';

/**
 * The OpenAPI document as a client relies on it, beyond what Redocly's rules check (`npm run
 * check:openapi`): names, problems and the Idempotency-Key header on every operation that needs
 * them, and typed request bodies.
 */

interface Operation {
  operationId?: string;
  summary?: string;
  security?: Array<Record<string, string[]>>;
  parameters?: Array<{ $ref?: string; in?: string; name?: string }>;
  requestBody?: { content: Record<string, { schema: Record<string, unknown> }> };
  responses: Record<string, { $ref?: string; content?: Record<string, { schema: unknown }> }>;
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

let t: TestApp;
let spec: {
  servers?: Array<{ url: string }>;
  info: { license?: { name: string } };
  paths: Record<string, Record<string, Operation>>;
  components: {
    parameters: Record<string, { in: string; name: string }>;
    responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
  };
};
let operations: Array<{ method: string; path: string; operation: Operation }>;

beforeAll(async () => {
  t = await startTestApp();
  spec = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
  operations = Object.entries(spec.paths).flatMap(([path, item]) =>
    METHODS.filter((method) => item[method] !== undefined).map((method) => ({
      method,
      path,
      operation: item[method] as Operation,
    })),
  );
});
afterAll(() => t.close());

/** The parameters of an operation, through their references to the shared ones. */
function parametersOf(operation: Operation) {
  return (operation.parameters ?? []).map((p) =>
    p.$ref === undefined ? p : spec.components.parameters[p.$ref.replace('#/components/parameters/', '')],
  );
}

function declaresIdempotencyKey(operation: Operation): boolean {
  return parametersOf(operation).some((p) => p?.in === 'header' && p.name === 'idempotency-key');
}

describe('the OpenAPI document', () => {
  test('names every operation with a unique operationId and a summary', () => {
    expect(operations.length).toBeGreaterThan(50);
    const ids = operations.map(({ operation }) => operation.operationId);
    for (const { method, path, operation } of operations) {
      expect(operation.operationId, `${method} ${path}`).toMatch(/^[a-z][A-Za-z]+$/);
      expect(operation.summary, `${method} ${path}`).toBeTruthy();
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('gives every operation a 4xx problem, and every operation behind an API key 401 and 403', () => {
    for (const { method, path, operation } of operations) {
      const statuses = Object.keys(operation.responses);
      expect(
        statuses.some((s) => s.startsWith('4')),
        `${method} ${path}`,
      ).toBe(true);
      if (operation.security?.some((s) => 'apiKey' in s)) {
        expect(statuses, `${method} ${path}`).toEqual(expect.arrayContaining(['400', '401', '403']));
      }
      for (const status of statuses.filter((s) => s >= '400')) {
        const response = operation.responses[status];
        const ref = response?.$ref?.replace('#/components/responses/', '');
        const resolved = ref === undefined ? response : spec.components.responses[ref];
        expect(resolved?.content, `${method} ${path} ${status}`).toEqual({
          'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } },
        });
      }
    }
  });

  test('declares Idempotency-Key on exactly the operations that honour it: every POST behind an API key', () => {
    for (const { method, path, operation } of operations) {
      const honours = method === 'post' && operation.security?.some((s) => 'apiKey' in s) === true;
      expect(declaresIdempotencyKey(operation), `${method} ${path}`).toBe(honours);
      if (honours) expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(['409', '422']));
    }
    expect(spec.components.parameters.IdempotencyKey).toMatchObject({
      in: 'header',
      name: 'idempotency-key',
      schema: { type: 'string', minLength: 1, maxLength: 255 },
    });
  });

  test('what it declares is what the server does: a POST declaring the header replays, a GET ignores it', async () => {
    const key = `key-${uniqueSlug()}`;
    const send = () =>
      t.request({
        method: 'POST',
        url: '/v1/test-clocks',
        payload: { frozen_time: '2026-01-01T00:00:00Z' },
        headers: { 'idempotency-key': key },
      });
    const first = await send();
    const again = await send();
    expect(first.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.id).toBe(first.body.id);
    const read = await t.request({
      method: 'GET',
      url: '/v1/test-clocks',
      headers: { 'idempotency-key': key },
    });
    expect(read.status).toBe(200);
    expect(read.headers['idempotent-replayed']).toBeUndefined();
    // Declared as the schema says: a key that is too long is refused, naming the header.
    const tooLong = await t.request({
      method: 'POST',
      url: '/v1/test-clocks',
      payload: { frozen_time: '2026-01-01T00:00:00Z' },
      headers: { 'idempotency-key': 'k'.repeat(256) },
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.errors).toEqual([
      { path: 'headers.idempotency-key', message: 'idempotency-key must be at most 255 characters long' },
    ]);
  });

  test('types the body of POST /v1/events: one event or a batch, in JSON and as CloudEvents', () => {
    const body = spec.paths['/v1/events']?.post?.requestBody?.content;
    expect(Object.keys(body ?? {}).sort()).toEqual([
      'application/cloudevents+json',
      'application/cloudevents-batch+json',
      'application/json',
    ]);
    expect(body?.['application/json']?.schema).toEqual({
      anyOf: [
        { $ref: '#/components/schemas/NewUsageEvent' },
        { type: 'array', maxItems: 10_000, items: { $ref: '#/components/schemas/NewUsageEvent' } },
      ],
    });
    const event = (spec.components as unknown as { schemas: Record<string, { required: string[] }> }).schemas
      .NewUsageEvent;
    expect(event?.required).toEqual(['id', 'tenant', 'meter', 'time']);
  });

  test('says where the API is and under which license', () => {
    expect(spec.servers).toEqual([{ url: '/', description: expect.any(String) }]);
    expect(spec.info.license).toMatchObject({ name: 'Apache-2.0' });
  });
});
