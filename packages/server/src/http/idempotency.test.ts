import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp, type TestApp, uniqueSlug } from '../../test/harness.ts';
import { purgeExpiredIdempotencyKeys } from './idempotency.ts';

const FIXTURE = readFileSync(new URL('../../test/fixtures/plans.yaml', import.meta.url), 'utf8');

let t: TestApp;
let otherToken: string;
beforeAll(async () => {
  t = await startTestApp();
  const applied = await t.request({ method: 'POST', url: '/v1/plans/apply', payload: { source: FIXTURE } });
  expect(applied.status).toBe(200);
  const other = await t.request({ method: 'POST', url: '/v1/api-keys', payload: { name: 'other operator' } });
  otherToken = other.body.secret;
});
afterAll(() => t.close());

let counter = 0;
function idempotencyKey(): string {
  counter += 1;
  return `idem-${Date.now()}-${counter}`;
}

function createTenant(payload: Record<string, unknown>, key: string, token?: string) {
  return t.request({
    method: 'POST',
    url: '/v1/tenants',
    payload,
    headers: { 'idempotency-key': key, ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
}

async function tenantsWithSlug(slug: string): Promise<number> {
  const rows = await t.db.database.db.selectFrom('tenants').select('id').where('slug', '=', slug).execute();
  return rows.length;
}

/**
 * Creates a tenant with `key`, then sets its row back to "claimed, unanswered", as a process that
 * died before storing the answer leaves it; `owner` replaces the claiming process's lock key.
 */
async function createThenForgetTheAnswer(payload: Record<string, unknown>, key: string, owner?: number) {
  const first = await createTenant(payload, key);
  expect(first.status).toBe(201);
  await t.db.database.db
    .updateTable('idempotency_keys')
    .set({
      status_code: null,
      response_body: null,
      response_headers: null,
      ...(owner === undefined ? {} : { owner }),
    })
    .where('key', '=', key)
    .execute();
}

describe('Idempotency-Key on POST', () => {
  test('a retry with the same key and body replays the first response and creates nothing', async () => {
    const key = idempotencyKey();
    const payload = { slug: uniqueSlug(), name: 'Acme', plan: 'pro' };
    const first = await createTenant(payload, key);
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();

    for (let i = 0; i < 2; i++) {
      const retry = await createTenant(payload, key);
      expect(retry.status).toBe(201);
      expect(retry.body).toEqual(first.body);
      expect(retry.headers['idempotent-replayed']).toBe('true');
      expect(retry.headers['content-type']).toBe(first.headers['content-type']);
      // The replay is a new request with its own id.
      expect(retry.headers['x-request-id']).not.toBe(first.headers['x-request-id']);
    }
    expect(await tenantsWithSlug(payload.slug)).toBe(1);
    const audit = await t.db.database.db
      .selectFrom('audit_events')
      .select('action')
      .where('target_id', '=', first.body.id)
      .where('action', '=', 'tenant.created')
      .execute();
    expect(audit).toHaveLength(1);
  });

  test('an API key created twice with one idempotency key is one key', async () => {
    const key = idempotencyKey();
    const name = `idempotent-${key}`;
    const send = () =>
      t.request({
        method: 'POST',
        url: '/v1/api-keys',
        payload: { name },
        headers: { 'idempotency-key': key },
      });
    const first = await send();
    const retry = await send();
    expect(first.status).toBe(201);
    expect(retry.status).toBe(201);
    expect(retry.body.id).toBe(first.body.id);
    const rows = await t.db.database.db
      .selectFrom('api_keys')
      .select('id')
      .where('name', '=', name)
      .execute();
    expect(rows).toHaveLength(1);
  });

  test('the same key with another body is 422 idempotency_key_reused and creates nothing', async () => {
    const key = idempotencyKey();
    const first = await createTenant({ slug: uniqueSlug(), name: 'Acme', plan: 'pro' }, key);
    expect(first.status).toBe(201);
    const slug = uniqueSlug();
    const reused = await createTenant({ slug, name: 'Other', plan: 'pro' }, key);
    expect(reused.status).toBe(422);
    expect(reused.headers['content-type']).toBe('application/problem+json');
    expect(reused.body.code).toBe('idempotency_key_reused');
    expect(await tenantsWithSlug(slug)).toBe(0);

    // Another URL with the same key is another request too.
    const elsewhere = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'x' },
      headers: { 'idempotency-key': key },
    });
    expect(elsewhere.status).toBe(422);
  });

  test('idempotency keys belong to one API key: another operator key is independent', async () => {
    const key = idempotencyKey();
    const mine = await createTenant({ slug: uniqueSlug(), name: 'Mine', plan: 'pro' }, key);
    expect(mine.status).toBe(201);
    const slug = uniqueSlug();
    const theirs = await createTenant({ slug, name: 'Theirs', plan: 'pro' }, key, otherToken);
    expect(theirs.status, JSON.stringify(theirs.body)).toBe(201);
    expect(theirs.headers['idempotent-replayed']).toBeUndefined();
    expect(theirs.body.id).not.toBe(mine.body.id);
    expect(await tenantsWithSlug(slug)).toBe(1);
    // Nor can another key replay a response stored for mine.
    const replayAttempt = await createTenant(
      { slug: mine.body.slug, name: 'Mine', plan: 'pro' },
      idempotencyKey(),
      otherToken,
    );
    expect(replayAttempt.headers['idempotent-replayed']).toBeUndefined();
  });

  test('a request refused by validation is not stored: the corrected retry runs', async () => {
    const key = idempotencyKey();
    const slug = uniqueSlug();
    const invalid = await createTenant({ slug: 'NOT VALID', name: 'Acme', plan: 'pro' }, key);
    expect(invalid.status).toBe(400);
    expect(invalid.body.code).toBe('validation_failed');
    const fixed = await createTenant({ slug, name: 'Acme', plan: 'pro' }, key);
    expect(fixed.status, JSON.stringify(fixed.body)).toBe(201);
    expect(fixed.headers['idempotent-replayed']).toBeUndefined();
    expect(await tenantsWithSlug(slug)).toBe(1);
    const replay = await createTenant({ slug, name: 'Acme', plan: 'pro' }, key);
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(replay.body.id).toBe(fixed.body.id);
  });

  test('a refusal by the handler is replayed as that refusal, never as a success', async () => {
    const key = idempotencyKey();
    const payload = { slug: uniqueSlug(), name: 'Acme', plan: 'no-such-plan' };
    const first = await createTenant(payload, key);
    expect(first.status).toBeGreaterThanOrEqual(400);
    expect(first.status).toBeLessThan(500);
    const retry = await createTenant(payload, key);
    expect(retry.status).toBe(first.status);
    expect(retry.body.code).toBe(first.body.code);
    expect(retry.headers['content-type']).toBe('application/problem+json');
    expect(await tenantsWithSlug(payload.slug)).toBe(0);
  });

  test('a server error is not stored, so the retry runs again', async () => {
    const db = t.db.database.db;
    const key = idempotencyKey();
    const name = `boom-${key}`;
    const send = () =>
      t.request({
        method: 'POST',
        url: '/v1/api-keys',
        payload: { name },
        headers: { 'idempotency-key': key },
      });
    await sql`alter table tenantry.api_keys add constraint no_boom check (name not like 'boom-%')`.execute(
      db,
    );
    try {
      const failed = await send();
      expect(failed.status).toBe(500);
      expect(failed.body.code).toBe('internal_error');
      expect(JSON.stringify(failed.body)).not.toContain('no_boom');
      const stored = await db.selectFrom('idempotency_keys').select('key').where('key', '=', key).execute();
      expect(stored).toEqual([]);
    } finally {
      await sql`alter table tenantry.api_keys drop constraint no_boom`.execute(db);
    }
    const retried = await send();
    expect(retried.status).toBe(201);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
  });

  test('a retry while the first request is unfinished is 409; an abandoned one is taken over', async () => {
    const db = t.db.database.db;
    const key = idempotencyKey();
    const payload = { slug: uniqueSlug(), name: 'Acme', plan: 'pro' };
    // Claim the key as a first request would, then "die" before answering.
    await createThenForgetTheAnswer(payload, key);
    const busy = await createTenant(payload, key);
    expect(busy.status).toBe(409);
    expect(busy.body.code).toBe('idempotency_key_in_progress');

    // Ten minutes later the first request is clearly gone: the retry runs again. The tenant
    // already exists, so the retry meets it instead of making a second one.
    await sql`update tenantry.idempotency_keys set created_at = now() - interval '10 minutes' where key = ${key}`.execute(
      db,
    );
    const other = await createTenant({ ...payload, name: 'Other' }, key);
    expect(other.status).toBe(422);
    const retry = await createTenant(payload, key);
    expect(retry.status).toBe(409);
    expect(retry.body.code).toBe('slug_taken');
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expect(await tenantsWithSlug(payload.slug)).toBe(1);
  });

  test('a claim left by a process that is gone is taken over at once, without waiting for the timer', async () => {
    const db = t.db.database.db;
    const key = idempotencyKey();
    const payload = { slug: uniqueSlug(), name: 'Acme', plan: 'pro' };
    // As a process that died after committing the tenant but before storing the answer leaves the
    // row: in progress, owned by a process lock nobody holds (keys are drawn from 1 to 2^31 - 1).
    await createThenForgetTheAnswer(payload, key, -1);
    const retry = await createTenant(payload, key);
    expect(retry.body.code).toBe('slug_taken');
    expect(await tenantsWithSlug(payload.slug)).toBe(1);
    const row = await db
      .selectFrom('idempotency_keys')
      .select(['status_code', 'owner'])
      .where('key', '=', key)
      .executeTakeFirstOrThrow();
    expect(row.status_code).toBe(409);
    expect(row.owner).not.toBe(-1);
  });

  test('after 24 hours a key may be used afresh, and the purge removes expired keys only', async () => {
    const db = t.db.database.db;
    const old = idempotencyKey();
    const fresh = idempotencyKey();
    expect((await createTenant({ slug: uniqueSlug(), name: 'Old', plan: 'pro' }, old)).status).toBe(201);
    expect((await createTenant({ slug: uniqueSlug(), name: 'New', plan: 'pro' }, fresh)).status).toBe(201);
    await sql`update tenantry.idempotency_keys set created_at = now() - interval '25 hours' where key = ${old}`.execute(
      db,
    );

    const slug = uniqueSlug();
    const reused = await createTenant({ slug, name: 'Later', plan: 'pro' }, old);
    expect(reused.status, JSON.stringify(reused.body)).toBe(201);
    expect(reused.headers['idempotent-replayed']).toBeUndefined();

    await sql`update tenantry.idempotency_keys set created_at = now() - interval '25 hours' where key = ${old}`.execute(
      db,
    );
    expect(await purgeExpiredIdempotencyKeys(db)).toBeGreaterThanOrEqual(1);
    const left = await db
      .selectFrom('idempotency_keys')
      .select('key')
      .where('key', 'in', [old, fresh])
      .execute();
    expect(left.map((r) => r.key)).toEqual([fresh]);
  });

  test('a bad Idempotency-Key header is 400 naming the header; GET ignores the header', async () => {
    const tooLong = await createTenant({ slug: uniqueSlug(), name: 'Acme', plan: 'pro' }, 'k'.repeat(256));
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.errors[0].path).toBe('headers.idempotency-key');
    const get = await t.request({ method: 'GET', url: '/v1/plans', headers: { 'idempotency-key': 'x' } });
    expect(get.status).toBe(200);
    expect(get.headers['idempotent-replayed']).toBeUndefined();
  });
});
