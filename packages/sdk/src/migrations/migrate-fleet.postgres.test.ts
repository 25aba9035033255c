import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../../server/test/harness.ts';
import { act, applyPlans, createTenant, provisionedTenant } from '../../../server/test/tenant-support.ts';
import { ControlPlaneUnreachableError } from '../control-plane/index.ts';
import {
  type FleetProgress,
  type FleetReport,
  type MigrateFleetOptions,
  migrateFleet,
} from './migrate-fleet.ts';
import type { TargetResult } from './migrate-target.ts';
import { MigrationFolderError } from './read-migrations.ts';

/** The app's migrations, as the vendor writes them. */
const MIGRATIONS = {
  '0001_create_meetings.sql': `create table meetings (
  id bigint generated always as identity primary key,
  title text not null
);
create table action_items (
  id bigint generated always as identity primary key,
  meeting_id bigint not null references meetings (id),
  text text not null
);
`,
  '0002_add_minutes.sql': `-- The agenda and minutes of a meeting.
create table agenda (id bigint primary key, meeting_id bigint not null references meetings (id));
create table minutes (id bigint primary key, meeting_id bigint not null references meetings (id), body text);
`,
  '0003_index_action_items.sql': `create index action_items_meeting on action_items (meeting_id);
alter table meetings add column starts_at timestamptz;
`,
};
type MigrationFile = keyof typeof MIGRATIONS;

let t: TestApp;
let origin: string;
let dir: string;

