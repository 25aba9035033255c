import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
// Not part of @tenantry/server's public surface: the bench times the chain's writer itself.
import { type AuditWrite, appendAuditEntries } from '../packages/server/src/audit/index.ts';
import {
  ADMIN_URL,
  applyPlans,
  createTenant,
  describeMachine,
  dropControlPlane,
  inParallel,
  loadavg,
  logger,
  postgresVersion,
  printHeader,
  printTable,
  type Row,
  round,
  runBench,
  setting,
  startControlPlane,
  writeResults,
} from './bench-support.ts';
import { type Summary, summarize } from './stats.ts';

// What the tamper-evident audit log costs a mutation: a tenant update with its audit entry, one
// transaction at a time, written three ways in the same run over the control plane's own pool:
// - update: the UPDATE of the tenant alone (the ceiling: raw PostgreSQL, no audit), and the same
//   with one more round trip (SELECT 1), the price of a statement on this machine at this moment;
// - plain: the UPDATE and the audit row as written before the chain (one INSERT into a table
//   shaped and indexed as audit_events was in migration 0001);
// - chain: the UPDATE and appendAuditEntries (one statement for one entry: the head locked, the
//   entry hashed, inserted and the head advanced);
// and the whole mutation as the API runs it (TenantService.update, which writes the chain).
// Then writers at once: 8 on one tenant's chain (they take turns on its head) against 8 on 8
// chains. Rounds interleave the kinds, so that a busy moment of the machine falls on all of them.

const settings = {
  adminUrl: ADMIN_URL,
  rounds: setting('BENCH_ROUNDS', 10, 'whole'),
  perRound: setting('BENCH_PER_ROUND', 100, 'whole'),
  warmup: setting('BENCH_WARMUP', 100, 'whole'),
  writers: setting('BENCH_WRITERS', 8, 'whole'),
  /** Updates per writer in the concurrent runs. */
  perWriter: setting('BENCH_PER_WRITER', 100, 'whole'),
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/audit.json', import.meta.url)),
};

// One entry is one statement, like a plain audit row, that also locks and advances the chain's
// head and hashes: at most half a millisecond at the median over a plain row.
const targets = { chainOverPlainP50Ms: 0.5 };

