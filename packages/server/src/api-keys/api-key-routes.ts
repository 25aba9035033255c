import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { sendProblem } from '../http/problem.ts';
import { problems, Timestamp } from '../http/schemas.ts';
import type { Services } from '../services.ts';

const ApiKey = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: z.literal('operator'),
    display_prefix: z.string().describe('The start of the secret, to tell keys apart'),
    created_at: Timestamp,
    last_used_at: Timestamp.nullable().describe('When the key was last used, to within a minute'),
    revoked_at: Timestamp.nullable(),
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

/** `/v1/api-keys`: operator keys. */
export const apiKeyRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  app.post(
    '/api-keys',
    {
      // The secret must not be kept in the idempotency store, in clear, for a day.
      config: { idempotencyRedact: ['secret'] },
      schema: {
        tags: ['API keys'],
        summary: 'Create an operator API key',
        body: z.strictObject({ name: z.string().trim().min(1).max(200) }),
        response: { 201: CreatedApiKey, ...problems },
      },
    },
    async (request, reply) => reply.code(201).send(await services.apiKeys.create(request.ctx, request.body)),
  );

  app.get(
    '/api-keys',
    {
      schema: {
        tags: ['API keys'],
        summary: 'List API keys',
        response: { 200: z.object({ data: z.array(ApiKey) }), ...problems },
      },
    },
    async () => ({ data: await services.apiKeys.list() }),
  );

  app.post(
    '/api-keys/:id/revoke',
    {
      schema: {
        tags: ['API keys'],
        summary: 'Revoke an API key',
        params: z.object({ id: z.string() }),
        response: { 200: ApiKey, ...problems },
      },
    },
    async (request, reply) => {
      const result = await services.apiKeys.revoke(request.ctx, request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};
