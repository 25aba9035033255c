import { type DomainError, type FieldError, fail, ok, type Result } from '@tenantry/core';
import type { Kysely, Transaction } from 'kysely';
import { type Change, recordChanges } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import { newId } from '../ids.ts';
import type { Mailer, MailOutcome } from '../mail/index.ts';
import type { RequestContext } from '../request-context.ts';
import { createLink, findLink, type LinkPurpose, type LinkRefusal } from './links.ts';
import { checkEmail, checkPassword, hashPassword, verifyPassword } from './passwords.ts';
import type { SessionService, StartedSession } from './session-service.ts';
import { DEFAULT_SIGN_IN_LIMITS, type SignInLimits, SignInThrottle } from './sign-in-throttle.ts';

/** Where a request comes from, for the session it may start and the audit entry it writes. */
export interface Origin {
  readonly requestId: string | null;
  readonly ip: string | undefined;
  readonly userAgent: string | undefined;
}

/** The user acting on its own account. */
export function userContext(userId: string, origin: Origin): RequestContext {
  return { actor: { type: 'user', id: userId }, requestId: origin.requestId, sourceIp: origin.ip ?? null };
}

/** A change a user makes to their own account, without what {@link recordOwn} fills in. */
export type OwnChange = Change extends infer C
  ? C extends Change
    ? Omit<C, 'tenantId' | 'target'>
    : never
  : never;

/** Records changes a user made to their own account: no tenant, the user as actor and target. */
export function recordOwn(
  tx: Transaction<Schema>,
  origin: Origin,
  userId: string,
  changes: readonly OwnChange[],
): Promise<void> {
  return recordChanges(
    tx,
    userContext(userId, origin),
    // Each is a Change of its own action once the two fields are back; tsc cannot follow the
    // spread through the union of actions, so it is told.
    changes.map((change) => ({ ...change, tenantId: null, target: { type: 'user', id: userId } }) as Change),
  );
}

/**
 * Someone not signed in (a sign-in attempt, a reset asked for): not yet anyone, so the system's
 * hosted pages act, and the audit entry keeps the address it came from.
 */
export function anonymousContext(origin: Origin): RequestContext {
  return {
    actor: { type: 'system', id: 'hosted-pages' },
    requestId: origin.requestId,
    sourceIp: origin.ip ?? null,
  };
}

/** The target of a failed sign-in whose email no user has: nothing that tells which email it was. */
export const UNKNOWN_USER = 'unknown';

/** The one answer to a wrong password and to an unknown email, so the two cannot be told apart. */
const INVALID_CREDENTIALS = 'the email or password is not right';

export type SignInResult =
  /** Signed in; the cookie holds the session. */
  | { readonly stage: 'signed_in'; readonly session: StartedSession; readonly userId: string }
  /** The password was right; the second factor is next, on the pending session. */
  | { readonly stage: 'mfa'; readonly session: StartedSession; readonly userId: string };

const LINK_MESSAGES: Readonly<Record<LinkRefusal, string>> = {
  unknown: 'this link is not valid; ask for a new one',
  used: 'this link was already used; each link works once',
  expired: 'this link has expired; ask for a new one',
};

function invalid(errors: readonly FieldError[]): { ok: false; error: DomainError } {
  return fail('validation_failed', `invalid fields: ${errors.map((e) => e.path).join(', ')}`, { errors });
}

/**
 * Sign-up, email verification, sign-in and password reset for the hosted pages. Every change is
 * recorded; mail goes out after its change commits, and its outcome is returned so the page can
 * say whether mail is configured.
 */
