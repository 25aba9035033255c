import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrateTarget, readMigrations } from '@tenantry/sdk';
import { MASTER_KEY_BYTES, SecretBox, systemClock } from '@tenantry/server';
import pg from 'pg';
// Not part of @tenantry/server's public surface: the bench times the data planes' own machinery.
import {
  ControlPlaneServer,
  DataPlaneHealthChecker,
  DataPlaneService,
  parseConnection,
  RegisteredDataPlanes,
  sealVendorConnection,
} from '../packages/server/src/data-planes/index.ts';
import { ByoiDriver } from '../packages/server/src/placements/index.ts';
import { systemContext } from '../packages/server/src/request-context.ts';
import {
  ADMIN_URL,
  admin,
  applyPlans,
  createTenant,
  dropControlPlane,
  logger,
  type Row,
  report,
  round,
  runBench,
  setting,
  startControlPlane,
  startRun,
} from './bench-support.ts';
import { summarize } from './stats.ts';

// Data planes: what the scheduled health check costs over a fleet of data planes, beside the same
// run's ceiling (a raw `select 1` per data plane over one pool at the same concurrency), and how
// long a BYOI tenant's onboarding takes (validation, schema, migrations) beside the same work in
// raw SQL. The fleet is `planes` rows: `reachable` of them point at the local server (each data
// plane keeps a connection of its own, so their number stays under max_connections), the rest at
// a port where nothing listens (their breakers open; a dead customer database as it looks).

const settings = {
  planes: setting('BENCH_PLANES', 1_000, 'whole'),
  reachable: setting('BENCH_REACHABLE', 50, 'whole'),
  rounds: setting('BENCH_ROUNDS', 6, 'whole'),
  onboardings: setting('BENCH_ONBOARDINGS', 10, 'whole'),
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/data-planes.json', import.meta.url)),
};

const targets = { steadyRoundCpuMs: 200, steadyRoundWrites: 0 };

const log = logger('data-planes');

const MIGRATIONS = [
  'create table meetings (id bigint primary key, title text not null, held_at timestamptz not null);',
  'create table minutes (meeting_id bigint not null references meetings (id), line int not null, body text not null, primary key (meeting_id, line));',
  'create index minutes_body on minutes using hash (body);',
];

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Wall and CPU milliseconds of `fn`. */
async function measure<T>(fn: () => Promise<T>): Promise<{ value: T; wallMs: number; cpuMs: number }> {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const value = await fn();
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  const used = process.cpuUsage(cpu);
  return { value, wallMs, cpuMs: (used.user + used.system) / 1000 };
}

