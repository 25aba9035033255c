import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileDurably } from '../durable-file.ts';
import { LicenseError } from './license-error.ts';

/**
 * What an install remembers between runs, so that neither its clock, its license nor what it has
 * learned of revocations can be turned back: the latest time it has seen, the highest license
 * `seq` per customer, its last successful check-in, the newest revocation list it has read, and
 * the licenses it has learned are revoked.
 */
export interface LicenseState {
  /** Milliseconds since the epoch; `null` for an install that has never run. */
  readonly latestSeen: number | null;
  /** Customer id → the highest `seq` of that customer's licenses the install has run with. */
  readonly seq: Readonly<Record<string, number>>;
  /** When the install last checked in successfully (ms since the epoch), or `null`: never. */
  readonly lastCheckIn: number | null;
  /** The newest revocation list read: its `seq` and `iat` (ms), or `null`: none yet. */
  readonly revocationList: RevocationListSeen | null;
  /** License id → when it was revoked (ms), as a check-in or a revocation list said. */
  readonly revoked: Readonly<Record<string, number>>;
}

/** A revocation list as the state remembers it. */
export interface RevocationListSeen {
  readonly seq: number;
  /** When it was signed, ms since the epoch. */
  readonly iat: number;
}

/** What one check records; each member only moves the state forward. */
export interface LicenseStateUpdate {
  readonly latestSeen: number;
  readonly seq: Readonly<Record<string, number>>;
  readonly lastCheckIn?: number | undefined;
  readonly revocationList?: RevocationListSeen | undefined;
  readonly revoked?: Readonly<Record<string, number>> | undefined;
}

const EMPTY: LicenseState = {
  latestSeen: null,
  seq: {},
  lastCheckIn: null,
  revocationList: null,
  revoked: {},
};
// Format 2 added last_check_in, revocation_list and revoked; a format 1 file reads as none of them.
const FORMAT = 2;

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
  const fields = value as Record<string, unknown>;
  const { format, latest_seen: latestSeen, seq } = fields;
  if (format !== 1 && format !== FORMAT) return `format ${JSON.stringify(format)}, not 1 or ${FORMAT}`;
  const time = timeOf(latestSeen);
  if (time === undefined) return 'latest_seen is not a time';
  if (!isRecord(seq)) return 'seq is not an object';
  const seqs: Record<string, number> = {};
  for (const [customer, n] of Object.entries(seq)) {
    if (!Number.isSafeInteger(n) || (n as number) < 1)
      return `seq of "${customer}" is not a whole number ≥ 1`;
    seqs[customer] = n as number;
  }
  if (format === 1) return { ...EMPTY, latestSeen: time, seq: seqs };

  const { last_check_in: lastCheckIn, revocation_list: list, revoked } = fields;
  const checkedIn = lastCheckIn === null ? null : timeOf(lastCheckIn);
  if (checkedIn === undefined) return 'last_check_in is neither null nor a time';
  let revocationList: RevocationListSeen | null = null;
  if (list !== null) {
    const listIat = isRecord(list) ? timeOf(list.iat) : undefined;
    if (
      !isRecord(list) ||
      !Number.isSafeInteger(list.seq) ||
      (list.seq as number) < 0 ||
      listIat === undefined
    )
      return 'revocation_list is neither null nor {seq, iat}';
    revocationList = { seq: list.seq as number, iat: listIat };
  }
  if (!isRecord(revoked)) return 'revoked is not an object';
  const revokedAt: Record<string, number> = {};
  for (const [license, at] of Object.entries(revoked)) {
    const when = timeOf(at);
    if (when === undefined) return `revoked time of "${license}" is not a time`;
    revokedAt[license] = when;
  }
  return { latestSeen: time, seq: seqs, lastCheckIn: checkedIn, revocationList, revoked: revokedAt };
}

function timeOf(value: unknown): number | undefined {
  const time = typeof value === 'string' ? Date.parse(value) : Number.NaN;
  return Number.isNaN(time) ? undefined : time;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Records `update` in the state file and returns what it now holds. Every member only moves
 * forward: the file is read again just before it is written and merged (the later times, the
 * higher seqs, the newer revocation list, the revocations of both), so
 * processes of one install sharing the file, checking in turn, do not turn each other's state
 * back. Two writes at the same moment may keep either one's; their times differ by far less than
 * the clock tolerance. Written to a temp file (mode 0600: the state is the install's own),
 * fsynced and renamed into place, so a crash leaves the old state or the new one, never half.
 */
export async function writeLicenseState(file: string, update: LicenseStateUpdate): Promise<LicenseState> {
  const current = await readLicenseState(file);
  const seq: Record<string, number> = { ...current.seq };
  for (const [customer, n] of Object.entries(update.seq)) seq[customer] = Math.max(seq[customer] ?? 0, n);
  const latestSeen = Math.max(current.latestSeen ?? update.latestSeen, update.latestSeen);
  const lastCheckIn = later(current.lastCheckIn, update.lastCheckIn);
  const revocationList = newerList(current.revocationList, update.revocationList);
  // A revocation is never forgotten: the earliest time heard for it stays.
  const revoked: Record<string, number> = { ...current.revoked };
  for (const [license, at] of Object.entries(update.revoked ?? {})) {
    revoked[license] = Math.min(revoked[license] ?? at, at);
  }
  const merged: LicenseState = { latestSeen, seq, lastCheckIn, revocationList, revoked };
  const iso = (time: number) => new Date(time).toISOString();
  const body = {
    format: FORMAT,
    latest_seen: iso(latestSeen),
    seq,
    last_check_in: lastCheckIn === null ? null : iso(lastCheckIn),
    revocation_list:
      revocationList === null ? null : { seq: revocationList.seq, iat: iso(revocationList.iat) },
    revoked: Object.fromEntries(Object.entries(revoked).map(([license, at]) => [license, iso(at)])),
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

function later(current: number | null, update: number | undefined): number | null {
  if (update === undefined) return current;
  return current === null ? update : Math.max(current, update);
}

/** The newer of two lists by seq, then by when it was signed. */
function newerList(
  current: RevocationListSeen | null,
  update: RevocationListSeen | undefined,
): RevocationListSeen | null {
  if (update === undefined) return current;
  if (current === null) return update;
  const newer = update.seq > current.seq || (update.seq === current.seq && update.iat > current.iat);
  return newer ? update : current;
}
