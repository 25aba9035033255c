import type { AuditEntryView } from '@tenantry/core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { memberAuthorization } from '../../test/member-support.ts';
import { applyPlans, provisionedTenant } from '../../test/tenant-support.ts';

/**
 * A tenant's own admins read and export their tenant's audit log with their user token
 * (`audit:read`): only that tenant's chain, whatever the request asks for.
 */

let t: TestApp;
let a: { id: string; slug: string };
let b: { id: string; slug: string };
let adminOfA: Record<string, string>;
let memberOfA: Record<string, string>;

/** A member of `tenantId` with `role`, through an invitation accepted over the API, and a token of theirs. */
/** A new member's `authorization` header (member-support.ts). */
const memberToken = (tenantId: string, role: string) => memberAuthorization(t, tenantId, role);

beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
  a = await provisionedTenant(t);
  b = await provisionedTenant(t);
  for (const [tenant, name] of [
    [a, 'A renamed'],
    [b, 'B renamed'],
  ] as const) {
    const patched = await t.request({ method: 'PATCH', url: `/v1/tenants/${tenant.id}`, payload: { name } });
    expect(patched.status).toBe(200);
  }
  adminOfA = await memberToken(a.id, 'admin');
  memberOfA = await memberToken(a.id, 'member');
  await memberToken(b.id, 'admin');
});
afterAll(() => t.close());

const get = (url: string, headers: Record<string, string>) => t.request({ method: 'GET', url, headers });

async function count(): Promise<number> {
  const rows = await t.services.database.db.selectFrom('audit_events').select('id').execute();
  return rows.length;
}

describe("a tenant's admin reads its own audit log", () => {
  test("pages hold the tenant's chain only, by id or slug, and the read is audited as the user", async () => {
    for (const ref of [a.id, a.slug]) {
      const page = await get(`/v1/tenants/${ref}/audit?limit=1000`, adminOfA);
      expect(page.status, JSON.stringify(page.body)).toBe(200);
      const entries = page.body.data as AuditEntryView[];
      expect(entries.map((e) => e.action)).toContain('tenant.updated');
      expect(entries.every((e) => e.chain === a.id && e.tenant_id === a.id)).toBe(true);
    }
    const read = await t.services.database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('tenant_id', '=', a.id)
      .where('action', '=', 'audit.read')
      .orderBy('seq', 'desc')
      .executeTakeFirstOrThrow();
    expect(read.actor_type).toBe('user');
  });

  test("exports and checkpoints are the tenant's own", async () => {
    const exported = await t.app.inject({
      method: 'GET',
      url: `/v1/tenants/${a.id}/audit/export`,
      headers: adminOfA,
    });
    expect(exported.statusCode).toBe(200);
    const lines = exported.body
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as AuditEntryView);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((e) => e.chain === a.id)).toBe(true);
    expect(exported.body).not.toContain(b.id);
    const checkpoints = await get(`/v1/tenants/${a.id}/audit/checkpoints`, adminOfA);
    expect(checkpoints.status).toBe(200);
    expect(checkpoints.body.data.every((c: { chain: string }) => c.chain === a.id)).toBe(true);
  });
});

describe('attacks', () => {
  test("another tenant's log is refused on its path, and the query cannot widen the chain", async () => {
    const before = await count();
    for (const url of [
      `/v1/tenants/${b.id}/audit`,
      `/v1/tenants/${b.slug}/audit/export`,
      `/v1/tenants/${b.id}/audit/checkpoints`,
    ]) {
      const refused = await get(url, adminOfA);
      expect(refused.status, url).toBe(403);
      expect(refused.body.code).toBe('insufficient_permission');
    }
    // The whole log is the vendor's: a member's token reaches none of it.
    for (const url of ['/v1/audit', `/v1/audit?chain=${a.id}`, '/v1/audit/export', '/v1/audit/checkpoints']) {
      const refused = await get(url, adminOfA);
      expect(refused.status, url).toBe(403);
    }
    // A chain asked for in the tenant's own route is not a filter it takes.
    const widened = await get(`/v1/tenants/${a.id}/audit?chain=${b.id}`, adminOfA);
    expect(widened.status).toBe(400);
    // Filters naming the other tenant's targets find nothing of it.
    const aimed = await get(`/v1/tenants/${a.id}/audit?target_id=${b.id}`, adminOfA);
    expect(aimed.status).toBe(200);
    expect(aimed.body.data).toEqual([]);
    expect(await count()).toBe(before + 1); // the one read that was let through
  });

  test('a member whose role lacks audit:read is refused, and nothing is recorded', async () => {
    const before = await count();
    for (const url of [`/v1/tenants/${a.id}/audit`, `/v1/tenants/${a.id}/audit/export`]) {
      const refused = await get(url, memberOfA);
      expect(refused.status, url).toBe(403);
      expect(refused.body).toMatchObject({
        code: 'insufficient_permission',
        required_permission: 'audit:read',
      });
    }
    expect(await count()).toBe(before);
  });
});
