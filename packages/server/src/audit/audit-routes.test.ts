import {
  AUDIT_CHECKPOINT_TYPE,
  type AuditEntryView,
  auditEntryHash,
  OPERATOR_CHAIN,
  verifyAuditChains,
} from '@tenantry/core';
import { compactVerify, createLocalJWKSet } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { applyPlans, createTenant } from '../../test/tenant-support.ts';
import { systemContext } from '../request-context.ts';
import { sha256Hex } from './audit-chain.ts';
import { mayReadAudit } from './audit-service.ts';

let t: TestApp;
let a: { id: string; slug: string };
let b: { id: string; slug: string };
let readOnly: string;
let withoutAudit: string;

beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
  a = await createTenant(t);
  b = await createTenant(t);
  for (const name of ['A1', 'A2', 'A3']) {
    const patched = await t.request({ method: 'PATCH', url: `/v1/tenants/${a.id}`, payload: { name } });
    expect(patched.status).toBe(200);
  }
  const ctx = systemContext('test');
  readOnly = (await t.services.apiKeys.create(ctx, { name: 'auditor', scopes: ['audit:read'] })).secret;
  withoutAudit = (
    await t.services.apiKeys.create(ctx, { name: 'reader', scopes: ['tenants:read', 'billing:read'] })
  ).secret;
});
afterAll(() => t.close());

const get = (url: string, key?: string) =>
  t.request({ method: 'GET', url, ...(key ? { headers: { authorization: `Bearer ${key}` } } : {}) });

/** An export: the harness would parse `application/x-ndjson` as one JSON document. */
async function exportOf(url: string) {
  const response = await t.app.inject({
    method: 'GET',
    url,
    headers: { authorization: `Bearer ${t.token}` },
  });
  return { status: response.statusCode, headers: response.headers, text: response.body };
}

async function count(): Promise<number> {
  const rows = await t.services.database.db.selectFrom('audit_events').select('id').execute();
  return rows.length;
}

async function lastEntry(chain: string) {
  return t.services.database.db
    .selectFrom('audit_events')
    .selectAll()
    .where('chain_id', '=', chain)
    .orderBy('seq', 'desc')
    .executeTakeFirstOrThrow();
}

