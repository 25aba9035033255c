import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../../server/test/harness.ts';
import { applyPlans, auditRows, provisionedTenant } from '../../../server/test/tenant-support.ts';
import {
  type CoordinatedReport,
  type CoordinateOptions,
  CoordinatorInputError,
  coordinateMigrations,
  parseCanary,
  vendorTargets,
  verifyQuery,
} from './coordinate.ts';
import { MigrationFolderError } from './read-migrations.ts';

/** The app's migrations, as the vendor writes them. */
const MIGRATIONS = {
  '0001_create_meetings.sql': 'create table meetings (id bigint primary key, title text not null);\n',
  '0002_add_agenda.sql':
    'create table agenda (id bigint primary key, meeting_id bigint not null references meetings (id));\n',
  '0003_add_starts_at.sql': 'alter table meetings add column starts_at timestamptz;\n',
};
type MigrationFile = keyof typeof MIGRATIONS;

let t: TestApp;
let origin: string;
let dir: string;
/** Two schema tenants and a database tenant, with the pool schema: four targets. */
let s1: { id: string; slug: string };
let s2: { id: string; slug: string };
let d1: { id: string; slug: string };

beforeEach(async () => {
  process.env.TENANTRY_BINDING_KEY = randomBytes(32).toString('hex');
  t = await startTestApp();
  await applyPlans(t);
  origin = await t.app.listen({ port: 0, host: '127.0.0.1' });
  dir = await mkdtemp(join(tmpdir(), 'tenantry-rollout-'));
  s1 = await provisionedTenant(t, { placement: 'schema' });
  s2 = await provisionedTenant(t, { placement: 'schema' });
  d1 = await provisionedTenant(t, { placement: 'database' });
});

afterEach(async () => {
  delete process.env.TENANTRY_BINDING_KEY;
  await rm(dir, { recursive: true, force: true });
  await t.close();
});

async function write(...names: MigrationFile[]): Promise<void> {
  for (const name of names) await writeFile(join(dir, name), MIGRATIONS[name]);
}

function databaseUrl(database?: string): string {
  const target = t.db.target;
  if (!('url' in target)) throw new Error('the coordinator tests run on the postgres backend');
  if (database === undefined) return target.url;
  const url = new URL(target.url);
  url.pathname = `/${database}`;
  return url.toString();
}

async function sql<R = Record<string, unknown>>(text: string, database?: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: databaseUrl(database) });
  await client.connect();
  try {
    return (await client.query(text)).rows as R[];
  } finally {
    await client.end();
  }
}

/** Each target's version, read from its migrations table: pool, s1, s2, d1. */
async function versions(): Promise<Record<string, number>> {
  const of = async (schema: string, database?: string) => {
    const rows = await sql<{ v: number | null }>(
      `select max(version) as v from "${schema}".tenantry_migrations`,
      database,
    );
    return rows[0]?.v ?? 0;
  };
  return {
    pool: await of('public'),
    s1: await of(s1.id),
    s2: await of(s2.id),
    d1: await of('public', `tenantry_${d1.id}`),
  };
}

async function rollout(options: Partial<CoordinateOptions> = {}): Promise<CoordinatedReport> {
  const controlPlane = { url: origin, token: t.token };
  return coordinateMigrations({
    migrationsDir: dir,
    source: vendorTargets({ databaseUrl: databaseUrl(), controlPlane }),
    controlPlane,
    ...options,
  });
}

function stages(report: CoordinatedReport): Record<string, string> {
  return Object.fromEntries(report.targets.map((x) => [x.target.slug ?? 'pool', x.stage]));
}