async function main(): Promise<void> {
  const run = await startRun();
  const cp = await startControlPlane();
  const tag = randomBytes(4).toString('hex');
  const role = `bench_dp_${tag}`;
  const vendorDb = `bench_dp_${tag}`;
  const customers: string[] = [];
  const url = new URL(ADMIN_URL);
  const base = {
    host: url.hostname,
    port: Number(url.port || 5432),
    user: role,
    password: 'bench',
    sslmode: 'disable',
  };
  const secrets = new SecretBox([randomBytes(MASTER_KEY_BYTES)]);
  const db = cp.database.db;
  const connector = new RegisteredDataPlanes({ db, secrets, control: new ControlPlaneServer(db, cp.url) });
  try {
    await admin(async (client) => {
      await client.query(`create role ${role} login password 'bench' createrole`);
      await client.query(`create database ${vendorDb} owner ${role}`);
    });
    const dead = await closedPort();
    log(`sealing ${settings.planes} data planes (${settings.reachable} reachable)`);
    for (let i = 0; i < settings.planes; i++) {
      const id = `dpl_bench_${i}`;
      const parsed = parseConnection({
        ...base,
        database: vendorDb,
        port: i < settings.reachable ? base.port : dead,
      } as never);
      if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
      await db
        .insertInto('data_planes')
        .values({
          id,
          name: `bench-${i}`,
          kind: 'vendor',
          region: null,
          capacity: null,
          tenant_id: null,
          connection_sealed: await sealVendorConnection(secrets, id, parsed.value),
        })
        .execute();
    }

    // The health check, round by round: the first writes every data plane's new health, the
    // second the dead ones' count of failures, the third their `unhealthy`, the others nothing
    // (within the refresh interval). Each round is taken through the lease, as the server's
    // processes take them (checkIfDue: a statement to take it, one to free it), with no interval
    // to wait for between rounds.
    const checker = new DataPlaneHealthChecker({
      db,
      clock: systemClock,
      connector,
      settings: { intervalMs: 0 },
    });
    const rounds: { wallMs: number; cpuMs: number; writes: number; changed: number }[] = [];
    for (let r = 0; r < settings.rounds; r++) {
      const m = await measure(() => checker.checkIfDue());
      const taken = m.value.round;
      if (taken === null) throw new Error(`round ${r + 1} was not taken: the lease is held`);
      rounds.push({
        wallMs: round(m.wallMs),
        cpuMs: round(m.cpuMs),
        writes: taken.writes,
        changed: taken.changed,
      });
      log(`round ${r + 1}: ${round(m.wallMs)} ms wall, ${round(m.cpuMs)} ms CPU, ${taken.writes} writes`);
    }
    const steady = rounds.slice(3);

    // The ceiling: one `select 1` per data plane over one pool, at the checker's concurrency.
    const pool = new pg.Pool({ ...base, database: vendorDb, max: 16 } as never);
    const ceilings: { wallMs: number; cpuMs: number }[] = [];
    for (let r = 0; r < 3; r++) {
      const m = await measure(async () => {
        let next = 0;
        await Promise.all(
          Array.from({ length: 16 }, async () => {
            while (next++ < settings.planes) await pool.query('select 1');
          }),
        );
      });
      ceilings.push({ wallMs: round(m.wallMs), cpuMs: round(m.cpuMs) });
    }
    await pool.end();

    // BYOI onboarding: validation, sealing, the schema and three migrations, as the driver does
    // them; beside the same in raw SQL (connect, create schema, the migrations in a transaction).
    await applyPlans(cp);
    const dir = mkdtempSync(join(os.tmpdir(), 'bench-dp-'));
    for (const [i, text] of MIGRATIONS.entries()) writeFileSync(join(dir, `000${i + 1}_m${i + 1}.sql`), text);
    const migrations = await readMigrations(dir);
    const dataPlanes = new DataPlaneService({ db, clock: systemClock, secrets, connector });
    const driver = new ByoiDriver({ dataPlanes, connector, appMigrationsDir: dir });
    const onboard: number[] = [];
    const raw: number[] = [];
    for (let i = 0; i < settings.onboardings; i++) {
      const name = `bench_byoi_${tag}_${i}`;
      const rawName = `bench_raw_${tag}_${i}`;
      customers.push(name, rawName);
      await admin(async (client) => {
        await client.query(`create role ${name} login password 'bench'`);
        await client.query(`create database ${name} owner ${name}`);
        await client.query(`create role ${rawName} login password 'bench'`);
        await client.query(`create database ${rawName} owner ${rawName}`);
      });
      // Registered byoi through the API, as a vendor does: its customer data plane is made with it,
      // and its provisioning waits for the connection.
      const tenantId = await createTenant(cp, {
        slug: `byoi-${tag}-${i}`,
        name: 'Bench',
        plan: 'pro',
        placement: 'byoi',
        app_schema: 'app',
      });
      await cp.services.jobs.runDue();
      const { resources } = await db
        .selectFrom('tenants')
        .select('resources')
        .where('id', '=', tenantId)
        .executeTakeFirstOrThrow();
      if (resources.placement !== 'byoi') throw new Error(`${tenantId} is placed ${resources.placement}`);
      const timed = await measure(async () => {
        const set = await dataPlanes.setConnection(systemContext('bench'), tenantId, {
          ...base,
          user: name,
          database: name,
        } as never);
        if (!set.ok) throw new Error(set.error.detail);
        let tenant = { id: tenantId, resources };
        for (const step of driver.steps) {
          const outcome = await step.run(tenant);
          if (outcome.status !== 'done') throw new Error(`${step.name}: ${JSON.stringify(outcome)}`);
          if (outcome.resources) tenant = { id: tenantId, resources: outcome.resources };
        }
      });
      onboard.push(timed.wallMs);
      const rawTimed = await measure(async () => {
        const client = new pg.Client({ ...base, user: rawName, database: rawName } as never);
        await client.connect();
        await client.query('create schema app');
        await migrateTarget(
          { query: (text, params) => client.query(text, params) },
          { placement: 'database', tenantId, slug: null, schema: 'app', role: null, database: rawName },
          migrations,
        );
        await client.end();
      });
      raw.push(rawTimed.wallMs);
    }
    rmSync(dir, { recursive: true, force: true });

    const first = rounds[0];
    const worstSteadyCpu = Math.max(...steady.map((r) => r.cpuMs));
    const worstSteadyWrites = Math.max(...steady.map((r) => r.writes));
    const ceilingWall = summarize(ceilings.map((c) => c.wallMs));
    const ceilingCpu = summarize(ceilings.map((c) => c.cpuMs));
    const onboardP50 = summarize(onboard).p50;
    const rawP50 = summarize(raw).p50;
    const table: Row[] = [
      {
        figure: `health round, first (${settings.planes} planes): wall / CPU ms, writes`,
        value: `${first?.wallMs} / ${first?.cpuMs}, ${first?.writes}`,
        target: 'information',
        ceiling: `select 1 × ${settings.planes}: ${round(ceilingWall.p50)} / ${round(ceilingCpu.p50)}`,
        pass: null,
      },
      {
        figure: 'health round, steady (rounds 4+): wall ms (p50)',
        value: `${round(summarize(steady.map((r) => r.wallMs)).p50)}`,
        target: 'information',
        ceiling: `${round(ceilingWall.p50)}`,
        pass: null,
      },
      {
        figure: 'health round, steady: CPU ms (worst)',
        value: `${worstSteadyCpu}`,
        target: `<= ${targets.steadyRoundCpuMs}`,
        ceiling: `${round(ceilingCpu.p50)}`,
        pass: worstSteadyCpu <= targets.steadyRoundCpuMs,
      },
      {
        figure: 'health round, steady: rows written (worst)',
        value: `${worstSteadyWrites}`,
        target: `<= ${targets.steadyRoundWrites}`,
        ceiling: `${settings.planes} (a write per plane)`,
        pass: worstSteadyWrites <= targets.steadyRoundWrites,
      },
      {
        figure: 'BYOI onboarding (validate, seal, schema, 3 migrations): ms p50',
        value: `${round(onboardP50)}`,
        target: 'information',
        ceiling: `raw SQL (connect, schema, migrations): ${round(rawP50)}`,
        pass: null,
      },
    ];
    report('data-planes', run, {
      settings,
      targets,
      table,
      notes: [
        `${settings.planes} data planes, ${settings.reachable} on the local server, the rest refused (their breakers open after 3 rounds' failures)`,
        'CPU is this process’s (user + system) during the round; the checker runs 16 data planes at a time, as the ceiling does',
      ],
      results: { rounds, ceilings, onboard, raw },
    });
  } finally {
    await connector.close();
    await dropControlPlane(cp, { databases: [vendorDb, ...customers], roles: [role, ...customers] });
  }
}

runBench(main);
