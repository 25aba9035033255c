import { createHash } from 'node:crypto';
import { type DomainError, fail, ok, type Result, retryAfterSeconds } from '@tenantry/core';
import { type Kysely, sql } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';

/** How many failed password sign-ins are allowed, per email and per source address, in a window. */
export interface SignInLimits {
  /** Per email (an account's or not): slows guessing at one account. */
  readonly perEmail: number;
  /** Per source address: slows one address guessing at many accounts; higher, as offices share one. */
  readonly perIp: number;
  readonly windowMs: number;
}

/** 10 wrong passwords per email and 100 per address, within 15 minutes. */
export const DEFAULT_SIGN_IN_LIMITS: SignInLimits = { perEmail: 10, perIp: 100, windowMs: 15 * 60_000 };

/** An attempt counted as failed until its password proves right. */
export interface Attempt {
  readonly ids: readonly string[];
}

/** Which subject is over its limit, in a refusal's `limited_by`. */
type LimitedBy = 'email' | 'ip';

/**
 * Limits password guessing: failed sign-ins are counted per email and per source address in a
 * sliding window ({@link SignInLimits}), and past either limit every attempt is refused with
 * `too_many_attempts` (429, `retry_after` seconds) without checking its password — right or not,
 * and whether or not a user has the email, so the limit tells nothing about who has an account.
 * The email is counted by its hash, as typed (without case): an unknown email counts the same.
 *
 * Each attempt is counted before its password is checked, under a lock per subject, so that
 * concurrent guesses cannot all slip under the limit; a right password takes its count back
 * ({@link release}). A sign-in that passes does not clear earlier failures: they age out.
 */
export class SignInThrottle {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #limits: SignInLimits;

  constructor(db: Kysely<Schema>, clock: Clock, limits: SignInLimits = DEFAULT_SIGN_IN_LIMITS) {
    this.#db = db;
    this.#clock = clock;
    this.#limits = limits;
  }

  /** Counts an attempt of `email` from `ip` as failed, or refuses it when either is over its limit. */
  async begin(email: string, ip: string | undefined): Promise<Result<Attempt, DomainError>> {
    const now = this.#clock.now();
    const since = new Date(now.getTime() - this.#limits.windowMs);
    const subjects: { subject: string; limit: number; by: LimitedBy }[] = [
      { subject: `email:${hashEmail(email)}`, limit: this.#limits.perEmail, by: 'email' },
      ...(ip === undefined ? [] : [{ subject: `ip:${ip}`, limit: this.#limits.perIp, by: 'ip' as const }]),
    ];
    return this.#db.transaction().execute(async (tx) => {
      // Always email first, then address: one order, so two attempts never wait on each other in a cycle.
      for (const { subject } of subjects) {
        await sql`select pg_advisory_xact_lock(hashtext(${`sign-in:${subject}`}))`.execute(tx);
      }
      await tx.deleteFrom('sign_in_failures').where('failed_at', '<=', since).execute();
      for (const { subject, limit, by } of subjects) {
        const counted = await tx
          .selectFrom('sign_in_failures')
          .select((eb) => [eb.fn.countAll<string>().as('n'), eb.fn.min('failed_at').as('oldest')])
          .where('subject', '=', subject)
          .executeTakeFirstOrThrow();
        if (Number(counted.n) >= limit) {
          const oldest = counted.oldest === null ? now : new Date(counted.oldest);
          return tooManyAttempts('too many failed sign-in attempts', oldest, this.#limits.windowMs, now, {
            limited_by: by,
          });
        }
      }
      const rows = await tx
        .insertInto('sign_in_failures')
        .values(subjects.map(({ subject }) => ({ subject, failed_at: now })))
        .returning('id')
        .execute();
      return ok({ ids: rows.map((r) => String(r.id)) });
    });
  }

  /** Takes back an attempt whose password was right: it was no guess. */
  async release(attempt: Attempt): Promise<void> {
    if (attempt.ids.length === 0) return;
    await this.#db
      .deleteFrom('sign_in_failures')
      .where('id', 'in', [...attempt.ids])
      .execute();
  }
}

/**
 * The refusal of an attempt past a sliding-window limit (failed sign-ins here, wrong MFA codes in
 * mfa-service): `retry_after` is when the oldest failure counted leaves the window.
 */
export function tooManyAttempts(
  what: string,
  oldest: Date,
  windowMs: number,
  now: Date,
  details: Readonly<Record<string, unknown>> = {},
): ReturnType<typeof fail> {
  const retryAfter = retryAfterSeconds(oldest.getTime() + windowMs - now.getTime());
  return fail('too_many_attempts', `${what}; try again in ${Math.ceil(retryAfter / 60)} minutes`, {
    details: { retry_after: retryAfter, ...details },
  });
}

function hashEmail(email: string): string {
  return createHash('sha256').update(email.trim().toLowerCase()).digest('hex');
}
