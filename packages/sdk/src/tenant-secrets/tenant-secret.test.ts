import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../../../server/test/harness.ts';
import { applyPlans, auditRows, provisionedTenant } from '../../../server/test/tenant-support.ts';
import { NoTenantContextError, runAsTenant } from '../context/index.ts';
import { ControlPlaneError } from '../control-plane/index.ts';
import { type ControlPlaneTenantry, Tenantry } from '../tenantry.ts';

let t: TestApp;
let url: string;
let spool: string;
const opened: ControlPlaneTenantry[] = [];

beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  spool = await mkdtemp(join(tmpdir(), 'tenantry-secret-'));
});
afterAll(async () => {
  for (const tenantry of opened) await tenantry.close();
  await t.close();
  await rm(spool, { recursive: true, force: true });
});

async function open(token: string): Promise<ControlPlaneTenantry> {
  const tenantry = await Tenantry.open({
    url,
    token,
    usage: { spoolDirectory: join(spool, String(opened.length)) },
  });
  opened.push(tenantry);
  return tenantry;
}

async function setSecret(tenant: string, name: string, value: string): Promise<void> {
  const answer = await t.request({
    method: 'PUT',
    url: `/v1/tenants/${tenant}/secrets/${name}`,
    payload: { value },
  });
  expect([200, 201]).toContain(answer.status);
}

/** A new API key's secret, made over the API as an operator would. */
async function createKey(payload: Record<string, unknown>): Promise<string> {
  const created = await t.request({ method: 'POST', url: '/v1/api-keys', payload });
  expect(created.status).toBe(201);
  return created.body.secret;
}

const as = <T>(tenantId: string, fn: () => T) => runAsTenant({ tenantId, subject: 'user_1', roles: [] }, fn);

test("tenantry.secret() reads the current tenant's secret with an app key, fresh on every call and audited each time", async () => {
  const tenantry = await open(await createKey({ name: 'app', preset: 'app' }));
  const a = await provisionedTenant(t);
  const b = await provisionedTenant(t);
  await setSecret(a.id, 'openai.api_key', 'sk-of-a');
  await setSecret(b.id, 'openai.api_key', 'sk-of-b');

  expect(await as(a.id, () => tenantry.secret('openai.api_key'))).toBe('sk-of-a');
  expect(await as(b.id, () => tenantry.secret('openai.api_key'))).toBe('sk-of-b');
  // Not set: undefined, so the app falls back to its own key.
  expect(await as(a.id, () => tenantry.secret('anthropic.api_key'))).toBeUndefined();
  // A rotation holds from the next call: nothing was cached.
  await setSecret(a.id, 'openai.api_key', 'sk-of-a-rotated');
  expect(await as(a.id, () => tenantry.secret('openai.api_key'))).toBe('sk-of-a-rotated');
  const reads = (await auditRows(t, a.id)).filter((row) => row.action === 'tenant_secret.read');
  expect(reads.map((row) => row.data)).toEqual([
    { name: 'openai.api_key', version: 1 },
    { name: 'openai.api_key', version: 2 },
  ]);

  // Outside a tenant's context there is no tenant to read for.
  await expect(tenantry.secret('openai.api_key')).rejects.toBeInstanceOf(NoTenantContextError);
});

test('a key without secrets:decrypt is refused, and says which scope it lacks', async () => {
  const tenantry = await open(
    await createKey({
      name: 'no decrypt',
      scopes: ['entitlements:read', 'usage:write', 'leases:write', 'tenants:read'],
    }),
  );
  const tenant = await provisionedTenant(t);
  await setSecret(tenant.id, 'openai.api_key', 'sk-never-read');
  const error = await as(tenant.id, () => tenantry.secret('openai.api_key')).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ControlPlaneError);
  expect([(error as ControlPlaneError).code, (error as ControlPlaneError).problem.required_scope]).toEqual([
    'insufficient_scope',
    'secrets:decrypt',
  ]);
  expect(String((error as Error).message)).not.toContain('sk-never-read');
});
