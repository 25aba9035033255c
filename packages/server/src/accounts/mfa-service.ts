import { randomBytes } from 'node:crypto';
import { type DomainError, fail, ok, type Result } from '@tenantry/core';
import type { Kysely, Transaction } from 'kysely';
import { Secret, TOTP } from 'otpauth';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import type { BrandSource, Mailer } from '../mail/index.ts';
import type { SecretBox } from '../secrets/index.ts';
import { type Origin, type OwnChange, recordOwn } from './account-service.ts';
import { hashSecret, type SessionService, type StartedSession } from './session-service.ts';
import { tooManyAttempts } from './sign-in-throttle.ts';

/** Wrong codes allowed per user within {@link ATTEMPT_WINDOW_MS}; past them every code is refused. */
export const MAX_FAILED_ATTEMPTS = 5;
export const ATTEMPT_WINDOW_MS = 15 * 60_000;
/** How many recovery codes a user gets, each used once. */
export const RECOVERY_CODES = 10;

/** TOTP as every authenticator app reads it: SHA-1, 6 digits, 30 seconds. */
const PERIOD = 30;
/** One step either side of now, for clocks a little apart; the used step is remembered, so no replay. */
const WINDOW = 1;

type During = 'sign_in' | 'enrol' | 'disable' | 'recovery_codes';

/** What a code proved: an authenticator's TOTP, or a recovery code (now spent). */
type Proof = { readonly kind: 'totp' } | { readonly kind: 'recovery'; readonly remaining: number };

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

/** A recovery code: 80 random bits, as four groups of four base32 characters. */
function recoveryCode(): string {
  const bytes = randomBytes(16);
  let out = '';
  for (const byte of bytes) out += CROCKFORD.charAt(byte & 31);
  return out.match(/.{4}/g)?.join('-') ?? out;
}

/** A recovery code as typed, normalised: lower case, without dashes or spaces. */
function normaliseRecovery(code: string): string {
  return code.toLowerCase().replace(/[\s-]/g, '');
}

/**
 * TOTP second factor (otpauth): enrolment with a secret sealed at rest under the master key and
 * shown once as an otpauth:// URI, confirmation by a first code, the challenge at sign-in, recovery
 * codes, and disabling. A code is refused a second time within its window (the last used time step
 * is kept), and wrong codes are limited per user: {@link MAX_FAILED_ATTEMPTS} per
 * {@link ATTEMPT_WINDOW_MS}, then `too_many_attempts` (429) until the window passes. Every change of
 * MFA is mailed to the user.
 */
