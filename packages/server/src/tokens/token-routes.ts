import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { conflict, notFound, sendProblem, Timestamp } from '../http/index.ts';
import type { Services } from '../services.ts';
import { MAX_TOKEN_TTL_SECONDS } from './signing-key-service.ts';
import { MintTokenInput } from './token-service.ts';

/** How long caches (proxies, CDNs) may keep the JWKS. Short: it changes when keys rotate. */
export const JWKS_MAX_AGE_SECONDS = 60;

const PublicJwk = z
  .object({
    kty: z.literal('EC'),
    crv: z.literal('P-256'),
    x: z.string(),
    y: z.string(),
    kid: z.string(),
    alg: z.literal('ES256'),
    use: z.literal('sig'),
  })
  .meta({ id: 'PublicJwk' });

const Jwks = z.object({ keys: z.array(PublicJwk) }).meta({ id: 'JsonWebKeySet' });

const MintedToken = z
  .object({
    access_token: z
      .string()
      .nullable()
      .describe(
        'A JWT (ES256) naming the tenant (`tid`), subject (`sub`), `roles` and `perms`. Null when the answer is the replay ' +
          'of an earlier request with the same Idempotency-Key: tokens are not stored, so mint another',
      ),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int().describe('Seconds until the token expires'),
    expires_at: Timestamp,
  })
  .meta({ id: 'AccessToken' });

const SigningKey = z
  .object({
    kid: z.string(),
    algorithm: z.literal('ES256'),
    status: z
      .enum(['next', 'active', 'retired'])
      .describe(
        '`next` is published and signs after the next rotation; `active` signs; `retired` signs no more',
      ),
    published: z.boolean().describe('Whether /.well-known/jwks.json lists it now'),
    created_at: Timestamp,
    activated_at: Timestamp.nullable(),
    retired_at: Timestamp.nullable(),
    published_until: Timestamp.nullable().describe(
      `A retired key leaves the JWKS ${MAX_TOKEN_TTL_SECONDS} s (the longest token life) after its retirement`,
    ),
    public_jwk: PublicJwk,
  })
  .meta({ id: 'SigningKey' });

const TenantParams = z.object({ id: z.string().describe('Tenant id (`ten_…`) or slug') });
// A POST without a body reaches the validator as null, so both null and undefined mean "no reason".
const Reason = z.strictObject({ reason: z.string().max(1000).optional() }).nullish();

/** `GET /.well-known/jwks.json`: the public keys apps verify access tokens with. Open, like a health check. */
export const jwksRoute: FastifyPluginAsyncZod<Pick<Services, 'signingKeys'>> = async (app, services) => {
  app.get(
    '/.well-known/jwks.json',
    {
      schema: {
        tags: ['Access tokens'],
        operationId: 'getJwks',
        summary: 'The public keys that verify access tokens (JWKS)',
        description:
          'Lists the active key, the next key (published before it signs, so apps hold it when a rotation ' +
          'comes) and retired keys until the tokens they signed have expired. No authentication.',
        security: [],
        response: { 200: Jwks },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`);
      return services.signingKeys.jwks();
    },
  );
};

/** `/v1/tenants/{id}/tokens` and `/v1/signing-keys`: access tokens and the keys that sign them. */
export const tokenRoutes: FastifyPluginAsyncZod<Pick<Services, 'signingKeys' | 'tokens'>> = async (
  app,
  services,
) => {
  app.post(
    '/tenants/:id/tokens',
    {
      // A bearer credential must not sit in the idempotency store, in clear, for a day.
      config: { scope: 'tokens:write', idempotencyRedact: ['access_token'] },
      schema: {
        tags: ['Access tokens'],
        operationId: 'mintAccessToken',
        summary: 'Mint an access token for a tenant',
        description:
          "The vendor's backend calls this after signing a user in; the app verifies the token against " +
          '/.well-known/jwks.json and takes the tenant from it. Refused for tenants that may not act ' +
          '(suspended, cancelled, deleted, provisioning).',
        params: TenantParams,
        body: MintTokenInput,
        response: { 200: MintedToken, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await services.tokens.mint(request.ctx, request.params.id, request.body);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/signing-keys',
    {
      config: { scope: 'signing-keys:read' },
      schema: {
        tags: ['Access tokens'],
        operationId: 'listSigningKeys',
        summary: 'List the keys that sign access tokens',
        querystring: z.strictObject({}),
        response: { 200: z.object({ data: z.array(SigningKey) }) },
      },
    },
    async () => ({ data: await services.signingKeys.list() }),
  );

  app.post(
    '/signing-keys/rotate',
    {
      config: { scope: 'signing-keys:write' },
      schema: {
        tags: ['Access tokens'],
        operationId: 'rotateSigningKeys',
        summary: 'Rotate the signing key',
        description:
          'The next key (already published) starts signing, a new next key is published, and the old key ' +
          `signs no more; tokens it signed stay valid until they expire (at most ${MAX_TOKEN_TTL_SECONDS} s).`,
        body: Reason,
        response: {
          200: z.object({ active: SigningKey, retired: SigningKey, next: SigningKey }),
        },
      },
    },
    async (request) => services.signingKeys.rotate(request.ctx, request.body?.reason),
  );
};
