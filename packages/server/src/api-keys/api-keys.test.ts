import { createHash } from 'node:crypto';
import { ALL_SCOPES } from '@tenantry/core';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { clearAuditLog } from '../../test/audit-support.ts';
import { createTestDatabase, startTestApp, type TestApp, type TestDatabase } from '../../test/harness.ts';
import { systemClock } from '../clock.ts';
import { systemContext } from '../request-context.ts';
import { ApiKeyService } from './api-key-service.ts';
import { secretFormat as secretFormatOf } from './key-format.ts';

/** An operator key: `tnt_sk_`, 30 random base62 characters (178 bits) and a 6-character checksum. */
const SECRET = /^tnt_sk_[0-9A-Za-z]{36}$/;

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

function createKey(name: string, headers: Record<string, string> = {}) {
  return t.request({ method: 'POST', url: '/v1/api-keys', payload: { name }, headers });
}

describe('operator API keys over HTTP', () => {
  test('create returns the secret once; the database keeps only its SHA-256', async () => {
    const created = await createKey('ci');
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const { secret, ...key } = created.body;
    expect(secret).toMatch(SECRET);
    expect(key).toMatchObject({ name: 'ci', kind: 'operator', scopes: [...ALL_SCOPES], revoked_at: null });
    expect(key.id).toMatch(/^key_[0-9a-z]{26}$/);
    expect(secret.startsWith(key.display_prefix)).toBe(true);
    expect(key.display_prefix.length).toBeLessThan(secret.length / 2);

    const row = await t.db.database.db
      .selectFrom('api_keys')
      .selectAll()
      .where('id', '=', key.id)
      .executeTakeFirstOrThrow();
    expect(row.secret_hash).toBe(createHash('sha256').update(secret).digest('hex'));
    const stored = JSON.stringify(row);
    expect(stored).not.toContain(secret);
    expect(stored).not.toContain(secret.slice('tnt_sk_'.length));

    // The secret works, and the audit trail records the creation without it.
    const listed = await t.request({
      method: 'GET',
      url: '/v1/api-keys',
      headers: { authorization: `Bearer ${secret}` },
    });
    expect(listed.status).toBe(200);
    const audit = await t.db.database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('target_id', '=', key.id)
      .execute();
    expect(audit.map((e) => e.action)).toEqual(['api_key.created']);
    expect(JSON.stringify(audit)).not.toContain(secret);
  });

  test('records when a key was last used', async () => {
    const created = await createKey('last-used');
    const listed = async () =>
      (await t.request({ method: 'GET', url: '/v1/api-keys' })).body.data.find(
        (k: { id: string }) => k.id === created.body.id,
      );
    expect((await listed()).last_used_at).toBeNull();
    const used = await t.request({
      method: 'GET',
      url: '/v1/plans',
      headers: { authorization: `Bearer ${created.body.secret}` },
    });
    expect(used.status).toBe(200);
    expect(Date.parse((await listed()).last_used_at)).toBeGreaterThan(
      Date.parse(created.body.created_at) - 1,
    );
  });

  test('two keys never share a secret', async () => {
    const a = await createKey('a');
    const b = await createKey('b');
    expect(a.body.secret).not.toBe(b.body.secret);
  });

  test('the list never shows a secret or a hash', async () => {
    const created = await createKey('listed');
    const listed = await t.request({ method: 'GET', url: '/v1/api-keys' });
    expect(listed.status).toBe(200);
    const item = listed.body.data.find((k: any) => k.id === created.body.id);
    expect(Object.keys(item).sort()).toEqual(
      [
        'created_at',
        'display_prefix',
        'expires_at',
        'id',
        'kind',
        'last_used_at',
        'name',
        'revoked_at',
        'rolled_to',
        'scopes',
      ].sort(),
    );
    const text = JSON.stringify(listed.body);
    expect(text).not.toContain(created.body.secret);
    expect(text).not.toContain(createHash('sha256').update(created.body.secret).digest('hex'));
    // No member named for a secret; scopes may name the tenant-secrets feature (`secrets:decrypt`).
    expect(text).not.toMatch(/"secret(_hash)?"/);
  });

  test('a revoked key is refused at once', async () => {
    const created = await createKey('doomed');
    const auth = { authorization: `Bearer ${created.body.secret}` };
    expect((await t.request({ method: 'GET', url: '/v1/plans', headers: auth })).status).toBe(200);

    const revoked = await t.request({ method: 'POST', url: `/v1/api-keys/${created.body.id}/revoke` });
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    expect(revoked.body.revoked_at).toEqual(expect.any(String));
    expect(revoked.body.secret).toBeUndefined();

    const refused = await t.request({ method: 'GET', url: '/v1/plans', headers: auth });
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('invalid_api_key');

    const again = await t.request({ method: 'POST', url: `/v1/api-keys/${created.body.id}/revoke` });
    expect(again.status).toBe(200);
    const events = await t.db.database.db
      .selectFrom('audit_events')
      .select('action')
      .where('target_id', '=', created.body.id)
      .orderBy('occurred_at')
      .execute();
    expect(events.map((e) => e.action)).toEqual(['api_key.created', 'api_key.revoked']);
  });

  test('a key can revoke itself, and is refused on its next request', async () => {
    const created = await createKey('self');
    const auth = { authorization: `Bearer ${created.body.secret}` };
    const revoked = await t.request({
      method: 'POST',
      url: `/v1/api-keys/${created.body.id}/revoke`,
      headers: auth,
    });
    expect(revoked.status).toBe(200);
    expect((await t.request({ method: 'GET', url: '/v1/api-keys', headers: auth })).status).toBe(401);
  });

  test('revoking an unknown key is 404 api_key_not_found', async () => {
    const missing = await t.request({ method: 'POST', url: '/v1/api-keys/key_nope/revoke' });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('api_key_not_found');
  });

  test('a request without a key is 401 missing_api_key', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/v1/plans' });
    expect(response.statusCode).toBe(401);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(response.json().code).toBe('missing_api_key');
  });

  test.each([
    ['Basic credentials', (token: string) => `Basic ${Buffer.from(`x:${token}`).toString('base64')}`],
    ['Bearer without a token', () => 'Bearer'],
    ['Bearer with spaces only', () => 'Bearer    '],
    ['the bare token', (token: string) => token],
    ['two tokens', (token: string) => `Bearer ${token} ${token}`],
    ['an unknown key', () => `Bearer tnt_op_${'A'.repeat(43)}`],
    ['a key without the prefix', (token: string) => `Bearer ${token.slice('tnt_sk_'.length)}`],
    ['a truncated key', (token: string) => `Bearer ${token.slice(0, -1)}`],
    ['a key with another prefix', (token: string) => `Bearer tnt_xx_${token.slice('tnt_sk_'.length)}`],
    [
      'an operator key presented as restricted',
      (token: string) => `Bearer tnt_rk_${token.slice('tnt_sk_'.length)}`,
    ],
  ])('%s is 401 invalid_api_key', async (_name, header) => {
    const response = await t.request({
      method: 'GET',
      url: '/v1/plans',
      headers: { authorization: header(t.token) },
    });
    expect(response.status).toBe(401);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(response.body.code).toBe('invalid_api_key');
    expect(JSON.stringify(response.body)).not.toContain(t.token.slice(8));
  });

  test('the bearer scheme is case-insensitive', async () => {
    const response = await t.request({
      method: 'GET',
      url: '/v1/plans',
      headers: { authorization: `bearer ${t.token}` },
    });
    expect(response.status).toBe(200);
  });

  test('a replay of a key creation does not hand out the secret, which is stored nowhere', async () => {
    const headers = { 'idempotency-key': 'create-key-once' };
    const first = await createKey('idempotent', headers);
    expect(first.status).toBe(201);
    expect(first.body.secret).toMatch(SECRET);
    const replay = await createKey('idempotent', headers);
    expect(replay.status).toBe(201);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body).toEqual({ ...first.body, secret: null });

    const keys = await t.db.database.db
      .selectFrom('api_keys')
      .selectAll()
      .where('name', '=', 'idempotent')
      .execute();
    expect(keys).toHaveLength(1);
    const stored = await t.db.database.db.selectFrom('idempotency_keys').selectAll().execute();
    expect(JSON.stringify(stored)).not.toContain(first.body.secret);
  });
});

