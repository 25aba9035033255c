// Migrates once per test run instead of once per test file. On PostgreSQL: a migrated template
// database, which each file's database is copied from (`CREATE DATABASE … TEMPLATE`). On PGlite:
// a dump of a migrated data directory, which each file's database is loaded from; that also skips
// PGlite's initdb, which costs more than the migrations. The harness (`createTestDatabase`)
// finds them through `inject`; without this setup it migrates each database from scratch.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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
    /** Files holding dumps (tar) of PGlite data directories, on the pglite backend: fresh from initdb, and migrated. */
    pgliteDumps?: Record<PgliteDump, string>;
  }
}

/** The PGlite data directories the setup dumps: as initdb leaves it, and migrated. */
export type PgliteDump = 'initdb' | 'migrated';

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
  const dir = await mkdtemp(join(tmpdir(), 'tenantry-test-pglite-'));
  const dataDir = join(dir, 'data');
  const dumps = { initdb: join(dir, 'initdb.tar'), migrated: join(dir, 'migrated.tar') };
  await dump(dataDir, dumps.initdb);
  // Migrated the way the server does it, through openDatabase.
  const database = await openDatabase({ dataDir });
  try {
    await migrateToLatest(database.db);
  } finally {
    await database.close();
  }
  await dump(dataDir, dumps.migrated);
  project.provide('pgliteDumps', dumps);
  return () => rm(dir, { recursive: true, force: true });
}

/** Writes a dump of the PGlite data directory `dataDir` (made by initdb when empty) to `file`. */
async function dump(dataDir: string, file: string): Promise<void> {
  const pglite = await PGlite.create(dataDir);
  try {
    await writeFile(file, Buffer.from(await (await pglite.dumpDataDir('none')).arrayBuffer()));
  } finally {
    await pglite.close();
  }
}
