import { ALL_SCOPES, KEY_PRESETS, type KeyPreset, type Scope } from '@tenantry/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { conflict, notFound, sendProblem, Timestamp } from '../http/index.ts';
import type { Services } from '../services.ts';
import { DEFAULT_ROLL_OVERLAP_SECONDS, MAX_ROLL_OVERLAP_SECONDS } from './api-key-service.ts';

const ScopeName = z.enum(ALL_SCOPES as [Scope, ...Scope[]]);
const PRESETS = ['operator', ...(Object.keys(KEY_PRESETS) as KeyPreset[])] as const;

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

const CreateApiKey = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    preset: z
      .enum(PRESETS)
      .optional()
      .describe(
        '`operator` (the default without `scopes`): every scope. `app`: what @tenantry/sdk needs, for app instances',
      ),
    scopes: z
      .array(ScopeName)
      .min(1)
      .max(ALL_SCOPES.length)
      .optional()
      .describe("A restricted key's scopes; added to the preset's when both are given"),
  })
  .refine((body) => !(body.preset === 'operator' && body.scopes), {
    message: 'an operator key holds every scope: give `scopes` or `preset: "operator"`, not both',
    path: ['scopes'],
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
        body: z
          .strictObject({
            overlap_seconds: z
              .number()
              .int()
              .min(0)
              .max(MAX_ROLL_OVERLAP_SECONDS)
              .default(DEFAULT_ROLL_OVERLAP_SECONDS)
              .describe('How long the old secret keeps working; 0 refuses it at once'),
          })
          .nullish(),
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
