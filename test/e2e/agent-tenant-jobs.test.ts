import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemContext } from '../../packages/server/src/request-context.ts';
import { startTestApp, type TestApp } from '../../packages/server/test/harness.ts';
import { type PrivatePostgres, startPrivatePostgres } from '../../packages/server/test/private-postgres.ts';
import { applyPlans, createTenant } from '../../packages/server/test/tenant-support.ts';
import { type AgentProcess, connectedAgent, enrol, startAgent } from './agent-support.ts';
import { E2E_TIMEOUT_MS, until } from './tenantry-process.ts';

/*
 * What the app sends a tenant's agent (`POST /v1/tenants/{id}/agent-jobs`, the SDK's
 * `tenantry.agentJob()`), with an app key against a real `tenantry agent` process that loads the
 * vendor's job types with `--jobs`: the vendor's types and noop are sent and answered within the
 * same request; the jobs that change the customer's database, enrolling and revoking are not the
 * app's to send; another tenant's job is not found; an offline agent's job is answered queued.
 */

let t: TestApp;
let customer: PrivatePostgres;
let work: string;
let url: string;
let appKey: string;
let tenantId: string;
let otherTenant: string;
let agent: AgentProcess;
let agentId: string;

/** The vendor's job types: one that counts, and one whose run returns a field it did not declare. */
const JOBS_MODULE = `
import { defineJobType } from '@tenantry/agent';
import { z } from 'zod';
export const jobTypes = [
  defineJobType({
    type: 'count_tables',
    input: z.strictObject({ schema: z.string().regex(/^[a-z_]+$/) }),
    output: z.strictObject({ tables: z.number().int() }),
    run: async ({ schema }, ctx) =>
      ctx.withDatabase(async (db) => ({
        tables: (await db.query('select count(*)::int as n from pg_tables where schemaname = $1', [schema])).rows[0].n,
      })),
  }),
  defineJobType({
    type: 'leaky',
    input: z.strictObject({}),
    output: z.strictObject({ rows: z.number().int() }),
    run: async () => ({ rows: 1, secret_column: 'a customer value' }),
  }),
];
`;

const asApp = (method: string, path: string, payload?: unknown) =>
  t.request({
    method,
    url: path,
    headers: { authorization: `Bearer ${appKey}` },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });

/** `tenantry agent` for the tenant, with the vendor's job types and the customer's own cluster. */
function runAgent(extra: string[] = []): AgentProcess {
  return startAgent([
    '--url',
    url,
    '--credential-file',
    join(work, 'agent.json'),
    '--database-url',
    customer.url,
    '--jobs',
    join(work, 'jobs.mjs'),
    ...extra,
  ]);
}

