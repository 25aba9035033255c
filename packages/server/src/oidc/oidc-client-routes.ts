import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { notFound, PageQuery, pageOf, sendProblem, Timestamp } from '../http/index.ts';
import type { OidcClientService } from './oidc-client-service.ts';

const TAGS = ['OpenID clients'];

const OidcClient = z
  .object({
    id: z.string().describe('`cli_…`: the `client_id` the app sends'),
    name: z.string(),
    kind: z
      .enum(['confidential', 'public'])
      .describe('`confidential`: a server that keeps a secret; `public`: a SPA or native app (PKCE only)'),
    redirect_uris: z.array(z.string()).describe('Matched exactly'),
    created_at: Timestamp,
  })
  .meta({ id: 'OidcClient' });

const IdParams = z.object({ id: z.string() });

/** `/v1/oidc-clients`: the vendor's apps registered as OpenID clients (docs/oidc.md). */
export const oidcClientRoutes: FastifyPluginAsyncZod<{ oidcClients: OidcClientService }> = async (
  app,
  { oidcClients },
) => {
  app.post(
    '/oidc-clients',
    {
      config: { scope: 'oidc-clients:write', idempotencyRedact: ['client_secret'] },
      schema: {
        tags: TAGS,
        operationId: 'createOidcClient',
        summary: 'Register an app as an OpenID client',
        description:
          'Authorization Code with PKCE (S256) only. Redirect URIs must be https (http only on localhost) and are ' +
          'matched exactly. A confidential client gets a `client_secret`, shown in this answer only.',
        body: z.strictObject({
          name: z.string().describe('Shown to users; 1 to 200 characters'),
          redirect_uris: z.array(z.string()).describe('Where the provider may send the user back; 1 to 20'),
          kind: z.enum(['confidential', 'public']).optional().describe('Default `confidential`'),
        }),
        response: {
          201: OidcClient.extend({
            client_secret: z
              .string()
              .nullable()
              .describe('The secret (client_secret_basic), shown once; null for a public client'),
          }),
        },
      },
    },
    async (request, reply) => {
      const result = await oidcClients.create(request.ctx, request.body);
      return result.ok ? reply.code(201).send(result.value) : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/oidc-clients',
    {
      config: { scope: 'oidc-clients:read' },
      schema: {
        tags: TAGS,
        operationId: 'listOidcClients',
        summary: 'List OpenID clients',
        querystring: PageQuery,
        response: { 200: pageOf(OidcClient) },
      },
    },
    async (request) => oidcClients.list({ limit: request.query.limit, cursor: request.query.cursor }),
  );

  app.get(
    '/oidc-clients/:id',
    {
      config: { scope: 'oidc-clients:read' },
      schema: {
        tags: TAGS,
        operationId: 'getOidcClient',
        summary: 'Get an OpenID client',
        params: IdParams,
        response: { 200: OidcClient, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await oidcClients.get(request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.delete(
    '/oidc-clients/:id',
    {
      config: { scope: 'oidc-clients:write' },
      schema: {
        tags: TAGS,
        operationId: 'deleteOidcClient',
        summary: 'Delete an OpenID client',
        description: "Its grants, codes and refresh tokens go with it: the app's users must sign in again.",
        params: IdParams,
        response: { 200: OidcClient, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await oidcClients.delete(request.ctx, request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};
