import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent } from '@tenantry/agent';
import { buildApp } from '@tenantry/server';
import WebSocket, { WebSocketServer } from 'ws';
import {
  ADMIN_URL,
  applyPlans,
  createTenant,
  dropControlPlane,
  logger,
  type Row,
  report,
  runBench,
  setting,
  startControlPlane,
  startRun,
  timed,
} from './bench-support.ts';
import { type Summary, summarize } from './stats.ts';

// The outbound agent's round trip and its reconnection, in the same run:
// - noop job: the agents service queues a `noop` job (a transaction with its audit entry), the
//   gateway offers it over the agent's WebSocket (marked sent), the agent acknowledges it
//   (running), runs it, checks its output against the declared schema, stores the result durably
//   (fsync) and sends it; the control plane records it (a transaction with its audit entry). The
//   time is from the enqueue to the service telling of the job's end.
// - ceiling: a bare `ws` echo on the same machine: one small text frame there and back.
// - reconnection: the control plane's HTTP server is closed and served again on the same port
//   after `downMs`; the time from its listening again to the agent's welcome, with the agent's
//   default backoff (full jitter, 500 ms doubling to 30 s).
// Rounds interleave the job and the echo, so that a busy moment of the machine falls on both.

const settings = {
  adminUrl: ADMIN_URL,
  rounds: setting('BENCH_ROUNDS', 10, 'whole'),
  perRound: setting('BENCH_PER_ROUND', 50, 'whole'),
  warmup: setting('BENCH_WARMUP', 50, 'whole'),
  restarts: setting('BENCH_RESTARTS', 5, 'whole'),
  downMs: setting('BENCH_DOWN_MS', 1000, 'whole'),
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/agent.json', import.meta.url)),
};

// No target: a job is two transactions with audit entries, two updates and an fsync on top of
// two frames each way; the echo is the wire's floor, printed beside it.
const targets = {};

const log = logger('agent');

function ms(summary: Summary): string {
  return `p50 ${summary.p50} ms, p99 ${summary.p99} ms`;
}

async function main(): Promise<void> {
  const run = await startRun();
  const cp = await startControlPlane();
  const work = await mkdtemp(join(tmpdir(), 'tenantry-bench-agent-'));
  const echo = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  const agents = cp.services.agents;
  let agent: Agent | undefined;
  // The app serving now: the first, then each one a restart serves.
  let serving = cp.app;
  try {
    await applyPlans(cp);
    const tenantId = await createTenant(cp, { slug: 'bench-agent', name: 'Bench', plan: 'pro' });
    const enrolment = await cp.call('POST', `/v1/tenants/${tenantId}/agent-enrolments`, {});
    const finished = new Map<string, () => void>();
    agents.onJobFinished((job) => finished.get(job.id)?.());
    let welcomed: (() => void) | undefined;
    agent = new Agent({
      url: cp.origin,
      token: String(enrolment.token),
      credentialFile: join(work, 'agent.json'),
      // The no-op job never opens it.
      databaseUrl: ADMIN_URL,
    });
    const connected = new Promise<string>((resolve) => agent?.onConnected(resolve));
    agent.onConnected(() => welcomed?.());
    agent.start();
    const agentId = await connected;
    const ctx = { actor: { type: 'system' as const, id: 'bench' }, requestId: null, sourceIp: null };

    const noop = async (): Promise<void> => {
      let resolveDone = (): void => {};
      const done = new Promise<void>((resolve) => {
        resolveDone = resolve;
      });
      const queued = await agents.enqueue(ctx, agentId, { type: 'noop', input: {} });
      if (!queued.ok) throw new Error(queued.error.detail);
      const id = queued.value.job.id;
      finished.set(id, resolveDone);
      // The job may have ended before its listener was set (the agent is that fast at times).
      const now = await agents.getJob(agentId, id);
      if (now.ok && now.value.state === 'succeeded') resolveDone();
      await done;
      finished.delete(id);
    };

    if (echo.address() === null) await new Promise((resolve) => echo.once('listening', resolve));
    echo.on('connection', (ws) => ws.on('message', (data) => ws.send(data.toString())));
    const client = new WebSocket(`ws://127.0.0.1:${(echo.address() as AddressInfo).port}`);
    await new Promise((resolve) => client.once('open', resolve));
    const frame = JSON.stringify({ type: 'heartbeat', protocol: 1 });
    const echoOnce = () =>
      new Promise<void>((resolve) => {
        client.once('message', () => resolve());
        client.send(frame);
      });

    log(`warming up (${settings.warmup} of each)`);
    for (let i = 0; i < settings.warmup; i++) {
      await noop();
      await echoOnce();
    }
    const jobTimes: number[] = [];
    const echoTimes: number[] = [];
    for (let r = 0; r < settings.rounds; r++) {
      log(`round ${r + 1}/${settings.rounds}`);
      for (let i = 0; i < settings.perRound; i++) jobTimes.push(await timed(noop));
      for (let i = 0; i < settings.perRound; i++) echoTimes.push(await timed(echoOnce));
    }
    client.close();

    const port = Number(new URL(cp.origin).port);
    const reconnects: number[] = [];
    for (let i = 0; i < settings.restarts; i++) {
      log(`restart ${i + 1}/${settings.restarts}`);
      await serving.close();
      await new Promise((resolve) => setTimeout(resolve, settings.downMs));
      const back = new Promise<void>((resolve) => {
        welcomed = resolve;
      });
      serving = await buildApp(cp.services, { logger: false });
      await serving.listen({ host: '127.0.0.1', port });
      reconnects.push(await timed(() => back));
    }

    const job = summarize(jobTimes);
    const ceiling = summarize(echoTimes);
    const reconnect = summarize(reconnects);
    const ratio = ceiling.p50 > 0 ? job.p50 / ceiling.p50 : 0;
    const table: Row[] = [
      {
        figure: 'noop job round trip',
        value: ms(job),
        target: 'information',
        ceiling: `ws echo ${ms(ceiling)}`,
        pass: null,
      },
      {
        figure: `reconnection after a restart (down ${settings.downMs} ms)`,
        value: `p50 ${reconnect.p50} ms, max ${reconnect.max} ms`,
        target: 'information',
        ceiling: 'backoff 500 ms doubling to 30 s, full jitter',
        pass: null,
      },
    ];
    report('agent', run, {
      settings,
      targets,
      table,
      notes: [
        `${jobTimes.length} noop jobs and ${echoTimes.length} echoes, interleaved by round; ${reconnects.length} restarts`,
        `noop p50 is ${ratio.toFixed(1)}× the echo's`,
      ],
      results: { noop: job, echo: ceiling, reconnect },
    });
  } finally {
    await agent?.stop();
    await new Promise((resolve) => echo.close(resolve));
    if (serving !== cp.app) await serving.close();
    await dropControlPlane(cp);
    await rm(work, { recursive: true, force: true });
  }
}

runBench(main);
