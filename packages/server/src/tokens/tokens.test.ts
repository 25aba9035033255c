import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  createTestDatabase,
  otherProcess,
  SETTINGS,
  startTestApp,
  type TestApp,
  type TestDatabase,
} from '../../test/harness.ts';
import { act, applyPlans, auditCount, auditRows, provisionedTenant } from '../../test/tenant-support.ts';
import { systemContext } from '../request-context.ts';
import { MASTER_KEY_BYTES, SecretBox } from '../secrets/index.ts';
import { createServices } from '../services.ts';
import { MAX_TOKEN_TTL_SECONDS } from './signing-key-service.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
/** The members an EC public key may have; anything else (`d` above all) must never be published. */
const PUBLIC_MEMBERS = ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'];

let t: TestApp;
let acme: any;
let globex: any;
beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
  acme = await provisionedTenant(t);
  globex = await provisionedTenant(t);
});
afterAll(() => t.close());

function mint(tenant: string, payload: unknown, headers: Record<string, string> = {}) {
  return t.request({
    method: 'POST',
    url: `/v1/tenants/${tenant}/tokens`,
    payload: payload as Record<string, unknown>,
    headers,
  });
}

async function jwks(): Promise<JSONWebKeySet & { keys: Record<string, unknown>[] }> {
  const response = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
  expect(response.statusCode).toBe(200);
  return response.json();
}

/** Verifies `token` as an app would, against the JWKS served now, at the test clock's time. */
async function verify(token: string) {
  return jwtVerify(token, createLocalJWKSet(await jwks()), {
    algorithms: ['ES256'],
    issuer: t.services.tokens.issuer,
    audience: 'tenantry',
    typ: 'at+jwt',
    currentDate: t.clock.now(),
  });
}

async function keys(): Promise<any[]> {
  const listed = await t.request({ method: 'GET', url: '/v1/signing-keys' });
  expect(listed.status).toBe(200);
  return listed.body.data;
}

describe('minting access tokens', () => {
  test('a token names the tenant, subject and roles, signed ES256 by the active key, and is audited', async () => {
    const minted = await mint(acme.slug, { subject: 'alice', roles: ['admin', 'member', 'admin'] });
    expect(minted.status, JSON.stringify(minted.body)).toBe(200);
    const now = t.clock.now().getTime();
    expect(minted.body).toEqual({
      access_token: expect.any(String),
      token_type: 'Bearer',
      expires_in: 900,
      expires_at: new Date(Math.floor(now / 1000) * 1000 + 900_000).toISOString(),
    });
    const { payload, protectedHeader } = await verify(minted.body.access_token);
    const active = (await keys()).find((k) => k.status === 'active');
    expect(protectedHeader).toEqual({ alg: 'ES256', kid: active.kid, typ: 'at+jwt' });
    expect(payload).toEqual({
      iss: t.services.tokens.issuer,
      aud: 'tenantry',
      sub: 'alice',
      tid: acme.id,
      roles: ['admin', 'member'],
      perms: [],
      iat: Math.floor(now / 1000),
      exp: Math.floor(now / 1000) + 900,
      jti: expect.stringMatching(UUID),
    });

    const audit = (await auditRows(t, acme.id)).filter((r) => r.action === 'access_token.minted');
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actor_type: 'api_key',
      target_type: 'access_token',
      target_id: payload.jti,
      data: {
        subject: 'alice',
        roles: ['admin', 'member'],
        permissions: [],
        kid: active.kid,
        expires_at: minted.body.expires_at,
      },
    });
    expect(JSON.stringify(audit)).not.toContain(minted.body.access_token);
  });

  test('by tenant id, with no roles and the longest life', async () => {
    const minted = await mint(acme.id, { subject: 'svc:backup', ttl_seconds: MAX_TOKEN_TTL_SECONDS });
    expect(minted.status, JSON.stringify(minted.body)).toBe(200);
    expect(minted.body.expires_in).toBe(3600);
    const { payload } = await verify(minted.body.access_token);
    expect(payload).toMatchObject({ tid: acme.id, sub: 'svc:backup', roles: [] });
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(3600);
  });

  test("a token grants the vendor's permissions it is minted with (perms), deduplicated and audited", async () => {
    const minted = await mint(acme.slug, {
      subject: 'svc:reports',
      permissions: ['meetings:read', 'analytics:read', 'meetings:read'],
    });
    expect(minted.status, JSON.stringify(minted.body)).toBe(200);
    const { payload } = await verify(minted.body.access_token);
    expect(payload).toMatchObject({
      sub: 'svc:reports',
      roles: [],
      perms: ['meetings:read', 'analytics:read'],
    });
    const audit = (await auditRows(t, acme.id)).filter(
      (r) => r.action === 'access_token.minted' && r.target_id === payload.jti,
    );
    expect(audit[0]?.data).toMatchObject({ permissions: ['meetings:read', 'analytics:read'] });
  });

  test('a token for tenant A carries A, one for B carries B, whatever else the request says', async () => {
    const a = await mint(acme.slug, { subject: 'same-user' }, { 'x-tenant-id': globex.id });
    const b = await mint(globex.id, { subject: 'same-user' }, { 'x-tenant-id': acme.id });
    expect((await verify(a.body.access_token)).payload.tid).toBe(acme.id);
    expect((await verify(b.body.access_token)).payload.tid).toBe(globex.id);
    expect(decodeJwt(a.body.access_token).jti).not.toBe(decodeJwt(b.body.access_token).jti);
  });

  test('a replay under the same Idempotency-Key answers no token, and none is stored', async () => {
    const headers = { 'idempotency-key': `mint-${Date.now()}` };
    const first = await mint(acme.slug, { subject: 'bob' }, headers);
    expect(first.status).toBe(200);
    const replay = await mint(acme.slug, { subject: 'bob' }, headers);
    expect(replay.status).toBe(200);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toMatchObject({ access_token: null, expires_at: first.body.expires_at });
    const stored = await t.services.database.db.selectFrom('idempotency_keys').selectAll().execute();
    expect(JSON.stringify(stored)).not.toContain(first.body.access_token);
  });
});

