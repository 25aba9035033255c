import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** The lock a running app holds on its state directory. */
export const LOCK_FILE = 'tenantry.lock';

/** Another process holds the state directory (or the export): its counts would not be this one's. */
export class StateDirectoryInUseError extends Error {
  override readonly name = 'StateDirectoryInUseError';
}

/** The locks this process holds: a lock naming this pid that is not one of them is an earlier life's. */
const held = new Set<string>();

interface Holder {
  readonly pid: number;
  readonly host: string;
  readonly since: string;
  readonly token: string;
}

/**
 * Takes `name` in `directory` for this process, so that one process at a time counts an install's
 * limits (two would each pass a hard limit on their own counts). A lock left by a process that is
 * gone — on this host, its pid no longer running, or this process's pid without this process
 * holding it (a container restarted as pid 1) — is taken over; one held by a live process, or by another host (a shared volume:
 * nothing here can tell whether it still runs), is refused, naming it. Resolves to the release.
 *
 * @throws {StateDirectoryInUseError} another process holds it.
 */
export async function lockStateDirectory(directory: string, name = LOCK_FILE): Promise<() => Promise<void>> {
  const file = join(directory, name);
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const mine: Holder = {
    pid: process.pid,
    host: hostname(),
    since: new Date().toISOString(),
    token: randomUUID(),
  };
  // Twice at most: once more after moving a stale lock aside.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(mine)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      held.add(file);
      return () => release(file, mine.token);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = await readHolder(file);
    if (holder === undefined) continue;
    if (
      holder !== null &&
      (holder.host !== mine.host || (holder.pid === process.pid ? held.has(file) : running(holder.pid)))
    ) {
      throw new StateDirectoryInUseError(
        `${directory} is in use by process ${holder.pid} on ${holder.host} since ${holder.since}: one process at a time runs an install${
          holder.host === mine.host ? '' : `; if ${holder.host} no longer runs it, remove ${file}`
        }`,
      );
    }
    // Stale (or not a lock this code wrote): moved aside under a name of its own, so that of two
    // processes taking it over at once, one moves it and the other finds the winner's lock.
    const aside = `${file}.stale-${randomUUID()}`;
    try {
      await rename(file, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      continue;
    }
    await rm(aside, { force: true });
  }
  throw new StateDirectoryInUseError(`${directory}: cannot take ${file}, others keep taking it`);
}

/** The lock's holder; null when the file is not a lock (stale garbage); undefined when it is gone. */
async function readHolder(file: string): Promise<Holder | null | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const value = JSON.parse(text) as Partial<Holder>;
    if (
      Number.isSafeInteger(value.pid) &&
      typeof value.host === 'string' &&
      typeof value.since === 'string' &&
      typeof value.token === 'string'
    )
      return value as Holder;
  } catch {
    // A lock cut short by a crash: its writer is gone.
  }
  return null;
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function release(file: string, token: string): Promise<void> {
  held.delete(file);
  const holder = await readHolder(file);
  // Only our own: a lock taken over meanwhile is the new holder's.
  if (holder?.token === token) await rm(file, { force: true });
}
