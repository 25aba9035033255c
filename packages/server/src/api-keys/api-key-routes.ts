import {
  CreateApiKey,
  DEFAULT_ROLL_OVERLAP_SECONDS,
  RollApiKey,
  ScopeName,
} from '@tenantry/core/api/requests';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { conflict, notFound, sendProblem, Timestamp } from '../http/index.ts';
import type { Services } from '../services.ts';

const ApiKey = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: z
      .enum(['operator', 'restricted'])
      .describe('`operator`: every scope, including those of later versions; `restricted`: exactly `scopes`'),
    scopes: z.array(ScopeName).describe('What the key may do; see docs/api-keys.md'),
    display_prefix: z.string().describe('The start of the secret, to tell keys apart'),
    created_at: Timestamp,
    last_used_at: Timestamp.nullable().describe('When the key was last used, to within a minute'),
    revoked_at: Timestamp.nullable(),
    expires_at: Timestamp.nullable().describe('When a rolled key stops working'),
    rolled_to: z.string().nullable().describe('The key that replaced this one'),
  })
  .meta({ id: 'ApiKey' });

const CreatedApiKey = ApiKey.extend({
  secret: z
    .string()
    .nullable()
    .describe(
      'Shown once, never again. Null when the answer is the replay of an earlier request with the same ' +
        'Idempotency-Key: secrets are not stored, so revoke that key and create another if it was lost',
    ),
}).meta({
  id: 'CreatedApiKey',
});

const IdParams = z.object({ id: z.string() });

/** `/v1/api-keys`: operator and restricted keys. */
export const apiKeyRoutes: FastifyPluginAsyncZod<Pick<Services, 'apiKeys'>> = async (app, services) => {
  app.post(
    '/api-keys',
    {
      // The secret must not be kept in the idempotency store, in clear, for a day.
      config: { scope: 'keys:manage', idempotencyRedact: ['secret'] },
      schema: {
        tags: ['API keys'],
        operationId: 'createApiKey',
        summary: 'Create an API key',
        description:
          'A key may create only keys whose scopes it holds itself (403 `insufficient_scope` otherwise); only an operator key creates operator keys.',
        body: CreateApiKey,
        response: { 201: CreatedApiKey },
      },
    },
    async (request, reply) => {
      const result = await services.apiKeys.createAs(request.apiKey, request.ctx, request.body);
      return result.ok ? reply.code(201).send(result.value) : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/api-keys',
    {
      config: { scope: 'keys:manage' },
      schema: {
        tags: ['API keys'],
        operationId: 'listApiKeys',
        summary: 'List API keys',
        response: { 200: z.object({ data: z.array(ApiKey) }) },
      },
    },
    async () => ({ data: await services.apiKeys.list() }),
  );

  app.post(
    '/api-keys/:id/roll',
    {
      config: { scope: 'keys:manage', idempotencyRedact: ['secret'] },
      schema: {
        tags: ['API keys'],
        operationId: 'rollApiKey',
        summary: 'Roll an API key: a new secret with the same scopes',
        description:
          'The answer is the new key, with its secret (shown once). The old key keeps working for `overlap_seconds` ' +
          '(default a day), so the new secret can be deployed everywhere, then is refused. A key revoked or ' +
          'rolled already is refused with 409 `api_key_inactive`.',
        params: IdParams,
        body: RollApiKey,
        response: { 201: CreatedApiKey, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const overlap = request.body?.overlap_seconds ?? DEFAULT_ROLL_OVERLAP_SECONDS;
      const result = await services.apiKeys.roll(request.apiKey, request.ctx, request.params.id, overlap);
      return result.ok ? reply.code(201).send(result.value) : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/api-keys/:id/revoke',
    {
      config: { scope: 'keys:manage' },
      schema: {
        tags: ['API keys'],
        operationId: 'revokeApiKey',
        summary: 'Revoke an API key',
        params: IdParams,
        response: { 200: ApiKey, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await services.apiKeys.revoke(request.ctx, request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};
