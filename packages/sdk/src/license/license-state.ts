import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileDurably } from '../durable-file.ts';
import { LicenseError } from './license-error.ts';

/**
 * What an install remembers between runs, so that neither its clock nor its license can be turned
 * back: the latest time it has seen, and the highest license `seq` per customer.
 */
export interface LicenseState {
  /** Milliseconds since the epoch; `null` for an install that has never run. */
  readonly latestSeen: number | null;
  /** Customer id → the highest `seq` of that customer's licenses the install has run with. */
  readonly seq: Readonly<Record<string, number>>;
}

const EMPTY: LicenseState = { latestSeen: null, seq: {} };
const FORMAT = 1;

/**
 * Reads the state file; a missing file is a fresh install. A file that is there but not the
 * guard's JSON is refused, never reset: resetting it would forget the latest time and seqs seen,
 * and so make a clock or license rollback as easy as corrupting one file.
 */
export async function readLicenseState(file: string): Promise<LicenseState> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY;
    throw new LicenseError(
      'state_unreadable',
      `cannot read the state file ${file}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const state = parseState(text);
  if (typeof state === 'string') {
    throw new LicenseError(
      'state_unreadable',
      `the state file ${file} is corrupt (${state}); it is not reset, as that would undo the clock and sequence checks: restore it from a backup`,
    );
  }
  return state;
}

function parseState(text: string): LicenseState | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const { format, latest_seen: latestSeen, seq } = value as Record<string, unknown>;
  if (format !== FORMAT) return `format ${JSON.stringify(format)}, not ${FORMAT}`;
  const time = typeof latestSeen === 'string' ? Date.parse(latestSeen) : Number.NaN;
  if (Number.isNaN(time)) return 'latest_seen is not a time';
  if (typeof seq !== 'object' || seq === null || Array.isArray(seq)) return 'seq is not an object';
  const seqs: Record<string, number> = {};
  for (const [customer, n] of Object.entries(seq)) {
    if (!Number.isSafeInteger(n) || (n as number) < 1)
      return `seq of "${customer}" is not a whole number ≥ 1`;
    seqs[customer] = n as number;
  }
  return { latestSeen: time, seq: seqs };
}

/**
 * Records `update` in the state file and returns what it now holds. Both only move forward: the
 * file is read again just before it is written and merged (the later time, the higher seq), so
 * processes of one install sharing the file, checking in turn, do not turn each other's state
 * back. Two writes at the same moment may keep either one's; their times differ by far less than
 * the clock tolerance. Written to a temp file (mode 0600: the state is the install's own),
 * fsynced and renamed into place, so a crash leaves the old state or the new one, never half.
 */
export async function writeLicenseState(
  file: string,
  update: { readonly latestSeen: number; readonly seq: Readonly<Record<string, number>> },
): Promise<LicenseState> {
  const current = await readLicenseState(file);
  const seq: Record<string, number> = { ...current.seq };
  for (const [customer, n] of Object.entries(update.seq)) seq[customer] = Math.max(seq[customer] ?? 0, n);
  const latestSeen = Math.max(current.latestSeen ?? update.latestSeen, update.latestSeen);
  const merged: LicenseState = { latestSeen, seq };
  const body = {
    format: FORMAT,
    latest_seen: new Date(latestSeen).toISOString(),
    seq,
  };
  try {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    // A temp name of this process's own: processes of one install may share the state file.
    await writeFileDurably(file, `${JSON.stringify(body, null, 2)}\n`, {
      temp: `${file}.${process.pid}-${randomUUID()}.tmp`,
      mode: 0o600,
    });
  } catch (error) {
    throw new LicenseError(
      'state_unreadable',
      `cannot write the state file ${file}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return merged;
}