const log = logger('audit');

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadavgStart = loadavg();
  const postgres = await postgresVersion();
  const cp = await startControlPlane();
  log(`control plane on ${cp.origin}, database ${cp.name}`);
  const db = cp.database.db;
  const samples = {
    update: [] as number[],
    roundTrip: [] as number[],
    plain: [] as number[],
    chain: [] as number[],
    service: [] as number[],
  };
  let contended = { oneChain: 0, manyChains: 0, oneChainLatency: summarize([]), manyLatency: summarize([]) };
  try {
    await applyPlans(cp);
    const tenant = await createTenant(cp, { slug: 'bench-audit', name: 'Bench', plan: 'pro' });
    const others = await inParallel(
      Array.from({ length: settings.writers }, (_, i) => i),
      4,
      (i) => createTenant(cp, { slug: `bench-audit-${i}`, name: 'Bench', plan: 'pro' }),
    );
    await cp.services.jobs.runDue();
    // The audit table as it was before the chain: same columns and indexes as migration 0001's.
    await sql`create table bench_audit_plain (id text primary key, occurred_at timestamptz not null default now(),
      actor_type text not null, actor_id text not null, tenant_id text, action text not null, target_type text not null,
      target_id text not null, request_id text, data jsonb not null default '{}')`.execute(db);
    await sql`create index on bench_audit_plain (tenant_id, occurred_at)`.execute(db);
    await sql`create index on bench_audit_plain (target_type, target_id, occurred_at)`.execute(db);

    let n = 0;
    const entry = (tenantId: string): AuditWrite => ({
      actor: { type: 'api_key', id: 'key_bench' },
      requestId: `req_${n}`,
      sourceIp: '127.0.0.1',
      tenantId,
      action: 'tenant.updated',
      targetType: 'tenant',
      targetId: tenantId,
      before: { name: `Bench ${n - 1}` },
      after: { name: `Bench ${n}` },
      data: { fields: ['name'] },
    });
    const update = (tx: Parameters<typeof appendAuditEntries>[0], id: string) =>
      sql`update tenants set name = ${`Bench ${n}`}, updated_at = now() where id = ${id}`.execute(tx);
    const kinds = {
      update: (id: string) => db.transaction().execute((tx) => update(tx, id)),
      // One more round trip than the UPDATE alone, doing nothing: what a statement costs here now.
      roundTrip: (id: string) =>
        db.transaction().execute(async (tx) => {
          await update(tx, id);
          await sql`select 1`.execute(tx);
        }),
      plain: (id: string) =>
        db.transaction().execute(async (tx) => {
          await update(tx, id);
          const e = entry(id);
          // The former recordAudit's statement.
          await sql`insert into bench_audit_plain (id, actor_type, actor_id, tenant_id, action, target_type, target_id, request_id, data)
            select id, actor_type, actor_id, tenant_id, action, target_type, target_id, request_id, data
            from jsonb_to_recordset(${JSON.stringify([
              {
                id: `aud_bench_${n}`,
                actor_type: e.actor.type,
                actor_id: e.actor.id,
                tenant_id: id,
                action: e.action,
                target_type: e.targetType,
                target_id: e.targetId,
                request_id: e.requestId,
                data: { ...e.data, before: e.before, after: e.after },
              },
            ])}::jsonb) as x(id text, actor_type text, actor_id text, tenant_id text, action text, target_type text,
              target_id text, request_id text, data jsonb)`.execute(tx);
        }),
      chain: (id: string) =>
        db.transaction().execute(async (tx) => {
          await update(tx, id);
          await appendAuditEntries(tx, [entry(id)]);
        }),
      service: async (id: string) => {
        const result = await cp.services.tenants.update(
          { actor: { type: 'api_key', id: 'key_bench' }, requestId: `req_${n}`, sourceIp: null },
          id,
          { name: `Bench ${n}` },
        );
        if (!result.ok) throw new Error(result.error.detail);
      },
    } as const;
    const names = Object.keys(kinds) as (keyof typeof kinds)[];
    const run = async (name: keyof typeof kinds, into: number[] | null) => {
      n++;
      const ms = await timed(() => kinds[name](tenant));
      into?.push(ms);
    };
    log(`warm-up: ${settings.warmup} of each`);
    for (const name of names) for (let i = 0; i < settings.warmup; i++) await run(name, null);
    for (let round = 0; round < settings.rounds; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length] as keyof typeof kinds);
      for (const name of order) for (let i = 0; i < settings.perRound; i++) await run(name, samples[name]);
      log(`round ${round + 1} of ${settings.rounds}`);
    }

    // Writers at once: all on one chain, then each on its own.
    const concurrent = async (chainOf: (writer: number) => string) => {
      const latencies: number[] = [];
      const start = process.hrtime.bigint();
      await Promise.all(
        Array.from({ length: settings.writers }, async (_, writer) => {
          for (let i = 0; i < settings.perWriter; i++) {
            n++;
            latencies.push(await timed(() => kinds.chain(chainOf(writer))));
          }
        }),
      );
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      return {
        perSecond: round((settings.writers * settings.perWriter) / seconds, 0),
        latency: summarize(latencies),
      };
    };
    log(`${settings.writers} writers at once, one chain and then ${settings.writers} chains`);
    const one = await concurrent(() => tenant);
    const many = await concurrent((writer) => others[writer] as string);
    contended = {
      oneChain: one.perSecond,
      manyChains: many.perSecond,
      oneChainLatency: one.latency,
      manyLatency: many.latency,
    };
    // Everything written must still verify: the figures are of a correct chain.
    const broken = await sql<{ n: number }>`
      select count(*)::int as n from audit_events e
      join audit_events p on p.chain_id = e.chain_id and p.seq = e.seq - 1
      where e.prev_hash is distinct from p.hash`.execute(db);
    if ((broken.rows[0]?.n ?? 0) !== 0) throw new Error('the chain written by the bench has broken links');
  } finally {
    await dropControlPlane(cp);
    log(`dropped ${cp.name}`);
  }

  const summary = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)])) as Record<
    keyof typeof samples,
    Summary
  >;
  const { update, roundTrip, plain, chain, service } = summary;
  const signed = (ms: number) => `${ms < 0 ? '−' : '+'}${Math.abs(round(ms))}`;
  const added = (s: Summary) =>
    `${signed(s.p50 - update.p50)} / ${signed(s.p99 - update.p99)} ms over the UPDATE`;
  const table: Row[] = [
    {
      figure: `tenant update + plain audit row (${plain.count}), p50 / p99`,
      value: `${plain.p50} / ${plain.p99} ms (${added(plain)})`,
      target: 'reported',
      ceiling: `${update.p50} / ${update.p99} ms the UPDATE alone`,
      pass: null,
    },
    {
      figure: `tenant update + chained audit entry (${chain.count}), p50 / p99`,
      value: `${chain.p50} / ${chain.p99} ms (${added(chain)})`,
      target: `<= plain + ${targets.chainOverPlainP50Ms} ms p50`,
      ceiling: `${update.p50} / ${update.p99} ms the UPDATE alone`,
      pass: chain.p50 <= plain.p50 + targets.chainOverPlainP50Ms,
    },
    {
      figure: `  the chain's cost over a plain row, p50 / p99`,
      value: `${signed(chain.p50 - plain.p50)} / ${signed(chain.p99 - plain.p99)} ms`,
      target: 'reported',
      ceiling: `one more round trip (SELECT 1): ${added(roundTrip)}`,
      pass: null,
    },
    {
      figure: `TenantService.update, the API's mutation (${service.count}), p50 / p99`,
      value: `${service.p50} / ${service.p99} ms`,
      target: 'reported',
      ceiling: `${update.p50} / ${update.p99} ms the UPDATE alone`,
      pass: null,
    },
    {
      figure: `${settings.writers} writers on one chain, updates/s (p50 / p99)`,
      value: `${contended.oneChain}/s (${contended.oneChainLatency.p50} / ${contended.oneChainLatency.p99} ms)`,
      target: 'reported',
      ceiling: `${contended.manyChains}/s (${contended.manyLatency.p50} / ${contended.manyLatency.p99} ms) on ${settings.writers} chains`,
      pass: null,
    },
  ];
  const machine = describeMachine(postgres, loadavgStart);
  printHeader('audit', machine);
  console.log(
    `one transaction at a time; ${settings.rounds} interleaved rounds of ${settings.perRound} of each kind after ` +
      `${settings.warmup} warm-up each; then ${settings.writers} writers × ${settings.perWriter}. Control plane in ` +
      'this process; PostgreSQL local.',
  );
  console.log('');
  printTable(table);
  writeResults({ startedAt, machine, settings, targets }, { summary, contended, table });
}

runBench(main);
