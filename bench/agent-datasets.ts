import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';
import { pushFrames } from '../packages/agent/src/agent.ts';
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

// A hybrid dataset push on the control plane's side, beside the wire it travels on:
// - push: one `dataset_push` frame of a ~40 KB dataset (the most one frame holds is 44 KiB of JSON; larger pushes come in parts)
//   sent over an enrolled agent's WebSocket, until its `ack`: the gateway parses the frame, the
//   datasets service checks its SHA-256, encrypts it under the tenant's data key (AES-256-GCM),
//   stores it and writes its `dataset.received` audit entry and event in one transaction.
// - ceiling: the same frame sent to a bare `ws` server on the same machine that answers each with
//   a small frame, as the ack is.
// - parts: a ~1 MB dataset pushed in parts of 44 KiB (the agent's own pushFrames), until the one
//   ack of the whole push: the gateway puts the parts together, then stores it as above. Its
//   ceiling: the same frames to the bare server, each answered.
// Rounds interleave the two, so that a busy moment of the machine falls on both.

const settings = {
  adminUrl: ADMIN_URL,
  rounds: setting('BENCH_ROUNDS', 10, 'whole'),
  perRound: setting('BENCH_PER_ROUND', 20, 'whole'),
  warmup: setting('BENCH_WARMUP', 20, 'whole'),
  bytes: setting('BENCH_DATASET_BYTES', 40_000, 'whole'),
  largeBytes: setting('BENCH_LARGE_DATASET_BYTES', 1_000_000, 'whole'),
  largeRounds: setting('BENCH_LARGE_ROUNDS', 5, 'whole'),
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/agent-datasets.json', import.meta.url)),
};

// No target: information, printed beside the wire's floor.
const targets = {};

const log = logger('agent-datasets');

function ms(summary: Summary): string {
  return `p50 ${summary.p50} ms, p99 ${summary.p99} ms`;
}

/** Rows of daily analytics, as JSON of about `bytes` bytes. */
function content(bytes: number): Buffer {
  const rows: { day: number; signups: number; plan: string }[] = [];
  let size = 2;
  for (let day = 0; size < bytes; day++) {
    const row = { day, signups: (day * 7919) % 1000, plan: day % 3 === 0 ? 'pro' : 'free' };
    rows.push(row);
    size += JSON.stringify(row).length + 1;
  }
  return Buffer.from(JSON.stringify(rows), 'utf8');
}

/** Sends frames and waits for the next one back, one at a time. */
function exchanger(ws: WebSocket): (frame: string) => Promise<string> {
  let waiting: ((text: string) => void) | undefined;
  ws.on('message', (data) => {
    const resolve = waiting;
    waiting = undefined;
    resolve?.(data.toString());
  });
  return (frame) =>
    new Promise((resolve) => {
      waiting = resolve;
      ws.send(frame);
    });
}

