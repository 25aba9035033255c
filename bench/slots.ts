import { fileURLToPath } from 'node:url';
import { ControlPlaneClient, Entitlements } from '@tenantry/sdk';
import Fastify from 'fastify';
import pg from 'pg';
import {
  ADMIN_URL,
  applyPlans,
  createTenant,
  describeMachine,
  dropControlPlane,
  loadavg,
  logger,
  postgresVersion,
  printHeader,
  printTable,
  type Row,
  runBench,
  setting,
  startControlPlane,
  writeResults,
} from './bench-support.ts';
import { type Summary, summarize } from './stats.ts';

// Slots (gauge limits) against leases (metered limits), one request at a time, in the same run:
// - slot: the SDK's acquire() and slot.release() (each one call to the control plane: a locked
//   count and an insert; a delete);
// - lease: POST /leases of one unit and its release (the locked usage read and an insert; an update);
// - ceilings: a bare Fastify route answering a small JSON object over the same HTTP client, and
//   the slot's INSERT and DELETE as raw SQL on the same database (no lock, no count).
// Rounds interleave the kinds, so that a busy moment of the machine falls on all of them.

const settings = {
  adminUrl: ADMIN_URL,
  rounds: setting('BENCH_ROUNDS', 10, 'whole'),
  perRound: setting('BENCH_PER_ROUND', 100, 'whole'),
  warmup: setting('BENCH_WARMUP', 100, 'whole'),
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/slots.json', import.meta.url)),
};

// A slot does more than a lease (a holder check, a count per subject, a level that also reads
// events) and is announced to every SDK stream: it may cost up to twice a lease, not more.
const targets = { acquireVsLease: 2, releaseVsLease: 2 };

const log = logger('slots');

const PLANS = `currency: usd
meters:
  sessions: { aggregation: time_weighted }
  calls: { aggregation: count }
plans:
  bench:
    name: Bench
    limits:
      sessions: { value: 1000000, per_subject: 1000000 }
      calls: { value: 1000000000 }
`;

/** Times `fn` once, in milliseconds. */
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

interface Pair {
  take: number[];
  give: number[];
}