describe('refused mints write nothing', () => {
  async function expectRefused(
    response: { status: number; body: any; headers: Record<string, unknown> },
    status: number,
    code: string,
  ) {
    expect(response.status, JSON.stringify(response.body)).toBe(status);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(response.body.code).toBe(code);
    expect(response.body.access_token).toBeUndefined();
  }

  test('an unknown tenant is 404 tenant_not_found', async () => {
    const before = await auditCount(t);
    for (const id of ['nobody', 'ten_00000000000000000000000000']) {
      const response = await mint(id, { subject: 'alice' });
      await expectRefused(response, 404, 'tenant_not_found');
      expect(response.body.detail).toContain(id);
    }
    expect(await auditCount(t)).toBe(before);
  });

  test('a tenant that may not act is 409 tenant_inactive naming its state', async () => {
    const suspended = await provisionedTenant(t);
    expect((await act(t, suspended.id, 'suspend')).status).toBe(200);
    const cancelled = await provisionedTenant(t);
    expect((await act(t, cancelled.id, 'cancel')).status).toBe(200);
    const deleted = await provisionedTenant(t);
    expect((await act(t, deleted.id, 'cancel')).status).toBe(200);
    expect((await t.request({ method: 'DELETE', url: `/v1/tenants/${deleted.id}` })).status).toBe(200);
    // Not provisioned yet: the job has not run.
    const creating = await t.request({
      method: 'POST',
      url: '/v1/tenants',
      payload: { slug: `prov-${Date.now()}`, name: 'Creating', plan: 'pro', placement: 'schema' },
    });
    expect(creating.body.state).toBe('provisioning');

    const before = await auditCount(t);
    for (const [id, state] of [
      [suspended.slug, 'suspended'],
      [cancelled.id, 'cancelled'],
      [deleted.id, 'deleted'],
      [creating.body.id, 'provisioning'],
    ]) {
      const response = await mint(id, { subject: 'alice' });
      await expectRefused(response, 409, 'tenant_inactive');
      expect(response.body.state).toBe(state);
      expect(response.body.detail).toContain(state);
    }
    // A deleted tenant's slug names no tenant any more.
    await expectRefused(await mint(deleted.slug, { subject: 'alice' }), 404, 'tenant_not_found');
    expect(await auditCount(t)).toBe(before);
    await t.services.jobs.runDue();
  });

  test.each([
    ['ttl_seconds', { subject: 'a', ttl_seconds: 0 }],
    ['ttl_seconds', { subject: 'a', ttl_seconds: 59 }],
    ['ttl_seconds', { subject: 'a', ttl_seconds: 3601 }],
    ['ttl_seconds', { subject: 'a', ttl_seconds: 90.5 }],
    ['ttl_seconds', { subject: 'a', ttl_seconds: '900' }],
    ['ttl_seconds', { subject: 'a', ttl_seconds: -900 }],
    ['subject', {}],
    ['subject', { subject: '' }],
    ['subject', { subject: 'x'.repeat(256) }],
    ['subject', { subject: 'a\nb' }],
    ['roles', { subject: 'a', roles: 'admin' }],
    ['roles.0', { subject: 'a', roles: [''] }],
    ['roles', { subject: 'a', roles: Array.from({ length: 51 }, (_, i) => `r${i}`) }],
    ['permissions', { subject: 'a', permissions: 'meetings:write' }],
    ['permissions.0', { subject: 'a', permissions: [''] }],
    ['permissions.0', { subject: 'a', permissions: ['meetings:\nwrite'] }],
    ['tenant', { subject: 'a', tenant: 'other' }],
    ['tid', { subject: 'a', tid: 'ten_other' }],
  ])('%s wrong is 400 validation_failed naming it: %j', async (path, payload) => {
    const before = await auditCount(t);
    const response = await mint(acme.slug, payload);
    await expectRefused(response, 400, 'validation_failed');
    expect(response.body.errors.map((e: { path: string }) => e.path)).toContain(path);
    expect(await auditCount(t)).toBe(before);
  });

  test('the service checks its input too, for callers other than the API', async () => {
    const result = await t.services.tokens.mint(systemContext('test'), acme.id, {
      subject: 'a',
      ttl_seconds: 7200,
    });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.code).toBe('validation_failed');
      expect(result.error.errors?.map((e) => e.path)).toEqual(['ttl_seconds']);
    }
  });
});

