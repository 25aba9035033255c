import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../../../server/test/harness.ts';
import { applyPlans, provisionedTenant } from '../../../server/test/tenant-support.ts';
import { NoTenantContextError, runAsTenant } from '../context/index.ts';
import { ControlPlaneError } from '../control-plane/index.ts';
import { type ControlPlaneTenantry, Tenantry } from '../tenantry.ts';

/*
 * tenantry.agentJob() without an agent at the other end: the sending and its problems. A real
 * agent answering it is tested end to end (test/e2e/agent-tenant-jobs.test.ts, and the minutes
 * app's summary of a byoi_agent tenant in test/e2e/minutes-byoi.postgres.test.ts).
 */

let t: TestApp;
let tenantry: ControlPlaneTenantry;
let spool: string;

beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  spool = await mkdtemp(join(tmpdir(), 'tenantry-agent-job-'));
  const key = await t.request({
    method: 'POST',
    url: '/v1/api-keys',
    payload: { name: 'app', preset: 'app' },
  });
  tenantry = await Tenantry.open({
    url: `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`,
    token: key.body.secret,
    usage: { spoolDirectory: spool },
  });
});
afterAll(async () => {
  await tenantry.close();
  await t.close();
  await rm(spool, { recursive: true, force: true });
});

const as = <T>(tenantId: string, fn: () => T) => runAsTenant({ tenantId, subject: 'user_1', roles: [] }, fn);

test("agentJob() sends the current tenant's agent a job with the app key, and names what stops it", async () => {
  const tenant = await provisionedTenant(t);
  // No agent enrolled: the control plane's problem, with how to get one, and no job made.
  const none = await as(tenant.id, () => tenantry.agentJob('count_users', {}, { waitSeconds: 0 })).catch(
    (error: unknown) => error,
  );
  expect(none).toBeInstanceOf(ControlPlaneError);
  expect(none).toMatchObject({ status: 409, code: 'agent_not_enrolled' });
  // The jobs that change the customer's database are not the app's to send.
  const migrate = await as(tenant.id, () => tenantry.agentJob('migrate', { schema: 'app' })).catch(
    (error: unknown) => error,
  );
  expect(migrate).toMatchObject({ status: 400, code: 'validation_failed' });

  const enrolment = await t.request({
    method: 'POST',
    url: `/v1/tenants/${tenant.id}/agent-enrolments`,
    payload: {},
  });
  expect(enrolment.status).toBe(201);
  // Enrolment makes the agent on its first connection: until then the tenant has no agent.
  const notYet = await as(tenant.id, () => tenantry.agentJob('noop')).catch((error: unknown) => error);
  expect(notYet).toMatchObject({ code: 'agent_not_enrolled' });

  // Outside a tenant's context there is no tenant to send for.
  await expect(tenantry.agentJob('noop')).rejects.toBeInstanceOf(NoTenantContextError);
  const jobs = await t.services.database.db.selectFrom('agent_jobs').select('id').execute();
  expect(jobs).toEqual([]);
});