const pair = (): Pair => ({ take: [], give: [] });

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadavgStart = loadavg();
  const postgres = await postgresVersion();
  const cp = await startControlPlane();
  log(`control plane on ${cp.origin}, database ${cp.name}`);
  const sdk = new Entitlements(new ControlPlaneClient({ url: cp.origin, token: cp.token }));
  const bare = Fastify({ logger: false });
  bare.post('/bare', async () => ({ id: 'slt_bare', ok: true }));
  const bareOrigin = await bare.listen({ port: 0, host: '127.0.0.1' });
  const raw = new pg.Client({ connectionString: cp.url });
  await raw.connect();
  const results = { slot: pair(), lease: pair(), bare: pair(), sql: pair() };
  try {
    await applyPlans(cp, PLANS);
    const tenant = await createTenant(cp, { slug: 'bench-slots', name: 'Bench', plan: 'bench' });
    await cp.services.jobs.runDue();
    await sdk.load(tenant);
    const { id: holder } = (await cp.call('POST', '/v1/slot-holders', { instance_id: 'raw-sql' })) as {
      id: string;
    };

    const kinds = {
      async slot(into: Pair | null) {
        let answer: Awaited<ReturnType<typeof sdk.acquire>> | undefined;
        const take = await timed(async () => {
          answer = await sdk.acquire(tenant, 'sessions', { subject: 'bench-user' });
        });
        if (!answer?.allowed) throw new Error(`acquire refused: ${JSON.stringify(answer)}`);
        const slot = answer.slot;
        const give = await timed(() => slot.release());
        into?.take.push(take);
        into?.give.push(give);
      },
      async lease(into: Pair | null) {
        let id = '';
        const take = await timed(async () => {
          const granted = await cp.call('POST', `/v1/tenants/${tenant}/leases`, {
            meter: 'calls',
            units: 1,
            instance_id: 'bench',
          });
          id = String(granted.id);
        });
        const give = await timed(() =>
          cp.call('POST', `/v1/tenants/${tenant}/leases/${id}/release`, { consumed: 0 }),
        );
        into?.take.push(take);
        into?.give.push(give);
      },
      async bare(into: Pair | null) {
        const call = async () => {
          const response = await fetch(`${bareOrigin}/bare`, {
            method: 'POST',
            headers: { authorization: `Bearer ${cp.token}`, 'content-type': 'application/json' },
            body: '{"meter":"sessions"}',
          });
          await response.json();
        };
        const take = await timed(call);
        const give = await timed(call);
        into?.take.push(take);
        into?.give.push(give);
      },
      async sql(into: Pair | null) {
        const id = `slt_raw_${Math.random().toString(36).slice(2)}`;
        const take = await timed(() =>
          raw.query(
            `insert into tenantry.usage_slots (tenant_id, id, meter, subject, holder_id, acquired_at)
             values ($1, $2, 'sessions', 'raw', $3, now())`,
            [tenant, id, holder],
          ),
        );
        const give = await timed(() =>
          raw.query('delete from tenantry.usage_slots where tenant_id = $1 and id = $2', [tenant, id]),
        );
        into?.take.push(take);
        into?.give.push(give);
      },
    } as const;
    const names = Object.keys(kinds) as (keyof typeof kinds)[];
    log(`warm-up: ${settings.warmup} of each`);
    for (const name of names) for (let i = 0; i < settings.warmup; i++) await kinds[name](null);
    for (let round = 0; round < settings.rounds; round++) {
      // Rotated each round, so no kind always runs right after another.
      const order = names.map((_, i) => names[(i + round) % names.length] as keyof typeof kinds);
      for (const name of order) for (let i = 0; i < settings.perRound; i++) await kinds[name](results[name]);
      log(`round ${round + 1} of ${settings.rounds}`);
    }
  } finally {
    await raw.end();
    await bare.close();
    await sdk.close();
    await dropControlPlane(cp);
    log(`dropped ${cp.name}`);
  }

  const summary = Object.fromEntries(
    Object.entries(results).map(([name, r]) => [name, { take: summarize(r.take), give: summarize(r.give) }]),
  ) as Record<keyof typeof results, { take: Summary; give: Summary }>;
  const { slot, lease, bare: bareSummary, sql } = summary;
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  const table: Row[] = [
    {
      figure: `slot acquire, SDK acquire() (${slot.take.count}), p50 / p99`,
      value: `${slot.take.p50} / ${slot.take.p99} ms`,
      target: 'reported',
      ceiling: `${bareSummary.take.p50} / ${bareSummary.take.p99} ms bare route; ${sql.take.p50} / ${sql.take.p99} ms raw INSERT`,
      pass: true,
    },
    {
      figure: `slot release, slot.release() (${slot.give.count}), p50 / p99`,
      value: `${slot.give.p50} / ${slot.give.p99} ms`,
      target: 'reported',
      ceiling: `${bareSummary.give.p50} / ${bareSummary.give.p99} ms bare route; ${sql.give.p50} / ${sql.give.p99} ms raw DELETE`,
      pass: true,
    },
    {
      figure: 'a slot vs a lease: acquire / lease grant, p50',
      value: `${slot.take.p50} / ${lease.take.p50} ms (${ratio(slot.take.p50, lease.take.p50)})`,
      target: `<= ${targets.acquireVsLease}×`,
      ceiling: `lease grant p99 ${lease.take.p99} ms`,
      pass: slot.take.p50 <= lease.take.p50 * targets.acquireVsLease,
    },
    {
      figure: '  release / lease release, p50',
      value: `${slot.give.p50} / ${lease.give.p50} ms (${ratio(slot.give.p50, lease.give.p50)})`,
      target: `<= ${targets.releaseVsLease}×`,
      ceiling: `lease release p99 ${lease.give.p99} ms`,
      pass: slot.give.p50 <= lease.give.p50 * targets.releaseVsLease,
    },
  ];
  const machine = describeMachine(postgres, loadavgStart);
  printHeader('slots', machine);
  console.log(
    `one request at a time; ${settings.rounds} interleaved rounds of ${settings.perRound} of each kind after ` +
      `${settings.warmup} warm-up each. Control plane, SDK, bare route and client in this process; PostgreSQL local.`,
  );
  console.log('');
  printTable(table);
  writeResults({ startedAt, machine, settings, targets }, { summary, table });
}

runBench(main);