describe('restricted keys', () => {
  function create(payload: Record<string, unknown>, key = t.token) {
    return t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload,
      headers: { authorization: `Bearer ${key}` },
    });
  }

  test('the app preset, listed scopes, or both; in the catalogue order; recorded in the audit trail', async () => {
    const app = await create({ name: 'app', preset: 'app' });
    expect(app.status, JSON.stringify(app.body)).toBe(201);
    expect(app.body).toMatchObject({
      kind: 'restricted',
      scopes: [
        'tenants:read',
        'entitlements:read',
        'usage:write',
        'leases:write',
        'secrets:decrypt',
        'tenant-keys:verify',
        'data-planes:connect',
        'agents:read',
        'agent-jobs:write',
      ],
    });
    expect(app.body.secret).toMatch(/^tnt_rk_[0-9A-Za-z]{36}$/);
    const listed = await create({ name: 'listed', scopes: ['usage:read', 'plans:read', 'usage:read'] });
    expect(listed.body).toMatchObject({ kind: 'restricted', scopes: ['plans:read', 'usage:read'] });
    const both = await create({ name: 'both', preset: 'app', scopes: ['tokens:write'] });
    expect(both.body.scopes).toEqual([
      'tenants:read',
      'entitlements:read',
      'usage:write',
      'leases:write',
      'tokens:write',
      'secrets:decrypt',
      'tenant-keys:verify',
      'data-planes:connect',
      'agents:read',
      'agent-jobs:write',
    ]);
    const audit = await t.db.database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('target_id', '=', both.body.id)
      .executeTakeFirstOrThrow();
    expect(audit).toMatchObject({
      action: 'api_key.created',
      data: { name: 'both', kind: 'restricted', scopes: both.body.scopes },
    });
  });

  test.each([
    [{ name: 'x', scopes: ['usage:delete'] }, 'scopes.0'],
    [{ name: 'x', scopes: [] }, 'scopes'],
    [{ name: 'x', preset: 'admin' }, 'preset'],
    [{ name: 'x', preset: 'operator', scopes: ['usage:read'] }, 'scopes'],
  ])('%j is refused naming %s', async (payload, path) => {
    const response = await create(payload);
    expect(response.status).toBe(400);
    expect(response.body.code).toBe('validation_failed');
    expect(response.body.errors.map((e: { path: string }) => e.path)).toContain(path);
  });

  test('a key cannot create or roll a key with a scope it does not hold (privilege escalation)', async () => {
    const manager = await create({ name: 'manager', scopes: ['keys:manage', 'usage:write'] });
    const secret = manager.body.secret;
    const before = await t.db.database.db.selectFrom('api_keys').select('id').execute();

    for (const payload of [
      { name: 'more', scopes: ['usage:write', 'tenants:write'] },
      { name: 'operator', preset: 'operator' },
      { name: 'unnamed' }, // an operator key, by default
      { name: 'app', preset: 'app' },
    ]) {
      const refused = await create(payload, secret);
      expect(refused.status, JSON.stringify(payload)).toBe(403);
      expect(refused.body.code).toBe('insufficient_scope');
    }
    const more = await create({ name: 'more', scopes: ['usage:write', 'tenants:write'] }, secret);
    expect(more.body.required_scopes).toEqual(['tenants:write']);
    // Rolling hands out a secret with the rolled key's scopes: the same rule holds.
    const operatorId = (await t.services.apiKeys.authenticate(t.token))?.id;
    const roll = await t.request({
      method: 'POST',
      url: `/v1/api-keys/${operatorId}/roll`,
      headers: { authorization: `Bearer ${secret}` },
    });
    expect(roll.status).toBe(403);
    expect(roll.body.code).toBe('insufficient_scope');
    const after = await t.db.database.db.selectFrom('api_keys').select(['id', 'expires_at']).execute();
    expect(after).toHaveLength(before.length);
    expect(after.every((k) => k.expires_at === null)).toBe(true);

    // Within what it holds, it may.
    const less = await create({ name: 'less', scopes: ['usage:write'] }, secret);
    expect(less.status).toBe(201);
    expect(less.body.scopes).toEqual(['usage:write']);
  });

  test('an app key cannot manage keys at all', async () => {
    const app = await create({ name: 'app', preset: 'app' });
    const listed = await t.request({
      method: 'GET',
      url: '/v1/api-keys',
      headers: { authorization: `Bearer ${app.body.secret}` },
    });
    expect(listed.status).toBe(403);
    expect(listed.body).toMatchObject({ code: 'insufficient_scope', required_scope: 'keys:manage' });
  });
});

