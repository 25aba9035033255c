import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, defineJobType } from '@tenantry/agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { z } from 'zod';
import { startTestApp, type TestApp } from '../../packages/server/test/harness.ts';
import { type PrivatePostgres, startPrivatePostgres } from '../../packages/server/test/private-postgres.ts';
import { applyPlans, createTenant } from '../../packages/server/test/tenant-support.ts';
import { connectedAgent, enrol, recordingRelay, runAgentJob } from './agent-support.ts';
import { E2E_TIMEOUT_MS, until } from './tenantry-process.ts';

/*
 * What crosses the wire. The metadata-only rule is shown by capturing every frame the control
 * plane receives (through a relay between agent and control plane) while a vendor's job returns a
 * field its type does not declare: the job ends `refused` naming the field, and its value is in
 * no frame. Malformed, oversized and wrong-version frames close the connection with their own
 * close code, and the control plane carries on.
 */

let t: TestApp;
let customer: PrivatePostgres;
let work: string;
let wsUrl: string;

beforeAll(async () => {
  [t, customer] = await Promise.all([startTestApp(), startPrivatePostgres()]);
  await applyPlans(t);
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  wsUrl = `ws://127.0.0.1:${(t.app.server.address() as AddressInfo).port}/v1/agent/connect`;
  work = await mkdtemp(join(tmpdir(), 'tenantry-agent-frames-'));
}, E2E_TIMEOUT_MS);

afterAll(async () => {
  await t?.close();
  await customer?.remove();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the metadata-only rule', { timeout: E2E_TIMEOUT_MS }, () => {
  it("refuses a job whose output holds an undeclared field: the control plane sees `refused` naming it, and the value never leaves the agent's process", async () => {
    const SECRET = 'alice@customer.example — a row of the customer data';
    const leaky = defineJobType({
      type: 'count_users',
      input: z.strictObject({}),
      // Declares a count only.
      output: z.object({ users: z.number().int() }),
      run: async () => ({ users: 3, first_user_email: SECRET }) as { users: number },
    });
    const honest = defineJobType({
      type: 'count_rows',
      input: z.strictObject({ table: z.string() }),
      output: z.strictObject({ rows: z.number().int() }),
      run: async () => ({ rows: 42 }),
    });
    const relay = await recordingRelay(wsUrl);
    const tenantId = (await createTenant(t)).id;
    const agent = new Agent({
      url: relay.url,
      token: await enrol(t, tenantId),
      credentialFile: join(work, 'leaky.json'),
      databaseUrl: customer.url,
      jobTypes: [leaky, honest],
    });
    agent.start();
    try {
      const agentId = (await connectedAgent(t, tenantId)).id;
      const refused = await runAgentJob(t, agentId, 'count_users');
      expect(refused.state).toBe('refused');
      expect(refused.error).toMatchObject({ code: 'undeclared_output', fields: ['first_user_email'] });
      expect(refused.output).toBeNull();
      const declared = await runAgentJob(t, agentId, 'count_rows', { table: 'notes' });
      expect(declared).toMatchObject({ state: 'succeeded', output: { rows: 42 } });
      const invalidInput = await runAgentJob(t, agentId, 'count_rows', { table: 7 });
      expect(invalidInput).toMatchObject({ state: 'refused', error: { code: 'invalid_input' } });
      const unknown = await runAgentJob(t, agentId, 'drop_everything');
      expect(unknown).toMatchObject({ state: 'refused', error: { code: 'unknown_type' } });
      // Every frame the control plane received: the refusal names the field, none holds the value.
      expect(relay.frames.length).toBeGreaterThan(3);
      expect(relay.frames.some((frame) => frame.includes('first_user_email'))).toBe(true);
      for (const frame of relay.frames) expect(frame).not.toContain('alice@customer.example');
      const stored = await t.services.database.db.selectFrom('agent_jobs').selectAll().execute();
      expect(JSON.stringify(stored)).not.toContain('alice@customer.example');
    } finally {
      await agent.stop();
      await relay.close();
    }
  });
});

describe('credentials', { timeout: E2E_TIMEOUT_MS }, () => {
  it("rotates on the agent's request, refuses the old credential once acknowledged, and lets a second connection of the agent take over from the first", async () => {
    const tenantId = (await createTenant(t)).id;
    const file = join(work, 'rotating.json');
    const agent = new Agent({
      url: wsUrl,
      token: await enrol(t, tenantId),
      credentialFile: file,
      databaseUrl: customer.url,
    });
    agent.start();
    try {
      const agentId = (await connectedAgent(t, tenantId)).id;
      await until('the credential is stored', async () => {
        try {
          return JSON.parse(await readFile(file, 'utf8'));
        } catch {
          return undefined;
        }
      });
      const before = JSON.parse(await readFile(file, 'utf8'));
      expect(agent.requestRotation()).toBe(true);
      const after = await until('the new credential is stored and acknowledged', async () => {
        const stored = JSON.parse(await readFile(file, 'utf8'));
        const row = await t.services.database.db
          .selectFrom('agents')
          .select('rotation_id')
          .where('id', '=', agentId)
          .executeTakeFirstOrThrow();
        return stored.credential !== before.credential && row.rotation_id === null ? stored : undefined;
      });
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      const old = await rawHello({ kind: 'credential', agent_id: agentId, credential: before.credential });
      expect(old).toMatchObject({ code: 4003, first: { type: 'refused', code: 'credential_invalid' } });
      // A second connection with the current credential supersedes the agent's own.
      const second = new WebSocket(wsUrl);
      await new Promise((resolve) => second.once('open', resolve));
      const welcomed = new Promise((resolve) => second.once('message', resolve));
      second.send(
        JSON.stringify({
          type: 'hello',
          protocol: 1,
          auth: { kind: 'credential', agent_id: agentId, credential: after.credential },
          agent_version: 't',
          job_types: [],
        }),
      );
      await welcomed;
      second.close();
      // The agent reconnects by itself afterwards and still runs jobs.
      expect((await runAgentJob(t, agentId, 'noop')).state).toBe('succeeded');
      const audit = await t.services.database.db
        .selectFrom('audit_events')
        .select('action')
        .where('tenant_id', '=', tenantId)
        .execute();
      expect(audit.map((a) => a.action)).toEqual(
        expect.arrayContaining(['agent.credential_rotated', 'agent.credential_confirmed']),
      );
    } finally {
      await agent.stop();
    }
  });
});