export class AccountService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #sessions: SessionService;
  readonly #mailer: Mailer;
  readonly #publicUrl: string;
  readonly #throttle: SignInThrottle;

  constructor(deps: {
    db: Kysely<Schema>;
    clock: Clock;
    sessions: SessionService;
    mailer: Mailer;
    publicUrl: string;
    /** Failed password sign-ins allowed per email and per address ({@link DEFAULT_SIGN_IN_LIMITS}). */
    signInLimits?: SignInLimits | undefined;
  }) {
    this.#throttle = new SignInThrottle(deps.db, deps.clock, deps.signInLimits ?? DEFAULT_SIGN_IN_LIMITS);
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#sessions = deps.sessions;
    this.#mailer = deps.mailer;
    this.#publicUrl = deps.publicUrl;
  }

  #link(path: string, token: string): string {
    return `${this.#publicUrl}${path}?token=${token}`;
  }

  /**
   * Signs a person up: a user with an argon2id password and an unverified email, and a
   * verification link mailed. An email already signed up gets the same answer (so that sign-up
   * does not tell who has an account), does the same hashing work, and its owner is mailed a
   * password reset link instead.
   */
  async signUp(
    origin: Origin,
    input: { readonly email: string; readonly password: string; readonly name?: string | undefined },
  ): Promise<Result<{ mail: MailOutcome }, DomainError>> {
    const errors: FieldError[] = [];
    const email = checkEmail(input.email);
    if (!email.ok) errors.push(email.error);
    const name = input.name?.trim() || undefined;
    if (name !== undefined && name.length > 200)
      errors.push({ path: 'name', message: 'must be at most 200 characters' });
    const strength = checkPassword(input.password, [input.email, ...(name ? [name] : [])]);
    if (!strength.ok) errors.push(strength.error);
    if (!email.ok || errors.length > 0) return invalid(errors);
    const passwordHash = await hashPassword(input.password);
    const now = this.#clock.now();
    const outcome = await this.#db.transaction().execute(async (tx) => {
      const existing = await tx
        .selectFrom('users')
        .select('id')
        .where('email_key', '=', email.value.toLowerCase())
        .executeTakeFirst();
      if (existing !== undefined) {
        const token = await createLink(tx, existing.id, 'reset_password', now);
        await recordChanges(tx, anonymousContext(origin), [this.#resetRequested(existing.id, now)]);
        return { kind: 'reset' as const, token };
      }
      const userId = newId('usr', now.getTime());
      await tx
        .insertInto('users')
        .values({
          id: userId,
          email: email.value,
          email_key: email.value.toLowerCase(),
          name: name ?? null,
          updated_at: now,
        })
        .execute();
      await tx
        .insertInto('user_passwords')
        .values({ user_id: userId, hash: passwordHash, changed_at: now })
        .execute();
      const token = await createLink(tx, userId, 'verify_email', now);
      await recordOwn(tx, origin, userId, [
        {
          action: 'user.signed_up',
          after: { email: email.value, name: name ?? null },
          data: { user_id: userId, email: email.value },
          occurredAt: now,
        },
      ]);
      return { kind: 'verify' as const, token };
    });
    const mail =
      outcome.kind === 'verify'
        ? await this.#mailer.sendVerification(email.value, this.#link('/verify-email', outcome.token))
        : await this.#mailer.sendPasswordReset(email.value, this.#link('/reset-password', outcome.token));
    return ok({ mail });
  }

  /** Follows a verification link: the user's email is verified, and the link spent. */
  async verifyEmail(origin: Origin, token: string): Promise<Result<{ email: string }, DomainError>> {
    const now = this.#clock.now();
    return this.#db.transaction().execute(async (tx) => {
      const link = await findLink(tx, token, 'verify_email', now, true);
      if (!link.ok) return this.#linkRefused(link.refusal);
      const user = await tx
        .updateTable('users')
        .set({ email_verified_at: now, updated_at: now })
        .where('id', '=', link.userId)
        .returning(['email'])
        .executeTakeFirstOrThrow();
      await recordOwn(tx, origin, link.userId, [
        {
          action: 'user.email_verified',
          before: { email_verified_at: null },
          after: { email_verified_at: now.toISOString() },
          data: { user_id: link.userId, email: user.email },
          occurredAt: now,
        },
      ]);
      return ok({ email: user.email });
    });
  }

  /**
   * Signs in with email and password. A wrong password and an unknown email get one answer
   * (`invalid_credentials`, the same detail) after the same work: an unknown email is verified
   * against a dummy hash of the same cost, and both record one `user.sign_in_failed`. A user with
   * MFA gets a pending session that waits for the second factor; one whose email is not verified
   * yet is mailed a new link and refused. Past the limit of failed attempts for the email or the
   * address, every attempt is refused with `too_many_attempts` before its password is looked at
   * (see {@link SignInThrottle}), and recorded as a failure with reason `rate_limited`.
   */
  async signIn(
    origin: Origin,
    input: { readonly email: string; readonly password: string },
  ): Promise<Result<SignInResult, DomainError>> {
    const now = this.#clock.now();
    const attempt = await this.#throttle.begin(input.email, origin.ip);
    const user = await this.#db
      .selectFrom('users')
      .leftJoin('user_passwords', 'user_passwords.user_id', 'users.id')
      .leftJoin('user_totp', 'user_totp.user_id', 'users.id')
      .select([
        'users.id',
        'users.email',
        'users.email_verified_at',
        'user_passwords.hash',
        'user_totp.confirmed_at',
      ])
      .where('users.email_key', '=', input.email.trim().toLowerCase())
      .executeTakeFirst();
    if (!attempt.ok) {
      // No password is checked: a right one is refused too, so the limit cannot be waited out by
      // guessing on, and a refusal costs the server no argon2 work.
      await this.#db.transaction().execute((tx) =>
        recordChanges(tx, anonymousContext(origin), [
          {
            action: 'user.sign_in_failed',
            tenantId: null,
            target: { type: 'user', id: user?.id ?? UNKNOWN_USER },
            data: { user_id: user?.id ?? null, reason: 'rate_limited' },
            occurredAt: now,
          },
        ]),
      );
      return attempt;
    }
    const matches = await verifyPassword(user?.hash ?? undefined, input.password);
    // A right password was no guess: it does not count against the limit.
    if (user !== undefined && matches) await this.#throttle.release(attempt.value);
    if (user === undefined || !matches) {
      await this.#db.transaction().execute((tx) =>
        recordChanges(tx, anonymousContext(origin), [
          {
            action: 'user.sign_in_failed',
            tenantId: null,
            target: { type: 'user', id: user?.id ?? UNKNOWN_USER },
            data: { user_id: user?.id ?? null, reason: 'invalid_credentials' },
            occurredAt: now,
          },
        ]),
      );
      return fail('invalid_credentials', INVALID_CREDENTIALS);
    }
    if (user.email_verified_at === null) {
      const token = await this.#db.transaction().execute(async (tx) => {
        const made = await createLink(tx, user.id, 'verify_email', now);
        await recordChanges(tx, anonymousContext(origin), [
          {
            action: 'user.sign_in_failed',
            tenantId: null,
            target: { type: 'user', id: user.id },
            data: { user_id: user.id, reason: 'email_not_verified' },
            occurredAt: now,
          },
          {
            action: 'user.verification_sent',
            tenantId: null,
            target: { type: 'user', id: user.id },
            occurredAt: now,
          },
        ]);
        return made;
      });
      const mail = await this.#mailer.sendVerification(user.email, this.#link('/verify-email', token));
      return fail(
        'email_not_verified',
        mail === 'failed'
          ? 'verify your email address first; sending a new link failed, try again later'
          : 'verify your email address first: a new link is on its way',
        { details: { mail } },
      );
    }
    const mfa = user.confirmed_at !== null && user.confirmed_at !== undefined;
    return this.#db.transaction().execute(async (tx) => {
      const session = await this.#sessions.start(tx, {
        userId: user.id,
        pendingMfa: mfa,
        userAgent: origin.userAgent,
        ip: origin.ip,
      });
      const change: OwnChange = mfa
        ? { action: 'user.password_verified', data: { session_id: session.id }, occurredAt: now }
        : {
            action: 'user.signed_in',
            data: { user_id: user.id, session_id: session.id, mfa: false },
            occurredAt: now,
          };
      await recordOwn(tx, origin, user.id, [change]);
      return ok({ stage: mfa ? ('mfa' as const) : ('signed_in' as const), session, userId: user.id });
    });
  }

  /**
   * Mails a password reset link when a user has the email; says nothing either way (the page
   * answers the same), so that it does not tell who has an account.
   */
  async requestPasswordReset(
    origin: Origin,
    rawEmail: string,
  ): Promise<Result<{ mail: MailOutcome | null }, DomainError>> {
    const email = checkEmail(rawEmail);
    if (!email.ok) return invalid([email.error]);
    const now = this.#clock.now();
    const found = await this.#db.transaction().execute(async (tx) => {
      const user = await tx
        .selectFrom('users')
        .select(['id', 'email'])
        .where('email_key', '=', email.value.toLowerCase())
        .executeTakeFirst();
      if (user === undefined) return undefined;
      const token = await createLink(tx, user.id, 'reset_password', now);
      await recordChanges(tx, anonymousContext(origin), [this.#resetRequested(user.id, now)]);
      return { email: user.email, token };
    });
    if (found === undefined) return ok({ mail: null });
    return ok({
      mail: await this.#mailer.sendPasswordReset(found.email, this.#link('/reset-password', found.token)),
    });
  }

  /** Whether a reset link works now (the page asks before showing its form); does not spend it. */
  async checkLink(token: string, purpose: LinkPurpose): Promise<Result<void, DomainError>> {
    const now = this.#clock.now();
    return this.#db.transaction().execute(async (tx) => {
      const link = await findLink(tx, token, purpose, now, false);
      return link.ok ? ok(undefined) : this.#linkRefused(link.refusal);
    });
  }

  /**
   * Sets a new password through a reset link: the link is spent, the password replaced, every
   * session of the user ended (whoever held one is signed out), and the email counts as verified
   * (the link reached it). A weak password is refused and the link stays usable.
   */
  async resetPassword(
    origin: Origin,
    token: string,
    password: string,
  ): Promise<Result<{ sessionsEnded: number }, DomainError>> {
    const now = this.#clock.now();
    // Checked before hashing, with the user's email and name as words the password must not lean on.
    const checked = await this.#db.transaction().execute(async (tx) => {
      const link = await findLink(tx, token, 'reset_password', now, false);
      if (!link.ok) return this.#linkRefused(link.refusal);
      const user = await tx
        .selectFrom('users')
        .select(['email', 'name'])
        .where('id', '=', link.userId)
        .executeTakeFirstOrThrow();
      const strength = checkPassword(password, [user.email, ...(user.name ? [user.name] : [])]);
      return strength.ok ? ok(undefined) : invalid([strength.error]);
    });
    if (!checked.ok) return checked;
    const passwordHash = await hashPassword(password);
    return this.#db.transaction().execute(async (tx) => {
      const link = await findLink(tx, token, 'reset_password', now, true);
      if (!link.ok) return this.#linkRefused(link.refusal);
      await tx
        .insertInto('user_passwords')
        .values({ user_id: link.userId, hash: passwordHash, changed_at: now })
        .onConflict((oc) => oc.column('user_id').doUpdateSet({ hash: passwordHash, changed_at: now }))
        .execute();
      const verified = await tx
        .updateTable('users')
        .set({ email_verified_at: now, updated_at: now })
        .where('id', '=', link.userId)
        .where('email_verified_at', 'is', null)
        .returning('id')
        .executeTakeFirst();
      const sessionsEnded = await this.#sessions.endSessionsOf(
        link.userId,
        userContext(link.userId, origin),
        {
          tx,
          reason: 'password_reset',
        },
      );
      await recordOwn(tx, origin, link.userId, [
        {
          action: 'user.password_reset',
          ...(verified
            ? { before: { email_verified_at: null }, after: { email_verified_at: now.toISOString() } }
            : {}),
          data: { user_id: link.userId, sessions_ended: sessionsEnded },
          occurredAt: now,
        },
      ]);
      return ok({ sessionsEnded });
    });
  }

  #resetRequested(userId: string, now: Date): Change {
    return {
      action: 'user.password_reset_requested',
      tenantId: null,
      target: { type: 'user', id: userId },
      occurredAt: now,
    };
  }

  #linkRefused(refusal: LinkRefusal): { ok: false; error: DomainError } {
    return fail('link_invalid', LINK_MESSAGES[refusal], { details: { reason: refusal } });
  }
}
