// Migrates once per test run instead of once per test file. On PostgreSQL: a migrated template
// database, which each file's database is copied from (`CREATE DATABASE … TEMPLATE`). On PGlite:
// two data directories, fresh from initdb and migrated, which each test database is a copy of (a
// file copy, in memory on /dev/shm where there is one); that also skips PGlite's initdb, which
// costs more than the migrations. The harness (`createTestDatabase`) finds them through
// `inject`; without this setup it migrates each database from scratch.
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, statfsSync } from 'node:fs';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { TestProject } from 'vitest/node';
import { migrateToLatest, openDatabase } from '../src/db/index.ts';
import { databaseUrl, withAdmin } from './postgres-admin.ts';

declare module 'vitest' {
  interface ProvidedContext {
    /** A migrated database to copy, on the postgres backend. */
    templateDatabase?: string;
    /**
     * PGlite data directories to copy, on the pglite backend: fresh from initdb, and migrated;
     * `root` holds them and the copies, and goes at the end of the run.
     */
    pgliteDataDirs?: Record<PgliteDataDir | 'root', string>;
  }
}

/** The PGlite data directories the setup makes: as initdb leaves it, and migrated. */
export type PgliteDataDir = 'initdb' | 'migrated';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (project.config.env.TENANTRY_TEST_BACKEND === 'postgres') {
    const name = `tenantry_template_${randomBytes(6).toString('hex')}`;
    await withAdmin((client) => client.query(`create database ${name}`));
    const database = await openDatabase({ url: databaseUrl(name) });
    try {
      await migrateToLatest(database.db);
    } finally {
      // A database is copied only while nobody is connected to it.
      await database.close();
    }
    project.provide('templateDatabase', name);
    return async () => {
      await withAdmin((client) => client.query(`drop database if exists ${name} with (force)`));
    };
  }
  // A test database is a copy of a data directory, which PGlite then reads and writes as files:
  // in memory on /dev/shm (a tmpfs), as an in-memory database would be. Opening a copy took
  // 250-290 ms where loading the same directory from a dump into PGlite's in-memory file system
  // took 470-500 ms (44 MB untarred into JavaScript memory each time).
  const root = await mkdtemp(join(inMemoryDir() ?? tmpdir(), 'tenantry-test-pglite-'));
  const dirs = { root, initdb: join(root, 'initdb'), migrated: join(root, 'migrated') };
  // PGlite runs initdb in an empty directory.
  await (await PGlite.create(dirs.initdb)).close();
  // A test database holds little: 32 MB of shared buffers instead of PGlite's 128 MB, which it
  // sets up at every start (a copy opened in 173-195 ms instead of 252-390 ms).
  await appendFile(join(dirs.initdb, 'postgresql.conf'), '\nshared_buffers = 32MB\n');
  cpSync(dirs.initdb, dirs.migrated, { recursive: true });
  // Migrated the way the server does it, through openDatabase.
  const database = await openDatabase({ dataDir: dirs.migrated });
  try {
    await migrateToLatest(database.db);
  } finally {
    await database.close();
  }
  project.provide('pgliteDataDirs', dirs);
  return () => rm(root, { recursive: true, force: true });
}

/** Free space /dev/shm must have: the copies four workers hold at once take a few hundred MB. */
const SHM_FREE_NEEDED = 2 * 1024 ** 3;

/**
 * /dev/shm when it is there with room to spare; not in a container that gives it 64 MB (Docker's
 * default), where the copies would fill it.
 */
function inMemoryDir(): string | undefined {
  if (!existsSync('/dev/shm')) return undefined;
  const { bavail, bsize } = statfsSync('/dev/shm');
  return bavail * bsize >= SHM_FREE_NEEDED ? '/dev/shm' : undefined;
}
