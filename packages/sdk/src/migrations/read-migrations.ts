import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One SQL migration of the app, read from its file. */
export interface Migration {
  /** The number the file name starts with: 1, 2, 3, … without gaps. */
  readonly version: number;
  /** The file name without `.sql`, e.g. `0001_create_meetings`. */
  readonly name: string;
  /** The file name, e.g. `0001_create_meetings.sql`. */
  readonly file: string;
  /** The SQL, run as one script. */
  readonly sql: string;
  /** SHA-256 of the file's bytes, hex: an applied migration whose file changed is refused. */
  readonly checksum: string;
}

/** The migrations folder cannot be used as it is; nothing was run. */
export class MigrationFolderError extends Error {
  /** The file at fault, when one is. */
  readonly file: string | undefined;

  constructor(message: string, file?: string) {
    super(message);
    this.name = 'MigrationFolderError';
    this.file = file;
  }
}

/** `0001_create_meetings.sql`: digits, an underscore, a name of letters, digits, `_` and `-`. */
const FILE_NAME = /^(\d+)_([A-Za-z0-9][A-Za-z0-9_-]*)\.sql$/;

/**
 * Reads a folder of SQL migrations, one migration per `NNNN_name.sql` file, ordered by the number.
 * The numbers must run 1, 2, 3, … with no gap and no repeat, so that every target reaches the
 * same schema by the same steps; any other `.sql` file name is refused. Files not ending in
 * `.sql` (a README) and sub-folders are left alone.
 *
 * @throws {MigrationFolderError} naming the file at fault, before anything has run.
 */
export async function readMigrations(dir: string): Promise<Migration[]> {
  let entries: Array<{ name: string; isFile(): boolean }>;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new MigrationFolderError(`cannot read the migrations folder ${dir}: ${code}`);
  }
  const found: Array<Omit<Migration, 'sql' | 'checksum'>> = [];
  for (const entry of entries) {
    if (!entry.isFile() || !entry.name.endsWith('.sql')) continue;
    const match = FILE_NAME.exec(entry.name);
    if (!match) {
      throw new MigrationFolderError(
        `${join(dir, entry.name)}: a migration file is named NNNN_name.sql (a number, an underscore, letters, digits, _ or -), e.g. 0001_create_meetings.sql`,
        entry.name,
      );
    }
    found.push({ version: Number(match[1]), name: entry.name.slice(0, -'.sql'.length), file: entry.name });
  }
  if (found.length === 0)
    throw new MigrationFolderError(
      `${dir} holds no migration files (NNNN_name.sql, e.g. 0001_create_meetings.sql)`,
    );
  found.sort((a, b) => a.version - b.version || a.file.localeCompare(b.file));
  let previous: (typeof found)[number] | undefined;
  for (const migration of found) {
    const expected = (previous?.version ?? 0) + 1;
    if (previous && migration.version === previous.version) {
      throw new MigrationFolderError(
        `${join(dir, migration.file)}: version ${migration.version} is also ${previous.file}; each number is used once`,
        migration.file,
      );
    }
    if (migration.version !== expected) {
      const after = previous ? `it follows ${previous.file}` : 'migrations start at 1';
      throw new MigrationFolderError(
        `${join(dir, migration.file)}: version ${expected} is missing (${after}); versions run 1, 2, 3, … without gaps`,
        migration.file,
      );
    }
    previous = migration;
  }
  return Promise.all(
    found.map(async (migration) => {
      const bytes = await readFile(join(dir, migration.file));
      return {
        ...migration,
        sql: bytes.toString('utf8'),
        checksum: createHash('sha256').update(bytes).digest('hex'),
      };
    }),
  );
}
