import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, SentLog } from '@tenantry/agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { startTestApp, type TestApp } from '../../packages/server/test/harness.ts';
import { applyPlans, createTenant } from '../../packages/server/test/tenant-support.ts';
import { type AgentProcess, connectedAgent, enrol, recordingRelay, startAgent } from './agent-support.ts';
import { bin, E2E_TIMEOUT_MS, until } from './tenantry-process.ts';

/*
 * Hybrid: a self-hosted install's agent pushes only the datasets the customer enabled, in a file
 * on the customer's side. A real `tenantry agent` process, its vendor's datasets module
 * (fixtures/hybrid-datasets.ts), and every frame it sends captured by a relay on its way to the
 * control plane: an enabled dataset arrives and is stored encrypted; one never enabled never
 * leaves (its collect never even runs); one switched off while it is collected is dropped before
 * anything of it is sent; an undeclared field is refused by name; the agent's local log lists
 * exactly what the control plane audited; and nothing the control plane sends turns a switch on.
 */

const DATASETS_MODULE = join(import.meta.dirname, 'fixtures', 'hybrid-datasets.ts');
/** The agent only reaches the customer's database when a job or a collect asks for it; these do not. */
const UNUSED_DATABASE = 'postgres://postgres@127.0.0.1:1/unused';

let t: TestApp;
let work: string;
let wsUrl: string;
const running: AgentProcess[] = [];

beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
  await t.app.listen({ host: '127.0.0.1', port: 0 });
  wsUrl = `ws://127.0.0.1:${(t.app.server.address() as AddressInfo).port}/v1/agent/connect`;
  work = await mkdtemp(join(tmpdir(), 'tenantry-agent-datasets-'));
  // The fixture's collects mark their runs here (the agent process inherits the environment).
  process.env.TENANTRY_TEST_HYBRID_DIR = work;
}, E2E_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all(running.map((agent) => agent.stop()));
  await t?.close();
  delete process.env.TENANTRY_TEST_HYBRID_DIR;
  if (work) await rm(work, { recursive: true, force: true });
});