describe('authentication', () => {
  const routes = [
    { method: 'POST' as const, url: () => `/v1/tenants/${acme.id}/tokens`, payload: { subject: 'alice' } },
    { method: 'GET' as const, url: () => '/v1/signing-keys' },
    { method: 'POST' as const, url: () => '/v1/signing-keys/rotate', payload: {} },
  ];

  test('no key is 401 missing_api_key and a wrong key is 401 invalid_api_key, with nothing written', async () => {
    const before = await auditCount(t);
    const kids = (await keys()).map((k) => k.kid);
    for (const route of routes) {
      for (const [authorization, code] of [
        [undefined, 'missing_api_key'],
        ['Bearer tnt_op_wrongwrongwrongwrongwrongwrong', 'invalid_api_key'],
        [`Basic ${t.token}`, 'invalid_api_key'],
      ] as const) {
        const response = await t.app.inject({
          method: route.method,
          url: route.url(),
          headers: authorization === undefined ? {} : { authorization },
          ...(route.payload ? { payload: route.payload } : {}),
        });
        expect(response.statusCode, `${route.method} ${route.url()}`).toBe(401);
        expect(response.json().code).toBe(code);
        expect(response.body).not.toContain('eyJ');
      }
    }
    expect(await auditCount(t)).toBe(before);
    expect((await keys()).map((k) => k.kid)).toEqual(kids);
  });

  test('the JWKS needs no key, may be cached briefly, and never exposes a private member', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('public, max-age=60');
    const set = response.json();
    expect(set.keys.length).toBeGreaterThanOrEqual(2);
    for (const key of set.keys) {
      expect(Object.keys(key).sort()).toEqual(PUBLIC_MEMBERS);
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    }
    expect(response.body).not.toMatch(/"d"/);
    // The listing for operators shows public halves only, too.
    const listed = await t.request({ method: 'GET', url: '/v1/signing-keys' });
    expect(JSON.stringify(listed.body)).not.toMatch(/"d"/);
    for (const key of listed.body.data) expect(Object.keys(key.public_jwk).sort()).toEqual(PUBLIC_MEMBERS);
  });

  test("the service's JWKS holds public members only, before any serializer sees it", async () => {
    for (const key of (await t.services.signingKeys.jwks()).keys) {
      expect(Object.keys(key).sort()).toEqual(PUBLIC_MEMBERS);
    }
  });
});

