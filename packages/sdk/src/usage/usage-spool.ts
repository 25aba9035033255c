import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileDurably } from '../durable-file.ts';

/** A batch kept on disk until the control plane acknowledges it. */
export interface SpooledBatch {
  /** The file's name in the spool directory; names sort oldest first. */
  readonly name: string;
  /** The batch's idempotency key, so that a resend replays the first answer. */
  readonly key: string;
}

/** A spool file that cannot be read back as a batch; it was moved aside as `<name>.corrupt`. */
export class CorruptSpoolFileError extends Error {
  readonly file: string;

  constructor(file: string, cause: unknown) {
    super(`usage spool file ${file} is not a batch of JSON lines; it was renamed to ${file}.corrupt`, {
      cause,
    });
    this.name = 'CorruptSpoolFileError';
    this.file = file;
  }
}

const NAME = /^usage-(\d{15})-(\d{6})-([A-Za-z0-9.-]{1,200})\.jsonl$/;
/** A `.tmp` file older than this was left by a process that died while writing it. */
const STALE_TEMP_MS = 60 * 60_000;

let sequence = 0;

/**
 * A directory of usage batches waiting for the control plane, one file per batch:
 * `usage-<ms>-<seq>-<idempotency key>.jsonl`, one event per line. A file is written as
 * `<name>.tmp`, fsynced, renamed into place and the directory fsynced, so a batch the spool
 * reports written survives a crash whole, and a reader never sees half of one. Files are
 * deleted only once their batch was acknowledged. One file per batch keeps that simple: no
 * segment to compact, and a resend is the same request under the same key.
 */
export class UsageSpool {
  readonly directory: string;

  constructor(directory: string) {
    this.directory = directory;
  }

  /**
   * Creates the directory if needed and lists the batches in it, oldest first (those left by a
   * previous process too). Removes temporary files of writes that never finished.
   */
  async open(): Promise<SpooledBatch[]> {
    await mkdir(this.directory, { recursive: true });
    const names = await readdir(this.directory);
    const batches: SpooledBatch[] = [];
    for (const name of names) {
      const match = NAME.exec(name);
      if (match?.[3]) batches.push({ name, key: match[3] });
      else if (name.endsWith('.tmp')) await this.#removeStaleTemp(name);
    }
    return batches.sort(byName);
  }

  /** Writes a batch durably; once this resolves, it survives a crash of the process or machine. */
  async write(key: string, lines: readonly string[]): Promise<SpooledBatch> {
    const name = fileName(key);
    const path = join(this.directory, name);
    await writeFileDurably(path, `${lines.join('\n')}\n`, { temp: `${path}.tmp` });
    return { name, key };
  }

  /**
   * {@link UsageSpool.write}, blocking: for a caller that must not hold the batch in memory while
   * an asynchronous write is under way.
   */
  writeSync(key: string, lines: readonly string[]): SpooledBatch {
    const name = fileName(key);
    const path = join(this.directory, name);
    const temp = `${path}.tmp`;
    const file = openSync(temp, 'wx');
    try {
      writeFileSync(file, `${lines.join('\n')}\n`);
      fsyncSync(file);
    } catch (error) {
      closeSync(file);
      rmSync(temp, { force: true });
      throw error;
    }
    closeSync(file);
    renameSync(temp, path);
    let directory: number | undefined;
    try {
      directory = openSync(this.directory, 'r');
      fsyncSync(directory);
    } catch {
      // As in writeFileDurably: not every platform can fsync a directory.
    } finally {
      if (directory !== undefined) closeSync(directory);
    }
    return { name, key };
  }

  /**
   * The events of a batch, one JSON line each. A file that is not JSON lines is renamed to
   * `<name>.corrupt` and {@link CorruptSpoolFileError} thrown; a file another process already
   * sent and removed answers `null`.
   */
  async read(batch: SpooledBatch): Promise<string[] | null> {
    const path = join(this.directory, batch.name);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    const lines = text.split('\n').filter((line) => line.length > 0);
    try {
      for (const line of lines) JSON.parse(line);
      if (lines.length === 0) throw new Error('the file is empty');
    } catch (error) {
      await rename(path, `${path}.corrupt`);
      throw new CorruptSpoolFileError(path, error);
    }
    return lines;
  }

  /** Deletes an acknowledged batch. */
  async remove(batch: SpooledBatch): Promise<void> {
    await rm(join(this.directory, batch.name), { force: true });
  }

  async #removeStaleTemp(name: string): Promise<void> {
    const path = join(this.directory, name);
    try {
      const info = await stat(path);
      if (Date.now() - info.mtimeMs > STALE_TEMP_MS) await unlink(path);
    } catch {
      // Gone already, or not ours to remove: either way nothing to do.
    }
  }
}

/** A new batch's file name; names sort by the time they were made. */
function fileName(key: string): string {
  sequence = (sequence + 1) % 1_000_000;
  return `usage-${String(Date.now()).padStart(15, '0')}-${String(sequence).padStart(6, '0')}-${key}.jsonl`;
}

function byName(a: SpooledBatch, b: SpooledBatch): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