/** Runs `tenantry agent datasets …` to its end: its exit code and output. */
function datasetsCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [bin, 'agent', 'datasets', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

async function switchDataset(
  verb: 'enable' | 'disable',
  name: string,
  credentialFile: string,
): Promise<void> {
  const result = await datasetsCli([
    verb,
    name,
    '--credential-file',
    credentialFile,
    '--datasets',
    DATASETS_MODULE,
  ]);
  expect(result, result.stderr).toMatchObject({ code: 0 });
}

/** `tenantry agent` with the fixture's datasets, through `url` (a recording relay), kept for clean-up. */
function datasetsAgent(url: string, token: string, credentialFile: string): AgentProcess {
  const agent = startAgent([
    '--url',
    url,
    '--token',
    token,
    '--credential-file',
    credentialFile,
    '--database-url',
    UNUSED_DATABASE,
    '--datasets',
    DATASETS_MODULE,
  ]);
  running.push(agent);
  return agent;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

async function auditOf(tenantId: string, action: string) {
  return t.services.database.db
    .selectFrom('audit_events')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('action', '=', action)
    .orderBy('seq')
    .execute();
}

describe('hybrid datasets through a real agent process', { timeout: E2E_TIMEOUT_MS }, () => {
  it('pushes only what the customer enabled, stored encrypted; a switch off mid-collect stops it; undeclared fields are refused; the local log matches the audit', async () => {
    const relay = await recordingRelay(wsUrl);
    const tenantId = (await createTenant(t)).id;
    const credentialFile = join(work, 'install.json');
    // Enabled before the agent starts: pushed once it is welcomed.
    await switchDataset('enable', 'analytics', credentialFile);
    await switchDataset('enable', 'graph_schema', credentialFile);
    const agent = datasetsAgent(relay.url, await enrol(t, tenantId), credentialFile);
    try {
      const agentId = (await connectedAgent(t, tenantId)).id;
      const sentLog = new SentLog(credentialFile);

      // Enabled: it arrives, and the control plane keeps it encrypted under the tenant's data key.
      const received = await until('analytics arrives', async () => {
        const listed = await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/datasets` });
        return listed.body.data?.find(
          (d: { name: string; last_seq: number | null }) => d.name === 'analytics' && d.last_seq !== null,
        );
      });
      expect(received).toMatchObject({
        name: 'analytics',
        enabled: true,
        agent_id: agentId,
        last_seq: 1,
        field_names: ['signups', 'top_plan'],
      });
      const stored = await t.services.database.db
        .selectFrom('agent_dataset_snapshots')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .execute();
      expect(stored.map((row) => row.dataset)).toEqual(['analytics']);
      expect(stored[0]?.ciphertext).not.toContain('ANALYTICS_PLAINTEXT_MARKER');
      expect(Buffer.from(stored[0]?.ciphertext ?? '', 'base64').toString('latin1')).not.toContain(
        'ANALYTICS_PLAINTEXT_MARKER',
      );
      const latest = await t.request({
        method: 'GET',
        url: `/v1/tenants/${tenantId}/datasets/analytics/latest`,
      });
      expect(latest.status).toBe(200);
      expect(latest.body).toMatchObject({
        name: 'analytics',
        seq: 1,
        content: { signups: 42, top_plan: 'ANALYTICS_PLAINTEXT_MARKER' },
      });
      expect(await auditOf(tenantId, 'dataset.read')).toHaveLength(1);

      // An undeclared field: refused by name in the agent's log, its value never sent.
      const refused = await until('graph_schema is refused', async () =>
        (await sentLog.entries()).find((entry) => entry.dataset === 'graph_schema'),
      );
      expect(refused).toMatchObject({ outcome: 'refused', fields: ['sample_node'] });

      // Switched off while it is collected: nothing of it is sent.
      await switchDataset('enable', 'slow', credentialFile);
      await until('slow is being collected', async () =>
        (await exists(join(work, 'slow.collected'))) ? true : undefined,
      );
      await switchDataset('disable', 'slow', credentialFile);
      await writeFile(join(work, 'slow.release'), '');
      const abandoned = await until('the slow push is abandoned', async () =>
        (await sentLog.entries()).find((entry) => entry.dataset === 'slow'),
      );
      expect(abandoned).toMatchObject({ outcome: 'abandoned' });

      // The switches reported, and each change audited on the control plane.
      await until('slow is reported off', async () => {
        const listed = await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/datasets` });
        return listed.body.data.find(
          (d: { name: string; enabled: boolean }) => d.name === 'slow' && !d.enabled,
        );
      });
      expect((await auditOf(tenantId, 'dataset.enabled')).map((e) => e.target_id).sort()).toEqual([
        'analytics',
        'graph_schema',
        'slow',
      ]);
      expect((await auditOf(tenantId, 'dataset.disabled')).map((e) => e.target_id)).toEqual(['slow']);

      // Never enabled: its collect never ran, and no frame holds anything of it.
      expect(await exists(join(work, 'customer_rows.collected'))).toBe(false);
      const frames = relay.frames.join('\n');
      expect(frames).toContain('"dataset_push"');
      for (const marker of ['NEVER_ENABLED_MARKER', 'SLOW_SWITCHED_OFF_MARKER', 'UNDECLARED_FIELD_MARKER'])
        expect(frames).not.toContain(marker);
      const pushed = relay.frames
        .map((frame) => JSON.parse(frame) as { type: string; dataset?: string })
        .filter((frame) => frame.type === 'dataset_push')
        .map((frame) => frame.dataset);
      expect(pushed).toEqual(['analytics']);

      // What left, from the customer's side, is exactly what the control plane audited.
      const sent = (await sentLog.entries())
        .filter((entry) => entry.outcome === 'sent')
        .map((entry) =>
          entry.outcome === 'sent' ? { dataset: entry.dataset, seq: entry.seq, sha256: entry.sha256 } : {},
        );
      const audited = (await auditOf(tenantId, 'dataset.received')).map((entry) => ({
        dataset: entry.data.dataset,
        seq: entry.data.seq,
        sha256: entry.data.sha256,
      }));
      expect(sent).toEqual(audited);
      expect(sent).toHaveLength(1);
    } finally {
      await agent.stop();
      await relay.close();
    }
  });

  it('pushes a dataset too large for one frame in parts, stored whole under the hash of all of it', async () => {
    const relay = await recordingRelay(wsUrl);
    const tenantId = (await createTenant(t)).id;
    const credentialFile = join(work, 'large.json');
    await switchDataset('enable', 'large_graph', credentialFile);
    const agent = datasetsAgent(relay.url, await enrol(t, tenantId), credentialFile);
    try {
      const latest = await until('large_graph arrives', async () => {
        const read = await t.request({
          method: 'GET',
          url: `/v1/tenants/${tenantId}/datasets/large_graph/latest`,
        });
        return read.status === 200 ? read.body : undefined;
      });
      expect(latest.content.labels).toHaveLength(6000);
      expect(latest.content.labels[5999]).toBe(`Label_5999_${'x'.repeat(12)}`);
      const parts = relay.frames
        .map((frame) => JSON.parse(frame) as { type: string; part?: number; parts?: number; sha256?: string })
        .filter((frame) => frame.type === 'dataset_push');
      expect(parts.length).toBeGreaterThan(2);
      expect(parts.map((p) => p.part)).toEqual(parts.map((_, i) => i));
      expect(new Set(parts.map((p) => p.parts))).toEqual(new Set([parts.length]));
      for (const frame of relay.frames) expect(Buffer.byteLength(frame)).toBeLessThanOrEqual(64 * 1024);
      const whole = Buffer.from(JSON.stringify(latest.content), 'utf8');
      const audited = await auditOf(tenantId, 'dataset.received');
      expect(audited).toHaveLength(1);
      expect(audited[0]?.data).toMatchObject({
        dataset: 'large_graph',
        bytes: whole.length,
        sha256: createHash('sha256').update(whole).digest('hex'),
      });
    } finally {
      await agent.stop();
      await relay.close();
    }
  });

  it('reading content needs datasets:read: an agents:read key lists metadata and is refused the content', async () => {
    const key = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'datasets-meta', scopes: ['agents:read'] },
    });
    expect(key.status, JSON.stringify(key.body)).toBe(201);
    const tenantId = (await createTenant(t)).id;
    const headers = { authorization: `Bearer ${key.body.secret}` };
    const listed = await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/datasets`, headers });
    expect(listed.status).toBe(200);
    const read = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenantId}/datasets/analytics/latest`,
      headers,
    });
    expect(read.status).toBe(403);
    const none = await t.request({ method: 'GET', url: `/v1/tenants/${tenantId}/datasets/analytics/latest` });
    expect(none.body).toMatchObject({ code: 'dataset_not_found' });
  });

  it('enable of a dataset the vendor does not declare: one line on stderr, exit 2, the file untouched', async () => {
    const credentialFile = join(work, 'bad-input.json');
    const result = await datasetsCli([
      'enable',
      'everything',
      '--credential-file',
      credentialFile,
      '--datasets',
      DATASETS_MODULE,
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /no dataset everything: the vendor declares analytics, customer_rows, slow, large_graph, graph_schema/,
    );
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(await exists(join(work, 'bad-input.datasets.json'))).toBe(false);
  });

  it('the control plane cannot turn a switch on: a frame asking to is refused and changes nothing', async () => {
    // A control plane of the attacker's: it welcomes the agent, then asks it to enable a dataset.
    const fake = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => fake.once('listening', resolve));
    const received: string[] = [];
    const closed = new Promise<number>((resolve) => {
      fake.on('connection', (ws) => {
        ws.on('message', (data) => {
          const frame = JSON.parse(data.toString()) as { type: string };
          received.push(data.toString());
          if (frame.type === 'hello')
            ws.send(
              JSON.stringify({
                type: 'welcome',
                protocol: 1,
                agent_id: `agt_${'0'.repeat(26)}`,
                tenant_id: 'ten_attacker',
                heartbeat_ms: 60_000,
                credential: 'agtcred_fake',
              }),
            );
          // The agent is welcomed and has reported its switches (all off): now the attempts.
          if (frame.type === 'dataset_switches') {
            ws.send(JSON.stringify({ type: 'dataset_enable', protocol: 1, dataset: 'customer_rows' }));
            ws.send(
              JSON.stringify({ type: 'dataset_switches', protocol: 1, switches: { customer_rows: true } }),
            );
          }
        });
        ws.on('close', (code) => resolve(code));
      });
    });
    const credentialFile = join(work, 'attacked.json');
    const { datasets } = (await import(DATASETS_MODULE)) as typeof import('./fixtures/hybrid-datasets.ts');
    const agent = new Agent({
      url: `ws://127.0.0.1:${(fake.address() as AddressInfo).port}/v1/agent/connect`,
      token: 'agtenr_any',
      credentialFile,
      databaseUrl: UNUSED_DATABASE,
      datasets,
      backoff: { initialMs: 60_000, maxMs: 60_000 },
    });
    agent.start();
    try {
      // The agent closes the connection on the frame it does not take (malformed_frame).
      expect(await closed).toBe(4000);
      expect(await exists(join(work, 'attacked.datasets.json'))).toBe(false);
      expect(received.some((frame) => frame.includes('dataset_push'))).toBe(false);
      const reported = received
        .map((frame) => JSON.parse(frame))
        .filter((f) => f.type === 'dataset_switches');
      expect(reported).toEqual([
        {
          type: 'dataset_switches',
          protocol: 1,
          switches: {
            analytics: false,
            customer_rows: false,
            slow: false,
            large_graph: false,
            graph_schema: false,
          },
        },
      ]);
      expect(await exists(join(work, 'customer_rows.collected'))).toBe(false);
    } finally {
      await agent.stop();
      await new Promise<void>((resolve) => {
        for (const client of fake.clients) client.terminate();
        fake.close(() => resolve());
      });
    }
  });
});