describe('rolling a key', () => {
  function roll(id: string, payload?: Record<string, unknown>) {
    return t.request({
      method: 'POST',
      url: `/v1/api-keys/${id}/roll`,
      ...(payload ? { payload } : {}),
    });
  }
  const use = (secret: string) =>
    t.request({ method: 'GET', url: '/v1/tenants', headers: { authorization: `Bearer ${secret}` } });

  test('a new secret with the same scopes; the old one works until the overlap ends, then is refused', async () => {
    const old = await createKey('rolling');
    const app = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'rolling app', preset: 'app' },
    });
    for (const key of [old.body, app.body]) {
      expect((await use(key.secret)).status).toBe(200); // verified, and remembered
      const rolled = await roll(key.id, { overlap_seconds: 3600 });
      expect(rolled.status, JSON.stringify(rolled.body)).toBe(201);
      expect(rolled.body).toMatchObject({ name: key.name, kind: key.kind, scopes: key.scopes });
      expect(rolled.body.id).not.toBe(key.id);
      expect(rolled.body.secret).not.toBe(key.secret);
      expect(secretFormatOf(rolled.body.secret)).toBe('current');

      expect((await use(key.secret)).status).toBe(200);
      expect((await use(rolled.body.secret)).status).toBe(200);
      const listed = (await t.request({ method: 'GET', url: '/v1/api-keys' })).body.data;
      expect(listed.find((k: { id: string }) => k.id === key.id)).toMatchObject({
        rolled_to: rolled.body.id,
        expires_at: new Date(t.clock.now().getTime() + 3600_000).toISOString(),
        revoked_at: null,
      });

      // Rolling it again is refused: it already has a successor.
      const again = await roll(key.id);
      expect(again.status).toBe(409);
      expect(again.body.code).toBe('api_key_inactive');

      t.clock.advance(3600_000);
      const refused = await use(key.secret);
      expect(refused.status).toBe(401);
      expect(refused.body.code).toBe('invalid_api_key');
      expect((await use(rolled.body.secret)).status).toBe(200);

      const audit = await t.db.database.db
        .selectFrom('audit_events')
        .select(['action', 'target_id', 'data'])
        .where('target_id', 'in', [key.id, rolled.body.id])
        .orderBy('occurred_at')
        .execute();
      expect(audit).toEqual([
        expect.objectContaining({ action: 'api_key.created', target_id: key.id }),
        expect.objectContaining({ action: 'api_key.created', target_id: rolled.body.id }),
        expect.objectContaining({
          action: 'api_key.rolled',
          target_id: key.id,
          data: expect.objectContaining({ rolled_to: rolled.body.id, expires_at: expect.any(String) }),
        }),
      ]);
      expect(audit[1]?.data).toMatchObject({ rolled_from: key.id });
      expect(JSON.stringify(audit)).not.toContain(rolled.body.secret);
    }
  });

  test('with no overlap the old secret is refused at once; the default overlap is a day', async () => {
    const now = await createKey('now');
    expect((await use(now.body.secret)).status).toBe(200);
    expect((await roll(now.body.id, { overlap_seconds: 0 })).status).toBe(201);
    expect((await use(now.body.secret)).status).toBe(401);

    const later = await createKey('later');
    const rolled = await roll(later.body.id);
    expect(rolled.status).toBe(201);
    const listed = (await t.request({ method: 'GET', url: '/v1/api-keys' })).body.data;
    expect(listed.find((k: { id: string }) => k.id === later.body.id).expires_at).toBe(
      new Date(t.clock.now().getTime() + 86_400_000).toISOString(),
    );
  });

  test('a revoked key, an unknown key and an overlap past 7 days are refused', async () => {
    const revoked = await createKey('revoked');
    await t.request({ method: 'POST', url: `/v1/api-keys/${revoked.body.id}/revoke` });
    expect((await roll(revoked.body.id)).body.code).toBe('api_key_inactive');
    expect((await roll('key_nope')).status).toBe(404);
    const tooLong = await roll(revoked.body.id, { overlap_seconds: 7 * 86_400 + 1 });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.errors[0].path).toBe('overlap_seconds');
  });

  test('a key of the earlier format (no checksum) still works, and rolls to the new format', async () => {
    const legacy = `tnt_op_${'L'.repeat(43)}`;
    await t.db.database.db
      .insertInto('api_keys')
      .values({
        id: 'key_legacy',
        name: 'legacy',
        kind: 'operator',
        scopes: null,
        display_prefix: legacy.slice(0, 11),
        secret_hash: createHash('sha256').update(legacy).digest('hex'),
        last_used_at: null,
        revoked_at: null,
        expires_at: null,
        rolled_to: null,
      })
      .execute();
    expect((await use(legacy)).status).toBe(200);
    const rolled = await roll('key_legacy', { overlap_seconds: 0 });
    expect(rolled.body.secret).toMatch(/^tnt_sk_/);
    expect((await use(legacy)).status).toBe(401);
    expect((await use(rolled.body.secret)).status).toBe(200);
  });
});

