import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { SessionService } from '../accounts/index.ts';

/**
 * CSRF protection of every hosted form: a synchroniser token derived from the secret the browser
 * holds in an HTTP-only cookie — the session's when there is one, else a random pre-session
 * cookie set when a form is first shown (sign-up, sign-in, forgot password). A cross-site page
 * can make the browser send the cookie but cannot read it, nor the page, so it cannot know the
 * token; a token of one session is worthless in another, and signing in (a new session secret)
 * changes it. The token is a hash of the secret under a label of its own, so it tells nothing
 * of the session secret (whose stored hash has no label).
 */
export class Csrf {
  readonly #sessions: SessionService;
  readonly #secure: boolean;
  readonly cookieName: string;

  constructor(sessions: SessionService) {
    this.#sessions = sessions;
    this.#secure = sessions.settings.secureCookies;
    this.cookieName = this.#secure ? '__Host-tenantry_csrf' : 'tenantry_csrf';
  }

  #source(request: FastifyRequest): string | undefined {
    const session = this.#sessions.secretOf(request);
    if (session !== undefined) return `session:${session}`;
    const pre = request.cookies[this.cookieName];
    return pre !== undefined && /^[A-Za-z0-9_-]{43}$/.test(pre) ? `pre:${pre}` : undefined;
  }

  /** The token for a form on this page; sets the pre-session cookie when the request has neither cookie. */
  tokenFor(request: FastifyRequest, reply: FastifyReply): string {
    let source = this.#source(request);
    if (source === undefined) {
      const pre = randomBytes(32).toString('base64url');
      reply.setCookie(this.cookieName, pre, {
        httpOnly: true,
        secure: this.#secure,
        sameSite: 'lax',
        path: '/',
      });
      source = `pre:${pre}`;
    }
    return tokenOf(source);
  }

  /** Whether the form's `_csrf` is the token of the cookie the request carries. */
  verify(request: FastifyRequest, given: unknown): boolean {
    const source = this.#source(request);
    if (source === undefined || typeof given !== 'string') return false;
    const expected = Buffer.from(tokenOf(source));
    const actual = Buffer.from(given);
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }
}

function tokenOf(source: string): string {
  return createHash('sha256').update(`tenantry-csrf\0${source}`).digest('base64url');
}