/** A hello with `auth` on a raw connection: the first frame answered and the close code. */
async function rawHello(auth: Record<string, unknown>): Promise<{ first: unknown; code: number }> {
  const ws = new WebSocket(wsUrl);
  const frames: unknown[] = [];
  ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(JSON.stringify({ type: 'hello', protocol: 1, auth, agent_version: 't', job_types: [] }));
  const code = await new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
  return { first: frames[0], code };
}

/** Opens a raw connection, sends `frames` in order, and answers its close code and any frames it got. */
async function sendRaw(frames: (string | Buffer)[]): Promise<{ code: number; reason: string }> {
  const ws = new WebSocket(wsUrl);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  for (const frame of frames) ws.send(frame);
  return new Promise((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}

const hello = (protocol: number) =>
  JSON.stringify({
    type: 'hello',
    protocol,
    auth: { kind: 'enrolment', token: 'x' },
    agent_version: '1',
    job_types: [],
  });

describe('malformed frames', { timeout: E2E_TIMEOUT_MS }, () => {
  it('closes with a clear close code for each, and the control plane carries on', async () => {
    expect(await sendRaw(['this is not json'])).toEqual({ code: 4000, reason: 'the frame is not JSON' });
    expect(await sendRaw([JSON.stringify({ type: 'exec', protocol: 1, sql: 'drop table x' })])).toMatchObject(
      {
        code: 4000,
        reason: expect.stringContaining('type'),
      },
    );
    expect(await sendRaw([hello(2)])).toMatchObject({
      code: 4001,
      reason: expect.stringContaining('protocol 2'),
    });
    expect(await sendRaw([Buffer.from([0, 1, 2])])).toMatchObject({
      code: 4000,
      reason: 'frames are JSON text',
    });
    const result = JSON.stringify({
      type: 'job_result',
      protocol: 1,
      job_id: `agj_${'0'.repeat(26)}`,
      status: 'succeeded',
      output: {},
    });
    expect(await sendRaw([result])).toMatchObject({ code: 4000, reason: 'the first frame must be a hello' });
    // Over the 64 KiB frame limit: WebSocket's own "message too big".
    expect((await sendRaw(['x'.repeat(70 * 1024)])).code).toBe(1009);
    const { code } = await sendRaw([hello(1)]);
    expect(code).toBe(4003);
    const health = await t.request({ method: 'GET', url: '/healthz' });
    expect(health.status).toBe(200);
  });

  it('refuses bad job input through the API with the field named, and queues nothing', async () => {
    const tenantId = (await createTenant(t)).id;
    const agent = new Agent({
      url: wsUrl,
      token: await enrol(t, tenantId),
      credentialFile: join(work, 'input.json'),
      databaseUrl: customer.url,
    });
    agent.start();
    try {
      const agentId = (await connectedAgent(t, tenantId)).id;
      const long = await t.request({
        method: 'POST',
        url: `/v1/agents/${agentId}/jobs`,
        payload: { type: 'noop', input: { blob: 'x'.repeat(2000) } },
      });
      expect(long.status).toBe(400);
      expect(long.body.errors[0].path).toBe('input.blob');
      const big = await t.request({
        method: 'POST',
        url: `/v1/agents/${agentId}/jobs`,
        payload: { type: 'noop', input: { blobs: Array.from({ length: 20 }, () => 'x'.repeat(1000)) } },
      });
      expect(big.status).toBe(400);
      expect(big.body.errors[0].path).toBe('input');
      const badType = await t.request({
        method: 'POST',
        url: `/v1/agents/${agentId}/jobs`,
        payload: { type: 'Drop Table', input: {} },
      });
      expect(badType.status).toBe(400);
      const jobs = await t.services.database.db
        .selectFrom('agent_jobs')
        .select('id')
        .where('agent_id', '=', agentId)
        .execute();
      expect(jobs).toEqual([]);
      const missing = await t.request({ method: 'GET', url: `/v1/agents/agt_${'0'.repeat(26)}` });
      expect(missing.status).toBe(404);
      expect(missing.body.code).toBe('agent_not_found');
    } finally {
      await agent.stop();
    }
    await until('stopped agents are seen disconnected', async () => {
      const listed = await t.request({ method: 'GET', url: `/v1/agents?tenant_id=${tenantId}` });
      return listed.body.data.every((a: { connected: boolean }) => !a.connected) ? true : undefined;
    });
  });
});
