import { createHash, randomBytes } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import type { Kysely, Transaction } from 'kysely';
import { type Change, recordChanges } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import { newId } from '../ids.ts';
import { type RequestContext, systemContext } from '../request-context.ts';

/** The signed-in user behind a request, as the hosted pages and the OpenID provider see it. */
export interface CurrentSession {
  readonly sessionId: string;
  readonly userId: string;
  readonly email: string;
  /** When the user answered its second factor in this session; null when it has none. */
  readonly mfaVerifiedAt: Date | null;
  readonly createdAt: Date;
}

/** A session as the user's session list shows it. */
export interface SessionView {
  readonly id: string;
  readonly userAgent: string | null;
  readonly ip: string | null;
  readonly createdAt: Date;
  readonly lastSeenAt: Date;
}

/** Why a session ended, as `session.ended` says. */
export type EndReason = 'signed_out' | 'signed_out_everywhere' | 'ended_by_user' | 'password_reset' | 'ended';

/**
 * What a request offers the session service: its cookies, as `@fastify/cookie` (registered at the
 * app's root) parses them into every request.
 */
export interface RequestLike {
  readonly cookies?: { readonly [name: string]: string | undefined };
}

/** A session just started: its id, and the secret that goes in the cookie (never stored). */
export interface StartedSession {
  readonly id: string;
  readonly secret: string;
  /** When the cookie should go: the session's absolute expiry. */
  readonly expires: Date;
}

export interface SessionSettings {
  /** Whether cookies are Secure (and `__Host-` prefixed): when the public URL is https. */
  readonly secureCookies: boolean;
  /** A session unused this long ends. */
  readonly idleMs: number;
  /** A session ends this long after it began, however much it is used. */
  readonly absoluteMs: number;
}

/** Auth0's defaults: 3 days idle, 30 days at most. */
export const DEFAULT_SESSION_SETTINGS: SessionSettings = {
  secureCookies: false,
  idleMs: 3 * 86_400_000,
  absoluteMs: 30 * 86_400_000,
};

/** How long a password-checked session may wait for its second factor. */
const PENDING_MFA_MS = 10 * 60_000;
/** How precisely `last_seen_at` follows use: written at most once a minute per session. */
const TOUCH_MS = 60_000;

/**
 * The SHA-256 of a secret as stored (a session's secret, a link's token, a recovery code): 256
 * random bits (80 for a recovery code) need no slow hash, and the table alone cannot be used.
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

/** The audit entry of one session ended, by whichever way it ended. */
function sessionEnded(sessionId: string, userId: string, reason: EndReason, at: Date): Change {
  return {
    action: 'session.ended',
    tenantId: null,
    target: { type: 'session', id: sessionId },
    data: { session_id: sessionId, user_id: userId, reason },
    occurredAt: at,
  };
}

/**
 * Sign-in sessions. The browser holds 256 random bits in an HTTP-only, SameSite=Lax cookie (Secure
 * and `__Host-` prefixed when the public URL is https, so that neither plain HTTP nor a sibling
 * subdomain can read or plant it); the database keeps only its hash. A session ends when the user
 * signs out (here or everywhere), when its password is reset, when it goes unused for the idle
 * time, and at the absolute expiry whatever its use.
 *
 * {@link current} and {@link endSessionsOf} are the surface the OpenID provider builds its login on.
 */