async function main(): Promise<void> {
  const run = await startRun();
  const cp = await startControlPlane();
  const echo = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  let agentWs: WebSocket | undefined;
  let echoWs: WebSocket | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  try {
    await applyPlans(cp);
    const tenantId = await createTenant(cp, { slug: 'bench-datasets', name: 'Bench', plan: 'pro' });
    const enrolment = await cp.call('POST', `/v1/tenants/${tenantId}/agent-enrolments`, {});
    const ws = new WebSocket(`${cp.origin.replace(/^http/, 'ws')}/v1/agent/connect`);
    agentWs = ws;
    await new Promise((resolve) => ws.once('open', resolve));
    const exchange = exchanger(ws);
    const welcome = JSON.parse(
      await exchange(
        JSON.stringify({
          type: 'hello',
          protocol: 1,
          auth: { kind: 'enrolment', token: String(enrolment.token) },
          agent_version: 'bench',
          job_types: [],
        }),
      ),
    ) as { type: string };
    if (welcome.type !== 'welcome') throw new Error(`not welcomed: ${JSON.stringify(welcome)}`);
    // Heartbeats keep the connection; sent between pushes, so they never take a push's ack.
    let beat = false;
    heartbeat = setInterval(() => {
      beat = true;
    }, 5_000);

    const bytes = content(settings.bytes);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const payload = bytes.toString('base64');
    let seq = 0;
    const frameOf = (n: number) =>
      JSON.stringify({
        type: 'dataset_push',
        protocol: 1,
        dataset: 'analytics',
        seq: n,
        sha256,
        fields: ['day', 'plan', 'signups'],
        payload,
      });
    const push = async (): Promise<void> => {
      if (beat) {
        beat = false;
        await exchange(JSON.stringify({ type: 'heartbeat', protocol: 1 }));
      }
      seq += 1;
      const answer = JSON.parse(await exchange(frameOf(seq))) as { type: string; of?: string };
      if (answer.type !== 'ack' || answer.of !== 'dataset_push')
        throw new Error(`push ${seq} not acknowledged: ${JSON.stringify(answer)}`);
    };

    if (echo.address() === null) await new Promise((resolve) => echo.once('listening', resolve));
    const ack = JSON.stringify({ type: 'ack', protocol: 1, of: 'dataset_push', id: 'analytics#1' });
    echo.on('connection', (socket) => socket.on('message', () => socket.send(ack)));
    const client = new WebSocket(`ws://127.0.0.1:${(echo.address() as AddressInfo).port}`);
    echoWs = client;
    await new Promise((resolve) => client.once('open', resolve));
    const echoExchange = exchanger(client);
    const sameFrame = frameOf(1);
    const echoOnce = async (): Promise<void> => {
      await echoExchange(sameFrame);
    };

    log(`warming up (${settings.warmup} of each), frames of ${sameFrame.length} bytes`);
    for (let i = 0; i < settings.warmup; i++) {
      await push();
      await echoOnce();
    }
    const pushTimes: number[] = [];
    const echoTimes: number[] = [];
    for (let r = 0; r < settings.rounds; r++) {
      log(`round ${r + 1}/${settings.rounds}`);
      for (let i = 0; i < settings.perRound; i++) pushTimes.push(await timed(push));
      for (let i = 0; i < settings.perRound; i++) echoTimes.push(await timed(echoOnce));
    }

    // A large dataset in parts: every part but the last goes without an answer; the last one's
    // answer is the ack of the whole push.
    const large = content(settings.largeBytes);
    const largeFields = ['day', 'plan', 'signups'];
    const pushLarge = async (): Promise<void> => {
      if (beat) {
        beat = false;
        await exchange(JSON.stringify({ type: 'heartbeat', protocol: 1 }));
      }
      seq += 1;
      const frames = pushFrames('analytics', seq, large, largeFields).map((frame) => JSON.stringify(frame));
      for (const frame of frames.slice(0, -1)) ws.send(frame);
      const answer = JSON.parse(await exchange(frames.at(-1) as string)) as { type: string; of?: string };
      if (answer.type !== 'ack' || answer.of !== 'dataset_push')
        throw new Error(`push ${seq} in parts not acknowledged: ${JSON.stringify(answer)}`);
    };
    const largeFrames = pushFrames('analytics', 1, large, largeFields).map((frame) => JSON.stringify(frame));
    const echoLarge = async (): Promise<void> => {
      for (const frame of largeFrames) await echoExchange(frame);
    };
    log(`a ${large.length}-byte dataset in ${largeFrames.length} parts`);
    await pushLarge();
    await echoLarge();
    const largeTimes: number[] = [];
    const largeEchoTimes: number[] = [];
    for (let r = 0; r < settings.largeRounds; r++) {
      for (let i = 0; i < settings.perRound; i++) largeTimes.push(await timed(pushLarge));
      for (let i = 0; i < settings.perRound; i++) largeEchoTimes.push(await timed(echoLarge));
    }

    const pushed = summarize(pushTimes);
    const ceiling = summarize(echoTimes);
    const pushedLarge = summarize(largeTimes);
    const ceilingLarge = summarize(largeEchoTimes);
    const table: Row[] = [
      {
        figure: `dataset push of ${bytes.length} bytes (frame ${sameFrame.length} bytes) to its ack`,
        value: ms(pushed),
        target: 'information',
        ceiling: `raw ws send of the same frame ${ms(ceiling)}`,
        pass: null,
      },
      {
        figure: `dataset push of ${large.length} bytes in ${largeFrames.length} parts to its ack`,
        value: ms(pushedLarge),
        target: 'information',
        ceiling: `raw ws send of the same frames, each answered, ${ms(ceilingLarge)}`,
        pass: null,
      },
    ];
    report('agent-datasets', run, {
      settings,
      targets,
      table,
      notes: [
        `${pushTimes.length} pushes and ${echoTimes.length} raw sends, interleaved by round`,
        `push p50 is ${(ceiling.p50 > 0 ? pushed.p50 / ceiling.p50 : 0).toFixed(1)}× the raw send's`,
        `${largeTimes.length} pushes in parts and as many raw sends of their frames; push p50 is ${(ceilingLarge.p50 > 0 ? pushedLarge.p50 / ceilingLarge.p50 : 0).toFixed(1)}× the raw sends'`,
      ],
      results: { push: pushed, raw_send: ceiling, push_in_parts: pushedLarge, raw_send_parts: ceilingLarge },
    });
  } finally {
    clearInterval(heartbeat);
    agentWs?.close();
    echoWs?.close();
    await new Promise((resolve) => echo.close(resolve));
    await dropControlPlane(cp);
  }
}

runBench(main);