describe("GET /v1/tenants/{id}/audit: a tenant's log", () => {
  test("lists the tenant's chain newest first, every entry hashed as documented; the read is audited", async () => {
    const listed = await get(`/v1/tenants/${a.slug}/audit`);
    expect(listed.status, JSON.stringify(listed.body)).toBe(200);
    const data = listed.body.data as AuditEntryView[];
    expect(data.map((e) => e.action)).toEqual([
      'tenant.updated',
      'tenant.updated',
      'tenant.updated',
      'tenant.created',
    ]);
    expect(data.every((e) => e.chain === a.id && e.tenant_id === a.id)).toBe(true);
    expect(data.map((e) => e.seq)).toEqual([4, 3, 2, 1]);
    for (const entry of data) expect(auditEntryHash(entry, sha256Hex)).toBe(entry.hash);
    expect(data[0]).toMatchObject({
      object: 'audit_entry',
      actor: { type: 'api_key', id: expect.stringMatching(/^key_/) },
      target: { type: 'tenant', id: a.id },
      request_id: expect.any(String),
    });
    expect(listed.body.next_cursor).toBeNull();

    const read = await lastEntry(a.id);
    expect(read).toMatchObject({
      action: 'audit.read',
      actor_type: 'api_key',
      target_type: 'audit_log',
      target_id: a.id,
      request_id: listed.headers['x-request-id'],
      source_ip: '127.0.0.1',
      data: { view: 'entries', filter: {} },
    });
  });

  test('filters by action, actor, target and time, half-open', async () => {
    const updated = await get(`/v1/tenants/${a.id}/audit?action=tenant.updated&actor_type=api_key`);
    expect(updated.body.data.map((e: AuditEntryView) => e.action)).toEqual([
      'tenant.updated',
      'tenant.updated',
      'tenant.updated',
    ]);
    const created = (await get(`/v1/tenants/${a.id}/audit?action=tenant.created`)).body
      .data[0] as AuditEntryView;
    const at = created.occurred_at;
    const since = await get(`/v1/tenants/${a.id}/audit?target_type=tenant&target_id=${a.id}&since=${at}`);
    expect(since.body.data.some((e: AuditEntryView) => e.id === created.id)).toBe(true);
    const until = await get(`/v1/tenants/${a.id}/audit?action=tenant.created&until=${at}`);
    expect(until.body.data).toEqual([]);
    const byActor = await get(`/v1/tenants/${a.id}/audit?actor_id=key_nobody`);
    expect(byActor.body.data).toEqual([]);
  });

  test('pages by cursor in either order without overlap or gaps', async () => {
    for (const order of ['newest', 'chain']) {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const url: string = `/v1/tenants/${a.id}/audit?limit=2&order=${order}&action=tenant.updated${cursor ? `&cursor=${cursor}` : ''}`;
        const page = await get(url);
        expect(page.status, JSON.stringify(page.body)).toBe(200);
        seen.push(...page.body.data.map((e: AuditEntryView) => e.id));
        cursor = page.body.next_cursor;
      } while (cursor !== null);
      expect(seen).toHaveLength(3);
      expect(new Set(seen).size).toBe(3);
    }
    // A cursor of one order is refused by the other.
    const first = await get(`/v1/tenants/${a.id}/audit?limit=1&order=chain`);
    const wrong = await get(
      `/v1/tenants/${a.id}/audit?limit=1&order=newest&cursor=${first.body.next_cursor}`,
    );
    expect(wrong.status).toBe(400);
    expect(wrong.body.errors).toEqual([expect.objectContaining({ path: 'query.cursor' })]);
  });

  test.each([
    ['since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z', 'query.until'],
    ['since=2026-11-01T00:00:00Z&until=2026-11-01T00:00:00Z', 'query.until'],
    ['since=yesterday', 'query.since'],
    ['until=2026-13-01T00:00:00Z', 'query.until'],
    ['action=tenant.exploded', 'query.action'],
    ['limit=0', 'query.limit'],
    ['limit=1001', 'query.limit'],
    ['order=oldest', 'query.order'],
    ['cursor=bm9wZQ', 'query.cursor'],
    ['actor=key_1', 'actor'],
  ])('refuses %s with a problem naming %s, and writes nothing', async (query, field) => {
    const before = await count();
    const refused = await get(`/v1/tenants/${a.id}/audit?${query}`);
    expect(refused.status).toBe(400);
    expect(refused.headers['content-type']).toMatch(/problem\+json/);
    expect(refused.body.code).toBe('validation_failed');
    expect(JSON.stringify(refused.body.errors)).toContain(field);
    expect(await count()).toBe(before);
  });

  test('an unknown tenant is 404 and nothing is written', async () => {
    const before = await count();
    const missing = await get('/v1/tenants/ten_nope/audit');
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('tenant_not_found');
    expect(await count()).toBe(before);
  });

  test("never shows another tenant's entries", async () => {
    const ofB = await get(`/v1/tenants/${b.id}/audit?limit=1000`);
    expect(ofB.body.data.length).toBeGreaterThan(0);
    expect(ofB.body.data.every((e: AuditEntryView) => e.chain === b.id)).toBe(true);
    const aIds = new Set(
      (await get(`/v1/tenants/${a.id}/audit?limit=1000`)).body.data.map((e: AuditEntryView) => e.id),
    );
    expect(ofB.body.data.some((e: AuditEntryView) => aIds.has(e.id))).toBe(false);
  });

  test('needs audit:read: a key holding only it reads, a key without it is refused and nothing is written', async () => {
    expect((await get(`/v1/tenants/${a.id}/audit`, readOnly)).status).toBe(200);
    const before = await count();
    for (const url of [
      `/v1/tenants/${a.id}/audit`,
      `/v1/tenants/${a.id}/audit/export`,
      `/v1/tenants/${a.id}/audit/checkpoints`,
      '/v1/audit',
      '/v1/audit/export',
      '/v1/audit/checkpoints',
    ]) {
      const refused = await get(url, withoutAudit);
      expect(refused.status, url).toBe(403);
      expect(refused.body).toMatchObject({ code: 'insufficient_scope', required_scope: 'audit:read' });
    }
    expect(await count()).toBe(before);
  });
});

describe('mayReadAudit', () => {
  test("a vendor's key reads every chain; a tenant's principal exactly its own tenant's", () => {
    const scopes = new Set(['audit:read'] as const);
    expect(mayReadAudit({ scopes }, { all: true })).toBe(true);
    expect(mayReadAudit({ scopes }, { tenantId: 'ten_a' })).toBe(true);
    expect(mayReadAudit({ scopes: new Set() }, { tenantId: 'ten_a' })).toBe(false);
    const admin = { scopes, tenantId: 'ten_a' };
    expect(mayReadAudit(admin, { tenantId: 'ten_a' })).toBe(true);
    expect(mayReadAudit(admin, { tenantId: 'ten_b' })).toBe(false);
    expect(mayReadAudit(admin, { all: true })).toBe(false);
  });
});

describe('GET /v1/audit: every chain', () => {
  test('lists tenant and operator chains; chain= narrows; the read is audited in the operator chain', async () => {
    const all = await get('/v1/audit?limit=1000');
    expect(all.status).toBe(200);
    const chains = new Set(all.body.data.map((e: AuditEntryView) => e.chain));
    expect([...chains]).toEqual(expect.arrayContaining([a.id, b.id, OPERATOR_CHAIN]));
    const operator = await get(`/v1/audit?chain=${OPERATOR_CHAIN}&action=api_key.created`);
    expect(operator.body.data.length).toBeGreaterThanOrEqual(3);
    expect(
      operator.body.data.every((e: AuditEntryView) => e.chain === OPERATOR_CHAIN && e.tenant_id === null),
    ).toBe(true);
    expect(await lastEntry(OPERATOR_CHAIN)).toMatchObject({
      action: 'audit.read',
      target_id: 'all',
      data: { view: 'entries', filter: { chain: OPERATOR_CHAIN, action: 'api_key.created' } },
    });
  });
});