describe('signing keys', () => {
  test('before any token there are an active and a next key, both published', async () => {
    const other = await startTestApp();
    try {
      const set = await other.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
      const listed = await other.request({ method: 'GET', url: '/v1/signing-keys' });
      expect(listed.body.data.map((k: any) => k.status).sort()).toEqual(['active', 'next']);
      expect(
        set
          .json()
          .keys.map((k: any) => k.kid)
          .sort(),
      ).toEqual(listed.body.data.map((k: any) => k.kid).sort());
      expect(listed.body.data.every((k: any) => k.published)).toBe(true);
    } finally {
      await other.close();
    }
  });

  test('several processes starting together make one active key and one next key', async () => {
    const db = await createTestDatabase();
    try {
      const processes = Array.from({ length: 6 }, () => createServices(db.database, SETTINGS, t.clock));
      await Promise.all(processes.map((p) => p.signingKeys.jwks()));
      const rows = await db.database.db.selectFrom('signing_keys').selectAll().execute();
      expect(rows).toHaveLength(2);
      expect(rows.filter((r) => r.activated_at !== null && r.retired_at === null)).toHaveLength(1);
      expect(rows.filter((r) => r.activated_at === null)).toHaveLength(1);
      // Even a bug that skipped the lock could not add a second active key: the index refuses it.
      const active = rows.find((r) => r.activated_at !== null);
      await expect(
        db.database.db
          .insertInto('signing_keys')
          .values({
            kid: 'second-active',
            algorithm: 'ES256',
            public_jwk: JSON.stringify(active?.public_jwk),
            private_key_sealed: 'sealed',
            created_at: t.clock.now(),
            activated_at: t.clock.now(),
            retired_at: null,
          })
          .execute(),
      ).rejects.toThrow(/signing_keys_one_active/);
    } finally {
      await db.drop();
    }
  });

  test('a rotation activates the published next key, keeps the old one published for the longest token life, then drops it', async () => {
    const before = await keys();
    const oldActive = before.find((k) => k.status === 'active');
    const oldNext = before.find((k) => k.status === 'next');
    const earlier = await mint(acme.slug, { subject: 'alice', ttl_seconds: MAX_TOKEN_TTL_SECONDS });
    expect(decodeProtectedHeader(earlier.body.access_token).kid).toBe(oldActive.kid);

    const rotated = await t.request({
      method: 'POST',
      url: '/v1/signing-keys/rotate',
      payload: { reason: 'scheduled' },
    });
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
    const rotatedAt = t.clock.now();
    expect(rotated.body.active).toMatchObject({ kid: oldNext.kid, status: 'active', published: true });
    expect(rotated.body.retired).toMatchObject({
      kid: oldActive.kid,
      status: 'retired',
      published: true,
      retired_at: rotatedAt.toISOString(),
      published_until: new Date(rotatedAt.getTime() + MAX_TOKEN_TTL_SECONDS * 1000).toISOString(),
    });
    expect(rotated.body.next).toMatchObject({ status: 'next', published: true });
    expect(new Set([rotated.body.next.kid, oldActive.kid, oldNext.kid]).size).toBe(3);

    // The token signed before the rotation still verifies; new ones are signed by the new key.
    expect((await verify(earlier.body.access_token)).payload.tid).toBe(acme.id);
    const later = await mint(acme.slug, { subject: 'alice' });
    expect(decodeProtectedHeader(later.body.access_token).kid).toBe(oldNext.kid);
    expect((await verify(later.body.access_token)).payload.tid).toBe(acme.id);

    // The retired key's private half is gone; the audit names who rotated and why.
    const row = await t.services.database.db
      .selectFrom('signing_keys')
      .selectAll()
      .where('kid', '=', oldActive.kid)
      .executeTakeFirstOrThrow();
    expect(row.private_jwk).toBeNull();
    expect(row.private_key_sealed).toBeNull();
    const audit = (await auditRows(t)).filter((r) => r.action === 'signing_key.rotated').at(-1);
    expect(audit).toMatchObject({
      actor_type: 'api_key',
      target_id: oldNext.kid,
      data: { retired: oldActive.kid, next: rotated.body.next.kid, reason: 'scheduled' },
    });

    const published = async () => (await jwks()).keys.map((k) => k.kid);
    t.clock.advance(MAX_TOKEN_TTL_SECONDS * 1000 - 1000);
    expect(await published()).toContain(oldActive.kid);
    expect((await verify(earlier.body.access_token)).payload.sub).toBe('alice');
    t.clock.advance(1000);
    expect(await published()).not.toContain(oldActive.kid);
    expect(await published()).toEqual(expect.arrayContaining([oldNext.kid, rotated.body.next.kid]));
    expect((await keys()).find((k) => k.kid === oldActive.kid)).toMatchObject({ published: false });
    // By then every token the old key signed has expired.
    await expect(verify(earlier.body.access_token)).rejects.toThrow();
  });

  test('another process signs with the rotated key at once: nothing caches the active key', async () => {
    const other = otherProcess(t);
    const rotated = await other.signingKeys.rotate(systemContext('test'));
    const minted = await mint(acme.slug, { subject: 'alice' });
    expect(decodeProtectedHeader(minted.body.access_token).kid).toBe(rotated.active.kid);
  });

  test("the OpenID provider's view of the active kid: a rotation here at once, another process's later, while the retired key stays published", async () => {
    const signingKeys = t.services.signingKeys;
    const first = await signingKeys.rotate(systemContext('test'));
    expect(await signingKeys.activeKid()).toBe(first.active.kid);
    // Kept for a while, not read again: the provider asks on every request.
    const theirs = await otherProcess(t).signingKeys.rotate(systemContext('test'));
    expect(theirs.retired.kid).toBe(first.active.kid);
    expect(await signingKeys.activeKid()).toBe(first.active.kid);
    expect((await signingKeys.jwks()).keys.map((k) => k.kid)).toContain(first.active.kid);
    const ours = await signingKeys.rotate(systemContext('test'));
    expect(ours.retired.kid).toBe(theirs.active.kid);
    expect(await signingKeys.activeKid()).toBe(ours.active.kid);
  });

  test('rotate takes only an optional reason', async () => {
    const response = await t.request({
      method: 'POST',
      url: '/v1/signing-keys/rotate',
      payload: { reason: 'x', kid: 'mine' },
    });
    expect(response.status).toBe(400);
    expect(response.body.errors.map((e: { path: string }) => e.path)).toEqual(['kid']);
  });
});

