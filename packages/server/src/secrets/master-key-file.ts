import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { generateMasterKey, parseMasterKeys } from './secret-box.ts';

/** The file in the data directory that holds the master key when `TENANTRY_MASTER_KEY` is not set. */
export const MASTER_KEY_FILE = 'master.key';

/** The master key read from, or just written to, the data directory. */
export interface MasterKeyFile {
  readonly key: Uint8Array;
  readonly path: string;
  /** Whether this call generated it. */
  readonly created: boolean;
}

/**
 * The master key kept in `dataDir/master.key`, generated there (readable by its owner only) on
 * first use, so that a first run needs no configuration. Several processes starting together
 * agree on one.
 */
export async function masterKeyFromFile(dataDir: string): Promise<MasterKeyFile> {
  const path = join(dataDir, MASTER_KEY_FILE);
  let text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  const created = text === undefined && (await create(dataDir, path));
  text ??= await readFile(path, 'utf8');
  const parsed = parseMasterKeys(text.trim());
  if (!parsed.ok) throw new Error(`${path}: ${parsed.error.replace('TENANTRY_MASTER_KEY', 'the key')}`);
  if (parsed.value.length !== 1) throw new Error(`${path}: holds ${parsed.value.length} keys, not one`);
  return { key: parsed.value[0] as Uint8Array, path, created };
}

/** Writes a new key to `path` unless another process got there first; says whether it did. */
async function create(dataDir: string, path: string): Promise<boolean> {
  await mkdir(dataDir, { recursive: true });
  // Written whole beside it, then linked into place: link never replaces a file, so the first
  // process's key wins, and no process ever reads a half-written one.
  const draft = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const file = await open(draft, 'wx', 0o600);
  try {
    await file.writeFile(`${generateMasterKey()}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await link(draft, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return false;
  } finally {
    await unlink(draft);
  }
}
