import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  backend,
  createTestDatabase,
  SETTINGS,
  TestClock,
  type TestDatabase,
  uniqueSlug,
} from '../../test/harness.ts';
import { fixture } from '../../test/tenant-support.ts';
import { systemContext } from '../request-context.ts';
import { createServices, type Services } from '../services.ts';

const CTX = systemContext('test');
const MEETINGS = 'create table meetings (id bigint primary key, title text not null);\n';
const MINUTES = 'create table minutes (id bigint primary key, meeting_id bigint references meetings (id));\n';

let db: TestDatabase;
let clock: TestClock;
let services: Services;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tenantry-app-migrations-'));
  await writeFile(join(dir, '0001_meetings.sql'), MEETINGS);
  await writeFile(join(dir, '0002_minutes.sql'), MINUTES);
  db = await createTestDatabase();
  clock = new TestClock();
  // What loadConfig gives with TENANTRY_APP_MIGRATIONS and TENANTRY_BINDING_KEY set: the SDK's
  // runner installs the tenant binding the schema tenants' tables are kept to.
  services = createServices(
    db.database,
    { ...SETTINGS, appMigrationsDir: dir, bindingKey: randomBytes(32).toString('hex'), database: db.target },
    clock,
  );
  const applied = await services.plans.apply(CTX, { source: fixture('plans.yaml'), dryRun: false });
  expect(applied.ok).toBe(true);
});

afterAll(async () => {
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

/** Creates a tenant and runs its provisioning job, with its retries, to the end. */
async function provision(placement: 'pool' | 'schema' | 'database') {
  const created = await services.tenants.create(CTX, {
    slug: uniqueSlug('app'),
    name: 'Acme',
    plan: 'pro',
    placement,
    seats: 1,
  });
  if (!created.ok) throw new Error(created.error.detail);
  await services.jobs.runDue();
  // Failed attempts are retried after a backoff of seconds: move past it, twice.
  for (let i = 0; i < 2; i++) {
    clock.advance(3_600_000);
    await services.jobs.runDue();
  }
  const tenant = await services.tenants.get(created.value.id);
  if (!tenant.ok) throw new Error(tenant.error.detail);
  return tenant.value;
}

async function rows<R>(text: string): Promise<R[]> {
  return [...(await sql.raw<R>(text).execute(services.database.db)).rows];
}

/** The tables in `schema` of the control-plane database, with their owners. */
function tablesIn(schema: string) {
  return rows<{ table: string; owner: string }>(
    `select tablename as table, tableowner as owner from pg_tables where schemaname = '${schema}' order by 1`,
  );
}

describe('TENANTRY_APP_MIGRATIONS', () => {
  it('a new schema tenant is created with the app tables, owned by its role, before it becomes active', async () => {
    const tenant = await provision('schema');
    expect(tenant.state).toBe('active');
    const role = `tenantry_${tenant.id}`;
    expect(await tablesIn(tenant.id)).toEqual([
      { table: 'meetings', owner: role },
      { table: 'minutes', owner: role },
      { table: 'tenantry_migrations', owner: role },
    ]);
    const versions = await rows<{ version: number; name: string }>(
      `select version, name from "${tenant.id}".tenantry_migrations order by version`,
    );
    expect(versions).toEqual([
      { version: 1, name: '0001_meetings' },
      { version: 2, name: '0002_minutes' },
    ]);
  });

  it('a pool tenant gets nothing of its own: the pool schema is migrated by `tenantry app migrate`', async () => {
    const tenant = await provision('pool');
    expect(tenant.state).toBe('active');
    expect(await tablesIn('public')).toEqual([]);
  });

  it('a failing migration leaves the tenant provisioning_failed with the reason and its schema empty; a retry after the fix succeeds', async () => {
    await writeFile(join(dir, '0003_meetings_again.sql'), MEETINGS);
    try {
      const tenant = await provision('schema');
      expect(tenant.state).toBe('provisioning_failed');
      expect(tenant.state_reason).toContain('0003_meetings_again.sql');
      expect(tenant.state_reason).toContain('relation "meetings" already exists');
      // The whole set ran in one transaction: 0001 and 0002 are rolled back with 0003.
      expect(await tablesIn(tenant.id)).toEqual([]);

      await unlink(join(dir, '0003_meetings_again.sql'));
      const retried = await services.tenants.act(CTX, tenant.id, 'retry_provisioning');
      expect(retried.ok).toBe(true);
      await services.jobs.runDue();
      const after = await services.tenants.get(tenant.id);
      expect(after.ok && after.value.state).toBe('active');
      expect((await tablesIn(tenant.id)).map((r) => r.table)).toEqual([
        'meetings',
        'minutes',
        'tenantry_migrations',
      ]);
    } finally {
      await rm(join(dir, '0003_meetings_again.sql'), { force: true });
    }
  });

  it('a folder with a badly named file fails the provisioning, naming the file', async () => {
    await writeFile(join(dir, 'minutes-index.sql'), 'create index on minutes (meeting_id);');
    try {
      const tenant = await provision('schema');
      expect(tenant.state).toBe('provisioning_failed');
      expect(tenant.state_reason).toContain('TENANTRY_APP_MIGRATIONS');
      expect(tenant.state_reason).toContain('minutes-index.sql');
    } finally {
      await rm(join(dir, 'minutes-index.sql'), { force: true });
    }
  });

  if (backend === 'postgres') {
    it('a new database tenant has the app tables in the public schema of its database, owned by its role', async () => {
      const tenant = await provision('database');
      expect(tenant.state).toBe('active');
      const role = `tenantry_${tenant.id}`;
      const url = new URL((db.target as { url: string }).url);
      url.pathname = `/${role}`;
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      try {
        const found = await client.query(
          "select tablename as table, tableowner as owner from pg_tables where schemaname = 'public' order by 1",
        );
        expect(found.rows).toEqual([
          { table: 'meetings', owner: role },
          { table: 'minutes', owner: role },
          { table: 'tenantry_migrations', owner: role },
        ]);
      } finally {
        await client.end();
      }
    });
  } else {
    it('a new database tenant on embedded PGlite fails with the reason: PGlite cannot open its database', async () => {
      const tenant = await provision('database');
      expect(tenant.state).toBe('provisioning_failed');
      expect(tenant.state_reason).toContain('embedded PGlite has one database');
    });
  }
});
