import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyService } from '../api-keys/api-key-service.ts';
import type { RequestContext } from '../audit/audit-log.ts';
import { replyProblem } from './problem.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling and in which request; set by {@link requireApiKey} on every `/v1` route. */
    ctx: RequestContext;
  }
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/**
 * Refuses every request in the scope it is registered in unless it carries a valid operator key
 * as a bearer token. Identity comes from the verified key only, never from anything else the
 * caller sends.
 *
 * The hook takes a callback rather than returning a promise: a key verified lately is checked
 * synchronously ({@link ApiKeyService.cachedKeyId}), so most requests go on without a promise or a
 * microtask turn; only a key not seen lately waits for the database.
 */
export function requireApiKey(scope: FastifyInstance, apiKeys: ApiKeyService): void {
  scope.decorateRequest('ctx', null as unknown as RequestContext);
  scope.addHook(
    'onRequest',
    (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => {
      const header = request.headers.authorization;
      if (!header) {
        replyProblem(reply, 'missing_api_key', 'send an operator API key as "Authorization: Bearer <key>"');
        return;
      }
      const token = BEARER.exec(header)?.[1];
      if (!token) {
        refuse(reply);
        return;
      }
      const cached = apiKeys.cachedKeyId(token);
      if (cached !== undefined) {
        request.ctx = { actor: { type: 'api_key', id: cached }, requestId: request.id };
        done();
        return;
      }
      apiKeys.authenticate(token).then((keyId) => {
        if (!keyId) {
          refuse(reply);
          return;
        }
        request.ctx = { actor: { type: 'api_key', id: keyId }, requestId: request.id };
        done();
      }, done);
    },
  );
}

function refuse(reply: FastifyReply): void {
  replyProblem(reply, 'invalid_api_key', 'the API key is unknown, revoked or malformed');
}
