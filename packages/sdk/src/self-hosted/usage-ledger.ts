import { open, readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { Period } from '@tenantry/core';
import type { UsageEvent } from '../usage/index.ts';

/** The ledger file in the state directory: one usage event per line, appended, never rewritten. */
export const LEDGER_FILE = 'usage-ledger.jsonl';

/** The usage ledger is not what {@link UsageLedger} writes, or a write to it failed. */
export class UsageLedgerError extends Error {
  override readonly name = 'UsageLedgerError';
}

/**
 * The ledger's events in order. A last line without its newline is a write a crash cut short:
 * it was never reported durable, so it is left out. Any other line that is not an event is
 * corruption, refused rather than skipped: a skipped event would go unbilled and uncounted.
 */
export async function readLedger(file: string): Promise<{ events: UsageEvent[]; complete: number }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { events: [], complete: 0 };
    throw new UsageLedgerError(`cannot read the usage ledger ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const complete = text.lastIndexOf('\n') + 1;
  const events: UsageEvent[] = [];
  const lines = text.slice(0, complete).split('\n');
  lines.pop();
  for (const [index, line] of lines.entries()) {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw corrupt(file, index, 'not JSON');
    }
    const fault = shapeFault(value);
    if (fault !== null) throw corrupt(file, index, fault);
    events.push(value as UsageEvent);
  }
  return { events, complete: Buffer.byteLength(text.slice(0, complete)) };
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
   * @throws {UsageLedgerError} the ledger is corrupt or unreadable.
   */
  static async open(stateDirectory: string, periodOf: (time: Date) => Period): Promise<UsageLedger> {
    const file = join(stateDirectory, LEDGER_FILE);
    const { events, complete } = await readLedger(file);
    // The torn tail goes, so the next line does not continue it.
    await truncate(file, complete).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    const handle = await open(file, 'a', 0o600);
    const ledger = new UsageLedger(file, handle, periodOf);
    for (const event of events) ledger.#count(event);
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