async function api(url: string): Promise<any> {
  const response = await t.request({ method: 'GET', url });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

async function runCount(): Promise<number> {
  return (await t.services.database.db.selectFrom('migration_runs').select('id').execute()).length;
}

describe('coordinateMigrations', () => {
  it('rolls back only the target whose migration fails, applies the others, and shows it all through the API', async () => {
    await write('0001_create_meetings.sql');
    const first = await rollout();
    expect(first.state).toBe('succeeded');
    expect(new Set(Object.values(stages(first)))).toEqual(new Set(['verified']));
    // Something outside the migrations made a table 0002 creates in s2's schema: its 0002 fails.
    await sql(`create table "${s2.id}".agenda (x int)`);
    await write('0002_add_agenda.sql', '0003_add_starts_at.sql');

    const report = await rollout();

    expect(report.state).toBe('failed');
    expect(stages(report)).toEqual({
      pool: 'verified',
      [s1.slug]: 'verified',
      [s2.slug]: 'failed',
      [d1.slug]: 'verified',
    });
    const failed = report.targets.find((x) => x.target.tenantId === s2.id);
    expect(failed?.result).toMatchObject({
      fromVersion: 1,
      toVersion: 1,
      error: { code: 'migration_failed' },
    });
    expect(await versions()).toEqual({ pool: 3, s1: 3, s2: 1, d1: 3 });
    // Rolled back whole: 0003's column is not there either.
    expect(
      await sql(
        `select 1 from information_schema.columns where table_schema = '${s2.id}' and column_name = 'starts_at'`,
      ),
    ).toEqual([]);

    // The fleet view and the failing tenant's history.
    const run = await api(`/v1/migration-runs/${report.runId}`);
    expect(run).toMatchObject({
      state: 'failed',
      target_version: 3,
      counts: { verified: 3, failed: 1, pending: 0 },
    });
    const row = run.targets.find((x: { target: string }) => x.target === s2.id);
    expect(row).toMatchObject({
      stage: 'failed',
      version_before: 1,
      version_after: 1,
      error: { code: 'migration_failed', migration: { version: 2, name: '0002_add_agenda' } },
    });
    expect(row.error.message).toContain('already exists');
    const history = await api(`/v1/tenants/${s2.id}/migrations`);
    expect(history.data.map((h: { run_id: string; stage: string }) => [h.run_id, h.stage])).toEqual([
      [report.runId, 'failed'],
      [first.runId, 'verified'],
    ]);
    const runs = await api('/v1/migration-runs');
    expect(runs.data.map((r: { id: string; state: string }) => [r.id, r.state])).toEqual([
      [report.runId, 'failed'],
      [first.runId, 'succeeded'],
    ]);
  });

  it('starts nothing past a failing canary: the rest are skipped at their version', async () => {
    await write('0001_create_meetings.sql');
    await rollout();
    await sql(`create table "${s2.id}".agenda (x int)`);
    await write('0002_add_agenda.sql');

    const report = await rollout({ canary: parseCanary(s2.slug) });

    expect(report.stoppedAtCanary).toBe(true);
    expect(report.targets[0]).toMatchObject({ canary: true, stage: 'failed' });
    expect(stages(report)).toEqual({
      [s2.slug]: 'failed',
      pool: 'skipped',
      [s1.slug]: 'skipped',
      [d1.slug]: 'skipped',
    });
    expect(report.targets.slice(1).map((x) => x.result.error?.code)).toEqual([
      'canary_failed',
      'canary_failed',
      'canary_failed',
    ]);
    expect(await versions()).toEqual({ pool: 1, s1: 1, s2: 1, d1: 1 });
    const run = await api(`/v1/migration-runs/${report.runId}`);
    expect(run).toMatchObject({ state: 'failed', canary: s2.slug, counts: { failed: 1, skipped: 3 } });
    expect(run.targets[0]).toMatchObject({ target: s2.id, canary: true });
  });

  it('runs a percentage of the tenants as canaries first, then the rest', async () => {
    await write('0001_create_meetings.sql', '0002_add_agenda.sql');
    const report = await rollout({ canary: parseCanary('50%') });
    expect(report.state).toBe('succeeded');
    // Half of the three tenants, rounded up; the pool schema is never a canary.
    expect(report.targets.map((x) => [x.target.slug ?? 'pool', x.canary])).toEqual([
      [s1.slug, true],
      [s2.slug, true],
      ['pool', false],
      [d1.slug, false],
    ]);
    expect(await versions()).toEqual({ pool: 2, s1: 2, s2: 2, d1: 2 });
    const run = await api(`/v1/migration-runs/${report.runId}`);
    expect(run).toMatchObject({ state: 'succeeded', canary: '50%', counts: { verified: 4 } });
  });

  it('starts no target while its run is paused, and runs a target retried meanwhile again before it ends', async () => {
    await write('0001_create_meetings.sql');
    const post = async (url: string) => {
      const response = await t.request({ method: 'POST', url });
      expect(response.status, JSON.stringify(response.body)).toBe(200);
    };
    let runId = '';
    let s1Checks = 0;
    let pausedAt: string | null = null;
    const migrated = (schema: string) =>
      sql<{ t: string | null }>(`select to_regclass('"${schema}".tenantry_migrations')::text as t`);
    const rolling = rollout({
      concurrency: 1,
      pausePollMs: 20,
      // s1's verification fails the first time, and holds when it runs again.
      verify: async (_session, target) => target.tenantId !== s1.id || s1Checks++ > 0,
      backupCheck: async (target) => {
        if (target.tenantId === s2.id && pausedAt === null) {
          // s1 (before s2 in the run's order) has failed: the operator pauses the run and retries s1.
          runId = (await api('/v1/migration-runs')).data[0].id;
          await expect
            .poll(async () => (await api(`/v1/migration-runs/${runId}`)).counts.failed, { timeout: 20_000 })
            .toBe(1);
          await post(`/v1/migration-runs/${runId}/pause`);
          await post(`/v1/migration-runs/${runId}/targets/${s1.id}/retry`);
          pausedAt = target.slug;
        }
        return { confirmed: true };
      },
    });
    let settled = false;
    rolling.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    await expect.poll(() => pausedAt, { timeout: 20_000 }).toBe(s2.slug);
    // Paused: many asks later, s2 and d1 have not started, in the record or in their databases.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const paused = await api(`/v1/migration-runs/${runId}`);
    expect(paused.state).toBe('paused');
    const stageOf = (run: any, id: string) =>
      run.targets.find((x: { target: string }) => x.target === id).stage;
    expect([stageOf(paused, s1.id), stageOf(paused, s2.id), stageOf(paused, d1.id)]).toEqual([
      'pending',
      'pending',
      'pending',
    ]);
    expect(await migrated(s2.id)).toEqual([{ t: null }]);
    expect(settled).toBe(false);

    await post(`/v1/migration-runs/${runId}/resume`);
    const report = await rolling;
    expect(report.runId).toBe(runId);
    expect(report.retriesChecked).toBe(true);
    expect(report.state).toBe('succeeded');
    expect(stages(report)).toEqual({
      pool: 'verified',
      [s1.slug]: 'verified',
      [s2.slug]: 'verified',
      [d1.slug]: 'verified',
    });
    expect(s1Checks).toBe(2);
    expect(await versions()).toEqual({ pool: 1, s1: 1, s2: 1, d1: 1 });
    const run = await api(`/v1/migration-runs/${runId}`);
    expect(run).toMatchObject({ state: 'succeeded', counts: { verified: 4, failed: 0, pending: 0 } });
    const ends = (await auditRows(t)).filter((r) => r.target_id === runId).map((r) => r.action);
    expect(
      ends.filter((a) => a.startsWith('migration_run.') && a !== 'migration_run.target_finished'),
    ).toEqual([
      'migration_run.created',
      'migration_run.paused',
      'migration_run.target_retried',
      'migration_run.resumed',
      'migration_run.finished',
    ]);
  });

  it('skips a target whose backup the hook does not confirm, before anything runs on it', async () => {
    await write('0001_create_meetings.sql');
    const asked: string[] = [];
    const report = await rollout({
      backupCheck: async (target) => {
        asked.push(target.slug ?? 'pool');
        return target.tenantId === d1.id
          ? { confirmed: false, reason: 'last snapshot is 3 days old' }
          : { confirmed: true };
      },
    });
    expect(asked.sort()).toEqual([s1.slug, s2.slug, d1.slug, 'pool'].sort());
    expect(stages(report)).toEqual({
      pool: 'verified',
      [s1.slug]: 'verified',
      [s2.slug]: 'verified',
      [d1.slug]: 'skipped',
    });
    expect(report.targets.find((x) => x.target.tenantId === d1.id)?.result.error).toEqual({
      code: 'backup_not_confirmed',
      message: 'no recent backup confirmed: last snapshot is 3 days old',
      migration: null,
    });
    // Nothing ran there: not even the migrations table was made.
    expect(await sql(`select to_regclass('public.tenantry_migrations') as t`, `tenantry_${d1.id}`)).toEqual([
      { t: null },
    ]);
    const run = await api(`/v1/migration-runs/${report.runId}`);
    expect(run.targets.find((x: { target: string }) => x.target === d1.id)).toMatchObject({
      stage: 'skipped',
      error: { code: 'backup_not_confirmed' },
    });
    expect(run.state).toBe('failed');
  });

  it('rolls back a target whose verification query is not true: it stays at its previous version', async () => {
    await write('0001_create_meetings.sql');
    await rollout();
    await write('0002_add_agenda.sql');
    // True everywhere but in s1's schema: the app's own check, run as the tenant in its transaction.
    const report = await rollout({
      verify: verifyQuery(`select to_regclass('agenda') is not null and current_schema() <> '${s1.id}'`),
    });
    expect(stages(report)).toEqual({
      pool: 'verified',
      [s1.slug]: 'failed',
      [s2.slug]: 'verified',
      [d1.slug]: 'verified',
    });
    expect(report.targets.find((x) => x.target.tenantId === s1.id)?.result.error?.code).toBe(
      'verification_failed',
    );
    expect(await versions()).toEqual({ pool: 2, s1: 1, s2: 2, d1: 2 });
    expect(await sql(`select to_regclass('"${s1.id}".agenda') as t`)).toEqual([{ t: null }]);
  });

  it("rolls back a target whose schema, after its migrations, differs from the canary's", async () => {
    await write('0001_create_meetings.sql');
    await rollout();
    // Drift: a column added by hand in s2.
    await sql(`alter table "${s2.id}".meetings add column notes text`);
    await write('0002_add_agenda.sql');
    const report = await rollout({ canary: parseCanary(s1.id) });
    expect(stages(report)).toEqual({
      [s1.slug]: 'verified',
      pool: 'verified',
      [s2.slug]: 'failed',
      [d1.slug]: 'verified',
    });
    expect(report.targets.find((x) => x.target.tenantId === s2.id)?.result.error?.code).toBe(
      'schema_mismatch',
    );
    expect(await versions()).toEqual({ pool: 2, s1: 2, s2: 1, d1: 2 });
  });

  it('changes nothing in a dry run, post-checks included, and records it as one', async () => {
    await write('0001_create_meetings.sql');
    await rollout();
    await write('0002_add_agenda.sql', '0003_add_starts_at.sql');
    const report = await rollout({
      dryRun: true,
      verify: verifyQuery("select to_regclass('agenda') is not null"),
    });
    expect(report.targets.map((x) => x.result.error)).toEqual([null, null, null, null]);
    expect(report.state).toBe('succeeded');
    expect(new Set(Object.values(stages(report)))).toEqual(new Set(['dry_run']));
    expect(report.targets.every((x) => x.result.fromVersion === 1 && x.result.toVersion === 1)).toBe(true);
    expect(await versions()).toEqual({ pool: 1, s1: 1, s2: 1, d1: 1 });
    const run = await api(`/v1/migration-runs/${report.runId}`);
    expect(run).toMatchObject({ dry_run: true, state: 'succeeded', counts: { dry_run: 4 } });
  });

  it('refuses bad input clearly before anything is read or written', async () => {
    await write('0001_create_meetings.sql');
    await expect(rollout({ canary: parseCanary('ten_00000000000000000000000000') })).rejects.toThrow(
      CoordinatorInputError,
    );
    await expect(rollout({ canary: { percent: 0 } })).rejects.toThrow(/above 0 and at most 100/);
    for (const spec of ['0%', '101%', '%', 'x%', '', 'a,,b'])
      expect(() => parseCanary(spec), spec).toThrow(CoordinatorInputError);
    await expect(rollout({ migrationsDir: join(dir, 'missing') })).rejects.toThrow(MigrationFolderError);
    for (const agentTimeoutMs of [0, -1, Number.NaN])
      await expect(rollout({ agentTimeoutMs }), String(agentTimeoutMs)).rejects.toThrow(
        /agentTimeoutMs .*: a time above 0 ms/,
      );
    await expect(rollout({ concurrency: 0 })).rejects.toThrow(/concurrency 0: a whole number of at least 1/);
    expect(await runCount()).toBe(0);
    expect(await versions().catch((error: Error) => error.message)).toMatch(/does not exist/);
  });
});