describe('ensureFirstKey', () => {
  let db: TestDatabase;
  let service: ApiKeyService;
  const ctx = systemContext('bootstrap');

  beforeAll(async () => {
    db = await createTestDatabase();
    service = new ApiKeyService(db.database.db, systemClock);
  });
  afterAll(() => db.drop());
  beforeEach(async () => {
    await sql`truncate tenantry.api_keys`.execute(db.database.db);
    await clearAuditLog(db.database.db);
  });

  async function keyCount(): Promise<number> {
    const rows = await db.database.db.selectFrom('api_keys').select('id').execute();
    return rows.length;
  }

  test('with no key, the bootstrap token becomes the first key and is not returned', async () => {
    const token = `tnt_op_${'b'.repeat(30)}`;
    const first = await service.ensureFirstKey(ctx, token);
    expect(first.created).toBe(true);
    if (!first.created) return;
    expect(first.generatedSecret).toBeNull();
    expect(JSON.stringify(first)).not.toContain(token);
    expect((await service.authenticate(token))?.id).toBe(first.key.id);
    const audit = await db.database.db.selectFrom('audit_events').selectAll().execute();
    expect(audit).toEqual([expect.objectContaining({ action: 'api_key.created', actor_type: 'system' })]);
  });

  test('with no key and no token, a secret is generated and returned once', async () => {
    const first = await service.ensureFirstKey(ctx, undefined);
    expect(first.created).toBe(true);
    if (!first.created) return;
    expect(first.generatedSecret).toMatch(SECRET);
    expect((await service.authenticate(first.generatedSecret ?? ''))?.id).toBe(first.key.id);
    const again = await service.ensureFirstKey(ctx, undefined);
    expect(again).toEqual({ created: false, revokedBootstrapToken: false });
  });

  test('when a key exists, nothing is created, with or without a token', async () => {
    await service.create(ctx, { name: 'existing' });
    expect(await service.ensureFirstKey(ctx, undefined)).toMatchObject({ created: false });
    const token = `tnt_op_${'c'.repeat(30)}`;
    expect(await service.ensureFirstKey(ctx, token)).toMatchObject({ created: false });
    expect(await keyCount()).toBe(1);
    expect(await service.authenticate(token)).toBeNull();
  });

  test('concurrent calls create exactly one key', async () => {
    const results = await Promise.all(
      Array.from({ length: 5 }, () => service.ensureFirstKey(ctx, undefined)),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await keyCount()).toBe(1);
  });

  test('concurrent calls from separate services (processes) create exactly one key', async () => {
    const others = Array.from({ length: 3 }, () => new ApiKeyService(db.database.db, systemClock));
    const token = `tnt_op_${'d'.repeat(30)}`;
    const results = await Promise.all(others.map((s) => s.ensureFirstKey(ctx, token)));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await keyCount()).toBe(1);
  });

  test('a revoked bootstrap token is not brought back', async () => {
    const token = `tnt_op_${'e'.repeat(30)}`;
    const first = await service.ensureFirstKey(ctx, token);
    if (!first.created) throw new Error('expected a key');
    await service.revoke(ctx, first.key.id);
    expect(await service.authenticate(token)).toBeNull();
    // Restarting with the same environment must not revive the revoked (perhaps leaked) token.
    expect(await service.ensureFirstKey(ctx, token)).toEqual({ created: false, revokedBootstrapToken: true });
    expect(await service.authenticate(token)).toBeNull();
    // Without the token, a new key is generated so the operator is not locked out.
    const fresh = await service.ensureFirstKey(ctx, undefined);
    expect(fresh.created).toBe(true);
  });

  test('a check under way while the key is revoked does not leave it trusted', async () => {
    const key = await service.create(ctx, { name: 'racing' });
    // Not verified yet, so both checks go to the database while the revocation runs.
    const racing = Promise.all([service.authenticate(key.secret), service.authenticate(key.secret)]);
    expect((await service.revoke(ctx, key.id)).ok).toBe(true);
    await racing; // either answer is right for a check that raced the revocation
    expect(service.cached(key.secret)).toBeUndefined();
    expect(await service.authenticate(key.secret)).toBeNull();
  });

  test('a verified key is answered from memory until it is revoked', async () => {
    const key = await service.create(ctx, { name: 'cached' });
    expect(service.cached(key.secret)).toBeUndefined();
    expect((await service.authenticate(key.secret))?.id).toBe(key.id);
    expect(service.cached(key.secret)?.id).toBe(key.id);
    expect(service.cached(`${key.secret}x`)).toBeUndefined();
    await service.revoke(ctx, key.id);
    expect(service.cached(key.secret)).toBeUndefined();
    expect(await service.authenticate(key.secret)).toBeNull();
  });
});
