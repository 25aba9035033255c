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
 */
export function requireApiKey(scope: FastifyInstance, apiKeys: ApiKeyService): void {
  scope.decorateRequest('ctx', null as unknown as RequestContext);
  scope.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization;
    if (!header)
      return replyProblem(
        reply,
        'missing_api_key',
        'send an operator API key as "Authorization: Bearer <key>"',
      );
    const token = BEARER.exec(header)?.[1];
    const keyId = token ? await apiKeys.authenticate(token) : null;
    if (!keyId) return replyProblem(reply, 'invalid_api_key', 'the API key is unknown, revoked or malformed');
    request.ctx = { actor: { type: 'api_key', id: keyId }, requestId: request.id };
  });
}
