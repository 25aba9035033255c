import { fileURLToPath } from 'node:url';
import pg from 'pg';
import {
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
import { type Summary, summarize } from './stats.ts';

// Provisioning a tenant through the durable workflow, per placement (pool, schema, database):
// from the first step's job to the tenant active, each step in a job execution of its own with
// its outcome written before the next, beside the same run's ceiling, the bare SQL the driver's
// steps run for that placement on one connection with nothing recorded. On a control plane over
// the local PostgreSQL with the production defaults (no app role, no app migrations).

const settings = {
  tenants: setting('BENCH_TENANTS', 20),
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/provisioning.json', import.meta.url)),
};

const PLACEMENTS = ['pool', 'schema', 'database'] as const;
type VendorPlacement = (typeof PLACEMENTS)[number];

const log = logger('provisioning');

/** What the driver's steps run for one tenant, as bare SQL: the ceiling. */
async function bareSql(client: pg.Client, placement: VendorPlacement, name: string): Promise<void> {
  const id = pg.escapeIdentifier(name);
  switch (placement) {
    case 'pool':
      await client.query('select 1');
      return;
    case 'schema':
      await client.query(
        `begin; create role ${id} nologin; grant ${id} to current_user; create schema ${id} authorization ${id}; commit`,
      );
      return;
    case 'database':
      await client.query(`begin; create role ${id} nologin; grant ${id} to current_user; commit`);
      await client.query(`create database ${id} owner ${id}`);
      await client.query(`revoke all on database ${id} from public`);
      return;
  }
}

async function main(): Promise<void> {
  const run = await startRun();
  const cp = await startControlPlane();
  log(`control plane on ${cp.origin}, database ${cp.name}`);
  const workflow: Record<VendorPlacement, number[]> = { pool: [], schema: [], database: [] };
  const ceiling: Record<VendorPlacement, number[]> = { pool: [], schema: [], database: [] };
  const bareRoles: string[] = [];
  const bareDatabases: string[] = [];
  const client = new pg.Client({ connectionString: cp.url });
  await client.connect();
  try {
    await applyPlans(cp);
    for (let i = 0; i < settings.tenants; i++) {
      for (const placement of PLACEMENTS) {
        // Interleaved, tenant by tenant, so a noisy neighbour weighs on both alike.
        const id = await createTenant(cp, {
          slug: `bench-${placement}-${i}`,
          name: 'Bench',
          plan: 'pro',
          placement,
        });
        const start = performance.now();
        await cp.services.jobs.runDue();
        workflow[placement].push(performance.now() - start);
        const tenant = await cp.call('GET', `/v1/tenants/${id}`);
        if (tenant.state !== 'active') throw new Error(`tenant ${id} is ${String(tenant.state)}, not active`);

        const name = `bench_bare_${placement}_${i}`;
        const bareStart = performance.now();
        await bareSql(client, placement, name);
        ceiling[placement].push(performance.now() - bareStart);
        if (placement !== 'pool') bareRoles.push(name);
        if (placement === 'database') bareDatabases.push(name);
      }
    }
  } finally {
    await client.end();
    // The bare schemas live in the control plane's database, dropped with it; then their roles.
    const dropped = await dropControlPlane(cp, { databases: bareDatabases, roles: bareRoles });
    log(`dropped ${cp.name} and ${dropped.tenantDatabases} tenant databases`);
  }
  const summaries = Object.fromEntries(
    PLACEMENTS.map((p) => [p, { workflow: summarize(workflow[p]), ceiling: summarize(ceiling[p]) }]),
  ) as Record<VendorPlacement, { workflow: Summary; ceiling: Summary }>;
  const table: Row[] = PLACEMENTS.map((p) => ({
    figure: `${p}: provisioned through the workflow, median (p90) of ${settings.tenants}`,
    value: `${round(summaries[p].workflow.p50, 1)} (${round(summaries[p].workflow.p90, 1)}) ms`,
    target: '',
    ceiling: `${round(summaries[p].ceiling.p50, 1)} (${round(summaries[p].ceiling.p90, 1)}) ms bare SQL`,
    pass: null,
  }));
  report('provisioning', run, {
    settings,
    targets: {},
    notes: [
      'workflow: jobs.runDue() from the first step queued to the tenant active (every step a job, its',
      'outcome and the next job written before it ends, the transition recorded); ceiling: the same',
      'DDL as bare SQL on one connection. Steps: pool data_plane; schema schema; database database.',
    ],
    table,
    results: summaries,
  });
}

runBench(main);
