import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Writes `text` to `path` so that a crash of the process or the machine leaves the old file or the
 * new one, never half of it: into `temp` beside it (created, so an existing one fails), fsynced,
 * renamed into place, then the directory fsynced so the rename itself survives. The temp file is
 * removed when any step fails.
 */
export async function writeFileDurably(
  path: string,
  text: string,
  options: { readonly temp: string; readonly mode?: number },
): Promise<void> {
  const file = await open(options.temp, 'wx', options.mode ?? 0o666);
  try {
    try {
      await file.writeFile(text);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(options.temp, path);
  } catch (error) {
    await rm(options.temp, { force: true });
    throw error;
  }
  await syncDirectory(dirname(path));
}

/** Fsyncs a directory, where the platform can: some (Windows) cannot open a directory, and their rename is durable on its own. */
async function syncDirectory(directory: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(directory, 'r');
  } catch {
    // As above: a directory that cannot be opened on this platform needs no fsync.
    return;
  }
  try {
    await handle.sync();
  } catch {
    // Likewise for fsync on a directory handle.
  } finally {
    await handle.close();
  }
}
