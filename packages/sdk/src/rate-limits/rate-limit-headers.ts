import type { RateLimitResult } from './rate-limiter.ts';

/** A response whose headers can be set one by one: Fastify's reply, Node's and Express's response. */
export interface HeaderTarget {
  header?(name: string, value: string): unknown;
  setHeader?(name: string, value: string): unknown;
}

/**
 * Sets the `RateLimit-Policy`, `RateLimit` and (on a refusal) `Retry-After` headers of `result`
 * on the app's response: `reply.header()` on a Fastify reply, `res.setHeader()` on Node's and
 * Express's response.
 *
 * @example
 * ```ts
 * app.get('/api/things', async (request, reply) => {
 *   const limited = await tenantry.rateLimit('api');
 *   setRateLimitHeaders(reply, limited);
 *   if (!limited.allowed) return reply.code(429).send({ error: 'rate_limited' });
 *   return listThings();
 * });
 * ```
 */
export function setRateLimitHeaders(target: HeaderTarget, result: RateLimitResult): void {
  for (const [name, value] of Object.entries(result.headers)) {
    if (target.header !== undefined) target.header(name, value);
    else if (target.setHeader !== undefined) target.setHeader(name, value);
    else throw new TypeError('setRateLimitHeaders needs a response with header() or setHeader()');
  }
}

/**
 * A 429 problem document (RFC 9457) for a refused `result`, as the control plane answers its
 * own: send it as `application/problem+json` with the headers of {@link setRateLimitHeaders}.
 */
export function rateLimitProblem(result: RateLimitResult): Record<string, unknown> {
  return {
    type: 'https://tenantry.dev/docs/errors#rate_limited',
    title: 'Too many requests',
    status: 429,
    code: 'rate_limited',
    detail: `too many requests: try again in ${result.retryAfterSeconds} s`,
    retry_after_seconds: result.retryAfterSeconds,
  };
}
