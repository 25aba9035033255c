// The outbound agent as a customer runs it, for the end-to-end tests: `tenantry agent` in a
// process of its own, beside a control plane listening on a port and a PostgreSQL cluster of the
// test's own that only the agent is given (the control plane has no credentials for it).
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { TestApp } from '../../packages/server/test/harness.ts';
import { bin, until } from './tenantry-process.ts';

/** A running `tenantry agent` and what it printed. */
export interface AgentProcess {
  readonly child: ChildProcess;
  /** stdout (the JSON log lines) and stderr so far. */
  output(): string;
  /** The exit code, once it has exited. */
  readonly exited: Promise<number | null>;
  /** Stops it (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts `tenantry agent` with `args`; `prefix` (e.g. `ip netns exec ns`) runs it inside something. */
export function startAgent(args: string[], prefix: string[] = []): AgentProcess {
  const [file, ...rest] = [...prefix, process.execPath, bin, 'agent', ...args] as [string, ...string[]];
  const child = spawn(file, rest, { env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** A folder of the vendor's migrations: two, the second adding a column. */
export async function migrationsFolder(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tenantry-agent-migrations-'));
  await writeFile(
    join(dir, '0001_create_notes.sql'),
    'create table notes (id bigint primary key, body text not null);\n',
  );
  await writeFile(
    join(dir, '0002_notes_created_at.sql'),
    'alter table notes add column created_at timestamptz;\n',
  );
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Makes a one-time enrolment token for the tenant through the API. */
export async function enrol(t: TestApp, tenantId: string, expiresInMinutes?: number): Promise<string> {
  const made = await t.request({
    method: 'POST',
    url: `/v1/tenants/${tenantId}/agent-enrolments`,
    payload: expiresInMinutes === undefined ? {} : { expires_in_minutes: expiresInMinutes },
  });
  expect(made.status, JSON.stringify(made.body)).toBe(201);
  return made.body.token as string;
}

/** The tenant's agent once it has enrolled and is connected to the test app. */
export async function connectedAgent(t: TestApp, tenantId: string): Promise<any> {
  return until('the agent connects', async () => {
    const listed = await t.request({ method: 'GET', url: `/v1/agents?tenant_id=${tenantId}` });
    return listed.body.data.find((a: any) => a.connected && a.state === 'active');
  });
}

/** Sends the agent a job and waits for it to end; answers the job. */
export async function runAgentJob(
  t: TestApp,
  agentId: string,
  type: string,
  input: Record<string, unknown> = {},
): Promise<any> {
  const sent = await t.request({
    method: 'POST',
    url: `/v1/agents/${agentId}/jobs`,
    payload: { type, input },
  });
  expect(sent.status, JSON.stringify(sent.body)).toBe(201);
  return finishedJob(t, agentId, sent.body.id);
}

/** Waits for a job to end and answers it. */
export function finishedJob(t: TestApp, agentId: string, jobId: string): Promise<any> {
  return until(`job ${jobId} ends`, async () => {
    const job = await t.request({ method: 'GET', url: `/v1/agents/${agentId}/jobs/${jobId}` });
    return ['succeeded', 'failed', 'refused'].includes(job.body.state) ? job.body : undefined;
  });
}

/** A relay that records every frame the agent sends on its way to the control plane. */
export async function recordingRelay(
  wsUrl: string,
): Promise<{ url: string; frames: string[]; close(): Promise<void> }> {
  const frames: string[] = [];
  const relay = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => relay.once('listening', resolve));
  relay.on('connection', (agentSide) => {
    const upstream = new WebSocket(wsUrl);
    const pending: string[] = [];
    upstream.on('open', () => {
      for (const frame of pending.splice(0)) upstream.send(frame);
    });
    agentSide.on('message', (data) => {
      const text = data.toString();
      frames.push(text);
      if (upstream.readyState === WebSocket.OPEN) upstream.send(text);
      else pending.push(text);
    });
    upstream.on('message', (data) => agentSide.send(data.toString()));
    upstream.on('close', (code) => agentSide.close(code === 1005 ? 1000 : code));
    agentSide.on('close', () => upstream.close());
  });
  return {
    url: `ws://127.0.0.1:${(relay.address() as AddressInfo).port}/v1/agent/connect`,
    frames,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of relay.clients) client.terminate();
        relay.close(() => resolve());
      }),
  };
}
