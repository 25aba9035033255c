import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentJobView } from '../../packages/server/src/agents/index.ts';
import {
  ByoiAgentDriver,
  type PlacedTenant,
  PlacementNotSupportedError,
} from '../../packages/server/src/placements/index.ts';
import { startTestApp, type TestApp } from '../../packages/server/test/harness.ts';
import { type PrivatePostgres, startPrivatePostgres } from '../../packages/server/test/private-postgres.ts';
import { applyPlans, createTenant } from '../../packages/server/test/tenant-support.ts';
import { type AgentProcess, enrol, migrationsFolder, startAgent } from './agent-support.ts';
import { E2E_TIMEOUT_MS, until } from './tenantry-process.ts';

/*
 * The byoi_agent placement driver with a real agent process: its `agent` step waits until an
 * agent enrols (the agents service's onEnrolled hook tells when), its `provision` step sends the
 * provision job and waits for its end (onJobFinished), a refused job fails the step with its
 * reason, and moving data is refused as not supported.
 */

let t: TestApp;
let customer: PrivatePostgres;
let migrations: Awaited<ReturnType<typeof migrationsFolder>>;
let work: string;
let url: string;
const running: AgentProcess[] = [];
const enrolled: string[] = [];
const finished: AgentJobView[] = [];
const logged: { object: Record<string, unknown>; message: string }[] = [];

beforeAll(async () => {
  [t, customer, migrations] = await Promise.all([startTestApp(), startPrivatePostgres(), migrationsFolder()]);
  await applyPlans(t);
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  const address = t.app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('not listening');
  url = `http://127.0.0.1:${address.port}`;
  work = await mkdtemp(join(tmpdir(), 'tenantry-agent-driver-'));
  // What the provisioning workflow wires to its resume(tenantId).
  t.services.agents.onEnrolled(({ tenantId }) => {
    enrolled.push(tenantId);
  });
  t.services.agents.onJobFinished((job) => {
    finished.push(job);
  });
  // A listener that fails: its failure is logged, and the others are still told.
  t.services.agents.onEnrolled(() => {
    throw new Error('listener broke');
  });
  t.services.agents.useLog({
    info: () => {},
    error: (object, message) => logged.push({ object, message }),
  });
}, E2E_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all(running.map((agent) => agent.stop()));
  await t?.close();
  await customer?.remove();
  await migrations?.remove();
  if (work) await rm(work, { recursive: true, force: true });
});

async function placedTenant(schema: string): Promise<PlacedTenant<'byoi_agent'>> {
  const id = (await createTenant(t)).id as string;
  return { id, resources: { placement: 'byoi_agent', data_plane: 'dpl_pending', agent: null, schema } };
}

function runAgent(tenantId: string, token: string, extra: string[] = []): AgentProcess {
  const agent = startAgent([
    '--url',
    url,
    '--token',
    token,
    '--credential-file',
    join(work, `${tenantId}.json`),
    '--database-url',
    customer.url,
    '--migrations',
    migrations.dir,
    ...extra,
  ]);
  running.push(agent);
  return agent;
}

describe('the byoi_agent driver', { timeout: E2E_TIMEOUT_MS }, () => {
  const driver = () => new ByoiAgentDriver(t.services.agents, { checkTimeoutMs: 60_000 });

  it('waits for an agent, provisions through it, and checks its health', async () => {
    let tenant = await placedTenant('tenant_driver');
    const [agentStep, provisionStep] = driver().steps;
    expect([agentStep?.name, provisionStep?.name]).toEqual(['agent', 'provision']);
    const waiting = await agentStep?.run(tenant);
    expect(waiting).toMatchObject({ status: 'waiting', for: 'agent_enrolment' });

    runAgent(tenant.id, await enrol(t, tenant.id));
    await until('onEnrolled tells of the tenant', async () =>
      enrolled.includes(tenant.id) ? true : undefined,
    );
    await until('the failing listener is logged', async () => (logged.length > 0 ? true : undefined));
    expect(logged[0]).toEqual({
      object: { err: expect.objectContaining({ message: 'listener broke' }) },
      message: 'an agent enrolment listener failed',
    });
    const done = await agentStep?.run(tenant);
    expect(done?.status).toBe('done');
    if (done?.status !== 'done' || done.resources === undefined) throw new Error('no resources');
    tenant = { ...tenant, resources: done.resources };
    expect(tenant.resources.agent).toMatch(/^agt_/);
    expect(tenant.resources.data_plane).toMatch(/^dpl_/);
    expect(tenant.resources.data_plane).not.toBe('dpl_pending');

    const sent = await provisionStep?.run(tenant);
    expect(sent).toMatchObject({ status: 'waiting', for: 'agent_job' });
    await until('onJobFinished tells of the provision job', async () =>
      finished.some((job) => job.tenant_id === tenant.id && job.type === 'provision') ? true : undefined,
    );
    expect(await provisionStep?.run(tenant)).toMatchObject({ status: 'done' });
    const client = new pg.Client({ connectionString: customer.url });
    await client.connect();
    const version = await client.query('select max(version) as v from tenant_driver.tenantry_migrations');
    await client.end();
    expect(version.rows[0].v).toBe(2);

    expect(await driver().check(tenant)).toEqual({ ok: true, problems: [] });

    await expect(driver().verify(tenant)).rejects.toBeInstanceOf(PlacementNotSupportedError);
    await expect(driver().import(tenant, (async function* () {})())).rejects.toThrow(/not supported yet/);
    const exported = driver().export(tenant)[Symbol.asyncIterator]();
    await expect(exported.next()).rejects.toMatchObject({
      code: 'placement_not_supported',
      operation: 'export',
    });

    await driver().deprovision(tenant);
    const check = await driver().check(tenant);
    expect(check.ok).toBe(false);
    expect(check.problems[0]).toMatch(/no active agent/);
  });

  it('fails the provision step with the reason when the agent refuses the job, and a retry sends a new job', async () => {
    const tenant = await placedTenant('tenant_refused');
    runAgent(tenant.id, await enrol(t, tenant.id), ['--allow', 'noop,health_check']);
    await until('onEnrolled tells of the tenant', async () =>
      enrolled.includes(tenant.id) ? true : undefined,
    );
    const provisionStep = driver().steps[1];
    expect(await provisionStep?.run(tenant)).toMatchObject({ status: 'waiting', for: 'agent_job' });
    await until('the job ends', async () =>
      finished.some((job) => job.tenant_id === tenant.id) ? true : undefined,
    );
    const failed = await provisionStep?.run(tenant);
    expect(failed).toMatchObject({ status: 'failed', code: 'agent_job_refused' });
    expect(failed?.status === 'failed' ? failed.detail : '').toMatch(/not_allowed/);
    // The operator's retry: a new job is sent rather than the refusal reported again.
    expect(await provisionStep?.run(tenant)).toMatchObject({ status: 'waiting', for: 'agent_job' });
  });
});
