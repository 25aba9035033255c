import { type Kysely, sql, type Transaction, type UpdateQueryBuilder, type UpdateResult } from 'kysely';
import { type Clock, type ClockScope, liveScope, onClock } from '../clock.ts';
import type { JobRow, Schema } from '../db/index.ts';
import { newId } from '../ids.ts';
import { WakeLoop } from './wake-loop.ts';

/** Work to do later, durably: written in the same transaction as the change that needs it. */
export interface JobRequest {
  readonly kind: string;
  readonly payload: Record<string, unknown>;
  /** At most one unfinished job per key; enqueueing again while one waits is a no-op. */
  readonly dedupeKey?: string;
  readonly runAt?: Date;
  readonly maxAttempts?: number;
  /**
   * The test clock the job lives on (a test tenant's dunning, say): `runAt` is that clock's time,
   * and the clock's advance runs it; the worker never does. Absent: the wall clock's.
   */
  readonly testClockId?: string | null;
}

/** What a job kind does. Handlers must be idempotent: a job whose worker died runs again. */
export interface JobHandler {
  run(payload: Record<string, unknown>, job: JobRow): Promise<void>;
  /** Called once when the last attempt has failed, to leave things in a state people can see. */
  onExhausted?(payload: Record<string, unknown>, error: string, job: JobRow): Promise<void>;
}

const LEASE_MS = 5 * 60_000;

/** Seconds to wait before attempt n+1: 1, 4, 9, … capped at an hour. */
function backoffMs(attempts: number): number {
  return Math.min(attempts * attempts, 3600) * 1000;
}

/** Jobs per INSERT: ten parameters each, well under PostgreSQL's 65,535 per statement. */
const ENQUEUE_BATCH = 1000;

/**
 * How long a finished job is kept: a succeeded one a week (what ran recently, for a person looking
 * into it), a failed one 30 days (its error is evidence until someone has looked).
 */
export const FINISHED_JOB_RETENTION_DAYS = { succeeded: 7, failed: 30 } as const;

/** Jobs deleted per statement when purging, so that no purge holds many row locks for long. */
const PURGE_BATCH = 5000;

/**
 * A job queue in the control-plane database. Jobs are claimed with `FOR UPDATE SKIP LOCKED`, so
 * any number of control-plane processes can work the queue; a claimed job carries a lease, and
 * one whose worker died is taken again when the lease runs out.
 */
export class JobQueue {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #handlers = new Map<string, JobHandler>();
  readonly #loop = new WakeLoop();

