import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { declareProblems, sendProblem } from '../http/index.ts';
import type { LimitVerdict, RequestLimiter } from './request-limiter.ts';

/** The routes about one tenant: `/v1/tenants/:id` and everything under it. */
const TENANT_ROUTE = '/v1/tenants/:id';

/**
 * The tenant a request concerns, as the caller named it (id or slug): the `:id` of a tenant's
 * route. Undefined for requests about no one tenant.
 */
function tenantOf(request: FastifyRequest): string | undefined {
  const url = request.routeOptions.url;
  if (url === undefined || !url.startsWith(TENANT_ROUTE)) return undefined;
  if (url.length !== TENANT_ROUTE.length && url[TENANT_ROUTE.length] !== '/') return undefined;
  const { id } = request.params as { id?: unknown };
  return typeof id === 'string' ? id : undefined;
}

/**
 * Counts every request in the scope against its API key's bucket and, for a tenant's routes
 * called with a restricted key (an app key acting for the tenant), against the tenant's (see
 * {@link RequestLimiter}); answers 429 `rate_limited` with
 * `Retry-After` when one is empty. Every counted response carries the `RateLimit-Policy` and
 * `RateLimit` headers. Registered after the API-key check, whose key it counts against; like it,
 * the hook takes a callback, so that a request whose tenant is in memory goes on without a promise.
 */
export function limitRequests(scope: FastifyInstance, limiter: RequestLimiter): void {
  scope.addHook('onRoute', (route) => declareProblems(route, [429]));
  scope.addHook(
    'onRequest',
    (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
      // An operator key (the vendor's own staff and tooling) is held to its own bucket only, so
      // that a tenant that spent its bucket can still be looked at, suspended or given more.
      const tenant = request.apiKey.kind === 'operator' ? undefined : tenantOf(request);
      const verdict = limiter.check(request.apiKey.id, tenant);
      if (verdict instanceof Promise) {
        verdict.then((v) => answer(reply, v, done), done);
        return;
      }
      answer(reply, verdict, done);
    },
  );
}

function answer(reply: FastifyReply, verdict: LimitVerdict, done: (error?: Error) => void): void {
  reply.headers(verdict.headers);
  if (verdict.refusal === undefined) {
    done();
    return;
  }
  const seconds = Number(verdict.headers['Retry-After']);
  const whose = verdict.refusal.limitedBy === 'key' ? 'this API key' : 'this tenant';
  sendProblem(reply, {
    code: 'rate_limited',
    detail: `too many requests for ${whose}: try again in ${seconds} s`,
    details: { limited_by: verdict.refusal.limitedBy, retry_after_seconds: seconds },
  });
}
