// The migration coordinator over a fleet that holds a byoi_agent tenant, with a real agent: a
// schema tenant on the vendor's server, a byoi tenant in its customer's database (which the
// coordinator reaches with the connection the control plane hands it), and a byoi_agent tenant
// whose customer's database only its agent reaches. The agent runs in this process (`new Agent`)
// against the test control plane listening on a port, provisions its tenant through the
// placement's own steps, and is sent the coordinator's `migrate` job. PostgreSQL only: several
// databases and roles.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '@tenantry/agent';
import {
  BINDER_ROLE,
  type CoordinatedReport,
  type CoordinateOptions,
  coordinateMigrations,
  parseCanary,
  vendorTargets,
} from '@tenantry/sdk';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  byoiTenant,
  dropTestDataPlanes,
  type TestDataPlane,
  testDataPlane,
} from '../../packages/server/test/data-plane-support.ts';
import { startTestApp, type TestApp } from '../../packages/server/test/harness.ts';
import { withAdmin } from '../../packages/server/test/postgres-admin.ts';
import { applyPlans, createTenant, provisionedTenant } from '../../packages/server/test/tenant-support.ts';
import { enrol } from './agent-support.ts';
import { E2E_TIMEOUT_MS, until } from './tenantry-process.ts';

const MIGRATIONS = {
  '0001_create_meetings.sql': 'create table meetings (id bigint primary key, title text not null);\n',
  '0002_add_starts_at.sql': 'alter table meetings add column starts_at timestamptz;\n',
};

const silent = { info: () => {}, warn: () => {}, error: () => {} };

let t: TestApp;
let origin: string;
let dir: string;
let work: string;
let schemaTenant: { id: string };
let byoi: { id: string };
let byoiCustomer: TestDataPlane;
let agentTenant: { id: string; slug: string };
let agentCustomer: TestDataPlane;
let agent: Agent;
let agentId: string;
/** The environment's binding key, put back after: the in-process agent would install with it. */
let environmentKey: string | undefined;

beforeEach(async () => {
  environmentKey = process.env.TENANTRY_BINDING_KEY;
  delete process.env.TENANTRY_BINDING_KEY;
  t = await startTestApp();
  await applyPlans(t);
  origin = await t.app.listen({ port: 0, host: '127.0.0.1' });
  dir = await mkdtemp(join(tmpdir(), 'tenantry-rollout-agents-'));
  work = await mkdtemp(join(tmpdir(), 'tenantry-rollout-agent-state-'));
  await writeFile(join(dir, '0001_create_meetings.sql'), MIGRATIONS['0001_create_meetings.sql']);
  schemaTenant = await provisionedTenant(t, { placement: 'schema' });

  // CREATEROLE: with a binding key, the coordinator installs the byoi tenant's binding as the
  // customer's role, as the server's byoi provisioning does.
  byoiCustomer = await testDataPlane('customer', { createrole: true });
  byoi = await byoiTenant(t, 'minutes');
  const put = await t.request({
    method: 'PUT',
    url: `/v1/tenants/${byoi.id}/data-connection`,
    payload: byoiCustomer.connection,
  });
  expect(put.status, JSON.stringify(put.body)).toBe(201);
  await t.services.jobs.runDue();
  await t.services.jobs.runDue();

  // The byoi_agent tenant, provisioned by its agent: the `agent` step waits for the enrolment, the
  // `provision` step sends the provision job, which brings the schema to the folder's version 1.
  agentCustomer = await testDataPlane('customer');
  agentTenant = await createTenant(t, { placement: 'byoi_agent', app_schema: 'app' });
  await t.services.jobs.runDue();
  const { host, port, database, user, password } = agentCustomer.connection;
  agent = new Agent({
    url: origin,
    token: await enrol(t, agentTenant.id),
    credentialFile: join(work, 'agent.json'),
    databaseUrl: `postgres://${user}:${password}@${host}:${port}/${database}`,
    migrationsDir: dir,
    log: silent,
  });
  agent.start();
  const tenant = await until('the byoi_agent tenant is provisioned by its agent', async () => {
    await t.services.jobs.runDue();
    const shown = await t.request({ method: 'GET', url: `/v1/tenants/${agentTenant.id}` });
    return shown.body.state === 'provisioning' ? undefined : shown.body;
  });
  expect(tenant.state, JSON.stringify(tenant.provisioning)).toMatch(/^(trialing|active)$/);
  agentId = tenant.resources.agent;
  expect(agentId).toMatch(/^agt_/);
  expect(await agentSide()).toEqual({ version: 1, startsAt: false });
  for (const id of [schemaTenant.id, byoi.id]) {
    const shown = await t.request({ method: 'GET', url: `/v1/tenants/${id}` });
    expect(shown.body.state, JSON.stringify(shown.body.provisioning)).toMatch(/^(trialing|active)$/);
  }
  await writeFile(join(dir, '0002_add_starts_at.sql'), MIGRATIONS['0002_add_starts_at.sql']);
}, E2E_TIMEOUT_MS);