async function jobCount(): Promise<number> {
  const row = await t.services.database.db
    .selectFrom('agent_jobs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

beforeAll(async () => {
  [t, customer] = await Promise.all([startTestApp(), startPrivatePostgres()]);
  await applyPlans(t);
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  const address = t.app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('not listening');
  url = `http://127.0.0.1:${address.port}`;
  // Inside the repository, so that the module resolves @tenantry/agent and zod as the vendor's does.
  work = await mkdtemp(join(import.meta.dirname, '.agent-jobs-'));
  await writeFile(join(work, 'jobs.mjs'), JOBS_MODULE);
  appKey = (await t.services.apiKeys.create(systemContext('test'), { name: 'app', preset: 'app' })).secret;
  tenantId = (await createTenant(t)).id as string;
  otherTenant = (await createTenant(t)).id as string;
  agent = runAgent(['--token', await enrol(t, tenantId)]);
  agentId = (await connectedAgent(t, tenantId)).id;
}, E2E_TIMEOUT_MS);

afterAll(async () => {
  await agent?.stop();
  await t?.close();
  await customer?.remove();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("a tenant's agent jobs, sent by the app", { timeout: E2E_TIMEOUT_MS }, () => {
  it("runs the vendor's job type and answers its declared output in the same request", async () => {
    const shown = await t.request({ method: 'GET', url: `/v1/agents/${agentId}` });
    expect(shown.body.job_types).toEqual(expect.arrayContaining(['count_tables', 'leaky', 'noop']));
    const client = new pg.Client({ connectionString: customer.url });
    await client.connect();
    await client.query('create schema app; create table app.notes (id int); create table app.tags (id int)');
    await client.end();
    const ran = await asApp('POST', `/v1/tenants/${tenantId}/agent-jobs`, {
      type: 'count_tables',
      input: { schema: 'app' },
      wait_seconds: 30,
    });
    expect(ran.status, JSON.stringify(ran.body)).toBe(201);
    expect(ran.body).toMatchObject({
      tenant_id: tenantId,
      agent_id: agentId,
      state: 'succeeded',
      output: { tables: 2 },
    });
    // Read again later, by the tenant it belongs to.
    const read = await asApp('GET', `/v1/tenants/${tenantId}/agent-jobs/${ran.body.id}`);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: ran.body.id, output: { tables: 2 } });
    // The same idempotency key answers the job it made.
    const first = await asApp('POST', `/v1/tenants/${tenantId}/agent-jobs`, {
      type: 'noop',
      idempotency_key: 'once',
      wait_seconds: 30,
    });
    const again = await asApp('POST', `/v1/tenants/${tenantId}/agent-jobs`, {
      type: 'noop',
      idempotency_key: 'once',
    });
    expect([first.status, again.status]).toEqual([201, 200]);
    expect(again.body.id).toBe(first.body.id);
  });

  it('refuses a run that returns an undeclared field: the value never reaches the control plane', async () => {
    const ran = await asApp('POST', `/v1/tenants/${tenantId}/agent-jobs`, {
      type: 'leaky',
      wait_seconds: 30,
    });
    expect(ran.body).toMatchObject({
      state: 'refused',
      output: null,
      error: { code: 'undeclared_output', fields: ['secret_column'] },
    });
    expect(JSON.stringify(ran.body)).not.toContain('a customer value');
  });

  it("refuses provision and migrate, enrolling and revoking, and another tenant's job, writing nothing", async () => {
    const before = await jobCount();
    for (const type of ['migrate', 'provision']) {
      const refused = await asApp('POST', `/v1/tenants/${tenantId}/agent-jobs`, {
        type,
        input: { schema: 'app' },
      });
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ code: 'validation_failed', errors: [{ path: 'type' }] });
    }
    // The operator's routes need agents:write, which the app key does not hold.
    for (const [method, path, payload] of [
      ['POST', `/v1/agents/${agentId}/jobs`, { type: 'migrate', input: { schema: 'app' } }],
      ['DELETE', `/v1/agents/${agentId}`, undefined],
      ['POST', `/v1/tenants/${tenantId}/agent-enrolments`, {}],
    ] as const) {
      const forbidden = await asApp(method, path, payload);
      expect(forbidden.status, path).toBe(403);
      expect(forbidden.body).toMatchObject({ code: 'insufficient_scope', required_scope: 'agents:write' });
    }
    expect(await jobCount()).toBe(before);
    const agentShown = await t.request({ method: 'GET', url: `/v1/agents/${agentId}` });
    expect(agentShown.body.state).toBe('active');

    // A job of this tenant, read under another tenant: not found, as a job id that does not exist.
    const mine = await asApp('POST', `/v1/tenants/${tenantId}/agent-jobs`, { type: 'noop' });
    const crossed = await asApp('GET', `/v1/tenants/${otherTenant}/agent-jobs/${mine.body.id}`);
    expect(crossed.status).toBe(404);
    expect(crossed.body).toMatchObject({ code: 'agent_job_not_found' });
    expect(JSON.stringify(crossed.body)).not.toContain(tenantId);
  });

  it('answers a tenant without an agent, an unknown tenant and bad input with the problem that names it', async () => {
    const before = await jobCount();
    const none = await asApp('POST', `/v1/tenants/${otherTenant}/agent-jobs`, { type: 'noop' });
    expect(none.status).toBe(409);
    expect(none.body).toMatchObject({ code: 'agent_not_enrolled' });
    expect(none.body.detail).toContain('agent-enrolments');
    const unknown = await asApp('POST', '/v1/tenants/ten_nope/agent-jobs', { type: 'noop' });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ code: 'tenant_not_found' });
    for (const [payload, field] of [
      [{ type: 'noop', wait_seconds: 31 }, 'wait_seconds'],
      [{ type: 'noop', surprise: 1 }, 'surprise'],
      [{ type: 'Drop Table' }, 'type'],
      [{ type: 'noop', input: { blob: 'x'.repeat(20_000) } }, 'input'],
    ] as const) {
      const bad = await asApp('POST', `/v1/tenants/${tenantId}/agent-jobs`, payload);
      expect(bad.status, JSON.stringify(payload).slice(0, 80)).toBe(400);
      expect(JSON.stringify(bad.body)).toContain(field);
    }
    expect(await jobCount()).toBe(before);
  });

  it("answers an offline agent's job as queued when the wait is over, and the agent runs it when it is back", async () => {
    await agent.stop();
    const queued = await asApp('POST', `/v1/tenants/${tenantId}/agent-jobs`, {
      type: 'noop',
      wait_seconds: 1,
    });
    expect(queued.status).toBe(201);
    // Queued, or offered to a connection whose close the gateway had not seen yet: not ended.
    expect(['queued', 'sent']).toContain(queued.body.state);
    // The credential file is kept: the same agent comes back without a token.
    agent = runAgent();
    const ended = await asApp('POST', `/v1/tenants/${tenantId}/agent-jobs`, {
      type: 'noop',
      wait_seconds: 30,
      idempotency_key: 'after-restart',
    });
    expect(ended.body).toMatchObject({ state: 'succeeded', output: { ok: true } });
    const earlier = await until('the job sent while the agent was away ends', async () => {
      const job = await asApp('GET', `/v1/tenants/${tenantId}/agent-jobs/${queued.body.id}`);
      return job.body.state === 'succeeded' ? job.body : undefined;
    });
    expect(earlier.output).toEqual({ ok: true });
  });
});
