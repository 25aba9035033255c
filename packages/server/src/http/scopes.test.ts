import { ALL_SCOPES, APP_KEY_SCOPES, isScope, type Scope } from '@tenantry/core';
import Fastify from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { systemContext } from '../request-context.ts';
import { API_KEY_SCHEME, requireApiKey, requireScopeDeclarations } from './authentication.ts';

/**
 * The attack on scopes: every `/v1` operation of the app's own route table (its OpenAPI
 * document, from which no `/v1` route may be hidden) is called with no key, with a key holding
 * every scope but the one it needs, and with a key holding only that scope. Only the last may get
 * past authentication; the second differs from it in nothing but the missing scope, so it is the
 * scope check, and nothing else, that stops it.
 */

interface Operation {
  readonly method: string;
  readonly path: string;
  readonly url: string;
  readonly scope: Scope;
}

let t: TestApp;
let operations: Operation[];
/** The `/v1` operations the OpenAPI document declares open (`security: []`), as `METHOD path`. */
let open: string[];
const exactly = new Map<Scope, string>();
const allBut = new Map<Scope, string>();

beforeAll(async () => {
  t = await startTestApp();
  const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
    paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>;
  };
  const v1 = Object.entries(doc.paths).filter(([path]) => path.startsWith('/v1/'));
  open = v1.flatMap(([path, byMethod]) =>
    Object.entries(byMethod)
      .filter(([, operation]) => operation.security?.length === 0)
      .map(([method]) => `${method.toUpperCase()} ${path}`),
  );
  operations = v1.flatMap(([path, byMethod]) =>
    Object.entries(byMethod)
      .filter(([, operation]) => operation.security?.length !== 0)
      .map(([method, operation]) => {
        const scopes = operation.security?.flatMap((s) => s[API_KEY_SCHEME] ?? []) ?? [];
        expect(scopes, `${method} ${path} names exactly one scope`).toHaveLength(1);
        const scope = scopes[0] ?? '';
        expect(isScope(scope), `${method} ${path}: ${scope} is in the catalogue`).toBe(true);
        // Any id will do: the request must be judged on its key before its parameters are looked at.
        const url = path.replace(/\{[^}]+\}/g, 'nope');
        return { method: method.toUpperCase(), path, url, scope: scope as Scope };
      }),
  );
  const ctx = systemContext('test');
  for (const scope of ALL_SCOPES) {
    const only = await t.services.apiKeys.create(ctx, { name: `only ${scope}`, scopes: [scope] });
    exactly.set(scope, only.secret);
    const others = ALL_SCOPES.filter((s) => s !== scope);
    const without = await t.services.apiKeys.create(ctx, { name: `all but ${scope}`, scopes: others });
    allBut.set(scope, without.secret);
  }
});
afterAll(() => t.close());

function call(operation: Operation, key: string | undefined) {
  return t.app.inject({
    method: operation.method as 'GET',
    url: operation.url,
    headers: key === undefined ? {} : { authorization: `Bearer ${key}` },
    ...(operation.method === 'GET' || operation.method === 'DELETE' ? {} : { payload: {} }),
  });
}

test('the only /v1 operations open to a request without a key authenticate it otherwise', () => {
  // The check-in's license is its credential (licenses/check-in.test.ts refuses a forged one);
  // the Stripe webhook, authenticated by its signature, is not served here without Stripe.
  expect(open).toEqual(['POST /v1/licenses/check-in']);
});

test('the walk covers the whole API, and every scope of the catalogue guards some route', () => {
  expect(operations.length).toBeGreaterThanOrEqual(49);
  const used = new Set(operations.map((o) => o.scope));
  expect([...used].sort()).toEqual([...ALL_SCOPES].sort());
});