describe('private signing keys at rest', () => {
  const box = (...keys: Buffer[]) => new SecretBox(keys);
  const masterA = randomBytes(MASTER_KEY_BYTES);
  const masterB = randomBytes(MASTER_KEY_BYTES);

  /** Runs `fn` with the services of a process whose TENANTRY_MASTER_KEY holds `secrets`, on `db`. */
  async function signingKid(db: TestDatabase, secrets: SecretBox): Promise<string> {
    const { signingKeys } = createServices(db.database, { ...SETTINGS, secrets }, t.clock);
    await signingKeys.ensureKeys();
    return db.database.db.transaction().execute(async (tx) => (await signingKeys.activeKey(tx)).kid);
  }

  async function rows(db: TestDatabase) {
    return db.database.db.selectFrom('signing_keys').selectAll().orderBy('kid').execute();
  }

  test('are sealed with the master key, each for its own row: no private member lies in the database', async () => {
    const stored = await t.services.database.db.selectFrom('signing_keys').selectAll().execute();
    expect(stored.length).toBeGreaterThanOrEqual(2);
    for (const row of stored.filter((r) => r.retired_at === null)) {
      expect(row.private_jwk).toBeNull();
      const sealed = row.private_key_sealed as string;
      expect(decodeProtectedHeader(sealed)).toEqual({
        alg: 'dir',
        enc: 'A256GCM',
        kid: SETTINGS.secrets.currentKeyId,
        purpose: `signing_key:${row.kid}`,
      });
      const { d } = JSON.parse(await SETTINGS.secrets.open(`signing_key:${row.kid}`, sealed)) as {
        d: string;
      };
      expect(d).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(JSON.stringify(row)).not.toContain(d);
    }
  });

  test('a key stored in clear before is sealed, a new master key reseals, and a process without the key cannot sign', async () => {
    const db = await createTestDatabase();
    try {
      const kid = await signingKid(db, box(masterA));
      // As migration 0009 found keys made before it: the private half in clear.
      for (const row of await rows(db))
        await db.database.db
          .updateTable('signing_keys')
          .set({
            private_key_sealed: null,
            private_jwk: await box(masterA).open(`signing_key:${row.kid}`, row.private_key_sealed as string),
          })
          .where('kid', '=', row.kid)
          .execute();
      expect(await signingKid(db, box(masterA))).toBe(kid);
      for (const row of await rows(db)) {
        expect(row.private_jwk).toBeNull();
        expect(decodeProtectedHeader(row.private_key_sealed as string).kid).toBe(box(masterA).currentKeyId);
      }
      // The new master key in front, the old one behind it: every key is sealed again with the new.
      expect(await signingKid(db, box(masterB, masterA))).toBe(kid);
      for (const row of await rows(db))
        expect(decodeProtectedHeader(row.private_key_sealed as string).kid).toBe(box(masterB).currentKeyId);
      expect(await signingKid(db, box(masterB))).toBe(kid);
      await expect(signingKid(db, box(masterA))).rejects.toThrow(
        new RegExp(
          `sealed with master key ${box(masterB).currentKeyId}, which TENANTRY_MASTER_KEY does not hold`,
        ),
      );
      const actions = await db.database.db
        .selectFrom('audit_events')
        .select(['action', 'target_id'])
        .where('action', 'in', ['signing_key.sealed', 'signing_key.resealed'])
        .execute();
      expect(actions.filter((a) => a.action === 'signing_key.sealed')).toHaveLength(2);
      expect(actions.filter((a) => a.action === 'signing_key.resealed')).toHaveLength(2);
    } finally {
      await db.drop();
    }
  });

  test('a sealed key copied onto another key’s row is refused', async () => {
    const db = await createTestDatabase();
    try {
      await signingKid(db, box(masterA));
      const [first, second] = await rows(db);
      const active = first?.activated_at !== null ? first : second;
      const next = active === first ? second : first;
      await db.database.db
        .updateTable('signing_keys')
        .set({ private_key_sealed: next?.private_key_sealed ?? null })
        .where('kid', '=', active?.kid as string)
        .execute();
      await expect(signingKid(db, box(masterA))).rejects.toThrow(
        `it was sealed for "signing_key:${next?.kid}", not "signing_key:${active?.kid}"`,
      );
    } finally {
      await db.drop();
    }
  });
});

describe('/openapi.json', () => {
  test('documents the token routes with their schemas; the JWKS needs no security', async () => {
    const spec = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    const mint = spec.paths['/v1/tenants/{id}/tokens'].post;
    expect(JSON.stringify(mint.requestBody)).toContain('ttl_seconds');
    expect(mint.responses['404']).toEqual({ $ref: '#/components/responses/NotFound' });
    expect(spec.paths['/v1/signing-keys'].get).toBeDefined();
    expect(spec.paths['/v1/signing-keys/rotate'].post).toBeDefined();
    expect(spec.paths['/.well-known/jwks.json'].get.security).toEqual([]);
  });
});
