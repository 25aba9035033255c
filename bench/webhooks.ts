// bench:webhooks — signed webhooks delivered from the outbox to a local receiver on 127.0.0.1:
// throughput (webhooks/s, a burst of committed events drained by one process's deliverer) and
// the latency from an event's commit to its arrival at the receiver, at a steady pace. Beside
// them, the same run's ceiling: plain POSTs to the same receiver at the deliverer's concurrency.
// Needs PostgreSQL at TENANTRY_BENCH_ADMIN_URL (default 127.0.0.1:5432, user postgres).

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { recordChanges } from '../packages/server/src/changes/index.ts';
import { systemContext } from '../packages/server/src/request-context.ts';
import { dropControlPlane, setting, startControlPlane } from './bench-support.ts';
import { summarize } from './stats.ts';

const BURST = setting('BENCH_WEBHOOKS', 5000);
const PACED = setting('BENCH_PACED', 500);
const PACE_MS = setting('BENCH_PACE_MS', 10);

const arrivals = new Map<string, number>();
let onArrival = () => {};
const receiver = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.headers['webhook-id'] !== undefined) {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data: { name: string } };
      // At least once: the first arrival of each event counts.
      if (!arrivals.has(body.data.name)) arrivals.set(body.data.name, performance.now());
    }
    res.writeHead(204).end();
    onArrival();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

const stop = new AbortController();
let deliverer: Promise<void> = Promise.resolve();
const cp = await startControlPlane({
  env: { TENANTRY_WEBHOOK_ALLOW_HOSTS: '127.0.0.1' },
  beforeListen: (_app, services) => {
    deliverer = services.webhooks.work(stop.signal, 1000, (error) => console.error('deliverer:', error));
  },
});
await cp.call('POST', '/v1/webhook-endpoints', { url, event_types: ['key.*'] });
const ctx = systemContext('bench');

/** Commits `names.length` key.revoked events in one transaction; answers the commit instant. */
async function commit(names: readonly string[]): Promise<number> {
  await cp.database.db.transaction().execute((tx) =>
    recordChanges(
      tx,
      ctx,
      names.map((name) => ({
        action: 'api_key.revoked' as const,
        tenantId: null,
        target: { type: 'api_key' as const, id: name },
        data: { name },
        occurredAt: new Date(),
      })),
    ),
  );
  return performance.now();
}

/** Resolves once every one of `names` has arrived. */
function waitFor(names: readonly string[]): Promise<void> {
  return new Promise((resolve) => {
    onArrival = () => {
      if (names.every((name) => arrivals.has(name))) resolve();
    };
    onArrival();
  });
}

// Burst: every event committed in batches of 100, then drained.
const burst = Array.from({ length: BURST }, (_, i) => `burst-${i}`);
const burstStart = performance.now();
for (let i = 0; i < BURST; i += 100) await commit(burst.slice(i, i + 100));
await waitFor(burst);
const burstS = (performance.now() - burstStart) / 1000;

// Paced: one event per commit every PACE_MS; latency from each commit to its arrival.
const committed = new Map<string, number>();
for (let i = 0; i < PACED; i++) {
  const name = `paced-${i}`;
  committed.set(name, await commit([name]));
  await new Promise((resolve) => setTimeout(resolve, PACE_MS));
}
await waitFor([...committed.keys()]);
const latency = summarize([...committed].map(([name, at]) => (arrivals.get(name) as number) - at));

// Ceiling: the same number of plain POSTs, 50 at a time (the deliverer's batch).
const agent = new http.Agent({ keepAlive: true });
const post = () =>
  new Promise<void>((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('end', () => resolve());
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ data: { name: 'ceiling' } }));
  });
const ceilingStart = performance.now();
for (let i = 0; i < BURST; i += 50) await Promise.all(Array.from({ length: Math.min(50, BURST - i) }, post));
const ceilingS = (performance.now() - ceilingStart) / 1000;

console.log(`bench:webhooks — ${BURST} burst, ${PACED} paced every ${PACE_MS} ms, one process, PostgreSQL`);
console.log(
  `throughput: ${Math.round(BURST / burstS)} webhooks/s (ceiling, plain POSTs 50 at a time: ${Math.round(BURST / ceilingS)} req/s)`,
);
console.log(
  `commit→delivery latency (paced): p50 ${latency.p50} ms, p99 ${latency.p99} ms, max ${latency.max} ms`,
);

stop.abort();
await deliverer;
agent.destroy();
receiver.closeAllConnections();
receiver.close();
await cp.app.close();
await dropControlPlane(cp);
