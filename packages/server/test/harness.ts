import { randomBytes } from 'node:crypto';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { PlacementResources } from '@tenantry/core';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { inject } from 'vitest';
import type { Clock } from '../src/clock.ts';
import { type Database, type DatabaseTarget, migrateToLatest, openDatabase } from '../src/db/index.ts';
import { buildApp } from '../src/http/app.ts';
import type { RateLimitSettings } from '../src/rate-limits/index.ts';
import { systemContext } from '../src/request-context.ts';
import { MASTER_KEY_BYTES, SecretBox } from '../src/secrets/index.ts';
import { createServices, type ServiceSettings, type Services } from '../src/services.ts';
import type { WebhookSettings } from '../src/webhooks/index.ts';
import type { PgliteDataDir } from './global-setup.ts';
import { databaseUrl, withAdmin } from './postgres-admin.ts';

/** The server the `postgres` backend makes its throwaway databases on. */
export { adminUrl } from './postgres-admin.ts';

/** Which database the suite runs against: `pglite` (embedded) or `postgres` (a real server). */
export const backend: 'pglite' | 'postgres' =
  process.env.TENANTRY_TEST_BACKEND === 'postgres' ? 'postgres' : 'pglite';

/** A clock the test moves by hand. */
export class TestClock implements Clock {
  #now: number;
  constructor(start = Date.parse('2026-11-10T12:00:00Z')) {
    this.#now = start;
  }
  now(): Date {
    return new Date(this.#now);
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}

export interface TestDatabase {
  readonly target: DatabaseTarget;
  readonly database: Database;
  /** Closes the database and removes it, with every tenant database and role made in it. */
  drop(): Promise<void>;
}

/**
 * A PGlite database of the test's own, open, dropped with its files: a copy of the run's data
 * directory (global-setup.ts) fresh from initdb or migrated, or, run without that setup, an
 * in-memory database from its own initdb.
 */
export async function pgliteDatabase(from: PgliteDataDir): Promise<TestDatabase> {
  const dirs = inject('pgliteDataDirs');
  const dataDir = dirs ? join(dirs.root, `copy-${randomBytes(6).toString('hex')}`) : 'memory://';
  // Synchronous on purpose: Node's `fs.cpSync` copies in C++, where `fs.promises.cp` walks the
  // thousand files of a data directory in JavaScript, a round through the thread pool for each
  // step: 35 ms of CPU against 260-360 ms for the same copy on /dev/shm.
  if (dirs) cpSync(dirs[from], dataDir, { recursive: true });
  const target = { dataDir };
  const database = await openDatabase(target);
  return {
    target,
    database,
    drop: async () => {
      await database.close();
      if (dirs) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A new, empty, migrated control-plane database on the chosen backend: a copy of the run's
 * migrated template (see global-setup.ts) when there is one. The migrations still run on it, so a
 * copy made before a migration was added is brought up to date.
 */
export async function createTestDatabase(): Promise<TestDatabase> {
  if (backend === 'pglite') {
    const copy = await pgliteDatabase('migrated');
    await migrateToLatest(copy.database.db);
    return copy;
  }
  const name = `tenantry_test_${randomBytes(6).toString('hex')}`;
  const template = inject('templateDatabase');
  await withAdmin((client) =>
    client.query(`create database ${name}${template ? ` template ${template}` : ''}`),
  );
  const target = { url: databaseUrl(name) };
  const database = await openDatabase(target);
  await migrateToLatest(database.db);
  return {
    target,
    database,
    drop: async () => {
      const made = (await database.db.selectFrom('tenants').select('resources').execute()).map(
        (row) => row.resources as PlacementResources,
      );
      await database.close();
      await withAdmin(async (client) => {
        await client.query(`drop database if exists ${name} with (force)`);
        for (const r of made) {
          if (r.placement === 'database')
            await client.query(`drop database if exists ${r.database} with (force)`);
        }
        for (const r of made) {
          if (r.placement === 'schema' || r.placement === 'database')
            await client.query(`drop role if exists ${r.role}`);
        }
      });
    },
  };
}

/** A control plane over a fresh database, driven in-process with `inject`. */
export interface TestApp {
  readonly app: FastifyInstance;
  readonly services: Services;
  readonly clock: TestClock;
  readonly db: TestDatabase;
  /** A valid operator key. */
  readonly token: string;
  /** Sends a request with the operator key (unless `headers.authorization` says otherwise). */
  request(
    options: InjectOptions & { method: string; url: string },
  ): Promise<{ status: number; body: any; headers: Record<string, unknown> }>;
  close(): Promise<void>;
}

/**
 * The settings of the test app's services: those of `loadConfig`, with a shorter max age, and one
 * master key for every service of this test process, as processes sharing a database share it.
 */
export const SETTINGS: ServiceSettings = {
  deletionRetentionDays: 30,
  poolSchema: 'public',
  entitlementMaxAgeMs: 5_000,
  usageLateWindowDays: 35,
  secrets: new SecretBox([randomBytes(MASTER_KEY_BYTES)]),
};

/**
 * The services of a second control-plane process over the test app's database and clock: what
 * it changes cannot reach the test app's in-memory caches except through the database.
 */
export function otherProcess(t: TestApp): Services {
  return createServices(t.services.database, SETTINGS, t.clock);
}

export async function startTestApp(
  options: {
    deletionRetentionDays?: number;
    appRole?: string;
    webhooks?: WebhookSettings;
    /** The API's rate limits; none when left out. */
    rateLimits?: RateLimitSettings;
    /** Support bundles' size and per-tenant quota; the server's defaults when left out. */
    supportBundles?: ServiceSettings['supportBundles'];
  } = {},
): Promise<TestApp> {
  const db = await createTestDatabase();
  const clock = new TestClock();
  const services = createServices(
    db.database,
    {
      ...SETTINGS,
      deletionRetentionDays: options.deletionRetentionDays ?? SETTINGS.deletionRetentionDays,
      appRole: options.appRole,
      webhooks: options.webhooks,
      ...(options.rateLimits === undefined ? {} : { rateLimits: options.rateLimits }),
      ...(options.supportBundles === undefined ? {} : { supportBundles: options.supportBundles }),
      // As the server passes its own: tenant databases are reached on this server.
      database: db.target,
    },
    clock,
  );
  const created = await services.apiKeys.create(systemContext('test'), { name: 'test' });
  const app = await buildApp(services, { logger: false });
  return {
    app,
    services,
    clock,
    db,
    token: created.secret,
    async request(req) {
      const response = await app.inject({
        ...req,
        headers: { authorization: `Bearer ${created.secret}`, ...req.headers },
      } as InjectOptions);
      const type = String(response.headers['content-type'] ?? '');
      return {
        status: response.statusCode,
        body: type.includes('json') ? response.json() : response.body,
        headers: response.headers as Record<string, unknown>,
      };
    },
    async close() {
      await app.close();
      await db.drop();
    },
  };
}

let counter = 0;

/** A slug no other test uses. */
export function uniqueSlug(prefix = 't'): string {
  counter += 1;
  return `${prefix}-${randomBytes(3).toString('hex')}-${counter}`;
}
