import { open, readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageEventInput } from '@tenantry/core';
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
    const parsed = UsageEventInput.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw corrupt(
        file,
        index,
        `${issue?.path.join('.') || '(event)'}: ${issue?.message ?? 'not an event'}`,
      );
    }
    events.push(value as UsageEvent);
  }
  return { events, complete: Buffer.byteLength(text.slice(0, complete)) };
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
  readonly #periodStart: (time: Date) => number;
  /** meter → period start (ms) → units. */
  readonly #totals = new Map<string, Map<number, number>>();
  #pending: string[] = [];
  #writing: Promise<void> | null = null;
  #failure: Error | null = null;
  #closed = false;

  private constructor(
    file: string,
    handle: Awaited<ReturnType<typeof open>>,
    periodStart: (time: Date) => number,
  ) {
    this.file = file;
    this.#handle = handle;
    this.#periodStart = periodStart;
  }

  /**
   * Opens the ledger in `stateDirectory` (made at the first append), dropping a torn last line.
   * `periodStart` gives the start of the usage period an event's time falls in.
   *
   * @throws {UsageLedgerError} the ledger is corrupt or unreadable.
   */
  static async open(stateDirectory: string, periodStart: (time: Date) => number): Promise<UsageLedger> {
    const file = join(stateDirectory, LEDGER_FILE);
    const { events, complete } = await readLedger(file);
    // The torn tail goes, so the next line does not continue it.
    await truncate(file, complete).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    const handle = await open(file, 'a', 0o600);
    const ledger = new UsageLedger(file, handle, periodStart);
    for (const event of events) ledger.#count(event);
    return ledger;
  }

  #count(event: UsageEvent): void {
    const start = this.#periodStart(new Date(event.time));
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
