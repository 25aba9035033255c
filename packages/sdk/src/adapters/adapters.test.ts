import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type ControlPlaneFixture,
  claimsFor,
  deadUrl,
  forgedToken,
  signedByControlPlane,
  startControlPlane,
  unsignedToken,
} from '../../test/control-plane-fixture.ts';
import {
  type AccessTokenVerifier,
  createAccessTokenVerifier,
  currentTenant,
  type TenantContext,
  tenantOrUndefined,
} from '../context/index.ts';
import { ControlPlaneUnreachableError } from '../control-plane/index.ts';
import type { TenantContextOptions } from './authenticate-request.ts';
import { expressTenantContext } from './express.ts';
import { fastifyTenantContext } from './fastify.ts';

let cp: ControlPlaneFixture;
beforeAll(async () => {
  cp = await startControlPlane();
});
afterAll(() => cp.close());

/** What the app under test saw: how often its handlers ran, and what its hook was called with. */
interface Observed {
  handled: number;
  hooked: TenantContext[];
}

/** What a route answers: the tenant it saw before and after awaiting, and what its hook loaded. */
interface WhoAmI {
  before: string;
  after: string;
  subject: string;
  roles: string[];
  loaded: string | null;
  body?: unknown;
}

/**
 * The vendor's route: reads the tenant, awaits timers and I/O-like turns, and reads it again, so
 * that interleaved requests would show a leak. What the hook "loaded" comes from a map keyed by the
 * tenant, the way an entitlement cache would serve a snapshot.
 */
async function whoAmI(observed: Observed, loaded: Map<string, string>, body?: unknown): Promise<WhoAmI> {
  observed.handled++;
  const before = currentTenant().tenantId;
  await sleep(Math.floor(Math.random() * 5));
  await new Promise((resolve) => setImmediate(resolve));
  const context = currentTenant();
  return {
    before,
    after: context.tenantId,
    subject: context.subject,
    roles: [...context.roles],
    loaded: loaded.get(context.tenantId) ?? null,
    ...(body === undefined ? {} : { body }),
  };
}

/** An app under test, listening on a real port. */
interface App {
  readonly url: string;
  readonly observed: Observed;
  close(): Promise<void>;
}

/** The hook: records the context, checks it runs inside it, "loads" a snapshot, refuses `blocked`. */
function hookOf(
  observed: Observed,
  loaded: Map<string, string>,
): NonNullable<TenantContextOptions['onTenant']> {
  return async (context) => {
    if (tenantOrUndefined()?.tenantId !== context.tenantId) throw new Error('hook ran outside the context');
    observed.hooked.push(context);
    await sleep(1);
    if (context.subject === 'blocked') throw new Error('hook_refused');
    loaded.set(context.tenantId, `snapshot of ${context.tenantId}`);
  };
}

