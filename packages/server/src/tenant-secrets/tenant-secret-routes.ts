import { SetTenantSecret } from '@tenantry/core/api/requests';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { conflict, notFound, PageQuery, pageOf, sendProblem, Timestamp } from '../http/index.ts';
import type { TenantSecretService } from './tenant-secret-service.ts';

const TAGS = ['Tenant secrets'];

const TenantSecret = z
  .object({
    id: z.string().describe('`sec_…`, the target of its audit entries'),
    tenant_id: z.string(),
    name: z.string(),
    version: z.number().int().describe('1 when set, raised by each rotation'),
    created_at: Timestamp,
    rotated_at: Timestamp.nullable().describe(
      'When the current version was set by a rotation; null at version 1',
    ),
  })
  .describe('A tenant secret as every answer shows it: never its value')
  .meta({ id: 'TenantSecret' });

const TenantParams = z.object({ id: z.string().describe('Tenant id (`ten_…`) or slug') });
const SecretParams = TenantParams.extend({
  name: z
    .string()
    .describe(
      '1 to 100 of `a-z`, `0-9`, `_`, `.`, `-`, starting with a letter or digit, e.g. `openai.api_key`',
    ),
});

/**
 * `/v1/tenants/{id}/secrets…`: a tenant's own provider keys (docs/tenant-secrets.md). Writing and
 * listing are the operator's (`secrets:write`, `secrets:read`) and the tenant's own admins'
 * (tenant-admin permission `secrets:write`, with their user token); no answer of theirs holds a
 * value. The value is answered only by `…/value`, to a key holding `secrets:decrypt` (the app
 * preset), never to a member's token, and each such read is audited.
 */
export const tenantSecretRoutes: FastifyPluginAsyncZod<{ tenantSecrets: TenantSecretService }> = async (
  app,
  { tenantSecrets },
) => {
  app.put(
    '/tenants/:id/secrets/:name',
    {
      config: { scope: 'secrets:write', permission: 'secrets:write' },
      schema: {
        tags: TAGS,
        operationId: 'setTenantSecret',
        summary: "Set a tenant's secret: create it, or rotate it to a new version",
        description:
          "Write-only: the value is encrypted under the tenant's data key and never answered by this or any listing. " +
          'On a secret that exists, the new value becomes its next version and the previous one is destroyed at once ' +
          '(201 when created, 200 when rotated).',
        params: SecretParams,
        body: SetTenantSecret,
        response: { 200: TenantSecret, 201: TenantSecret, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const { id, name } = request.params;
      const result = await tenantSecrets.set(request.ctx, id, name, request.body.value);
      if (!result.ok) return sendProblem(reply, result.error);
      return reply.code(result.value.created ? 201 : 200).send(result.value.secret);
    },
  );

  app.get(
    '/tenants/:id/secrets',
    {
      // A tenant's admins list names with the permission that lets them change them: nothing here is secret.
      config: { scope: 'secrets:read', permission: 'secrets:write' },
      schema: {
        tags: TAGS,
        operationId: 'listTenantSecrets',
        summary: "List a tenant's secrets by name: versions and times, never values",
        params: TenantParams,
        querystring: PageQuery,
        response: { 200: pageOf(TenantSecret), ...notFound },
      },
    },
    async (request, reply) => {
      const result = await tenantSecrets.list(request.params.id, request.query);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.delete(
    '/tenants/:id/secrets/:name',
    {
      config: { scope: 'secrets:write', permission: 'secrets:write' },
      schema: {
        tags: TAGS,
        operationId: 'deleteTenantSecret',
        summary: "Delete a tenant's secret with its ciphertext",
        params: SecretParams,
        response: { 200: TenantSecret, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await tenantSecrets.delete(request.ctx, request.params.id, request.params.name);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/tenants/:id/secrets/:name/value',
    {
      config: { scope: 'secrets:decrypt' },
      schema: {
        tags: TAGS,
        operationId: 'readTenantSecretValue',
        summary: "Decrypt a tenant's secret for the vendor's app (audited)",
        description:
          "What the SDK's `tenantry.secret(name)` calls, with an app key. Each read is recorded as `tenant_secret.read` " +
          "in the tenant's audit chain before the value is answered; the answer is `Cache-Control: no-store`. " +
          '409 `tenant_secret_unreadable` when the stored ciphertext does not decrypt for this tenant, name and version.',
        params: SecretParams,
        response: {
          200: z.object({
            name: z.string(),
            version: z.number().int(),
            value: z
              .string()
              .describe('The secret; keep it in memory only for as long as the call that needs it'),
          }),
          ...notFound,
          ...conflict,
        },
      },
    },
    async (request, reply) => {
      const result = await tenantSecrets.reveal(request.ctx, request.params.id, request.params.name);
      if (!result.ok) return sendProblem(reply, result.error);
      return reply.header('cache-control', 'no-store').send(result.value);
    },
  );
};