export class MfaService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #secrets: SecretBox;
  readonly #sessions: SessionService;
  readonly #mailer: Mailer;
  readonly #brand: BrandSource;

  constructor(deps: {
    db: Kysely<Schema>;
    clock: Clock;
    secrets: SecretBox;
    sessions: SessionService;
    mailer: Mailer;
    /** The vendor's brand as it is now: its product's name is what authenticator apps show. */
    brand: BrandSource;
  }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#secrets = deps.secrets;
    this.#sessions = deps.sessions;
    this.#mailer = deps.mailer;
    this.#brand = deps.brand;
  }

  /** Whether the user has MFA on (a confirmed authenticator), and how many recovery codes are left. */
  async status(userId: string): Promise<{ enabled: boolean; recoveryCodesLeft: number }> {
    const totp = await this.#db
      .selectFrom('user_totp')
      .select('confirmed_at')
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return {
      enabled: totp?.confirmed_at != null,
      recoveryCodesLeft: await this.#recoveryCodesLeft(this.#db, userId),
    };
  }

  /**
   * Begins enrolment: a new secret, sealed and stored unconfirmed (replacing an unconfirmed one);
   * returns the otpauth:// URI and the secret to show once. MFA is on only when a code confirms it.
   */
  async beginEnrolment(
    origin: Origin,
    userId: string,
    email: string,
  ): Promise<Result<{ uri: string; secret: string }, DomainError>> {
    const now = this.#clock.now();
    const secret = new Secret({ size: 20 });
    const sealed = await this.#secrets.seal(`totp:${userId}`, secret.base32);
    // Read before the transaction: on PGlite it holds the only connection the brand's read needs.
    const issuer = (await this.#brand()).productName;
    return this.#db.transaction().execute(async (tx) => {
      const current = await this.#lockTotp(tx, userId);
      if (current?.confirmed_at != null)
        return fail(
          'mfa_already_enabled',
          'MFA is already on; disable it first to enrol another authenticator',
        );
      await tx
        .insertInto('user_totp')
        .values({
          user_id: userId,
          secret_sealed: sealed,
          created_at: now,
          confirmed_at: null,
          last_used_step: null,
        })
        .onConflict((oc) =>
          oc.column('user_id').doUpdateSet({ secret_sealed: sealed, created_at: now, last_used_step: null }),
        )
        .execute();
      await recordOwn(tx, origin, userId, [
        {
          action: 'user.mfa_enrolment_started',
          occurredAt: now,
        },
      ]);
      return ok({ uri: this.#totp(secret, email, issuer).toString(), secret: secret.base32 });
    });
  }

  /**
   * Confirms enrolment with a code from the authenticator: MFA is on, and 10 recovery codes are
   * returned to show once (stored hashed). The MFA change is mailed.
   */
  async confirmEnrolment(
    origin: Origin,
    userId: string,
    email: string,
    code: string,
  ): Promise<Result<{ recoveryCodes: string[] }, DomainError>> {
    const now = this.#clock.now();
    const result = await this.#db.transaction().execute(async (tx) => {
      const row = await this.#lockTotp(tx, userId);
      if (row === undefined)
        return {
          result: fail(
            'mfa_not_enabled',
            'begin enrolment first: no authenticator is waiting for its first code',
          ),
        };
      if (row.confirmed_at !== null) return { result: fail('mfa_already_enabled', 'MFA is already on') };
      const proof = await this.#check(tx, origin, userId, email, code, 'enrol', false);
      if (!proof.ok) return { result: proof, failed: true };
      await tx.updateTable('user_totp').set({ confirmed_at: now }).where('user_id', '=', userId).execute();
      const codes = await this.#replaceRecoveryCodes(tx, userId);
      await recordOwn(tx, origin, userId, [
        {
          action: 'user.mfa_enrolled',
          before: { mfa: false },
          after: { mfa: true },
          data: { user_id: userId },
          occurredAt: now,
        },
      ]);
      return { result: ok({ recoveryCodes: codes }) };
    });
    if (result.result.ok) await this.#mailer.sendMfaChanged(email, 'an authenticator app was added');
    return result.result;
  }

  /**
   * Answers the second factor of a pending session with a TOTP or a recovery code: the session
   * is signed in under a new cookie secret. A spent recovery code is recorded and mailed.
   */
  async completeSignIn(
    origin: Origin,
    pending: { readonly sessionId: string; readonly userId: string; readonly email: string },
    code: string,
  ): Promise<Result<StartedSession, DomainError>> {
    const now = this.#clock.now();
    const outcome = await this.#db.transaction().execute(async (tx) => {
      const proof = await this.#check(tx, origin, pending.userId, pending.email, code, 'sign_in', true);
      if (!proof.ok) return { result: proof };
      const session = await this.#sessions.completeMfa(tx, pending.sessionId);
      const changes: OwnChange[] = [
        {
          action: 'user.signed_in',
          data: { user_id: pending.userId, session_id: session.id, mfa: true },
          occurredAt: now,
        },
      ];
      if (proof.value.kind === 'recovery') {
        changes.push({
          action: 'user.recovery_code_used',
          data: { user_id: pending.userId, remaining: proof.value.remaining },
          occurredAt: now,
        });
      }
      await recordOwn(tx, origin, pending.userId, changes);
      return { result: ok(session), recovery: proof.value.kind === 'recovery' };
    });
    if (outcome.recovery)
      await this.#mailer.sendMfaChanged(pending.email, 'a recovery code was used to sign in');
    return outcome.result;
  }

  /** Turns MFA off, with a code (TOTP or recovery): the authenticator and recovery codes are removed. */
  async disable(
    origin: Origin,
    userId: string,
    email: string,
    code: string,
  ): Promise<Result<void, DomainError>> {
    const now = this.#clock.now();
    const result = await this.#db.transaction().execute(async (tx) => {
      const totp = await this.#lockTotp(tx, userId);
      if (totp?.confirmed_at == null) return fail('mfa_not_enabled', 'MFA is not on');
      const proof = await this.#check(tx, origin, userId, email, code, 'disable', true);
      if (!proof.ok) return proof;
      await tx.deleteFrom('user_recovery_codes').where('user_id', '=', userId).execute();
      await tx.deleteFrom('user_totp').where('user_id', '=', userId).execute();
      await recordOwn(tx, origin, userId, [
        {
          action: 'user.mfa_disabled',
          before: { mfa: true },
          after: { mfa: false },
          data: { user_id: userId },
          occurredAt: now,
        },
      ]);
      return ok(undefined);
    });
    if (result.ok) await this.#mailer.sendMfaChanged(email, 'two-step verification was turned off');
    return result;
  }

  /** New recovery codes (with a TOTP code): the old ones stop working. */
  async regenerateRecoveryCodes(
    origin: Origin,
    userId: string,
    email: string,
    code: string,
  ): Promise<Result<{ recoveryCodes: string[] }, DomainError>> {
    const now = this.#clock.now();
    const result = await this.#db.transaction().execute(async (tx) => {
      const totp = await this.#lockTotp(tx, userId);
      if (totp?.confirmed_at == null) return fail('mfa_not_enabled', 'MFA is not on');
      const proof = await this.#check(tx, origin, userId, email, code, 'recovery_codes', false);
      if (!proof.ok) return proof;
      const codes = await this.#replaceRecoveryCodes(tx, userId);
      await recordOwn(tx, origin, userId, [
        {
          action: 'user.recovery_codes_regenerated',
          data: { user_id: userId },
          occurredAt: now,
        },
      ]);
      return ok({ recoveryCodes: codes });
    });
    if (result.ok)
      await this.#mailer.sendMfaChanged(email, 'new recovery codes were made; the old ones no longer work');
    return result;
  }

  /** The user's authenticator row, locked so that enrolment and code checks go one after another. */
  async #lockTotp(
    tx: Transaction<Schema>,
    userId: string,
  ): Promise<{ confirmed_at: Date | null } | undefined> {
    return tx
      .selectFrom('user_totp')
      .select('confirmed_at')
      .where('user_id', '=', userId)
      .forUpdate()
      .executeTakeFirst();
  }

  async #recoveryCodesLeft(db: Kysely<Schema>, userId: string): Promise<number> {
    const left = await db
      .selectFrom('user_recovery_codes')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId)
      .where('used_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(left.n);
  }

  /** The authenticator for `secret`; `issuer` only names it in the enrolment's URI, checking ignores it. */
  #totp(secret: Secret, email: string, issuer = ''): TOTP {
    return new TOTP({
      issuer,
      label: email,
      secret,
      algorithm: 'SHA1',
      digits: 6,
      period: PERIOD,
    });
  }

  /**
   * Checks a code in `tx`, whose caller holds the user's user_totp row locked (so concurrent
   * attempts are counted one after another). Refused without looking when the user is over the
   * attempt limit; a TOTP whose time step is not after the last one used is a replay; a recovery
   * code is spent. A refusal is recorded (`user.mfa_failed`) and counted, and the caller's
   * transaction commits it: the caller returns the refusal rather than throwing.
   */
  async #check(
    tx: Transaction<Schema>,
    origin: Origin,
    userId: string,
    email: string,
    code: string,
    during: During,
    recoveryAllowed: boolean,
  ): Promise<Result<Proof, DomainError>> {
    const now = this.#clock.now();
    const since = new Date(now.getTime() - ATTEMPT_WINDOW_MS);
    const refuse = async (rateLimited: boolean) =>
      recordOwn(tx, origin, userId, [
        {
          action: 'user.mfa_failed',
          data: { user_id: userId, during, rate_limited: rateLimited },
          occurredAt: now,
        },
      ]);
    // Locks the factor's row (a pending sign-in's caller has not yet), so attempts are counted in turn.
    const totpRow = await tx
      .selectFrom('user_totp')
      .select(['secret_sealed', 'last_used_step'])
      .where('user_id', '=', userId)
      .forUpdate()
      .executeTakeFirst();
    await tx
      .deleteFrom('mfa_failures')
      .where('user_id', '=', userId)
      .where('failed_at', '<=', since)
      .execute();
    const failures = await tx
      .selectFrom('mfa_failures')
      .select(['failed_at'])
      .where('user_id', '=', userId)
      .orderBy('failed_at', 'asc')
      .execute();
    if (failures.length >= MAX_FAILED_ATTEMPTS) {
      await refuse(true);
      return tooManyAttempts('too many wrong codes', failures[0]?.failed_at ?? now, ATTEMPT_WINDOW_MS, now);
    }
    const proof = await this.#match(tx, userId, email, code, totpRow, recoveryAllowed);
    if (proof !== undefined) return ok(proof);
    await tx.insertInto('mfa_failures').values({ user_id: userId, failed_at: now }).execute();
    await refuse(false);
    return fail(
      'mfa_code_invalid',
      recoveryAllowed
        ? 'the code is not right or was already used; enter the next code of your authenticator, or a recovery code'
        : 'the code is not right or was already used; enter the next code of your authenticator',
    );
  }

  async #match(
    tx: Transaction<Schema>,
    userId: string,
    email: string,
    code: string,
    totpRow: { secret_sealed: string; last_used_step: number | null } | undefined,
    recoveryAllowed: boolean,
  ): Promise<Proof | undefined> {
    const now = this.#clock.now();
    const trimmed = code.replace(/\s/g, '');
    if (/^\d{6}$/.test(trimmed)) {
      if (totpRow === undefined) return undefined;
      const secret = Secret.fromBase32(await this.#secrets.open(`totp:${userId}`, totpRow.secret_sealed));
      const totp = this.#totp(secret, email);
      const delta = totp.validate({ token: trimmed, timestamp: now.getTime(), window: WINDOW });
      if (delta === null) return undefined;
      const step = totp.counter({ timestamp: now.getTime() }) + delta;
      // A code of a step already used (or older) is a replay, even within its window.
      if (totpRow.last_used_step !== null && step <= Number(totpRow.last_used_step)) return undefined;
      await tx.updateTable('user_totp').set({ last_used_step: step }).where('user_id', '=', userId).execute();
      return { kind: 'totp' };
    }
    if (!recoveryAllowed) return undefined;
    const normalised = normaliseRecovery(trimmed);
    if (!/^[0-9a-z]{16}$/.test(normalised)) return undefined;
    const spent = await tx
      .updateTable('user_recovery_codes')
      .set({ used_at: now })
      .where('user_id', '=', userId)
      .where('code_hash', '=', hashSecret(normalised))
      .where('used_at', 'is', null)
      .returning('code_hash')
      .executeTakeFirst();
    if (spent === undefined) return undefined;
    return { kind: 'recovery', remaining: await this.#recoveryCodesLeft(tx, userId) };
  }

  async #replaceRecoveryCodes(tx: Transaction<Schema>, userId: string): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODES }, recoveryCode);
    await tx.deleteFrom('user_recovery_codes').where('user_id', '=', userId).execute();
    await tx
      .insertInto('user_recovery_codes')
      .values(
        codes.map((code) => ({
          user_id: userId,
          code_hash: hashSecret(normaliseRecovery(code)),
          used_at: null,
        })),
      )
      .execute();
    return codes;
  }
}
