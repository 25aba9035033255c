// A tenant's own admins keep its secrets with their user token (tenant-admin permission
// secrets:write): set, rotate, list and delete, for their tenant only, and never read a value.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { memberAuthorization } from '../../test/member-support.ts';
import { applyPlans, auditCount, auditRows, provisionedTenant, query } from '../../test/tenant-support.ts';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
});
afterAll(() => t.close());

/** A member of `tenantId` with `role`, through an invitation accepted over the API, and a token of theirs. */
/** A new member's `authorization` header (member-support.ts). */
const memberToken = (tenantId: string, role: string) => memberAuthorization(t, tenantId, role);

async function secretRows(tenantId: string) {
  return query<{ name: string; version: number }>(
    t,
    `select name, version from tenantry.tenant_secrets where tenant_id = '${tenantId}' order by name`,
  );
}

describe("a tenant's admin keeps its secrets", () => {
  test('sets, rotates, lists and deletes them, audited as the user, and no answer holds a value', async () => {
    const tenant = await provisionedTenant(t);
    const admin = await memberToken(tenant.id, 'admin');
    const url = `/v1/tenants/${tenant.slug}/secrets/openai.api_key`;
    const created = await t.request({ method: 'PUT', url, payload: { value: 'sk-first' }, headers: admin });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const rotated = await t.request({ method: 'PUT', url, payload: { value: 'sk-second' }, headers: admin });
    expect(rotated.status).toBe(200);
    expect(rotated.body.version).toBe(2);
    const listed = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/secrets`,
      headers: admin,
    });
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((s: { name: string }) => s.name)).toEqual(['openai.api_key']);
    const deleted = await t.request({ method: 'DELETE', url, headers: admin });
    expect(deleted.status).toBe(200);
    for (const answer of [created, rotated, listed, deleted])
      expect(JSON.stringify(answer.body)).not.toMatch(/sk-/);
    const rows = (await auditRows(t, tenant.id)).filter((r) => r.action.startsWith('tenant_secret.'));
    expect(rows.map((r) => [r.action, r.actor_type])).toEqual([
      ['tenant_secret.set', 'user'],
      ['tenant_secret.rotated', 'user'],
      ['tenant_secret.deleted', 'user'],
    ]);
    expect(JSON.stringify(rows)).not.toMatch(/sk-/);
  });
});

describe('attacks', () => {
  test("another tenant's admin is refused on every secrets route, and nothing is written", async () => {
    const tenant = await provisionedTenant(t);
    const other = await provisionedTenant(t);
    const put = await t.request({
      method: 'PUT',
      url: `/v1/tenants/${tenant.id}/secrets/openai.api_key`,
      payload: { value: 'sk-victim' },
    });
    expect(put.status).toBe(201);
    const intruder = await memberToken(other.id, 'owner');
    const before = await auditCount(t);
    for (const ref of [tenant.id, tenant.slug]) {
      for (const [method, url, payload] of [
        ['PUT', `/v1/tenants/${ref}/secrets/openai.api_key`, { value: 'sk-attacker' }],
        ['PUT', `/v1/tenants/${ref}/secrets/new.one`, { value: 'sk-attacker' }],
        ['GET', `/v1/tenants/${ref}/secrets`, undefined],
        ['DELETE', `/v1/tenants/${ref}/secrets/openai.api_key`, undefined],
        ['GET', `/v1/tenants/${ref}/secrets/openai.api_key/value`, undefined],
      ] as const) {
        const refused = await t.request({ method, url, headers: intruder, ...(payload ? { payload } : {}) });
        expect(refused.status, `${method} ${url}`).toBe(403);
        expect(refused.body.code).toBe('insufficient_permission');
        expect(JSON.stringify(refused.body)).not.toContain('sk-victim');
      }
    }
    expect(await auditCount(t)).toBe(before);
    expect(await secretRows(tenant.id)).toEqual([{ name: 'openai.api_key', version: 1 }]);
    expect(await secretRows(other.id)).toEqual([]);
  });

  test('a member without secrets:write is refused, and even an owner never reads a value', async () => {
    const tenant = await provisionedTenant(t);
    const member = await memberToken(tenant.id, 'member');
    const owner = await memberToken(tenant.id, 'owner');
    const url = `/v1/tenants/${tenant.id}/secrets/openai.api_key`;
    const set = await t.request({ method: 'PUT', url, payload: { value: 'sk-kept' }, headers: owner });
    expect(set.status).toBe(201);
    const before = await auditCount(t);
    for (const [method, path, payload] of [
      ['PUT', url, { value: 'sk-member' }],
      ['GET', `/v1/tenants/${tenant.id}/secrets`, undefined],
      ['DELETE', url, undefined],
    ] as const) {
      const refused = await t.request({
        method,
        url: path,
        headers: member,
        ...(payload ? { payload } : {}),
      });
      expect(refused.status, `${method} ${path}`).toBe(403);
      expect(refused.body).toMatchObject({
        code: 'insufficient_permission',
        required_permission: 'secrets:write',
      });
    }
    // The value is the vendor's app's to read (secrets:decrypt), never a person's through the API.
    const value = await t.request({ method: 'GET', url: `${url}/value`, headers: owner });
    expect(value.status).toBe(403);
    expect(JSON.stringify(value.body)).not.toContain('sk-kept');
    expect(await auditCount(t)).toBe(before);
    expect(await secretRows(tenant.id)).toEqual([{ name: 'openai.api_key', version: 1 }]);
  });
});
