import { type Kysely, sql, type Transaction } from 'kysely';
import { recordChange } from '../changes/index.ts';
import { type Clock, type ClockScope, liveScope, onClock } from '../clock.ts';
import type { JobRow, Schema } from '../db/index.ts';
import type { JobQueue } from '../jobs/index.ts';
import { type RequestContext, systemContext } from '../request-context.ts';
import { BILLING_REASONS, billingTransition, type LockedTenant, lockTenant } from './billing-tenant.ts';
import { hasPaymentMethod } from './payment-method-service.ts';
import { endTrial } from './subscription-changes.ts';

/** The job kind of the trial sweep. */
export const TRIAL_SWEEP_JOB = 'trials.sweep';

/** Days before a trial ends when `trial.will_end` is raised. */
export const DEFAULT_TRIAL_REMINDER_DAYS = 3;

/**
 * The longest the sweep sleeps. It wakes at the next trial end or reminder it knows of; this
 * bounds how late it sees a tenant created after it looked (a trial lasts at least a day, so only
 * reminders of trials shorter than the reminder period can be late, by at most this much).
 */
const MAX_SLEEP_MS = 3_600_000;

/** A sweep whose every attempt failed is started again after this long rather than never. */
const RESTART_AFTER_MS = 3_600_000;

const DAY_MS = 86_400_000;

/** Who the audit log names for trial conversions. */
const TRIALS: RequestContext = systemContext('trials');

/** What {@link Trials} needs. */
export interface TrialsOptions {
  readonly db: Kysely<Schema>;
  readonly clock: Clock;
  readonly jobs: JobQueue;
  /** Told after a trial's end has committed a change to its tenant, e.g. to drop cached entitlements. */
  readonly onChanged: (tenantId: string) => void;
  /** Days before the end to raise `trial.will_end`; {@link DEFAULT_TRIAL_REMINDER_DAYS} by default. */
  readonly reminderDays?: number;
}

/** What one sweep did. */
export interface TrialSweep {
  /** Tenants reminded that their trial ends soon. */
  readonly reminded: string[];
  /** Tenants whose trial ended, and the state each moved to. */
  readonly ended: { tenantId: string; to: 'active' | 'suspended' }[];
  /** When the next sweep is due. */
  readonly next: Date;
}

/**
 * Ends trials. A durable job (`trials.sweep`) finds trialing tenants whose trial is about to end
 * or has ended, and for each, in its own transaction with the tenant locked:
 *
 * - `reminderDays` before the end raises `trial.will_end`, saying what will happen;
 * - at the end moves the tenant to `active` — or to `suspended` (reason
 *   `trial_ended_without_payment_method`) when its plan requires a payment method and none is on
 *   file — recorded as that transition (`tenant.activated` or `tenant.suspended`) raising
 *   `trial.ended` too.
 *
 * Each notice is raised once per tenant and trial end: its row in `trial_notices` is unique and
 * the event is written only with it. The sweep then schedules itself for the next reminder or
 * end it knows of, at most an hour away. {@link schedule} starts the chain; the server calls it
 * at start, and a second call while a sweep is pending does nothing.
 */
export class Trials {
  readonly #o: TrialsOptions;
  readonly #reminderMs: number;