  constructor(db: Kysely<Schema>, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  /** Registers what to do for `kind`. */
  handle(kind: string, handler: JobHandler): void {
    this.#handlers.set(kind, handler);
  }

  /** The job kinds registered, in registration order (a test walks them all). */
  kinds(): string[] {
    return [...this.#handlers.keys()];
  }

  /**
   * Adds jobs inside the caller's transaction, so they exist exactly when the change does: one
   * statement per {@link ENQUEUE_BATCH} jobs (an invoice run queues one per invoice). A job whose
   * `dedupeKey` is pending or running already is not added again.
   */
  async enqueue(tx: Transaction<Schema>, ...requests: readonly JobRequest[]): Promise<void> {
    const now = this.#clock.now();
    for (let i = 0; i < requests.length; i += ENQUEUE_BATCH) {
      await tx
        .insertInto('jobs')
        .values(
          requests.slice(i, i + ENQUEUE_BATCH).map((request) => ({
            id: newId('job'),
            kind: request.kind,
            payload: JSON.stringify(request.payload),
            dedupe_key: request.dedupeKey ?? null,
            status: 'pending' as const,
            run_at: request.runAt ?? now,
            max_attempts: request.maxAttempts ?? 5,
            locked_until: null,
            last_error: null,
            finished_at: null,
            test_clock_id: request.testClockId ?? null,
          })),
        )
        .onConflict((oc) => oc.column('dedupe_key').where('status', 'in', ['pending', 'running']).doNothing())
        .execute();
    }
  }

  /** Tells a sleeping worker loop to look for work now rather than at its next poll. */
  notify(): void {
    this.#loop.wake();
  }

  /**
   * Runs every job that is due now, one after another; returns how many ran. With a test clock's
   * scope, the jobs of that clock due at its time (what its advance runs); else those of no clock.
   */
  async runDue(scope?: ClockScope): Promise<number> {
    let ran = 0;
    for (;;) {
      const at = scope ?? liveScope(this.#clock);
      const job = await this.#claim(at);
      if (!job) return ran;
      await this.#execute(job, at.testClockId === null ? this.#clock : { now: () => at.now });
      ran++;
    }
  }

  /** When the next job of a test clock falls due, in that clock's time; null when none waits. */
  async nextDueOn(testClockId: string): Promise<Date | null> {
    const row = await this.#db
      .selectFrom('jobs')
      .select((eb) => eb.fn.min('run_at').as('at'))
      .where('test_clock_id', '=', testClockId)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return row?.at ? new Date(row.at) : null;
  }

  /**
   * Deletes the jobs finished longer ago than {@link FINISHED_JOB_RETENTION_DAYS}; returns how many.
   * Unfinished jobs are never touched, nor the jobs of a test clock, whose times are that clock's
   * (deleting the clock removes them). The server runs it hourly.
   */
  async purgeFinished(): Promise<number> {
    const now = this.#clock.now().getTime();
    const before = (days: number) => new Date(now - days * 24 * 60 * 60 * 1000);
    let deleted = 0;
    for (;;) {
      const result = await this.#db
        .deleteFrom('jobs')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('jobs')
            .select('id')
            .where('test_clock_id', 'is', null)
            .where((w) =>
              w.or([
                w.and([
                  w('status', '=', 'succeeded'),
                  w('finished_at', '<', before(FINISHED_JOB_RETENTION_DAYS.succeeded)),
                ]),
                w.and([
                  w('status', '=', 'failed'),
                  w('finished_at', '<', before(FINISHED_JOB_RETENTION_DAYS.failed)),
                ]),
              ]),
            )
            .limit(PURGE_BATCH),
        )
        .executeTakeFirst();
      const count = Number(result.numDeletedRows);
      deleted += count;
      if (count < PURGE_BATCH) return deleted;
    }
  }

  /** Works the queue until `signal` aborts, waking every `pollMs` or when {@link notify} is called. */
  async work(signal: AbortSignal, pollMs: number, onError: (error: unknown) => void): Promise<void> {
    await this.#loop.run(signal, pollMs, () => this.runDue(), onError);
  }

  async #claim(scope: ClockScope): Promise<JobRow | undefined> {
    const now = scope.now;
    const leaseEnd = new Date(now.getTime() + LEASE_MS);
    const result = await sql<JobRow>`
      update jobs set status = 'running', attempts = attempts + 1, locked_until = ${leaseEnd}
      where id = (
        select id from jobs
        where ((status = 'pending' and run_at <= ${now}) or (status = 'running' and locked_until < ${now}))
          and ${onClock('test_clock_id', scope)}
        order by run_at
        limit 1
        for update skip locked
      )
      returning *`.execute(this.#db);
    return result.rows[0];
  }

  /** Runs a claimed job; `clock` is its clock's (retries are scheduled in its time). */
  async #execute(job: JobRow, clock: Clock): Promise<void> {
    const handler = this.#handlers.get(job.kind);
    const payload = job.payload as Record<string, unknown>;
    // The outcome is written only while this claim still holds the job: a worker that outlived
    // its lease finds the job claimed again (attempts moved on) and must not overwrite the result.
    const stillOurs = (update: UpdateQueryBuilder<Schema, 'jobs', 'jobs', UpdateResult>) =>
      update.where('id', '=', job.id).where('status', '=', 'running').where('attempts', '=', job.attempts);
    if (job.attempts > job.max_attempts) {
      // The worker of the last attempt stopped without a word (its lease ran out): that attempt
      // failed too, and the job must end rather than be claimed again for ever.
      const message = 'the worker stopped during the last attempt';
      const written = await stillOurs(
        this.#db
          .updateTable('jobs')
          .set({ status: 'failed', finished_at: clock.now(), locked_until: null, last_error: message }),
      ).executeTakeFirst();
      if (written.numUpdatedRows > 0n) await handler?.onExhausted?.(payload, message, job);
      return;
    }
    try {
      if (!handler) throw new Error(`no handler for job kind "${job.kind}"`);
      await handler.run(payload, job);
      await stillOurs(
        this.#db
          .updateTable('jobs')
          .set({ status: 'succeeded', finished_at: clock.now(), locked_until: null, last_error: null }),
      ).execute();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const exhausted = job.attempts >= job.max_attempts;
      const now = clock.now();
      const written = await stillOurs(
        this.#db.updateTable('jobs').set(
          exhausted
            ? { status: 'failed', finished_at: now, locked_until: null, last_error: message }
            : {
                status: 'pending',
                run_at: new Date(now.getTime() + backoffMs(job.attempts)),
                locked_until: null,
                last_error: message,
              },
        ),
      ).executeTakeFirst();
      if (exhausted && written.numUpdatedRows > 0n) await handler?.onExhausted?.(payload, message, job);
    }
  }
}
