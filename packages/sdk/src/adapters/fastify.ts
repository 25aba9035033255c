import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import { runAsTenant, type TenantContext } from '../context/index.ts';
import { resolveTenant, type TenantContextOptions } from './authenticate-request.ts';

/** Each authenticated request's tenant, from its `onRequest` hook to its `preHandler` hook. */
const contexts = new WeakMap<FastifyRequest, TenantContext>();

type HookDone = (error?: Error) => void;

function plugin(
  app: Parameters<FastifyPluginCallback<TenantContextOptions>>[0],
  options: TenantContextOptions,
  done: (error?: Error) => void,
): void {
  const { onTenant } = options;

  // The token is checked first, before the body is read: a request without one costs nothing more.
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, hookDone: HookDone) => {
    resolveTenant(options, request.headers.authorization, request.url).then((outcome) => {
      if (!outcome.ok) {
        // A callback hook that has replied must not call its callback, unless replying threw:
        // then the request would hang, so the error goes to the error handler.
        try {
          reply
            .code(outcome.problem.status)
            .header('www-authenticate', outcome.wwwAuthenticate)
            .type('application/problem+json')
            // The route's own serializer (its response schema) does not describe a problem.
            .serializer(JSON.stringify)
            .send(outcome.problem);
        } catch (error) {
          hookDone(error instanceof Error ? error : new Error(String(error)));
        }
        return;
      }
      contexts.set(request, outcome.context);
      hookDone();
    }, hookDone);
  });

  // The context is entered as late as possible, around the handler: the body is parsed in an
  // asynchronous context of the socket's, which would not carry it.
  app.addHook('preHandler', (request: FastifyRequest, _reply: FastifyReply, hookDone: HookDone) => {
    const context = contexts.get(request);
    if (context === undefined) {
      hookDone(new Error('the tenant context hook ran without its onRequest hook'));
      return;
    }
    runAsTenant(context, () => {
      if (onTenant === undefined) {
        hookDone();
        return;
      }
      Promise.resolve()
        .then(() => onTenant(context))
        .then(() => hookDone(), hookDone);
    });
  });
  done();
}

/**
 * A Fastify plugin that takes each request's tenant from its `Authorization: Bearer` access
 * token, and from nothing else: headers such as `x-tenant-id` and query parameters are ignored.
 * A request without a valid token is answered 401 (`application/problem+json`, code
 * `missing_access_token` or `invalid_access_token`) before its body is read. With `tenant` in place
 * of a verifier (a self-hosted app on a license), every request runs as that tenant. Then `onTenant`
 * runs, then the route handler inside the tenant context, so `currentTenant()` answers in the
 * handler and whatever it awaits.
 *
 * It applies to the scope it is registered in (like a plugin wrapped in `fastify-plugin`):
 * register it in the encapsulated context of the tenant routes to leave others (health checks,
 * sign-in) open. Failing to fetch the control plane's keys goes to Fastify's error handler.
 *
 * Fastify itself is not a dependency of the SDK: only its types are used.
 *
 * @example
 * ```ts
 * const verifier = createAccessTokenVerifier({ url: process.env.TENANTRY_URL! });
 * await app.register(async (api) => {
 *   await api.register(fastifyTenantContext, { verifier });
 *   api.get('/meetings', async () => listMeetings(currentTenant().tenantId));
 * });
 * ```
 */
export const fastifyTenantContext: FastifyPluginCallback<TenantContextOptions> = Object.assign(plugin, {
  // What fastify-plugin sets: the hooks belong to the registering scope, not to a child of it.
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'tenantry-tenant-context',
});