afterEach(async () => {
  await agent?.stop();
  if (environmentKey === undefined) delete process.env.TENANTRY_BINDING_KEY;
  else process.env.TENANTRY_BINDING_KEY = environmentKey;
  await rm(dir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
  // The binder role is the server's, shared by every database: only the customer's membership goes.
  await withAdmin((c) => c.query(`revoke ${BINDER_ROLE} from ${byoiCustomer.connection.user} cascade`));
  await dropTestDataPlanes();
  await t.close();
});

function databaseUrl(): string {
  const target = t.db.target;
  if (!('url' in target)) throw new Error('the coordinator tests run on the postgres backend');
  return target.url;
}

async function rollout(options: Partial<CoordinateOptions> = {}): Promise<CoordinatedReport> {
  const controlPlane = { url: origin, token: t.token };
  return coordinateMigrations({
    migrationsDir: dir,
    source: vendorTargets({ databaseUrl: databaseUrl(), controlPlane }),
    controlPlane,
    bindingKey: randomBytes(32).toString('hex'),
    ...options,
  });
}

/** The agent tenant's version and whether 0002's column is there, read in its customer's database as its role. */
async function agentSide(): Promise<{ version: number; startsAt: boolean }> {
  const { host, port, database, user, password } = agentCustomer.connection;
  const client = new pg.Client({ host, port, database, user, password });
  await client.connect();
  try {
    const version = await client.query<{ v: number | null }>(
      'select max(version) as v from app.tenantry_migrations',
    );
    const column = await client.query(
      "select 1 from information_schema.columns where table_schema = 'app' and table_name = 'meetings' and column_name = 'starts_at'",
    );
    return { version: version.rows[0]?.v ?? 0, startsAt: column.rows.length === 1 };
  } finally {
    await client.end();
  }
}

function byTenant(report: CoordinatedReport) {
  return Object.fromEntries(report.targets.map((x) => [x.target.tenantId ?? 'pool', x]));
}

async function recorded(report: CoordinatedReport): Promise<any> {
  const run = await t.request({ method: 'GET', url: `/v1/migration-runs/${report.runId}` });
  expect(run.status).toBe(200);
  return run.body;
}

describe('coordinateMigrations across a byoi_agent tenant, through its agent', {
  timeout: E2E_TIMEOUT_MS,
}, () => {
  it('migrates the agent tenant’s database with its agent’s migrate job, as a canary, and records it applied (its post-check is the agent’s)', async () => {
    const report = await rollout({ canary: parseCanary(agentTenant.slug) });

    expect(report.state, JSON.stringify(report.targets.map((x) => x.result.error))).toBe('succeeded');
    expect(report.stoppedAtCanary).toBe(false);
    // The canary runs first; the others started only once it ended well.
    expect(report.targets[0]?.target.tenantId).toBe(agentTenant.id);
    const targets = byTenant(report);
    expect(targets[agentTenant.id]).toMatchObject({
      canary: true,
      stage: 'applied',
      postChecks: 'agent',
      agentJob: { agentId, jobId: expect.stringMatching(/^agj_/) },
      target: { placement: 'byoi_agent', schema: 'app', database: null },
      result: {
        status: 'applied',
        fromVersion: 1,
        toVersion: 2,
        applied: [{ version: 2, name: '0002_add_starts_at' }],
        error: null,
      },
    });
    for (const id of ['pool', schemaTenant.id, byoi.id])
      expect(targets[id], id).toMatchObject({ stage: 'verified', postChecks: 'transaction', agentJob: null });
    expect(await agentSide()).toEqual({ version: 2, startsAt: true });

    const run = await recorded(report);
    expect(run).toMatchObject({ state: 'succeeded', counts: { applied: 1, verified: 3 } });
    expect(run.targets).toContainEqual(
      expect.objectContaining({
        target: agentTenant.id,
        placement: 'byoi_agent',
        canary: true,
        stage: 'applied',
        version_before: 1,
        version_after: 2,
        error: null,
      }),
    );
    // One migrate job, keyed by the run and the tenant: a send repeated within the run makes no second.
    const jobs = await t.services.database.db
      .selectFrom('agent_jobs')
      .select(['id', 'input', 'idempotency_key'])
      .where('agent_id', '=', agentId)
      .where('type', '=', 'migrate')
      .execute();
    expect(jobs).toEqual([
      {
        id: targets[agentTenant.id]?.agentJob?.jobId,
        input: { schema: 'app', dry_run: false },
        idempotency_key: `migration-run:${report.runId}:${agentTenant.id}`,
      },
    ]);
  });

  it('a dry run sends the migrate job as a dry run and leaves the agent tenant’s database as it was', async () => {
    const report = await rollout({ dryRun: true });

    expect(report.state).toBe('succeeded');
    expect(byTenant(report)[agentTenant.id]).toMatchObject({
      stage: 'dry_run',
      postChecks: 'agent',
      result: {
        dryRun: true,
        fromVersion: 1,
        toVersion: 1,
        applied: [{ version: 2, name: '0002_add_starts_at' }],
      },
    });
    expect(await agentSide()).toEqual({ version: 1, startsAt: false });
    const run = await recorded(report);
    expect(run.targets).toContainEqual(
      expect.objectContaining({ target: agentTenant.id, stage: 'dry_run', version_after: 1 }),
    );
  });

  it('fails the agent tenant with agent_timeout, naming its agent, when the agent is stopped, and migrates the others', async () => {
    await agent.stop();

    const report = await rollout({ agentTimeoutMs: 1_500 });

    expect(report.state).toBe('failed');
    const targets = byTenant(report);
    expect(targets[agentTenant.id]).toMatchObject({
      stage: 'failed',
      agentJob: { agentId },
      result: { status: 'failed', error: { code: 'agent_timeout' } },
    });
    expect(targets[agentTenant.id]?.result.error?.message).toContain(`agent ${agentId} did not take`);
    for (const id of ['pool', schemaTenant.id, byoi.id]) expect(targets[id]?.stage, id).toBe('verified');
    expect(await agentSide()).toEqual({ version: 1, startsAt: false });
    const run = await recorded(report);
    expect(run.targets).toContainEqual(
      expect.objectContaining({
        target: agentTenant.id,
        stage: 'failed',
        error: expect.objectContaining({ code: 'agent_timeout' }),
      }),
    );
  });

  it('reports the migrate job’s own error when a migration fails in the agent tenant’s database, which stays at its version', async () => {
    // The customer's DBA added the column behind the vendor's back: 0002 fails there, and only there.
    const { host, port, database, user, password } = agentCustomer.connection;
    const client = new pg.Client({ host, port, database, user, password });
    await client.connect();
    await client
      .query('alter table app.meetings add column starts_at timestamptz')
      .finally(() => client.end());

    const report = await rollout();

    expect(report.state).toBe('failed');
    const targets = byTenant(report);
    expect(targets[agentTenant.id]).toMatchObject({
      stage: 'failed',
      result: {
        status: 'failed',
        error: { code: 'migration_failed', migration: { version: 2, name: '0002_add_starts_at' } },
      },
    });
    expect(targets[agentTenant.id]?.result.error?.message).toMatch(/already exists/);
    expect(targets[agentTenant.id]?.result.error?.message).toContain(agentId);
    for (const id of ['pool', schemaTenant.id, byoi.id]) expect(targets[id]?.stage, id).toBe('verified');
    expect((await agentSide()).version).toBe(1);
    const run = await recorded(report);
    expect(run.targets).toContainEqual(
      expect.objectContaining({
        target: agentTenant.id,
        stage: 'failed',
        error: expect.objectContaining({ code: 'migration_failed' }),
      }),
    );
  });

  it('fails an agent tenant whose agent was revoked with agent_not_enrolled, sending nothing', async () => {
    const revoked = await t.request({ method: 'DELETE', url: `/v1/agents/${agentId}` });
    expect(revoked.status).toBe(200);

    const report = await rollout();

    const target = byTenant(report)[agentTenant.id];
    expect(target).toMatchObject({
      stage: 'failed',
      agentJob: null,
      result: { error: { code: 'agent_not_enrolled' } },
    });
    expect(target?.result.error?.message).toContain(`/v1/tenants/${agentTenant.id}/agent-enrolments`);
    expect(byTenant(report)[byoi.id]?.stage).toBe('verified');
    const jobs = await t.services.database.db
      .selectFrom('agent_jobs')
      .select('id')
      .where('type', '=', 'migrate')
      .execute();
    expect(jobs).toEqual([]);
  });
});