async function startExpress(verifier: AccessTokenVerifier): Promise<App> {
  const observed: Observed = { handled: 0, hooked: [] };
  const loaded = new Map<string, string>();
  const app = express();
  app.use(express.json());
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true, tenant: tenantOrUndefined() ?? null });
  });
  app.use('/api', expressTenantContext({ verifier, onTenant: hookOf(observed, loaded) }));
  app.get('/api/whoami', async (_req, res) => {
    res.json(await whoAmI(observed, loaded));
  });
  app.post('/api/whoami', async (req, res) => {
    res.json(await whoAmI(observed, loaded, req.body));
  });
  app.use((error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(error instanceof ControlPlaneUnreachableError ? 503 : 403).json({ error: error.message });
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    observed,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function startFastify(verifier: AccessTokenVerifier): Promise<App> {
  const observed: Observed = { handled: 0, hooked: [] };
  const loaded = new Map<string, string>();
  const app: FastifyInstance = Fastify();
  app.setErrorHandler((error, _request, reply) => {
    reply
      .code(error instanceof ControlPlaneUnreachableError ? 503 : 403)
      .send({ error: error instanceof Error ? error.message : String(error) });
  });
  app.get('/healthz', async () => ({ ok: true, tenant: tenantOrUndefined() ?? null }));
  await app.register(
    async (api) => {
      await api.register(fastifyTenantContext, { verifier, onTenant: hookOf(observed, loaded) });
      api.get('/whoami', async () => whoAmI(observed, loaded));
      api.post('/whoami', async (request) => whoAmI(observed, loaded, request.body));
    },
    { prefix: '/api' },
  );
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, observed, close: () => app.close() };
}

async function call(app: App, path: string, token?: string, init: RequestInit = {}) {
  const headers = new Headers(init.headers);
  if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
  const response = await fetch(app.url + path, { ...init, headers });
  const text = await response.text();
  return {
    status: response.status,
    type: response.headers.get('content-type') ?? '',
    wwwAuthenticate: response.headers.get('www-authenticate'),
    body: text.length > 0 ? JSON.parse(text) : undefined,
  };
}

describe.each([
  ['express', startExpress],
  ['fastify', startFastify],
] as const)('the %s adapter', (_name, start) => {
  let app: App;
  let verifier: AccessTokenVerifier;
  beforeAll(async () => {
    verifier = createAccessTokenVerifier({ url: cp.url, issuer: cp.issuer });
    app = await start(verifier);
  });
  afterAll(() => app.close());

  test('concurrent requests for two tenants each see their own tenant, through every await', async () => {
    const tokenA = await cp.mint(cp.tenantA.slug, 'alice', ['admin']);
    const tokenB = await cp.mint(cp.tenantB.slug, 'bob', ['viewer']);
    const requests = Array.from({ length: 40 }, (_, i) => {
      const [token, tenant, subject] =
        i % 2 === 0 ? [tokenA, cp.tenantA.id, 'alice'] : [tokenB, cp.tenantB.id, 'bob'];
      const sent =
        i % 4 < 2
          ? call(app, '/api/whoami', token)
          : call(app, '/api/whoami', token, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ n: i, padding: 'x'.repeat(20_000) }),
            });
      return sent.then((response) => ({ response, tenant, subject }));
    });
    for (const { response, tenant, subject } of await Promise.all(requests)) {
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      expect(response.body).toMatchObject({
        before: tenant,
        after: tenant,
        subject,
        loaded: `snapshot of ${tenant}`,
      });
    }
    // The hook ran once per request, before its handler, with the token's context.
    expect(
      app.observed.hooked.filter((c) => c.subject === 'alice').every((c) => c.tenantId === cp.tenantA.id),
    ).toBe(true);
    expect(
      app.observed.hooked.filter((c) => c.subject === 'bob').every((c) => c.tenantId === cp.tenantB.id),
    ).toBe(true);
    // Outside a request there is no tenant; routes outside the adapter's scope stay open.
    expect(tenantOrUndefined()).toBeUndefined();
    expect((await call(app, '/healthz')).body).toEqual({ ok: true, tenant: null });
  });

  test('a forged x-tenant-id header, ?tenant= or body member is ignored: the token decides', async () => {
    const token = await cp.mint(cp.tenantA.id, 'alice');
    const forged = { 'x-tenant-id': cp.tenantB.id, 'x-tenant': cp.tenantB.slug, tenant: cp.tenantB.id };
    const query = `?tenant=${cp.tenantB.id}&tenant_id=${cp.tenantB.id}&tid=${cp.tenantB.id}`;
    const read = await call(app, `/api/whoami${query}`, token, { headers: forged });
    expect(read.body).toMatchObject({ before: cp.tenantA.id, after: cp.tenantA.id });
    const written = await call(app, `/api/whoami${query}`, token, {
      method: 'POST',
      headers: { ...forged, 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: cp.tenantB.id, tenantId: cp.tenantB.id, tid: cp.tenantB.id }),
    });
    expect(written.body).toMatchObject({ before: cp.tenantA.id, after: cp.tenantA.id });
    // Without a token, naming a tenant gets nowhere.
    const handled = app.observed.handled;
    const anonymous = await call(app, `/api/whoami${query}`, undefined, { headers: forged });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.code).toBe('missing_access_token');
    expect(app.observed.handled).toBe(handled);
  });

  test('no token, a forged, an expired or an unsigned token is 401 problem+json, and no handler runs', async () => {
    const claims = claimsFor(cp, cp.tenantA.id);
    const cases: [string | undefined, string | undefined, string, string | undefined][] = [
      ['no header', undefined, 'missing_access_token', undefined],
      ['another scheme', `Basic ${Buffer.from('a:b').toString('base64')}`, 'missing_access_token', undefined],
      ['an empty bearer', 'Bearer', 'invalid_access_token', 'malformed'],
      ['a key not in the JWKS', `Bearer ${await forgedToken(claims)}`, 'invalid_access_token', 'unknown_key'],
      [
        'an expired token',
        `Bearer ${await cp.mintExpired(cp.tenantA.id, 'alice')}`,
        'invalid_access_token',
        'expired',
      ],
      ['alg none', `Bearer ${unsignedToken(claims)}`, 'invalid_access_token', 'algorithm_not_allowed'],
      ['garbage', 'Bearer not-a-token', 'invalid_access_token', 'malformed'],
      [
        'a tid that is no tenant id',
        `Bearer ${await signedByControlPlane(cp, { ...claims, tid: 'acme' })}`,
        'invalid_access_token',
        'invalid_claim',
      ],
    ];
    const handled = app.observed.handled;
    const hooked = app.observed.hooked.length;
    for (const [name, authorization, code, reason] of cases) {
      const response = await call(app, '/api/whoami', undefined, {
        headers: authorization === undefined ? {} : { authorization },
      });
      expect(response.status, name).toBe(401);
      expect(response.type, name).toBe('application/problem+json');
      expect(response.body, name).toMatchObject({
        type: `https://tenantry.dev/docs/errors#${code}`,
        status: 401,
        code,
        instance: '/api/whoami',
        detail: expect.any(String),
        title: expect.any(String),
      });
      expect(response.body.reason, name).toBe(reason);
      expect(response.wwwAuthenticate, name).toEqual(
        code === 'missing_access_token' ? 'Bearer' : expect.stringMatching(/^Bearer error="invalid_token"/),
      );
    }
    expect(app.observed.handled).toBe(handled);
    expect(app.observed.hooked.length).toBe(hooked);
  });

  test('after the control plane rotates its key, new tokens verify without restarting the app', async () => {
    const before = await cp.mint(cp.tenantA.id, 'alice');
    expect((await call(app, '/api/whoami', before)).status).toBe(200);
    await cp.rotate();
    const after = await cp.mint(cp.tenantB.id, 'bob');
    expect((await call(app, '/api/whoami', after)).body).toMatchObject({ after: cp.tenantB.id });
    expect((await call(app, '/api/whoami', before)).body).toMatchObject({ after: cp.tenantA.id });
  });

  test("the hook's failure goes to the framework's error handler, and the handler does not run", async () => {
    const handled = app.observed.handled;
    const response = await call(app, '/api/whoami', await cp.mint(cp.tenantA.id, 'blocked'));
    expect(response.status).toBe(403);
    expect(response.body).toEqual({ error: 'hook_refused' });
    expect(app.observed.handled).toBe(handled);
  });

  test("keys that cannot be fetched go to the framework's error handler, not a 401", async () => {
    const offline = await start(createAccessTokenVerifier({ url: await deadUrl(), issuer: cp.issuer }));
    try {
      const response = await call(offline, '/api/whoami', await cp.mint(cp.tenantA.id, 'alice'));
      expect(response.status).toBe(503);
      expect(offline.observed.handled).toBe(0);
    } finally {
      await offline.close();
    }
  });
});

test('the SDK carries no server framework: the adapters import only their types', () => {
  for (const file of ['express.ts', 'fastify.ts', 'authenticate-request.ts']) {
    const source = readFileSync(new URL(`./${file}`, import.meta.url), 'utf8');
    const imports = [...source.matchAll(/^import\s+(type\s+)?[^;]*?from\s+'([^']+)'/gms)];
    for (const [, typeOnly, from] of imports) {
      if (from === 'express' || from === 'fastify') expect(typeOnly, `${file} imports ${from}`).toBeDefined();
    }
  }
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  expect(Object.keys(manifest.dependencies)).not.toEqual(expect.arrayContaining(['express']));
  expect(Object.keys(manifest.dependencies)).not.toEqual(expect.arrayContaining(['fastify']));
});
