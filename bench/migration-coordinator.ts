import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type CoordinatedReport,
  clientSession,
  coordinateMigrations,
  type MigrationTarget,
  parseCanary,
  readMigrations,
  type TargetSource,
  verifyQuery,
} from '@tenantry/sdk';
import pg from 'pg';
import {
  admin,
  applyPlans,
  type ControlPlane,
  createTenant,
  databaseUrl,
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

/**
 * The migration coordinator (`tenantry app rollout`, the SDK's coordinateMigrations) across 100
 * databases on the local PostgreSQL standing in for customers' own (BYOI) databases, each reached
 * by its connection string through a TargetSource as a BYOI source would: a backup hook per
 * target, 10% canaries first, the schema check and a verification query in each target's
 * transaction, every stage reported to a real control plane over HTTP. Beside it, the ceiling:
 * the same SQL on as many fresh databases, a connection and one transaction each, at the same
 * concurrency, with no checks, no version table and no reports.
 */

const settings = {
  targets: setting('BENCH_TARGETS', 100, 'whole'),
  concurrency: setting('BENCH_CONCURRENCY', 4, 'whole'),
  out:
    process.env.BENCH_OUT || fileURLToPath(new URL('./results/migration-coordinator.json', import.meta.url)),
};

const log = logger('migration-coordinator');

/** Five migrations of the reference app: tables with keys, references and an index. */
const MIGRATIONS: ReadonlyArray<readonly [string, string]> = [
  [
    '0001_users.sql',
    'create table users (id bigint generated always as identity primary key, email text not null unique);',
  ],
  [
    '0002_meetings.sql',
    'create table meetings (id bigint generated always as identity primary key, title text not null, organizer_id bigint not null references users (id));',
  ],
  [
    '0003_minutes.sql',
    "create table minutes (id bigint generated always as identity primary key, meeting_id bigint not null unique references meetings (id), body text not null default '');",
  ],
  [
    '0004_action_items.sql',
    'create table action_items (id bigint generated always as identity primary key, meeting_id bigint not null references meetings (id), text text not null, due_on date);\ncreate index action_items_meeting on action_items (meeting_id);',
  ],
  ['0005_starts_at.sql', 'alter table meetings add column starts_at timestamptz;'],
];

const VERIFY =
  "select to_regclass('action_items') is not null and exists (select 1 from pg_attribute where attrelid = 'meetings'::regclass and attname = 'starts_at')";

/** `prefix_0` … : one database per target, each with its own owner role, as a customer's would be. */
async function makeDatabases(prefix: string, ids: readonly string[]): Promise<void> {
  await inParallel(ids, 4, async (id) => {
    await admin(async (c) => {
      await c.query(`create role "${prefix}_${id}" nologin`);
      await c.query(`create database "${prefix}_${id}" owner "${prefix}_${id}"`);
    });
  });
}

async function dropDatabases(prefix: string, ids: readonly string[]): Promise<void> {
  await inParallel(ids, 4, async (id) => {
    await admin(async (c) => {
      await c.query(`drop database if exists "${prefix}_${id}" with (force)`);
      await c.query(`drop role if exists "${prefix}_${id}"`);
    });
  });
}

/** The stand-in BYOI source: each target a database reached by its own connection string. */
function byoiSource(targets: readonly MigrationTarget[]): TargetSource {
  return {
    targets: async () => targets,
    open: (target) => clientSession({ connectionString: databaseUrl(target.database ?? '') }),
    close: async () => {},
  };
}

async function coordinated(t: ControlPlane, dir: string, targets: readonly MigrationTarget[]) {
  let backupChecks = 0;
  const started = performance.now();
  const report: CoordinatedReport = await coordinateMigrations({
    migrationsDir: dir,
    source: byoiSource(targets),
    controlPlane: { url: t.origin, token: t.token },
    canary: parseCanary('10%'),
    backupCheck: async () => {
      backupChecks++;
      return { confirmed: true };
    },
    verify: verifyQuery(VERIFY),
    concurrency: settings.concurrency,
  });
  const seconds = round((performance.now() - started) / 1000);
  if (report.state !== 'succeeded' || report.recordingError !== null) {
    const bad = report.targets.find((x) => x.stage === 'failed' || x.stage === 'skipped');
    throw new Error(`the run ${report.state}: ${bad?.result.error?.message ?? report.recordingError}`);
  }
  return { seconds, backupChecks, runId: report.runId, counts: report.counts };
}

/** The ceiling: the same SQL in a loop, a connection and one transaction per fresh database. */
async function raw(prefix: string, ids: readonly string[]): Promise<number> {
  const script = MIGRATIONS.map(([, text]) => text).join('\n');
  const started = performance.now();
  await inParallel(ids, settings.concurrency, async (id) => {
    const client = new pg.Client({ connectionString: databaseUrl(`${prefix}_${id}`) });
    await client.connect();
    try {
      await client.query(`begin; set local role "${prefix}_${id}"; ${script}; commit`);
    } finally {
      await client.end();
    }
  });
  return round((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadavgStart = loadavg();
  const postgres = await postgresVersion();
  const dir = mkdtempSync(join(os.tmpdir(), 'tenantry-bench-coordinator-'));
  for (const [file, text] of MIGRATIONS) writeFileSync(join(dir, file), `${text}\n`);
  const migrations = await readMigrations(dir);
  const t = await startControlPlane();
  log(`control plane on ${t.origin}, database ${t.name}`);
  const prefix = `bench_byoi_${t.name.slice(-6)}`;
  const indexes = Array.from({ length: settings.targets }, (_, i) => String(i));
  let first: Awaited<ReturnType<typeof coordinated>>;
  let again: Awaited<ReturnType<typeof coordinated>>;
  let ceiling: number;
  let loadavgBefore: [number, number, number];
  try {
    await applyPlans(t);
    // The tenants the run records its targets under; their data is in the stand-in databases.
    const tenantIds = await inParallel(indexes, 8, (i) =>
      createTenant(t, { slug: `byoi-${i}`, name: `BYOI ${i}`, plan: 'pro', placement: 'pool' }),
    );
    log(
      `creating ${settings.targets} databases for the coordinator, and ${settings.targets} for the ceiling`,
    );
    await makeDatabases(prefix, indexes);
    await makeDatabases(`${prefix}_raw`, indexes);
    const targets: MigrationTarget[] = indexes.map((i, n) => ({
      placement: 'database',
      tenantId: tenantIds[n] as string,
      slug: `byoi-${i}`,
      schema: 'public',
      role: `${prefix}_${i}`,
      database: `${prefix}_${i}`,
    }));
    loadavgBefore = loadavg();
    log(
      `coordinated run: ${migrations.length} migrations, ${settings.targets} databases, concurrency ${settings.concurrency}`,
    );
    first = await coordinated(t, dir, targets);
    log(`done in ${first.seconds} s; again, with nothing pending`);
    again = await coordinated(t, dir, targets);
    log('ceiling: raw SQL in a loop');
    ceiling = await raw(`${prefix}_raw`, indexes);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await dropDatabases(prefix, indexes);
    await dropDatabases(`${prefix}_raw`, indexes);
    const dropped = await dropControlPlane(t);
    log(`dropped ${t.name} and ${dropped.tenantRoles} tenant roles`);
  }
  const machine = describeMachine(postgres, loadavgStart);
  const table: Row[] = [
    {
      figure: `app rollout, ${migrations.length} migrations, ${settings.targets} databases (BYOI stand-ins), 10% canaries, concurrency ${settings.concurrency}`,
      value: `${first.seconds} s (${round(settings.targets / first.seconds, 1)} targets/s)`,
      target: '-',
      ceiling: `${ceiling} s raw SQL in a loop`,
      pass: null,
    },
    {
      figure: '  per target',
      value: `${round((first.seconds * 1000) / settings.targets, 1)} ms`,
      target: '-',
      ceiling: `${round((ceiling * 1000) / settings.targets, 1)} ms`,
      pass: null,
    },
    {
      figure: '  the same run again, nothing pending',
      value: `${again.seconds} s`,
      target: '-',
      ceiling: '-',
      pass: null,
    },
  ];
  printHeader('migration-coordinator', machine);
  console.log(
    `each target: a connection, the backup hook, 3 progress reports over HTTP, its migrations, the schema check and the verification query in its transaction (${first.backupChecks} backup checks)`,
  );
  console.log('');
  printTable(table);
  writeResults(
    { startedAt, machine, settings, targets: {} },
    { loadavgBefore, first, again, ceiling, table },
  );
}

runBench(main);
