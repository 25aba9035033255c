import { copyFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestApp, type TestApp } from '../../packages/server/test/harness.ts';
import { type PrivatePostgres, startPrivatePostgres } from '../../packages/server/test/private-postgres.ts';
import { applyPlans, createTenant } from '../../packages/server/test/tenant-support.ts';
import {
  type AgentProcess,
  connectedAgent,
  enrol,
  finishedJob,
  migrationsFolder,
  runAgentJob,
  startAgent,
} from './agent-support.ts';
import { E2E_TIMEOUT_MS, until } from './tenantry-process.ts';

/*
 * The outbound agent as a customer runs it: `tenantry agent` in its own process, dialling out to
 * a control plane on a port, acting on a PostgreSQL cluster of the test's own whose URL only the
 * agent is given. Each attack on enrolment, credentials, jobs and the allow-list is tried here.
 */

let t: TestApp;
let customer: PrivatePostgres;
let migrations: Awaited<ReturnType<typeof migrationsFolder>>;
let work: string;
let url: string;
const running: AgentProcess[] = [];
let counter = 0;

beforeAll(async () => {
  [t, customer, migrations] = await Promise.all([startTestApp(), startPrivatePostgres(), migrationsFolder()]);
  await applyPlans(t);
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  const address = t.app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('not listening');
  url = `http://127.0.0.1:${address.port}`;
  work = await mkdtemp(join(tmpdir(), 'tenantry-agent-test-'));
}, E2E_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all(running.map((agent) => agent.stop()));
  await t?.close();
  await customer?.remove();
  await migrations?.remove();
  if (work) await rm(work, { recursive: true, force: true });
});

/** A new credential file path of this test run. */
function credentialFile(): string {
  counter += 1;
  return join(work, `agent-${counter}.json`);
}

/** The customer database's URL with a password in it (trust authentication ignores it): the agent must never log it. */
const PASSWORD = 'never-logged-pw';
function customerUrl(): string {
  return customer.url.replace('postgres@', `postgres:${PASSWORD}@`);
}

function agent(args: string[]): AgentProcess {
  const started = startAgent([
    '--url',
    url,
    '--database-url',
    customerUrl(),
    '--migrations',
    migrations.dir,
    ...args,
  ]);
  running.push(started);
  return started;
}

async function customerQuery(text: string, params: unknown[] = []): Promise<pg.QueryResultRow[]> {
  const client = new pg.Client({ connectionString: customer.url });
  await client.connect();
  try {
    return (await client.query(text, params)).rows;
  } finally {
    await client.end();
  }
}