describe('every /v1 operation', () => {
  test('refuses a request without a key: 401 missing_api_key', async () => {
    for (const operation of operations) {
      const response = await call(operation, undefined);
      expect([operation.method, operation.path, response.statusCode, response.json().code]).toEqual([
        operation.method,
        operation.path,
        401,
        'missing_api_key',
      ]);
    }
  });

  test('refuses a key holding every scope but its own: 403 insufficient_scope naming the scope', async () => {
    for (const operation of operations) {
      const response = await call(operation, allBut.get(operation.scope));
      const body = response.json();
      expect([operation.method, operation.path, response.statusCode, body.code, body.required_scope]).toEqual(
        [operation.method, operation.path, 403, 'insufficient_scope', operation.scope],
      );
      expect(response.headers['content-type']).toBe('application/problem+json');
      expect(body.detail).toContain(operation.scope);
    }
  });

  test('lets a key holding exactly its scope past authentication', async () => {
    for (const operation of operations) {
      const response = await call(operation, exactly.get(operation.scope));
      expect(
        [401, 403].includes(response.statusCode),
        `${operation.method} ${operation.path} with ${operation.scope}: ${response.statusCode} ${response.body}`,
      ).toBe(false);
    }
  });
});

test('an app key reaches what the SDK calls and nothing else', async () => {
  const app = await t.services.apiKeys.create(systemContext('test'), { name: 'app', preset: 'app' });
  expect(app).toMatchObject({ kind: 'restricted', scopes: [...APP_KEY_SCOPES].sort(byCatalogue) });
  expect(app.secret).toMatch(/^tnt_rk_[0-9A-Za-z]{36}$/);
  for (const operation of operations) {
    const status = (await call(operation, app.secret)).statusCode;
    const admitted = (APP_KEY_SCOPES as readonly Scope[]).includes(operation.scope);
    expect([operation.method, operation.path, status === 403], `status ${status}`).toEqual([
      operation.method,
      operation.path,
      !admitted,
    ]);
  }
});

function byCatalogue(a: Scope, b: Scope): number {
  return ALL_SCOPES.indexOf(a) - ALL_SCOPES.indexOf(b);
}

describe('a /v1 route cannot be added unscoped', () => {
  /** Builds an app the way buildApp does, with one more route registered by `add`. */
  async function build(add: (v1: ReturnType<typeof Fastify>) => void, inKeyScope = true): Promise<void> {
    const app = Fastify();
    requireScopeDeclarations(app);
    // The problem responses the key check declares are zod schemas, as in buildApp.
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    try {
      await app.register(
        async (v1) => {
          if (inKeyScope) requireApiKey(v1, t.services.apiKeys);
          add(v1);
        },
        { prefix: '/v1' },
      );
      await app.ready();
    } finally {
      await app.close();
    }
  }
  const ok = async () => ({ ok: true });

  test('a route declaring a scope of the catalogue is registered', async () => {
    await expect(
      build((v1) => v1.get('/things', { config: { scope: 'plans:read' } }, ok)),
    ).resolves.toBeUndefined();
  });

  test('a route without a scope makes registration throw, naming the route', async () => {
    await expect(build((v1) => v1.get('/things', ok))).rejects.toThrow('GET /v1/things declares no scope');
    // Outside the key-checking scope too: a /v1 route must say how it is authenticated.
    await expect(build((v1) => v1.post('/hooks', ok), false)).rejects.toThrow('declares no scope');
  });

  test.each([
    ['public', 'public'],
    ['a scope the catalogue lacks', 'plans:delete'],
  ])('a key-checked route declaring %s makes registration throw', async (_name, scope) => {
    await expect(
      build((v1) => v1.get('/things', { config: { scope: scope as 'public' } }, ok)),
    ).rejects.toThrow('must be a scope of SCOPES');
  });

  test('a /v1 route hidden from the OpenAPI document makes registration throw', async () => {
    await expect(
      build((v1) => v1.get('/things', { config: { scope: 'plans:read' }, schema: { hide: true } }, ok)),
    ).rejects.toThrow('may not be hidden');
  });
});
