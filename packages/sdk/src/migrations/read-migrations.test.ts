import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MigrationFolderError, readMigrations } from './read-migrations.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tenantry-migrations-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function files(contents: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(contents)) await writeFile(join(dir, name), text);
}

/** The error readMigrations throws for the folder as it is. */
async function refusal(): Promise<MigrationFolderError> {
  const error = await readMigrations(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MigrationFolderError);
  return error as MigrationFolderError;
}

describe('readMigrations', () => {
  it('orders the files by their number, not by their name, and checksums their bytes', async () => {
    const files10 = Object.fromEntries(
      Array.from({ length: 10 }, (_, i) => [`${i + 1}_step_${i + 1}.sql`, `select ${i + 1};`]),
    );
    await files(files10);
    const migrations = await readMigrations(dir);
    expect(migrations.map((m) => m.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // By name, 10_step_10.sql would sort before 2_step_2.sql.
    expect(migrations.at(-1)).toMatchObject({ version: 10, name: '10_step_10', file: '10_step_10.sql' });
    expect(migrations[1]?.sql).toBe('select 2;');
    expect(migrations[1]?.checksum).toBe(createHash('sha256').update('select 2;').digest('hex'));
  });

  it('takes zero-padded numbers, and leaves other files and sub-folders alone', async () => {
    await files({
      '0001_create_meetings.sql': 'create table meetings (id bigint primary key);',
      '0002_add-minutes.sql': 'create table minutes (id bigint primary key);',
      'README.md': 'not a migration',
      '.0003_editor_swap.sql.swp': 'x',
    });
    await mkdir(join(dir, 'seeds'));
    await writeFile(join(dir, 'seeds', '0003_seed.sql'), 'insert into meetings values (1);');
    const migrations = await readMigrations(dir);
    expect(migrations.map((m) => [m.version, m.name])).toEqual([
      [1, '0001_create_meetings'],
      [2, '0002_add-minutes'],
    ]);
  });

  it('checksums differ when one byte of a file differs', async () => {
    await files({ '0001_a.sql': 'create table a (id int);' });
    const before = (await readMigrations(dir))[0]?.checksum;
    await files({ '0001_a.sql': 'create table a (id int); ' });
    const after = (await readMigrations(dir))[0]?.checksum;
    expect(before).toMatch(/^[0-9a-f]{64}$/);
    expect(after).not.toBe(before);
  });

  it.each([
    ['create_meetings.sql', 'no number'],
    ['0001-create_meetings.sql', 'a dash after the number'],
    ['0001_.sql', 'no name'],
    ['0001_create meetings.sql', 'a space'],
    ['v0001_create_meetings.sql', 'a letter before the number'],
  ])('refuses %s (%s), naming the file', async (name) => {
    await files({ '0001_first.sql': 'select 1;', [name]: 'select 2;' });
    const error = await refusal();
    expect(error.file).toBe(name);
    expect(error.message).toContain(name);
    expect(error.message).toContain('NNNN_name.sql');
  });

  it('refuses two files with one number, naming both', async () => {
    await files({ '0001_first.sql': 'select 1;', '0002_a.sql': 'select 2;', '2_b.sql': 'select 3;' });
    const error = await refusal();
    expect(error.message).toMatch(/version 2/);
    expect(error.message).toContain('0002_a.sql');
    expect(error.message).toContain('2_b.sql');
  });

  it('refuses a gap, naming the file after it and the missing version', async () => {
    await files({ '0001_a.sql': 'select 1;', '0002_b.sql': 'select 2;', '0004_d.sql': 'select 4;' });
    const error = await refusal();
    expect(error.file).toBe('0004_d.sql');
    expect(error.message).toContain('version 3 is missing');
    expect(error.message).toContain('0002_b.sql');
  });

  it('refuses a first migration other than 1', async () => {
    await files({ '0000_zero.sql': 'select 0;', '0001_a.sql': 'select 1;' });
    const error = await refusal();
    expect(error.file).toBe('0000_zero.sql');
    expect(error.message).toContain('start at 1');
  });

  it('refuses an empty folder and a missing one', async () => {
    await files({ 'README.md': 'migrations go here' });
    expect((await refusal()).message).toContain('holds no migration files');
    await rm(dir, { recursive: true });
    const missing = await refusal();
    expect(missing.message).toContain(dir);
    expect(missing.message).toContain('ENOENT');
  });
});
