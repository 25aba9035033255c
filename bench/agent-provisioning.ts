import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrateTarget, readMigrations } from '@tenantry/sdk';
import pg from 'pg';
import {
  admin,
  applyPlans,
  createTenant,
  databaseUrl,
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
import { type Summary, summarize } from './stats.ts';

// Provisioning a `byoi_agent` tenant end to end, as a customer does it: the tenant is created
// (`POST /v1/tenants`, placement byoi_agent) and an enrolment token made (`POST
// /v1/tenants/{id}/agent-enrolments`); the customer starts `tenantry agent` (a process of its
// own, with its own database and login role on the local PostgreSQL and a folder of two
// migrations); it enrols over its WebSocket, the workflow's `agent` step resumes, the `provision`
// job runs in the customer's database (schema + migrations, one transaction), its end resumes the
// workflow and the tenant turns active. The control plane runs its job worker as `tenantry serve`
// does (woken by the resumes, polling at the production default otherwise).
//
// One fresh agent process per tenant, on a database of its own: each customer runs their own
// agent against their own database, so the process start and the enrolment are paid per tenant.
//
// Figures per tenant:
// - agent start: the spawn to the agent's WebSocket upgrade reaching the control plane (Node's
//   start and the CLI loading): the customer's side, reported apart.
// - provisioning: from `POST /v1/tenants` to the tenant active, less the agent start.
// - ceiling: the same schema and migrations, run directly on that customer's database as its
//   role (connect, then the SDK's runner in one transaction, as the agent's job does), into a
//   schema of their own beside the tenant's.

const settings = {
  tenants: setting('BENCH_TENANTS', 10, 'whole'),
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/agent-provisioning.json', import.meta.url)),
};

const log = logger('agent-provisioning');

/** The `tenantry` executable of this checkout. */
const bin = fileURLToPath(new URL('../packages/cli/bin/tenantry.js', import.meta.url));

/** The vendor's migrations: two, the second adding a column (test/e2e/agent-support.ts's). */
const MIGRATIONS: Record<string, string> = {
  '0001_create_notes.sql': 'create table notes (id bigint primary key, body text not null);\n',
  '0002_notes_created_at.sql': 'alter table notes add column created_at timestamptz;\n',
};

function ms(s: Summary): string {
  return `${round(s.p50, 1)} (${round(s.p90, 1)}) ms`;
}

async function main(): Promise<void> {
  const run = await startRun();
  const stopWorker = new AbortController();
  let worker: Promise<void> | undefined;
  const cp = await startControlPlane({
    beforeListen: (_app, services, config) => {
      worker = services.jobs.work(stopWorker.signal, config.workerPollMs, (error) =>
        log(`job worker: ${String(error)}`),
      );
    },
  });
  log(`control plane on ${cp.origin}, database ${cp.name}`);
  // The first sign of each agent process: its WebSocket upgrade, whatever serves it.
  let upgraded: (() => void) | undefined;
  cp.app.server.on('upgrade', (request: IncomingMessage) => {
    if (request.url?.startsWith('/v1/agent/connect')) upgraded?.();
  });
  // When the agents service tells of the tenant's enrolment and of its provision job's end (the
  // hooks that resume the workflow), for the breakdown.
  const marks = new Map<string, { enrolled?: number; jobEnded?: number }>();
  cp.services.agents.onEnrolled(({ tenantId }) => {
    marks.set(tenantId, { ...marks.get(tenantId), enrolled: performance.now() });
  });
  cp.services.agents.onJobFinished((job) => {
    if (job.type === 'provision')
      marks.set(job.tenant_id, { ...marks.get(job.tenant_id), jobEnded: performance.now() });
  });
  const work = await mkdtemp(join(tmpdir(), 'tenantry-bench-agent-provisioning-'));
  const migrationsDir = join(work, 'migrations');
  await mkdir(migrationsDir);
  for (const [file, text] of Object.entries(MIGRATIONS)) await writeFile(join(migrationsDir, file), text);
  const migrations = await readMigrations(migrationsDir);

  const customers: string[] = [];
  const agentStart: number[] = [];
  const provisioning: number[] = [];
  const total: number[] = [];
  const ceiling: number[] = [];
  const phases = {
    create: [] as number[],
    enrol: [] as number[],
    job: [] as number[],
    activate: [] as number[],
  };
  let child: ChildProcess | undefined;
  try {
    await applyPlans(cp);
    for (let i = 0; i < settings.tenants; i++) {
      log(`tenant ${i + 1}/${settings.tenants}`);
      const customer = `bench_agent_customer_${cp.name.slice(-12)}_${i}`;
      customers.push(customer);
      await admin(async (client) => {
        await client.query(`create role ${customer} login`);
        await client.query(`create database ${customer} owner ${customer}`);
      });
      const customerUrl = databaseUrl(customer, customer);

      const start = performance.now();
      const tenantId = await createTenant(cp, {
        slug: `bench-agent-${i}`,
        name: 'Bench',
        plan: 'pro',
        placement: 'byoi_agent',
        app_schema: 'app',
      });
      const enrolment = await cp.call('POST', `/v1/tenants/${tenantId}/agent-enrolments`, {});
      const connecting = new Promise<void>((resolve) => {
        upgraded = resolve;
      });
      const spawned = performance.now();
      phases.create.push(spawned - start);
      const agent = spawn(
        process.execPath,
        [
          bin,
          'agent',
          '--url',
          cp.origin,
          '--token',
          String(enrolment.token),
          '--credential-file',
          join(work, `${tenantId}.json`),
          '--database-url',
          customerUrl,
          '--migrations',
          migrationsDir,
        ],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      child = agent;
      const exited = new Promise<void>((resolve) => agent.once('exit', () => resolve()));
      await Promise.race([
        connecting,
        exited.then(() => {
          throw new Error('the agent exited before connecting');
        }),
      ]);
      const upgradeAt = performance.now();
      const started = upgradeAt - spawned;
      // Polled by primary key every 2 ms: the figure is at most that late.
      for (;;) {
        const row = await cp.database.db
          .selectFrom('tenants')
          .select('state')
          .where('id', '=', tenantId)
          .executeTakeFirstOrThrow();
        if (row.state === 'active') break;
        if (row.state !== 'provisioning') throw new Error(`tenant ${tenantId} is ${row.state}`);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const activeAt = performance.now();
      const elapsed = activeAt - start;
      const mark = marks.get(tenantId);
      if (mark?.enrolled === undefined || mark.jobEnded === undefined)
        throw new Error('no enrolment or job end told');
      phases.enrol.push(mark.enrolled - upgradeAt);
      phases.job.push(mark.jobEnded - mark.enrolled);
      phases.activate.push(activeAt - mark.jobEnded);
      agentStart.push(started);
      total.push(elapsed);
      provisioning.push(elapsed - started);
      agent.kill('SIGTERM');
      await exited;
      child = undefined;

      // The ceiling, on the same database right after: connect as the customer, schema + migrations.
      const rawStart = performance.now();
      const client = new pg.Client({ connectionString: customerUrl });
      await client.connect();
      const migrated = await migrateTarget(
        { query: (text, params) => client.query(text, params) },
        { placement: 'pool', tenantId: null, slug: null, schema: 'app_direct', role: null, database: null },
        migrations,
      );
      await client.end();
      ceiling.push(performance.now() - rawStart);
      if (migrated.error !== null) throw new Error(migrated.error.message);
      const check = new pg.Client({ connectionString: customerUrl });
      await check.connect();
      const versions = await check.query(
        'select (select max(version) from app.tenantry_migrations) as agent, (select max(version) from app_direct.tenantry_migrations) as direct',
      );
      await check.end();
      const row = versions.rows[0] as { agent: number; direct: number } | undefined;
      if (row?.agent !== 2 || row.direct !== 2)
        throw new Error(`migrations not applied: ${JSON.stringify(row)}`);
    }
  } finally {
    child?.kill('SIGTERM');
    stopWorker.abort();
    await worker;
    await dropControlPlane(cp, { databases: customers, roles: customers });
    await rm(work, { recursive: true, force: true });
  }
  const results = {
    provisioning: summarize(provisioning),
    agentStart: summarize(agentStart),
    total: summarize(total),
    ceiling: summarize(ceiling),
    phases: {
      create: summarize(phases.create),
      enrol: summarize(phases.enrol),
      job: summarize(phases.job),
      activate: summarize(phases.activate),
    },
  };
  const table: Row[] = [
    {
      figure: `byoi_agent: tenant created to active, less the agent start, median (p90) of ${settings.tenants}`,
      value: ms(results.provisioning),
      target: 'information',
      ceiling: `${ms(results.ceiling)} direct SQL (connect, schema, 2 migrations)`,
      pass: null,
    },
    {
      figure: '  of which: POST /v1/tenants + POST agent-enrolments',
      value: ms(results.phases.create),
      target: '',
      ceiling: '',
      pass: null,
    },
    {
      figure: '  of which: WebSocket upgrade to enrolled (onEnrolled)',
      value: ms(results.phases.enrol),
      target: '',
      ceiling: '',
      pass: null,
    },
    {
      figure: '  of which: enrolled to the provision job ended (onJobFinished)',
      value: ms(results.phases.job),
      target: '',
      ceiling: '',
      pass: null,
    },
    {
      figure: '  of which: the job ended to the tenant active',
      value: ms(results.phases.activate),
      target: '',
      ceiling: '',
      pass: null,
    },
    {
      figure: 'agent process start (spawn to its WebSocket upgrade)',
      value: ms(results.agentStart),
      target: 'information',
      ceiling: '',
      pass: null,
    },
    {
      figure: 'byoi_agent: tenant created to active, all included',
      value: ms(results.total),
      target: 'information',
      ceiling: '',
      pass: null,
    },
  ];
  report('agent-provisioning', run, {
    settings,
    targets: {},
    table,
    notes: [
      'one fresh `tenantry agent` process per tenant, each on a database and login role of its own',
      'provisioning: POST /v1/tenants + POST agent-enrolments + enrolment, agent step, provision job, active',
      `job worker as \`tenantry serve\` runs it; tenant state polled every 2 ms`,
    ],
    results,
  });
}

runBench(main);