/** The refusal a raw hello with `auth` gets: the `refused` frame and the close code. */
async function helloWith(auth: Record<string, unknown>): Promise<{ frame: any; code: number }> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/agent/connect`);
  const frames: any[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(JSON.stringify({ type: 'hello', protocol: 1, auth, agent_version: 'attacker', job_types: [] }));
  const code = await new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
  return { frame: frames[0], code };
}

describe('an agent process', { timeout: E2E_TIMEOUT_MS }, () => {
  let tenantId: string;
  let agentId: string;
  let file: string;
  let token: string;
  let process1: AgentProcess;

  beforeAll(async () => {
    tenantId = (await createTenant(t)).id;
    token = await enrol(t, tenantId);
    file = credentialFile();
    process1 = agent(['--token', token, '--credential-file', file]);
    agentId = (await connectedAgent(t, tenantId)).id;
    // The control plane counts it connected from its welcome; the agent stores its credential on reading it.
    await until('the credential is stored', async () =>
      process1.output().includes('enrolled; credential stored') ? true : undefined,
    );
  }, E2E_TIMEOUT_MS);

  it('enrols with its one-time token, keeps its credential in a file only its user reads, and never logs it', async () => {
    const stored = JSON.parse(await readFile(file, 'utf8'));
    expect(stored.agent_id).toBe(agentId);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const row = await t.services.database.db
      .selectFrom('agents')
      .selectAll()
      .where('id', '=', agentId)
      .executeTakeFirstOrThrow();
    // Only a hash is kept, and the token and credential are never in the agent's log.
    expect(row.credential_hash).not.toContain(stored.credential);
    expect(process1.output()).not.toContain(stored.credential);
    expect(process1.output()).not.toContain(token);
    // Nor the customer database's URL or its password.
    expect(process1.output()).not.toContain(PASSWORD);
    const audit = await t.services.database.db
      .selectFrom('audit_events')
      .select('action')
      .where('tenant_id', '=', tenantId)
      .execute();
    expect(audit.map((a) => a.action)).toEqual(
      expect.arrayContaining(['agent_enrolment.created', 'agent.enrolled']),
    );
  });

  it("provisions the tenant's schema on the customer's database, reporting only declared metadata", async () => {
    const job = await runAgentJob(t, agentId, 'provision', { schema: 'tenant_acme' });
    expect(job.state, JSON.stringify(job)).toBe('succeeded');
    expect(job.output).toEqual({
      schema: 'tenant_acme',
      created: true,
      status: 'applied',
      from_version: 0,
      to_version: 2,
      applied: 2,
    });
    const columns = await customerQuery(
      "select column_name from information_schema.columns where table_schema = 'tenant_acme' and table_name = 'notes' order by 1",
    );
    expect(columns.map((c) => c.column_name)).toEqual(['body', 'created_at', 'id']);
    const migrated = await runAgentJob(t, agentId, 'migrate', { schema: 'tenant_acme' });
    expect(migrated.output).toMatchObject({
      status: 'up_to_date',
      from_version: 2,
      to_version: 2,
      applied: [],
    });
  });

  it('checks the health of the customer database: connected, with its server version', async () => {
    const job = await runAgentJob(t, agentId, 'health_check');
    expect(job.state).toBe('succeeded');
    expect(job.output.connected).toBe(true);
    expect(job.output.server_version_num).toBeGreaterThanOrEqual(150000);
  });

  it('refuses a spent enrolment token, naming it spent', async () => {
    const again = agent(['--token', token, '--credential-file', credentialFile()]);
    expect(await again.exited).toBe(2);
    expect(again.output()).toMatch(/enrolment token was already used/);
  });

  it('gets the jobs queued while it was away when it comes back, and answers a re-offered job from its stored result', async () => {
    await process1.stop();
    await until('the agent is seen disconnected', async () => {
      const shown = await t.request({ method: 'GET', url: `/v1/agents/${agentId}` });
      return shown.body.connected ? undefined : true;
    });
    const queued = await t.request({
      method: 'POST',
      url: `/v1/agents/${agentId}/jobs`,
      payload: { type: 'noop' },
    });
    expect(queued.body.state).toBe('queued');
    const back = agent(['--credential-file', file]);
    const job = await finishedJob(t, agentId, queued.body.id);
    expect(job).toMatchObject({ state: 'succeeded', output: { ok: true }, attempts: 1 });
    // A disconnect between the agent's run and its answer reaching the control plane: the job is
    // open again, and its re-offer is answered from the agent's stored result, not run again.
    await back.stop();
    await t.services.database.db
      .updateTable('agent_jobs')
      .set({ state: 'running', output: null, finished_at: null })
      .where('id', '=', queued.body.id)
      .execute();
    const again = agent(['--credential-file', file]);
    const resumed = await finishedJob(t, agentId, queued.body.id);
    expect(resumed).toMatchObject({ state: 'succeeded', output: { ok: true }, attempts: 2 });
    expect(again.output()).toContain('job already finished; sending its stored result');
    expect(again.output()).not.toContain('"msg":"job started"');
    expect(again.output() + back.output()).not.toContain(PASSWORD);
    process1 = again;
  });

  it('rotates its credential when due; once the agent acknowledges, the old one (stolen) is refused', async () => {
    const stolen = join(work, 'stolen.json');
    await copyFile(file, stolen);
    const old = JSON.parse(await readFile(stolen, 'utf8'));
    await process1.stop();
    t.clock.advance(25 * 3_600_000);
    const rotated = agent(['--credential-file', file]);
    await until('the agent acknowledges its new credential', async () => {
      const row = await t.services.database.db
        .selectFrom('agents')
        .select(['rotation_id', 'credential_rotated_at'])
        .where('id', '=', agentId)
        .executeTakeFirstOrThrow();
      return row.rotation_id === null && row.credential_rotated_at.getTime() === t.clock.now().getTime()
        ? true
        : undefined;
    });
    const now = JSON.parse(await readFile(file, 'utf8'));
    expect(now.credential).not.toBe(old.credential);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const attack = await helloWith({ kind: 'credential', agent_id: agentId, credential: old.credential });
    expect(attack.frame).toMatchObject({ type: 'refused', code: 'credential_invalid' });
    expect(attack.code).toBe(4003);
    // The rotated agent still works.
    expect((await runAgentJob(t, agentId, 'noop')).state).toBe('succeeded');
    process1 = rotated;
  });

  it('is disconnected at once when revoked, stops, and its credential is refused after', async () => {
    const stored = JSON.parse(await readFile(file, 'utf8'));
    const revoked = await t.request({ method: 'DELETE', url: `/v1/agents/${agentId}` });
    expect(revoked.status).toBe(200);
    expect(revoked.body.state).toBe('revoked');
    expect(await process1.exited).toBe(2);
    expect(process1.output()).toMatch(/revoked/);
    const attack = await helloWith({ kind: 'credential', agent_id: agentId, credential: stored.credential });
    expect(attack.frame).toMatchObject({ type: 'refused', code: 'agent_revoked' });
    const job = await t.request({
      method: 'POST',
      url: `/v1/agents/${agentId}/jobs`,
      payload: { type: 'noop' },
    });
    expect(job.status).toBe(409);
    expect(job.body.code).toBe('agent_revoked');
  });
});

describe('enrolment and job attacks', { timeout: E2E_TIMEOUT_MS }, () => {
  it('refuses an expired enrolment token, naming it expired', async () => {
    const tenantId = (await createTenant(t)).id;
    const token = await enrol(t, tenantId, 5);
    t.clock.advance(6 * 60_000);
    const late = agent(['--token', token, '--credential-file', credentialFile()]);
    expect(await late.exited).toBe(2);
    expect(late.output()).toMatch(/enrolment token expired at/);
    const attack = await helloWith({ kind: 'enrolment', token: 'agtenr_forged' });
    expect(attack.frame).toMatchObject({ type: 'refused', code: 'enrolment_token_invalid' });
  });

  it("refuses a job type off the customer's allow-list, and the job ends refused", async () => {
    const tenantId = (await createTenant(t)).id;
    agent([
      '--token',
      await enrol(t, tenantId),
      '--credential-file',
      credentialFile(),
      '--allow',
      'noop,health_check',
    ]);
    const listed = await connectedAgent(t, tenantId);
    expect(listed.job_types).toEqual(['noop', 'health_check']);
    const job = await runAgentJob(t, listed.id, 'provision', { schema: 'tenant_denied' });
    expect(job.state).toBe('refused');
    expect(job.error.code).toBe('not_allowed');
    expect(await customerQuery("select 1 from pg_namespace where nspname = 'tenant_denied'")).toEqual([]);
  });

  it("keeps an agent of tenant A from reporting on tenant B's jobs, or passing as B's agent", async () => {
    const a = (await createTenant(t)).id;
    const b = (await createTenant(t)).id;
    const fileA = credentialFile();
    // B's agent exists but is away: its job stays queued.
    const agentB = agent(['--token', await enrol(t, b), '--credential-file', credentialFile()]);
    const bId = (await connectedAgent(t, b)).id;
    await agentB.stop();
    await until('B is away', async () => {
      const shown = await t.services.agents.get(bId);
      return shown.ok && !shown.value.connected ? true : undefined;
    });
    const jobB = await t.request({
      method: 'POST',
      url: `/v1/agents/${bId}/jobs`,
      payload: { type: 'noop' },
    });
    const agentA = agent(['--token', await enrol(t, a), '--credential-file', fileA]);
    const aId = (await connectedAgent(t, a)).id;
    await until('A stores its credential', async () =>
      agentA.output().includes('enrolled; credential stored') ? true : undefined,
    );
    await agentA.stop();
    const { credential } = JSON.parse(await readFile(fileA, 'utf8'));
    // A's credential under B's id.
    const posing = await helloWith({ kind: 'credential', agent_id: bId, credential });
    expect(posing.frame).toMatchObject({ type: 'refused', code: 'credential_invalid' });
    // A, authenticated as itself, reports a result for B's job.
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/agent/connect`);
    const frames: any[] = [];
    ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(
      JSON.stringify({
        type: 'hello',
        protocol: 1,
        auth: { kind: 'credential', agent_id: aId, credential },
        agent_version: 'attacker',
        job_types: ['noop'],
      }),
    );
    await until('welcomed', async () => (frames.some((f) => f.type === 'welcome') ? true : undefined));
    ws.send(
      JSON.stringify({
        type: 'job_result',
        protocol: 1,
        job_id: jobB.body.id,
        status: 'succeeded',
        output: { ok: true, forged: 'yes' },
      }),
    );
    const rejected = await until('rejected', async () => frames.find((f) => f.type === 'rejected'));
    expect(rejected.message).toContain(`holds no job ${jobB.body.id}`);
    // Nor is B's job offered to A.
    expect(frames.filter((f) => f.type === 'job_offer').map((f) => f.job_id)).not.toContain(jobB.body.id);
    ws.close();
    const still = await t.request({ method: 'GET', url: `/v1/agents/${bId}/jobs/${jobB.body.id}` });
    expect(still.body).toMatchObject({ state: 'queued', output: null });
    // And B's job is not found under A's id.
    const crossRead = await t.request({ method: 'GET', url: `/v1/agents/${aId}/jobs/${jobB.body.id}` });
    expect(crossRead.status).toBe(404);
    expect(crossRead.body.code).toBe('agent_job_not_found');
  });
});
