import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { type Kysely, sql } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';

/** What a {@link PeriodicLease} runs, and how often. */
export interface PeriodicLeaseSettings {
  /** The work's name: its row in `periodic_leases`, shared by every process. */
  readonly name: string;
  /** From the start of one run to the start of the next, whichever process runs them. */
  readonly intervalMs: number;
  /**
   * How long a run is its holder's without being renewed (it is renewed every third of this while
   * it lasts): a holder that died frees the work this long after its last renewal.
   */
  readonly leaseMs: number;
}

/** What a call to {@link PeriodicLease.run} did. */
export type LeasedRun<T> =
  | { readonly ran: true; readonly value: T; readonly nextAt: Date }
  /** Not this process's turn: the run is not due, or another process holds it. */
  | { readonly ran: false; readonly nextAt: Date };

/** The holder of a run found that it no longer holds it, or could not renew it. */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}

/**
 * Periodic work that one control-plane process runs at a time, once per interval across all of
 * them (migration 0036): every process calls {@link run} and at most one of them runs the step.
 * A run is taken with one conditional statement, when it is due and nobody holds it, so two
 * processes asking at once cannot both take it; while the step lasts its holder renews the lease,
 * and a holder that died (or hung) is taken over once its lease has run out. Time is the
 * process's clock, as the job queue's leases are.
 */
export class PeriodicLease {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #settings: PeriodicLeaseSettings;
  /** This instance, as `holder` names it: a restarted process is another holder. */
  readonly holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

  constructor(db: Kysely<Schema>, clock: Clock, settings: PeriodicLeaseSettings) {
    this.#db = db;
    this.#clock = clock;
    this.#settings = settings;
  }

  /**
   * Runs `step` if this process takes the run; `step`'s signal aborts when the lease is lost, and
   * the step should then stop soon (another process may run the work by now). A lost lease is
   * thrown once the step has returned; the run's outcome is then the step's to have guarded.
   */
  async run<T>(step: (signal: AbortSignal) => Promise<T>): Promise<LeasedRun<T>> {
    const now = this.#clock.now();
    const nextAt = new Date(now.getTime() + this.#settings.intervalMs);
    if (!(await this.#take(now, nextAt))) return { ran: false, nextAt: await this.#freeAt() };
    const lost = new AbortController();
    const renewal = setInterval(() => {
      this.#renew().then(
        (held) => {
          if (!held) lost.abort(new LeaseLostError(`another process took over "${this.#settings.name}"`));
        },
        (error: unknown) =>
          lost.abort(
            new LeaseLostError(`could not renew the lease of "${this.#settings.name}"`, { cause: error }),
          ),
      );
    }, this.#settings.leaseMs / 3);
    renewal.unref();
    try {
      const value = await step(lost.signal);
      if (lost.signal.aborted) throw lost.signal.reason;
      return { ran: true, value, nextAt };
    } finally {
      clearInterval(renewal);
      // Whether or not the step failed: the next run is due at nextAt, not when the lease runs out.
      await this.#release();
    }
  }

  /** Takes the run if it is due and free: one statement, so of several processes one takes it. */
  async #take(now: Date, nextAt: Date): Promise<boolean> {
    const heldUntil = new Date(now.getTime() + this.#settings.leaseMs);
    const taken = await sql<{ holder: string }>`
      insert into periodic_leases (name, holder, held_until, next_run_at)
      values (${this.#settings.name}, ${this.holder}, ${heldUntil}, ${nextAt})
      on conflict (name) do update
        set holder = excluded.holder, held_until = excluded.held_until, next_run_at = excluded.next_run_at
        where periodic_leases.next_run_at <= ${now}
          and (periodic_leases.held_until is null or periodic_leases.held_until <= ${now})
      returning holder`.execute(this.#db);
    return taken.rows.length > 0;
  }

  /** When the work may be taken next: when it is due, or when its holder's lease runs out. */
  async #freeAt(): Promise<Date> {
    const row = await this.#db
      .selectFrom('periodic_leases')
      .select(['held_until', 'next_run_at'])
      .where('name', '=', this.#settings.name)
      .executeTakeFirstOrThrow();
    const due = new Date(row.next_run_at).getTime();
    const free = row.held_until === null ? due : Math.max(due, new Date(row.held_until).getTime());
    return new Date(free);
  }

  /** Extends this holder's lease; false when it holds it no more. */
  async #renew(): Promise<boolean> {
    const until = new Date(this.#clock.now().getTime() + this.#settings.leaseMs);
    const renewed = await this.#db
      .updateTable('periodic_leases')
      .set({ held_until: until })
      .where('name', '=', this.#settings.name)
      .where('holder', '=', this.holder)
      .where('held_until', 'is not', null)
      .executeTakeFirst();
    return renewed.numUpdatedRows > 0n;
  }

  /** Ends this holder's run, unless another process has taken the work over since. */
  async #release(): Promise<void> {
    await this.#db
      .updateTable('periodic_leases')
      .set({ held_until: null })
      .where('name', '=', this.#settings.name)
      .where('holder', '=', this.holder)
      .execute();
  }
}