export class SessionService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly settings: SessionSettings;
  /** The cookie's name: `__Host-` needs Secure, so only over https. */
  readonly cookieName: string;

  constructor(db: Kysely<Schema>, clock: Clock, settings: SessionSettings = DEFAULT_SESSION_SETTINGS) {
    this.#db = db;
    this.#clock = clock;
    this.settings = settings;
    this.cookieName = settings.secureCookies ? '__Host-tenantry_session' : 'tenantry_session';
  }

  /**
   * The signed-in user of `request`, or undefined when it carries no session cookie, or one that
   * is unknown, ended, expired, or still waiting for its second factor. A session in use has its last-seen time and idle expiry moved on (at most once a minute).
   */
  async current(request: RequestLike): Promise<CurrentSession | undefined> {
    const found = await this.find(request);
    if (found === undefined || found.state !== 'active') return undefined;
    return {
      sessionId: found.id,
      userId: found.userId,
      email: found.email,
      mfaVerifiedAt: found.mfaVerifiedAt,
      createdAt: found.createdAt,
    };
  }

  /**
   * Ends every live session of the user (sign-out everywhere, a password reset, a member removed,
   * a tenant suspended), each recorded as `session.ended`; returns how many. In `tx` when given,
   * so that it commits with the change that asks for it.
   */
  async endSessionsOf(
    userId: string,
    ctx: RequestContext = systemContext('sessions'),
    options: {
      readonly tx?: Transaction<Schema>;
      readonly reason?: EndReason;
      readonly except?: string;
    } = {},
  ): Promise<number> {
    const run = async (tx: Transaction<Schema>) => {
      let query = tx
        .updateTable('sessions')
        .set({ state: 'ended', ended_at: this.#clock.now(), ended_reason: options.reason ?? 'ended' })
        .where('user_id', '=', userId)
        .where('state', '<>', 'ended');
      if (options.except !== undefined) query = query.where('id', '<>', options.except);
      const ended = await query.returning('id').execute();
      await recordChanges(
        tx,
        ctx,
        ended.map((row) => sessionEnded(row.id, userId, options.reason ?? 'ended', this.#clock.now())),
      );
      return ended.length;
    };
    return options.tx === undefined ? this.#db.transaction().execute(run) : run(options.tx);
  }

  /** The raw secret of the request's session cookie, if it carries one (the CSRF token is made from it). */
  secretOf(request: RequestLike): string | undefined {
    const value = request.cookies?.[this.cookieName];
    // 32 random bytes in base64url; anything else cannot be a session and is not looked up.
    return value !== undefined && /^[A-Za-z0-9_-]{43}$/.test(value) ? value : undefined;
  }

  /** The session of the request, whatever its state, when it is live (not ended, not expired). */
  async find(request: RequestLike): Promise<
    | {
        readonly id: string;
        readonly userId: string;
        readonly email: string;
        readonly state: 'pending_mfa' | 'active';
        readonly mfaVerifiedAt: Date | null;
        readonly createdAt: Date;
      }
    | undefined
  > {
    const secret = this.secretOf(request);
    if (secret === undefined) return undefined;
    const row = await this.#db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .select([
        'sessions.id',
        'sessions.user_id',
        'sessions.state',
        'sessions.created_at',
        'sessions.last_seen_at',
        'sessions.idle_expires_at',
        'sessions.absolute_expires_at',
        'sessions.mfa_verified_at',
        'users.email',
      ])
      .where('sessions.secret_hash', '=', hashSecret(secret))
      .executeTakeFirst();
    if (row === undefined || row.state === 'ended') return undefined;
    const now = this.#clock.now();
    if (now >= row.idle_expires_at || now >= row.absolute_expires_at) return undefined;
    if (row.state === 'active' && now.getTime() - row.last_seen_at.getTime() >= TOUCH_MS) {
      // Bookkeeping of use, like an API key's last use: not a change anyone audits.
      await this.#db
        .updateTable('sessions')
        .set({ last_seen_at: now, idle_expires_at: new Date(now.getTime() + this.settings.idleMs) })
        .where('id', '=', row.id)
        .where('state', '=', 'active')
        .execute();
    }
    return {
      id: row.id,
      userId: row.user_id,
      email: row.email,
      state: row.state,
      mfaVerifiedAt: row.mfa_verified_at,
      createdAt: row.created_at,
    };
  }

  /**
   * Starts a session in `tx` (its caller records the sign-in). `pendingMfa`: the password was right
   * and the second factor is still to come; such a session is not signed in, and lasts minutes.
   */
  async start(
    tx: Transaction<Schema>,
    input: {
      readonly userId: string;
      readonly pendingMfa: boolean;
      readonly userAgent: string | undefined;
      readonly ip: string | undefined;
    },
  ): Promise<StartedSession> {
    const now = this.#clock.now();
    const id = newId('ses', now.getTime());
    const secret = randomBytes(32).toString('base64url');
    const absolute = new Date(now.getTime() + (input.pendingMfa ? PENDING_MFA_MS : this.settings.absoluteMs));
    const idle = new Date(now.getTime() + (input.pendingMfa ? PENDING_MFA_MS : this.settings.idleMs));
    await tx
      .insertInto('sessions')
      .values({
        id,
        user_id: input.userId,
        secret_hash: hashSecret(secret),
        state: input.pendingMfa ? 'pending_mfa' : 'active',
        user_agent: input.userAgent?.slice(0, 500) ?? null,
        ip: input.ip ?? null,
        created_at: now,
        last_seen_at: now,
        idle_expires_at: idle,
        absolute_expires_at: absolute,
        mfa_verified_at: null,
      })
      .execute();
    return { id, secret, expires: absolute };
  }

  /**
   * A session that waited for its second factor is signed in; a new secret replaces the one the
   * browser held while half signed in, so that a cookie seen before the second factor is worthless.
   */
  async completeMfa(tx: Transaction<Schema>, sessionId: string): Promise<StartedSession> {
    const now = this.#clock.now();
    const secret = randomBytes(32).toString('base64url');
    const absolute = new Date(now.getTime() + this.settings.absoluteMs);
    await tx
      .updateTable('sessions')
      .set({
        state: 'active',
        secret_hash: hashSecret(secret),
        mfa_verified_at: now,
        last_seen_at: now,
        idle_expires_at: new Date(now.getTime() + this.settings.idleMs),
        absolute_expires_at: absolute,
      })
      .where('id', '=', sessionId)
      .where('state', '=', 'pending_mfa')
      .execute();
    return { id: sessionId, secret, expires: absolute };
  }

  /** The user's live sessions, newest first. */
  async list(userId: string): Promise<SessionView[]> {
    const now = this.#clock.now();
    const rows = await this.#db
      .selectFrom('sessions')
      .select(['id', 'user_agent', 'ip', 'created_at', 'last_seen_at'])
      .where('user_id', '=', userId)
      .where('state', '=', 'active')
      .where('idle_expires_at', '>', now)
      .where('absolute_expires_at', '>', now)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .execute();
    return rows.map((row) => ({
      id: row.id,
      userAgent: row.user_agent,
      ip: row.ip,
      createdAt: row.created_at,
      lastSeenAt: row.last_seen_at,
    }));
  }

  /**
   * Ends one session of the user; false when the user has no such live session (another user's id
   * is not found, not ended).
   */
  async end(ctx: RequestContext, userId: string, sessionId: string, reason: EndReason): Promise<boolean> {
    return this.#db.transaction().execute(async (tx) => {
      const ended = await tx
        .updateTable('sessions')
        .set({ state: 'ended', ended_at: this.#clock.now(), ended_reason: reason })
        .where('id', '=', sessionId)
        .where('user_id', '=', userId)
        .where('state', '<>', 'ended')
        .returning('id')
        .executeTakeFirst();
      if (ended === undefined) return false;
      await recordChanges(tx, ctx, [sessionEnded(sessionId, userId, reason, this.#clock.now())]);
      return true;
    });
  }

  /** Hands the session to the browser: its secret in the HTTP-only cookie, until the session's absolute expiry. */
  setCookie(reply: FastifyReply, session: StartedSession): void {
    reply.setCookie(this.cookieName, session.secret, {
      httpOnly: true,
      secure: this.settings.secureCookies,
      sameSite: 'lax',
      path: '/',
      expires: session.expires,
    });
  }

  /** Removes the session cookie from the browser. */
  clearCookie(reply: FastifyReply): void {
    reply.clearCookie(this.cookieName, {
      httpOnly: true,
      secure: this.settings.secureCookies,
      sameSite: 'lax',
      path: '/',
    });
  }
}
