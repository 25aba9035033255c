import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type FleetReport, migrateFleet, readMigrations } from '@tenantry/sdk';
import pg from 'pg';
import {
  ADMIN_URL,
  admin,
  applyPlans,
  type ControlPlane,
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

/**
 * `tenantry app migrate` at fleet scale: the SDK's migrateFleet (what the command calls) applies a
 * 10-table migration set to the pool schema and to 1,000 `schema` tenants of a real control
 * plane, listed over its HTTP API. Beside it, the ceiling: the same SQL run on as many bare
 * schemas over raw `pg`, one transaction each, at the same concurrency, with no role switch,
 * lock, checksum or version table.
 */

const settings = {
  adminUrl: ADMIN_URL,
  tenants: setting('BENCH_TENANTS', 1000, 'whole'),
  concurrency: setting('BENCH_CONCURRENCY', 4, 'whole'),
  /** Parallel POST /v1/tenants requests, and provisioning workers, while the fleet is made. */
  createParallel: setting('BENCH_CREATE_PARALLEL', 8, 'whole'),
  provisionWorkers: setting('BENCH_PROVISION_WORKERS', 4, 'whole'),
  raw: process.env.BENCH_RAW !== '0',
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/app-migrate.json', import.meta.url)),
};

const targets = { fleetS: 60 };

const log = logger('app-migrate');

/** The reference app's schema in ten migrations, one table each, with keys, references and indexes. */
const MIGRATIONS: ReadonlyArray<readonly [string, string]> = [
  [
    '0001_users.sql',
    'create table users (id bigint generated always as identity primary key, email text not null unique, name text not null, created_at timestamptz not null default now());',
  ],
  [
    '0002_meetings.sql',
    'create table meetings (id bigint generated always as identity primary key, title text not null, starts_at timestamptz not null, organizer_id bigint not null references users (id));\ncreate index meetings_starts_at on meetings (starts_at);',
  ],
  [
    '0003_attendees.sql',
    'create table attendees (meeting_id bigint not null references meetings (id) on delete cascade, user_id bigint not null references users (id), primary key (meeting_id, user_id));',
  ],
  [
    '0004_agenda_items.sql',
    'create table agenda_items (id bigint generated always as identity primary key, meeting_id bigint not null references meetings (id) on delete cascade, position integer not null, title text not null, unique (meeting_id, position));',
  ],
  [
    '0005_minutes.sql',
    "create table minutes (id bigint generated always as identity primary key, meeting_id bigint not null unique references meetings (id) on delete cascade, body text not null default '', updated_at timestamptz not null default now());",
  ],
  [
    '0006_action_items.sql',
    "create table action_items (id bigint generated always as identity primary key, meeting_id bigint not null references meetings (id) on delete cascade, assignee_id bigint references users (id), text text not null, due_on date, state text not null default 'open' check (state in ('open', 'done')));\ncreate index action_items_assignee on action_items (assignee_id) where state = 'open';",
  ],
  [
    '0007_comments.sql',
    'create table comments (id bigint generated always as identity primary key, minutes_id bigint not null references minutes (id) on delete cascade, author_id bigint not null references users (id), body text not null, created_at timestamptz not null default now());\ncreate index comments_minutes on comments (minutes_id, created_at);',
  ],
  [
    '0008_attachments.sql',
    'create table attachments (id bigint generated always as identity primary key, meeting_id bigint not null references meetings (id) on delete cascade, file_name text not null, bytes bigint not null check (bytes >= 0), storage_key text not null unique);',
  ],
  [
    '0009_tags.sql',
    'create table tags (id bigint generated always as identity primary key, name text not null unique);',
  ],
  [
    '0010_meeting_tags.sql',
    'create table meeting_tags (meeting_id bigint not null references meetings (id) on delete cascade, tag_id bigint not null references tags (id) on delete cascade, primary key (meeting_id, tag_id));',
  ],
];

/** 1,000 `schema` tenants through the API, provisioned by the control plane's own job handlers. */
async function makeFleet(t: ControlPlane): Promise<{ createS: number; provisionS: number }> {
  const started = performance.now();
  const slugs = Array.from({ length: settings.tenants }, (_, i) => `fleet-${i}`);
  await inParallel(slugs, settings.createParallel, (slug) =>
    createTenant(t, { slug, name: slug, plan: 'pro', placement: 'schema' }),
  );
  const created = performance.now();
  // Several workers claim jobs with FOR UPDATE SKIP LOCKED, as several control-plane processes would.
  const ran = await Promise.all(
    Array.from({ length: settings.provisionWorkers }, () => t.services.jobs.runDue()),
  );
  const provisioned = performance.now();
  const active = await t.database.db
    .selectFrom('tenants')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('state', '=', 'active')
    .executeTakeFirstOrThrow();
  if (Number(active.n) !== settings.tenants)
    throw new Error(`${active.n} of ${settings.tenants} tenants are active after ${ran.join('+')} jobs`);
  return { createS: round((created - started) / 1000), provisionS: round((provisioned - created) / 1000) };
}

interface FleetRun {
  seconds: number;
  report: Omit<FleetReport, 'results'>;
  perTargetMs: Summary;
  maxInFlight: number;
}

async function runFleet(t: ControlPlane, migrationsDir: string): Promise<FleetRun> {
  let inFlight = 0;
  let maxInFlight = 0;
  const started = performance.now();
  const report = await migrateFleet({
    migrationsDir,
    databaseUrl: t.url,
    controlPlane: { url: t.origin, token: t.token },
    concurrency: settings.concurrency,
    onProgress: (event) => {
      inFlight += event.type === 'started' ? 1 : event.result.status === 'skipped' ? 0 : -1;
      maxInFlight = Math.max(maxInFlight, inFlight);
    },
  });
  const seconds = round((performance.now() - started) / 1000);
  if (report.failed > 0) {
    const first = report.results.find((r) => r.status === 'failed');
    throw new Error(
      `${report.failed} targets failed, e.g. ${first?.target.schema}: ${first?.error?.message}`,
    );
  }
  const { results, ...rest } = report;
  return { seconds, report: rest, perTargetMs: summarize(results.map((r) => r.durationMs)), maxInFlight };
}

/** The ceiling: the same SQL on as many bare schemas, one transaction each, `concurrency` at once. */
async function runRaw(t: ControlPlane): Promise<{ seconds: number; perTargetMs: Summary }> {
  const script = MIGRATIONS.map(([, text]) => text).join('\n');
  const schemas = Array.from({ length: settings.tenants }, (_, i) => `bench_raw_${i}`);
  await admin(async (client) => {
    for (const schema of schemas) await client.query(`create schema ${schema}`);
  }, t.url);
  const pool = new pg.Pool({ connectionString: t.url, max: settings.concurrency });
  const times: number[] = [];
  const started = performance.now();
  try {
    await inParallel(schemas, settings.concurrency, async (schema) => {
      const at = performance.now();
      const client = await pool.connect();
      try {
        await client.query(`begin; set local search_path to ${schema}; ${script}; commit`);
      } finally {
        client.release();
      }
      times.push(performance.now() - at);
    });
  } finally {
    await pool.end();
  }
  return { seconds: round((performance.now() - started) / 1000), perTargetMs: summarize(times) };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadavgStart = loadavg();
  const postgres = await postgresVersion();
  const migrationsDir = mkdtempSync(join(os.tmpdir(), 'tenantry-bench-migrations-'));
  for (const [file, text] of MIGRATIONS) writeFileSync(join(migrationsDir, file), `${text}\n`);
  const migrations = await readMigrations(migrationsDir);
  // The production defaults; no TENANTRY_APP_MIGRATIONS, so the fleet run has everything to do.
  const t = await startControlPlane();
  log(`control plane on ${t.origin}, database ${t.name}`);
  let fleet: Awaited<ReturnType<typeof makeFleet>>;
  let first: FleetRun;
  let again: FleetRun;
  let raw: Awaited<ReturnType<typeof runRaw>> | null = null;
  let loadavgBefore: [number, number, number];
  try {
    await applyPlans(t);
    log(`creating ${settings.tenants} schema tenants over the API and provisioning them`);
    fleet = await makeFleet(t);
    log(`fleet made: ${fleet.createS} s of requests, ${fleet.provisionS} s of provisioning jobs`);
    loadavgBefore = loadavg();
    log(
      `app migrate: ${migrations.length} migrations, pool + ${settings.tenants} schema tenants, concurrency ${settings.concurrency}`,
    );
    first = await runFleet(t, migrationsDir);
    log(`applied in ${first.seconds} s; again, with nothing pending`);
    again = await runFleet(t, migrationsDir);
    const migrated = await admin(
      (c) =>
        c.query<{ n: string }>("select count(*) as n from pg_tables where tablename = 'tenantry_migrations'"),
      t.url,
    );
    if (Number(migrated.rows[0]?.n) !== settings.tenants + 1)
      throw new Error(`${migrated.rows[0]?.n} migrations tables for ${settings.tenants + 1} targets`);
    if (settings.raw) {
      log(`ceiling: the same SQL on ${settings.tenants} bare schemas over raw pg`);
      raw = await runRaw(t);
    }
  } finally {
    rmSync(migrationsDir, { recursive: true, force: true });
    const dropped = await dropControlPlane(t);
    log(`dropped ${t.name} and ${dropped.tenantRoles} tenant roles`);
  }
  const machine = describeMachine(postgres, loadavgStart);
  const table: Row[] = [
    {
      figure: `app migrate, ${migrations.length} migrations (10 tables), pool + ${settings.tenants} schema tenants, concurrency ${settings.concurrency}`,
      value: `${first.seconds} s (${round(first.report.targets / first.seconds, 1)} targets/s)`,
      target: `<= ${targets.fleetS} s`,
      ceiling: raw ? `${raw.seconds} s raw pg, same SQL, no runner` : '-',
      pass: first.seconds <= targets.fleetS,
    },
    {
      figure: '  per target, p50 / p99',
      value: `${first.perTargetMs.p50} / ${first.perTargetMs.p99} ms`,
      target: '-',
      ceiling: raw ? `${raw.perTargetMs.p50} / ${raw.perTargetMs.p99} ms` : '-',
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
  printHeader('app-migrate', machine);
  console.log(
    `fleet made through the API in ${fleet.createS} s + ${fleet.provisionS} s of provisioning jobs (not measured below); at most ${first.maxInFlight} targets in flight`,
  );
  console.log('');
  printTable(table);
  writeResults(
    { startedAt, machine, settings, targets },
    {
      loadavgBefore,
      fleet,
      migrations: migrations.map((m) => m.name),
      first,
      again,
      raw,
      table,
    },
  );
}

runBench(main);