  constructor(options: TrialsOptions) {
    this.#o = options;
    this.#reminderMs = (options.reminderDays ?? DEFAULT_TRIAL_REMINDER_DAYS) * DAY_MS;
    options.jobs.handle(TRIAL_SWEEP_JOB, {
      run: (_payload, job) => this.#sweepAndReschedule(job),
      onExhausted: () => this.schedule(new Date(this.#o.clock.now().getTime() + RESTART_AFTER_MS)),
    });
  }

  /** Makes sure a sweep is scheduled (now, unless `at` says when); does nothing if one is pending. */
  async schedule(at?: Date): Promise<void> {
    await this.#o.db.transaction().execute((tx) => this.#enqueue(tx, at ?? this.#o.clock.now()));
    this.#o.jobs.notify();
  }

  /**
   * Raises the reminders and ends the trials that are due now; what the job does, less
   * rescheduling. The live tenants' by default; a test clock's tenants' at its time with its scope.
   */
  async sweep(scope: ClockScope = liveScope(this.#o.clock)): Promise<TrialSweep> {
    const now = scope.now;
    const due = await this.#o.db
      .selectFrom('tenants')
      .select('id')
      .where('state', '=', 'trialing')
      .where(onClock('test_clock_id', scope))
      .where('trial_ends_at', '<=', new Date(now.getTime() + this.#reminderMs))
      .orderBy('trial_ends_at')
      .execute();
    const reminded: string[] = [];
    const ended: TrialSweep['ended'] = [];
    for (const { id } of due) {
      const outcome = await this.#o.db.transaction().execute(async (tx) => {
        const tenant = await lockTenant(tx, id);
        if (tenant?.state !== 'trialing' || tenant.trial_ends_at === null) return null;
        if (tenant.trial_ends_at <= now)
          return { ended: await this.#end(tx, tenant, tenant.trial_ends_at, now) };
        return (await this.#remind(tx, tenant, tenant.trial_ends_at, now)) ? { reminded: true } : null;
      });
      if (outcome && 'ended' in outcome) {
        ended.push({ tenantId: id, to: outcome.ended });
        this.#o.onChanged(id);
      } else if (outcome) {
        reminded.push(id);
      }
    }
    const cap = new Date(now.getTime() + MAX_SLEEP_MS);
    const next = await this.nextMoment(scope);
    return { reminded, ended, next: next && next < cap ? next : cap };
  }

  async #sweepAndReschedule(job: JobRow): Promise<void> {
    const { next } = await this.sweep();
    await this.#o.db.transaction().execute(async (tx) => {
      // The running sweep holds the dedupe key, which would turn the next one away: it lets go of
      // it in the transaction that enqueues the next, so that one sweep is pending at any time.
      await tx.updateTable('jobs').set({ dedupe_key: null }).where('id', '=', job.id).execute();
      await this.#enqueue(tx, next);
    });
  }

  #enqueue(tx: Transaction<Schema>, runAt: Date): Promise<void> {
    return this.#o.jobs.enqueue(tx, {
      kind: TRIAL_SWEEP_JOB,
      payload: {},
      dedupeKey: TRIAL_SWEEP_JOB,
      runAt,
      maxAttempts: 10,
    });
  }

  /** Raises `trial.will_end` unless it was raised for this trial end; returns whether it did. */
  async #remind(tx: Transaction<Schema>, tenant: LockedTenant, endsAt: Date, now: Date): Promise<boolean> {
    if (!(await this.#notice(tx, tenant.id, 'will_end', endsAt, now))) return false;
    const onFile = await hasPaymentMethod(tx, tenant.id);
    const required = tenant.definition.requires_payment_method;
    await recordChange(tx, TRIALS, {
      action: 'trial.will_end',
      tenantId: tenant.id,
      target: { type: 'tenant', id: tenant.id },
      data: {
        trial_ends_at: endsAt.toISOString(),
        plan: tenant.definition.key,
        requires_payment_method: required,
        payment_method_on_file: onFile,
        // What happens at the end if nothing changes meanwhile: what the reminder is for.
        outcome: required && !onFile ? 'suspended' : 'active',
      },
      occurredAt: now,
    });
    return true;
  }

  /** Ends the trial: active, or suspended for want of a required payment method. */
  async #end(
    tx: Transaction<Schema>,
    tenant: LockedTenant,
    endsAt: Date,
    now: Date,
  ): Promise<'active' | 'suspended'> {
    const onFile = await hasPaymentMethod(tx, tenant.id);
    const suspend = tenant.definition.requires_payment_method && !onFile;
    const to = suspend ? 'suspended' : 'active';
    await this.#notice(tx, tenant.id, 'ended', endsAt, now);
    // Activation ends the trial at its planned end through the lifecycle; a suspension leaves the
    // trial over all the same, so the anchor moves to its end here (as Stripe's does).
    if (suspend) await endTrial(tx, { tenantId: tenant.id, at: endsAt, now });
    await billingTransition(tx, TRIALS, tenant, {
      to,
      reason: suspend ? BILLING_REASONS.trialEndedWithoutPaymentMethod : null,
      details: {
        trial_ends_at: endsAt.toISOString(),
        plan: tenant.definition.key,
        payment_method_on_file: onFile,
      },
      trialEnded: true,
      now,
    });
    return to;
  }

  /** Records a notice; false when it was already recorded for this trial end. */
  async #notice(
    tx: Transaction<Schema>,
    tenantId: string,
    kind: 'will_end' | 'ended',
    endsAt: Date,
    now: Date,
  ): Promise<boolean> {
    const inserted = await tx
      .insertInto('trial_notices')
      .values({ tenant_id: tenantId, kind, trial_ends_at: endsAt, sent_at: now })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    return Number(inserted.numInsertedOrUpdatedRows ?? 0n) > 0;
  }

  /**
   * The next reminder or trial end of a trialing tenant of the scope after its `now`, or null.
   * Every reminder due by `now` was raised by the sweep, so a tenant's next moment is its reminder
   * while that lies ahead, and its end after. (The sweep sleeps at most an hour past it.)
   */
  async nextMoment(scope: ClockScope): Promise<Date | null> {
    const now = scope.now;
    const reminderAt = sql<Date>`trial_ends_at - make_interval(secs => ${this.#reminderMs / 1000})`;
    const row = await this.#o.db
      .selectFrom('tenants')
      .select(
        sql<Date | null>`min(case when ${reminderAt} > ${now} then ${reminderAt} else trial_ends_at end)`.as(
          'next',
        ),
      )
      .where('state', '=', 'trialing')
      .where(onClock('test_clock_id', scope))
      .where('trial_ends_at', '>', now)
      .executeTakeFirst();
    return row?.next ? new Date(row.next) : null;
  }
}