describe('exports', () => {
  test("stream a tenant's chain as JSON Lines, in seq order, that verify", async () => {
    const exported = await exportOf(`/v1/tenants/${a.id}/audit/export`);
    expect(exported.status).toBe(200);
    expect(exported.headers['content-type']).toMatch(/^application\/x-ndjson/);
    expect(exported.headers['content-disposition']).toBe(`attachment; filename="audit-${a.id}.jsonl"`);
    const lines = exported.text.trimEnd().split('\n');
    const entries = lines.map((line) => JSON.parse(line) as AuditEntryView);
    expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
    expect(entries.every((e) => e.chain === a.id)).toBe(true);
    // The export's own read is in it: audited before the stream starts.
    expect(entries.at(-1)).toMatchObject({ action: 'audit.read', data: { view: 'export' } });
    expect(verifyAuditChains(entries, sha256Hex, []).ok).toBe(true);
  });

  test('of every chain, filtered, and refuse a bad filter before streaming', async () => {
    const exported = await exportOf('/v1/audit/export?action=tenant.created');
    expect(exported.status).toBe(200);
    const entries = exported.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as AuditEntryView);
    expect(entries.map((e) => e.chain).sort()).toEqual([a.id, b.id].sort());
    const refused = await get('/v1/audit/export?since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z');
    expect(refused.status).toBe(400);
    expect(refused.body.errors).toEqual([expect.objectContaining({ path: 'query.until' })]);
  });
});

describe('checkpoints', () => {
  test("are signed with the control plane's key: they verify against the JWKS and vouch for each chain's head", async () => {
    const signed = await t.services.audit.checkpoints.signMovedHeads();
    expect(signed).toBeGreaterThanOrEqual(3);
    // Nothing moved since: nothing more to sign.
    expect(await t.services.audit.checkpoints.signMovedHeads()).toBe(0);

    const listed = await get('/v1/audit/checkpoints');
    expect(listed.status).toBe(200);
    const jwks = (await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json();
    const keySet = createLocalJWKSet(jwks);
    expect(listed.body.keys.map((k: { kid: string }) => k.kid)).toEqual(
      expect.arrayContaining([...new Set(listed.body.data.map((c: { kid: string }) => c.kid))]),
    );
    for (const checkpoint of listed.body.data) {
      const { payload, protectedHeader } = await compactVerify(checkpoint.jws, keySet);
      expect(protectedHeader).toMatchObject({
        alg: 'ES256',
        typ: AUDIT_CHECKPOINT_TYPE,
        kid: checkpoint.kid,
      });
      expect(JSON.parse(new TextDecoder().decode(payload))).toEqual({
        chain: checkpoint.chain,
        seq: checkpoint.seq,
        hash: checkpoint.hash,
        signed_at: checkpoint.signed_at,
      });
    }
    const head = await t.services.database.db
      .selectFrom('audit_chain_heads')
      .selectAll()
      .where('chain_id', '=', a.id)
      .executeTakeFirstOrThrow();
    const ofA = await get(`/v1/tenants/${a.id}/audit/checkpoints`);
    expect(ofA.body.data.length).toBe(1);
    expect(ofA.body.data[0]).toMatchObject({ chain: a.id, seq: Number(head.seq), hash: head.hash });
    // Listing checkpoints is a read too.
    expect(await lastEntry(a.id)).toMatchObject({ action: 'audit.read', data: { view: 'checkpoints' } });

    // A second round after the reads moved the chains: every checkpoint, or each chain's latest.
    expect(await t.services.audit.checkpoints.signMovedHeads()).toBeGreaterThanOrEqual(1);
    const all = await get(`/v1/tenants/${a.id}/audit/checkpoints`);
    expect(all.body.data.map((c: { seq: number }) => c.seq)).toEqual([
      Number(head.seq),
      Number(head.seq) + 1,
    ]);
    const latest = await get(`/v1/tenants/${a.id}/audit/checkpoints?latest=true`);
    expect(latest.body.data.map((c: { seq: number }) => c.seq)).toEqual([Number(head.seq) + 1]);
    const everyLatest = await get('/v1/audit/checkpoints?latest=true&limit=1000');
    const chains = everyLatest.body.data.map((c: { chain: string }) => c.chain);
    expect(new Set(chains).size).toBe(chains.length);
    expect(chains).toEqual(expect.arrayContaining([a.id, b.id, OPERATOR_CHAIN]));
  });
});
