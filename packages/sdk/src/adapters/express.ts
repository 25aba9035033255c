import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { runAsTenant } from '../context/index.ts';
import { resolveTenant, type TenantContextOptions } from './authenticate-request.ts';

/**
 * Express middleware that takes each request's tenant from its `Authorization: Bearer` access
 * token, and from nothing else: headers such as `x-tenant-id` and query parameters are ignored.
 * A request without a valid token is answered 401 (`application/problem+json`, code
 * `missing_access_token` or `invalid_access_token`) and goes no further. With `tenant` in place
 * of a verifier (a self-hosted app on a license), every request runs as that tenant. Then `onTenant`
 * runs, then the rest of the request inside the tenant context, so `currentTenant()` answers in
 * every later middleware, route handler and whatever they await.
 *
 * Failing to fetch the control plane's keys is passed to `next(error)`: it is not the caller's fault.
 *
 * Express itself is not a dependency of the SDK: only its types are used.
 *
 * @example
 * ```ts
 * const verifier = createAccessTokenVerifier({ url: process.env.TENANTRY_URL! });
 * app.use('/api', expressTenantContext({ verifier }));
 * app.get('/api/meetings', (req, res) => res.json(listMeetings(currentTenant().tenantId)));
 * ```
 */
export function expressTenantContext(options: TenantContextOptions): RequestHandler {
  const { onTenant } = options;
  return (request: Request, response: Response, next: NextFunction): void => {
    resolveTenant(options, request.headers.authorization, request.originalUrl).then((outcome) => {
      if (!outcome.ok) {
        // A throw here would leave the request hanging: it goes to the error handler instead.
        try {
          response.statusCode = outcome.problem.status;
          response.setHeader('content-type', 'application/problem+json');
          response.setHeader('www-authenticate', outcome.wwwAuthenticate);
          response.end(JSON.stringify(outcome.problem));
        } catch (error) {
          next(error);
        }
        return;
      }
      const { context } = outcome;
      // `next` is called inside the run, so everything after this middleware inherits the tenant.
      runAsTenant(context, () => {
        if (onTenant === undefined) {
          next();
          return;
        }
        Promise.resolve()
          .then(() => onTenant(context))
          .then(() => next(), next);
      });
    }, next);
  };
}