beforeEach(async () => {
  // As a deployment sets it: the runner installs the tenant binding in the pool's database and in
  // each tenant database, and keeps each schema tenant's tables to it (this file's worker has its
  // own environment).
  process.env.TENANTRY_BINDING_KEY = randomBytes(32).toString('hex');
  t = await startTestApp();
  await applyPlans(t);
  origin = await t.app.listen({ port: 0, host: '127.0.0.1' });
  dir = await mkdtemp(join(tmpdir(), 'tenantry-app-migrations-'));
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
  if (!('url' in target)) throw new Error('the fleet tests run on the postgres backend');
  if (database === undefined) return target.url;
  const url = new URL(target.url);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Runs the fleet migration against the test control plane, recording every progress event. */
async function migrate(
  options: Partial<MigrateFleetOptions> = {},
): Promise<{ report: FleetReport; events: FleetProgress[] }> {
  const events: FleetProgress[] = [];
  const report = await migrateFleet({
    migrationsDir: dir,
    databaseUrl: databaseUrl(),
    controlPlane: { url: origin, token: t.token },
    onProgress: (event) => events.push(event),
    ...options,
  });
  return { report, events };
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

/** Where a target's tables are: its schema, in its own database or the control plane's. */
interface Place {
  readonly schema: string;
  readonly database?: string;
}

function placeOf(result: TargetResult): Place {
  const { schema, database } = result.target;
  return database === null ? { schema } : { schema, database };
}

async function tables(place: Place): Promise<Array<{ table: string; owner: string }>> {
  return sql(
    `select tablename as table, tableowner as owner from pg_tables where schemaname = '${place.schema}' order by 1`,
    place.database,
  );
}

async function versions(place: Place): Promise<number[]> {
  const rows = await sql<{ version: number }>(
    `select version from "${place.schema}".tenantry_migrations order by version`,
    place.database,
  );
  return rows.map((r) => r.version);
}

function statuses(report: FleetReport): string[] {
  return report.results.map((r) => r.status);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

describe('migrateFleet', () => {
  it('applies every migration to the pool schema and each schema and database tenant, as the tenant role, recording each version', async () => {
    const active = await provisionedTenant(t, { placement: 'schema' });
    const suspended = await provisionedTenant(t, { placement: 'schema' });
    expect((await act(t, suspended.id, 'suspend')).status).toBe(200);
    const database = await provisionedTenant(t, { placement: 'database' });
    await provisionedTenant(t, { placement: 'pool' });
    // Still provisioning: its provisioning job gets the migrations, not the fleet run.
    const provisioning = await createTenant(t, { placement: 'schema' });
    await write('0001_create_meetings.sql', '0002_add_minutes.sql', '0003_index_action_items.sql');

    const { report, events } = await migrate();

    expect(report).toMatchObject({
      dryRun: false,
      migrations: 3,
      latestVersion: 3,
      targets: 4,
      applied: 4,
      upToDate: 0,
      failed: 0,
      skipped: 0,
      migrationsApplied: 12,
    });
    const byTenant = new Map(report.results.map((r) => [r.target.tenantId, r]));
    expect(report.results[0]?.target).toEqual({
      placement: 'pool',
      tenantId: null,
      slug: null,
      schema: 'public',
      role: null,
      database: null,
    });
    expect(byTenant.get(active.id)?.target).toEqual({
      placement: 'schema',
      tenantId: active.id,
      slug: active.slug,
      schema: active.id,
      role: `tenantry_${active.id}`,
      database: null,
    });
    expect(byTenant.get(database.id)?.target).toMatchObject({
      placement: 'database',
      schema: 'public',
      role: `tenantry_${database.id}`,
      database: `tenantry_${database.id}`,
    });
    expect(byTenant.has(suspended.id)).toBe(true);
    expect(byTenant.has(provisioning.id)).toBe(false);
    for (const result of report.results) {
      expect(result).toMatchObject({ status: 'applied', fromVersion: 0, toVersion: 3, error: null });
      expect(result.applied.map((a) => a.name)).toEqual([
        '0001_create_meetings',
        '0002_add_minutes',
        '0003_index_action_items',
      ]);
    }
    expect(events.filter((e) => e.type === 'finished')).toHaveLength(4);

    // What a migration creates belongs to the tenant's role, the migrations table included.
    const appTables = ['action_items', 'agenda', 'meetings', 'minutes', 'tenantry_migrations'];
    for (const tenant of [active, suspended, database]) {
      const result = byTenant.get(tenant.id) as TargetResult;
      const found = await tables(placeOf(result));
      expect(found.map((r) => r.table)).toEqual(appTables);
      expect(new Set(found.map((r) => r.owner))).toEqual(new Set([`tenantry_${tenant.id}`]));
    }
    const [{ user }] = (await sql<{ user: string }>('select current_user as user')) as [{ user: string }];
    const pool = await tables({ schema: 'public' });
    expect(pool.map((r) => r.table)).toEqual(appTables);
    expect(new Set(pool.map((r) => r.owner))).toEqual(new Set([user]));

    const recorded = await sql<Record<string, unknown>>(
      `select version, name, checksum, applied_at, duration_ms from "${active.id}".tenantry_migrations order by version`,
    );
    expect(recorded.map((r) => [r.version, r.name, r.checksum])).toEqual([
      [1, '0001_create_meetings', sha256(MIGRATIONS['0001_create_meetings.sql'])],
      [2, '0002_add_minutes', sha256(MIGRATIONS['0002_add_minutes.sql'])],
      [3, '0003_index_action_items', sha256(MIGRATIONS['0003_index_action_items.sql'])],
    ]);
    for (const row of recorded) {
      expect(row.applied_at).toBeInstanceOf(Date);
      expect(row.duration_ms).toBeGreaterThanOrEqual(0);
    }

    // A second run finds nothing pending.
    const again = await migrate();
    expect(again.report).toMatchObject({ applied: 0, upToDate: 4, failed: 0, migrationsApplied: 0 });
    expect(again.report.results.every((r) => r.fromVersion === 3 && r.toVersion === 3)).toBe(true);
    expect(await versions({ schema: active.id })).toEqual([1, 2, 3]);
  });

  it('makes a pool schema other than public when it is missing', async () => {
    await write('0001_create_meetings.sql');
    const { report } = await migrate({ poolSchema: 'app_pool' });
    expect(report.results.map((r) => [r.target.placement, r.target.schema, r.status])).toEqual([
      ['pool', 'app_pool', 'applied'],
    ]);
    expect((await tables({ schema: 'app_pool' })).map((r) => r.table)).toEqual([
      'action_items',
      'meetings',
      'tenantry_migrations',
    ]);
    expect(await tables({ schema: 'public' })).toEqual([]);
  });

  it('a dry run executes the pending migrations, rolls them back and reports what would apply', async () => {
    await provisionedTenant(t, { placement: 'schema' });
    await provisionedTenant(t, { placement: 'database' });
    await write('0001_create_meetings.sql');
    const first = await migrate();
    expect(first.report.failed).toBe(0);
    const newcomer = await provisionedTenant(t, { placement: 'schema' });
    await write('0002_add_minutes.sql', '0003_index_action_items.sql');

    const { report } = await migrate({ dryRun: true });

    // Versions 2 and 3 on each of the three targets at version 1, all three on the new tenant.
    expect(report).toMatchObject({ dryRun: true, targets: 4, applied: 4, failed: 0, migrationsApplied: 9 });
    for (const result of report.results) {
      const isNew = result.target.tenantId === newcomer.id;
      expect(result).toMatchObject({
        status: 'applied',
        dryRun: true,
        fromVersion: isNew ? 0 : 1,
        toVersion: isNew ? 0 : 1,
      });
      expect(result.applied.map((a) => a.version)).toEqual(isNew ? [1, 2, 3] : [2, 3]);
    }
    // Nothing changed: the tenants migrated before are at version 1, the new one has no tables at all.
    for (const result of report.results) {
      const place = placeOf(result);
      const found = (await tables(place)).map((r) => r.table);
      if (result.target.tenantId === newcomer.id) {
        expect(found).toEqual([]);
        continue;
      }
      expect(found).toEqual(['action_items', 'meetings', 'tenantry_migrations']);
      expect(await versions(place)).toEqual([1]);
    }
  });

  describe('a failing migration', () => {
    /**
     * Three schema tenants at version 1; the second already has a relation named
     * `action_items_meeting`, so 0003_index_action_items.sql fails there, after 0002 has run in
     * the same transaction.
     */
    async function fleetWithOneBrokenTenant() {
      for (let i = 0; i < 3; i++) await provisionedTenant(t, { placement: 'schema' });
      await write('0001_create_meetings.sql');
      const first = await migrate();
      expect(first.report.failed).toBe(0);
      const [pool, a, b, c] = first.report.results.map(placeOf) as [Place, Place, Place, Place];
      await sql(`create table "${b.schema}".action_items_meeting (id int)`);
      await write('0002_add_minutes.sql', '0003_index_action_items.sql');
      return { pool, a, b, c };
    }

    it('rolls its tenant back to its previous version; stop-at-first-failure starts no further target, and a re-run resumes', async () => {
      const { pool, a, b, c } = await fleetWithOneBrokenTenant();

      const { report, events } = await migrate({ concurrency: 1 });

      expect(statuses(report)).toEqual(['applied', 'applied', 'failed', 'skipped']);
      expect(report).toMatchObject({ targets: 4, applied: 2, failed: 1, skipped: 1, upToDate: 0 });
      const failed = report.results[2] as TargetResult;
      expect(failed).toMatchObject({
        fromVersion: 1,
        toVersion: 1,
        applied: [],
        error: { code: 'migration_failed', migration: { version: 3, name: '0003_index_action_items' } },
      });
      expect(failed.error?.message).toBe(
        '0003_index_action_items.sql: relation "action_items_meeting" already exists',
      );
      const skipped = report.results[3] as TargetResult;
      expect(skipped).toMatchObject({ status: 'skipped', fromVersion: null, applied: [], error: null });
      // The skipped target is reported too, once, as finished without having started.
      expect(events.filter((e) => e.type === 'started')).toHaveLength(3);
      expect(events.filter((e) => e.type === 'finished').map((e) => e.done)).toEqual([1, 2, 3, 4]);

      expect(await versions(pool)).toEqual([1, 2, 3]);
      expect(await versions(a)).toEqual([1, 2, 3]);
      // The failed tenant is exactly as before, at version 1: what 0002 made before 0003 failed
      // (the `agenda` and `minutes` tables) is gone with it.
      expect(await versions(b)).toEqual([1]);
      expect((await tables(b)).map((r) => r.table)).toEqual([
        'action_items',
        'action_items_meeting',
        'meetings',
        'tenantry_migrations',
      ]);
      expect(await versions(c)).toEqual([1]);

      // Fixed by hand, a re-run applies only what is pending.
      await sql(`drop table "${b.schema}".action_items_meeting`);
      const resumed = await migrate({ concurrency: 1 });
      expect(statuses(resumed.report)).toEqual(['up_to_date', 'up_to_date', 'applied', 'applied']);
      expect(resumed.report.results.slice(2).map((r) => [r.fromVersion, r.toVersion])).toEqual([
        [1, 3],
        [1, 3],
      ]);
      for (const place of [pool, a, b, c]) expect(await versions(place)).toEqual([1, 2, 3]);
    });

    it('with keepGoing, the targets after the failure are migrated all the same', async () => {
      const { pool, a, b, c } = await fleetWithOneBrokenTenant();

      const { report } = await migrate({ concurrency: 1, keepGoing: true });

      expect(statuses(report)).toEqual(['applied', 'applied', 'failed', 'applied']);
      expect(report).toMatchObject({ applied: 3, failed: 1, skipped: 0 });
      expect(await versions(b)).toEqual([1]);
      for (const place of [pool, a, c]) expect(await versions(place)).toEqual([1, 2, 3]);
    });

    it('in a database that cannot be reached fails that tenant only, as connection_failed', async () => {
      const gone = await provisionedTenant(t, { placement: 'database' });
      const kept = await provisionedTenant(t, { placement: 'database' });
      await sql(`drop database "tenantry_${gone.id}" with (force)`);
      await write('0001_create_meetings.sql');

      const { report } = await migrate({ keepGoing: true });

      const byTenant = new Map(report.results.map((r) => [r.target.tenantId, r]));
      expect(byTenant.get(gone.id)).toMatchObject({ status: 'failed', error: { code: 'connection_failed' } });
      expect(byTenant.get(gone.id)?.error?.message).toContain(`tenantry_${gone.id}`);
      expect(byTenant.get(kept.id)?.status).toBe('applied');
      expect(report).toMatchObject({ applied: 2, failed: 1 });
    });
  });

  it('names the line of the failing statement when Postgres gives its position', async () => {
    await provisionedTenant(t, { placement: 'schema' });
    await write('0001_create_meetings.sql');
    await writeFile(
      join(dir, '0002_typo.sql'),
      '-- a typo on line 3\ncreate table ok (id int);\ncreate tabel broken (id int);\n',
    );

    const { report } = await migrate({ keepGoing: true });

    expect(report).toMatchObject({ targets: 2, failed: 2 });
    for (const result of report.results) {
      expect(result.error?.message).toBe('0002_typo.sql, line 3: syntax error at or near "tabel"');
      // The migration before it in the same transaction is rolled back too.
      expect(await tables(placeOf(result))).toEqual([]);
    }
  });

  it('refuses a target whose applied migration changed, or that has one the folder lacks, and applies nothing there', async () => {
    await provisionedTenant(t, { placement: 'schema' });
    await provisionedTenant(t, { placement: 'database' });
    await write('0001_create_meetings.sql', '0002_add_minutes.sql');
    expect((await migrate()).report.failed).toBe(0);
    await writeFile(
      join(dir, '0001_create_meetings.sql'),
      `-- edited after it was applied\n${MIGRATIONS['0001_create_meetings.sql']}`,
    );
    await write('0003_index_action_items.sql');

    const changed = await migrate({ keepGoing: true });

    expect(changed.report).toMatchObject({ targets: 3, failed: 3, applied: 0, migrationsApplied: 0 });
    for (const result of changed.report.results) {
      expect(result).toMatchObject({
        status: 'failed',
        fromVersion: 2,
        toVersion: 2,
        error: { code: 'checksum_mismatch', migration: { version: 1, name: '0001_create_meetings' } },
      });
      expect(result.error?.message).toContain('0001_create_meetings.sql was changed after it was applied');
      expect(await versions(placeOf(result))).toEqual([1, 2]);
      const columns = await sql(
        `select 1 from information_schema.columns where table_schema = '${result.target.schema}' and table_name = 'meetings' and column_name = 'starts_at'`,
        result.target.database ?? undefined,
      );
      expect(columns).toEqual([]);
    }

    await write('0001_create_meetings.sql');
    await unlink(join(dir, '0002_add_minutes.sql'));
    await unlink(join(dir, '0003_index_action_items.sql'));
    const unknown = await migrate({ concurrency: 1 });
    expect(statuses(unknown.report)).toEqual(['failed', 'skipped', 'skipped']);
    expect(unknown.report.results[0]?.error).toMatchObject({
      code: 'unknown_migration',
      migration: { version: 2, name: '0002_add_minutes' },
    });
  });

  it('migrates at most `concurrency` targets at once', async () => {
    for (let i = 0; i < 6; i++) await provisionedTenant(t, { placement: 'schema' });
    await write('0001_create_meetings.sql', '0002_add_minutes.sql');

    const maxInFlight = (events: FleetProgress[]) => {
      let inFlight = 0;
      let max = 0;
      for (const event of events) {
        if (event.type === 'started') inFlight++;
        // Skipped targets finish without starting.
        else if (event.result.status !== 'skipped') inFlight--;
        max = Math.max(max, inFlight);
      }
      return max;
    };
    const three = await migrate({ concurrency: 3 });
    expect(three.report).toMatchObject({ targets: 7, applied: 7, failed: 0 });
    expect(maxInFlight(three.events)).toBe(3);
    const one = await migrate({ concurrency: 1, dryRun: true });
    expect(one.report).toMatchObject({ targets: 7, upToDate: 7 });
    expect(maxInFlight(one.events)).toBe(1);
    const byDefault = await migrate();
    expect(maxInFlight(byDefault.events)).toBe(4);
    await expect(migrate({ concurrency: 0 })).rejects.toThrow(RangeError);
  });

  it('refuses an unusable folder or an unreachable control plane before touching any target', async () => {
    await provisionedTenant(t, { placement: 'schema' });
    await write('0001_create_meetings.sql', '0003_index_action_items.sql');
    const folder = await migrate().catch((e: unknown) => e);
    expect(folder).toBeInstanceOf(MigrationFolderError);
    expect((folder as Error).message).toContain('0003_index_action_items.sql');

    await write('0002_add_minutes.sql');
    const unreachable = await migrate({ controlPlane: { url: 'http://127.0.0.1:1', token: t.token } }).catch(
      (e: unknown) => e,
    );
    expect(unreachable).toBeInstanceOf(ControlPlaneUnreachableError);
    expect(await tables({ schema: 'public' })).toEqual([]);
  });
});
