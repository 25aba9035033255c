import { open, readFile, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { Period } from '@tenantry/core';
import { writeFileDurably } from '../durable-file.ts';
import type { UsageEvent } from '../usage/index.ts';
import { type Chain, EXPORT_LOCK_FILE, readChain, UsageExportError } from './report-chain.ts';
import { lockStateDirectory, StateDirectoryInUseError } from './state-lock.ts';

/**
 * The ledger file in the state directory: one usage event per line, appended. A start compacts it
 * once usage was exported (see {@link UsageLedger.open}); a compacted ledger's first line is a
 * {@link LedgerHeader} as `{"compacted": …}`.
 */
export const LEDGER_FILE = 'usage-ledger.jsonl';

/** The usage ledger is not what {@link UsageLedger} writes, or a write to it failed. */
export class UsageLedgerError extends Error {
  override readonly name = 'UsageLedgerError';
}

/** What a compaction took out of the ledger, in its first line. */
export interface LedgerHeader {
  /**
   * Events the compactions took out, all of them before the export chain's `ledger` mark: the
   * first event in the file is the install's event number `offset` (from 0), as the chain counts.
   */
  readonly offset: number;
  /**
   * meter → period start (ms, as a decimal string) → units of the events taken out, for the
   * periods not yet over when the last report was made: the limits still count them.
   */
  readonly totals: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

/** A ledger as read: its events in order, after its header. */
export interface LedgerContents {
  readonly events: UsageEvent[];
  /** Bytes up to the last complete line: past it is a write a crash cut short. */
  readonly complete: number;
  readonly offset: number;
  readonly totals: LedgerHeader['totals'];
}

const HEADER_FORMAT = 1;

/**
 * The ledger's events in order. A last line without its newline is a write a crash cut short:
 * it was never reported durable, so it is left out. Any other line that is not an event is
 * corruption, refused rather than skipped: a skipped event would go unbilled and uncounted.
 */
export async function readLedger(file: string): Promise<LedgerContents> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return { events: [], complete: 0, offset: 0, totals: {} };
    throw new UsageLedgerError(`cannot read the usage ledger ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const complete = text.lastIndexOf('\n') + 1;
  const events: UsageEvent[] = [];
  const lines = text.slice(0, complete).split('\n');
  lines.pop();
  let header: LedgerHeader = { offset: 0, totals: {} };
  for (const [index, line] of lines.entries()) {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw corrupt(file, index, 'not JSON');
    }
    if (index === 0 && typeof value === 'object' && value !== null && 'compacted' in value) {
      const fault = headerFault(value.compacted);
      if (fault !== null) throw corrupt(file, index, fault);
      const { offset, totals } = value.compacted as LedgerHeader;
      header = { offset, totals };
      continue;
    }
    const fault = shapeFault(value);
    if (fault !== null) throw corrupt(file, index, fault);
    events.push(value as UsageEvent);
  }
  return { events, complete: Buffer.byteLength(text.slice(0, complete)), ...header };
}

function headerFault(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return 'a header that is not an object';
  const header = value as Record<string, unknown>;
  if (header.format !== HEADER_FORMAT)
    return `a header of format ${JSON.stringify(header.format)}, not ${HEADER_FORMAT}`;
  if (!Number.isSafeInteger(header.offset) || (header.offset as number) < 0)
    return 'a header offset that is not a whole number ≥ 0';
  if (typeof header.totals !== 'object' || header.totals === null)
    return 'header totals that are not an object';
  for (const periods of Object.values(header.totals)) {
    if (typeof periods !== 'object' || periods === null) return 'header totals that are not an object';
    for (const [start, units] of Object.entries(periods)) {
      if (!/^\d+$/.test(start) || typeof units !== 'number' || !Number.isFinite(units) || units < 0)
        return 'a header total that is not units ≥ 0 of a period start';
    }
  }
  return null;
}

/**
 * What is wrong with a ledger line's event, or null. Each event was checked against core's
 * `UsageEventInput` when it was recorded; reading checks what counting and exporting rely on (a
 * full schema check of every line would dominate a start: 10,000 events cost ~25 ms more), and an
 * export checks every event it carries in full again when it signs.
 */
function shapeFault(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an event';
  const event = value as Record<string, unknown>;
  if (typeof event.id !== 'string' || event.id === '') return 'id is not a string';
  if (typeof event.tenant !== 'string' || event.tenant === '') return 'tenant is not a string';
  if (typeof event.meter !== 'string' || event.meter === '') return 'meter is not a string';
  if (typeof event.time !== 'string' || Number.isNaN(Date.parse(event.time))) return 'time is not a time';
  if (
    event.value !== undefined &&
    !(typeof event.value === 'number' && Number.isFinite(event.value) && event.value >= 0)
  )
    return 'value is not a number ≥ 0';
  return null;
}

/**
 * Takes out of the ledger the events the export chain says a report carries: those recorded
 * before the last export (the chain's `ledger` mark) and timed before its end. Every event the
 * next export needs stays: those timed at or after the end (not exported yet), and every event
 * recorded after the export (the late ones among them are counted by the next export). Their
 * units go into the header's per-period totals, for the periods not over at the end, so the
 * limits count them still; the offset keeps the chain's mark pointing between the same events.
 *
 * The whole new ledger is written beside the old one and renamed over it ({@link writeFileDurably}):
 * a crash at any point leaves the old ledger or the new one, both whole and both consistent with
 * the chain, which the compaction does not touch. It runs under the export lock, so no export
 * reads the ledger or moves the chain meanwhile; a start during an export leaves the ledger for the
 * next start. Null when nothing was taken out.
 */
async function compact(
  stateDirectory: string,
  contents: LedgerContents,
  periodOf: (time: Date) => Period,
): Promise<LedgerContents | null> {
  // Most starts have nothing to take out (nothing exported since the last compaction): seen
  // without the lock, which costs a file made and fsynced.
  if ((await exported(stateDirectory, contents)) === null) return null;
  let unlock: () => Promise<void>;
  try {
    unlock = await lockStateDirectory(stateDirectory, EXPORT_LOCK_FILE);
  } catch (error) {
    if (error instanceof StateDirectoryInUseError) return null;
    throw error;
  }
  try {
    // Again under the lock: an export may have moved the chain on meanwhile.
    const found = await exported(stateDirectory, contents);
    if (found === null) return null;
    const { chain, mark, end } = found;
    const totals = new Map<string, Map<string, number>>(
      Object.entries(contents.totals).map(([meter, periods]) => [meter, new Map(Object.entries(periods))]),
    );
    const kept: UsageEvent[] = [];
    for (const event of contents.events.slice(0, mark)) {
      const time = Date.parse(event.time);
      if (time >= end) {
        kept.push(event);
        continue;
      }
      const start = String(periodOf(new Date(time)).start.getTime());
      let periods = totals.get(event.meter);
      if (periods === undefined) {
        periods = new Map();
        totals.set(event.meter, periods);
      }
      periods.set(start, (periods.get(start) ?? 0) + (event.value ?? 1));
    }
    const header: LedgerHeader = {
      offset: chain.ledger - kept.length,
      totals: Object.fromEntries(
        [...totals]
          .map(([meter, periods]) => [
            meter,
            // A period over at the end of the last report counts for no limit any more.
            Object.fromEntries(
              [...periods].filter(([start]) => periodOf(new Date(Number(start))).end.getTime() > end),
            ),
          ])
          .filter(([, periods]) => Object.keys(periods as object).length > 0),
      ),
    };
    kept.push(...contents.events.slice(mark));
    const text = `${JSON.stringify({ compacted: { format: HEADER_FORMAT, ...header } })}\n${kept
      .map((event) => `${JSON.stringify(event)}\n`)
      .join('')}`;
    const file = join(stateDirectory, LEDGER_FILE);
    // One temp name, under the lock: a crash's leftover is replaced, not piled up.
    const temp = `${file}.compact.tmp`;
    await rm(temp, { force: true });
    await writeFileDurably(file, text, { temp, mode: 0o600 });
    return { events: kept, complete: Buffer.byteLength(text), ...header };
  } finally {
    await unlock();
  }
}

/**
 * The export chain, its mark as a position in `contents.events` and its end (ms) when some event before the
 * mark is timed before the chain's end (in a report), or null: nothing exported, nothing exported
 * since the last compaction, a chain ahead of the ledger (one of them restored from a backup: what
 * is in a report is not known), or a corrupt chain (the export's to refuse, naming the file; the
 * ledger stays whole meanwhile).
 */
async function exported(
  stateDirectory: string,
  contents: LedgerContents,
): Promise<{ chain: Chain; mark: number; end: number } | null> {
  let chain: Chain;
  try {
    chain = await readChain(stateDirectory);
  } catch (error) {
    if (error instanceof UsageExportError) return null;
    throw error;
  }
  const mark = chain.ledger - contents.offset;
  if (chain.to === null || mark <= 0 || mark > contents.events.length) return null;
  const end = Date.parse(chain.to);
  for (let i = 0; i < mark; i++) {
    const event = contents.events[i];
    if (event !== undefined && Date.parse(event.time) < end) return { chain, mark, end };
  }
  return null;
}

function corrupt(file: string, index: number, why: string): UsageLedgerError {
  return new UsageLedgerError(
    `the usage ledger ${file} is corrupt at line ${index + 1} (${why}); it is not repaired, as that would lose billed usage: restore it from a backup`,
  );
}

/**
 * The install's usage, appended to a file in its state directory for the offline usage report,
 * and summed per meter and period so that local limits count what was used before a restart.
 *
 * Appends are written in the background and fsynced in groups: {@link durable} resolves once
 * everything appended before it is on disk. A failed write makes the ledger refuse every later
 * append (what reached the disk is then unknown, and counting on would miscount).
 */
export class UsageLedger {
  readonly file: string;
  readonly #handle: Awaited<ReturnType<typeof open>>;
  readonly #periodOf: (time: Date) => Period;
  /** The period of the last event counted: events come mostly in order, so most fall in it. */
  #period: { start: number; end: number } = { start: 0, end: 0 };
  /** meter → period start (ms) → units. */
  readonly #totals = new Map<string, Map<number, number>>();
  #pending: string[] = [];
  #writing: Promise<void> | null = null;
  #failure: Error | null = null;
  #closed = false;

  private constructor(
    file: string,
    handle: Awaited<ReturnType<typeof open>>,
    periodOf: (time: Date) => Period,
  ) {
    this.file = file;
    this.#handle = handle;
    this.#periodOf = periodOf;
  }

  /**
   * Opens the ledger in `stateDirectory` (made at the first append), dropping a torn last line.
   * `periodOf` gives the usage period an event's time falls in.
   *
   * Once usage was exported, the start compacts the ledger (see {@link compact}), so that what a
   * start reads no longer grows with the usage already exported.
   *
   * @throws {UsageLedgerError} the ledger is corrupt or unreadable.
   */
  static async open(stateDirectory: string, periodOf: (time: Date) => Period): Promise<UsageLedger> {
    const file = join(stateDirectory, LEDGER_FILE);
    const read = await readLedger(file);
    const compacted = await compact(stateDirectory, read, periodOf);
    if (compacted === null) {
      // The torn tail goes, so the next line does not continue it.
      await truncate(file, read.complete).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
    }
    const contents = compacted ?? read;
    const handle = await open(file, 'a', 0o600);
    const ledger = new UsageLedger(file, handle, periodOf);
    for (const [meter, periods] of Object.entries(contents.totals)) {
      ledger.#totals.set(
        meter,
        new Map(Object.entries(periods).map(([start, units]) => [Number(start), units])),
      );
    }
    for (const event of contents.events) ledger.#count(event);
    return ledger;
  }

  #count(event: UsageEvent): void {
    const time = Date.parse(event.time);
    if (time < this.#period.start || time >= this.#period.end) {
      const period = this.#periodOf(new Date(time));
      this.#period = { start: period.start.getTime(), end: period.end.getTime() };
    }
    const start = this.#period.start;
    let periods = this.#totals.get(event.meter);
    if (periods === undefined) {
      periods = new Map();
      this.#totals.set(event.meter, periods);
    }
    // A count meter's event counts 1; a sum meter's, its value (see docs/sdk.md).
    periods.set(start, (periods.get(start) ?? 0) + (event.value ?? 1));
  }

  /** Units of `meter` recorded in the period starting at `periodStart` (ms). */
  used(meter: string, periodStart: number): number {
    return this.#totals.get(meter)?.get(periodStart) ?? 0;
  }

  /**
   * Appends an event (a line from the usage recorder's validation) and counts it at once; it is
   * on disk once {@link durable} resolves.
   *
   * @throws {UsageLedgerError} an earlier write failed, or the ledger is closed.
   */
  append(event: UsageEvent, line: string): void {
    if (this.#failure !== null) {
      throw new UsageLedgerError(
        `the usage ledger ${this.file} takes no more usage: ${this.#failure.message}`,
        {
          cause: this.#failure,
        },
      );
    }
    if (this.#closed) throw new UsageLedgerError(`the usage ledger ${this.file} is closed`);
    this.#pending.push(`${line}\n`);
    this.#count(event);
    this.#writing ??= this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      // Appends of the same tick join this write.
      await Promise.resolve();
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0).join('');
        await this.#handle.appendFile(batch);
        await this.#handle.sync();
      }
    } catch (error) {
      this.#failure = error instanceof Error ? error : new Error(String(error));
    } finally {
      this.#writing = null;
    }
  }

  /**
   * Resolves once every event appended so far is fsynced.
   *
   * @throws {UsageLedgerError} a write failed.
   */
  async durable(): Promise<void> {
    await this.#writing;
    if (this.#failure !== null) {
      throw new UsageLedgerError(`cannot write the usage ledger ${this.file}: ${this.#failure.message}`, {
        cause: this.#failure,
      });
    }
  }

  /** Writes what is pending, then closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.durable();
    } finally {
      await this.#handle.close();
    }
  }
}
