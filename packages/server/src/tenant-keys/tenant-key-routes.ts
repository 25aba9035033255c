import { InstantInput } from '@tenantry/core';
import {
  CreateTenantApiKey,
  DEFAULT_TENANT_KEY_OVERLAP_SECONDS,
  RollTenantApiKey,
} from '@tenantry/core/api/requests';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { conflict, notFound, PageQuery, pageOf, sendProblem, Timestamp } from '../http/index.ts';
import type { Grantor } from '../members/index.ts';
import type { Services } from '../services.ts';
import { MAX_KEY_SET_TENANTS, MAX_USED_REPORT } from './tenant-key-service.ts';

const TAGS = ['Tenant API keys'];

const TenantKey = z
  .object({
    id: z.string().describe('`tak_…`'),
    tenant_id: z.string(),
    name: z.string(),
    prefix: z.string().describe("The key's prefix, the vendor's"),
    last_four: z.string().describe("The key's last four characters, to tell keys apart"),
    permissions: z.array(z.string()).describe("The vendor's permissions the key carries"),
    created_at: Timestamp,
    expires_at: Timestamp.nullable().describe(
      'When the key stops working (its expiry, or the end of a roll’s overlap)',
    ),
    revoked_at: Timestamp.nullable(),
    rolled_to: z.string().nullable().describe('The key that replaced this one when it was rolled'),
    last_used_at: Timestamp.nullable().describe('When an app last verified the key, to within a minute'),
  })
  .meta({ id: 'TenantApiKey' });

const CreatedTenantKey = TenantKey.extend({
  secret: z
    .string()
    .nullable()
    .describe(
      'The key, shown once, never again. Null when the answer is the replay of an earlier request with the ' +
        'same Idempotency-Key: secrets are not stored, so revoke that key and create another if it was lost',
    ),
}).meta({ id: 'CreatedTenantApiKey' });

const TenantParams = z.object({ id: z.string().describe('Tenant id or slug') });
const KeyParams = TenantParams.extend({ key_id: z.string().describe('`tak_…`') });

const VerifiableKey = z.object({
  id: z.string(),
  hash: z.string().describe('SHA-256 of the whole key, hex'),
  permissions: z.array(z.string()),
  expires_at: Timestamp.nullable(),
});

const TenantKeySet = z
  .object({
    tenant_id: z.string(),
    version: z.string().describe('Changes whenever the set does; "" for a tenant with no working key'),
    active: z.boolean().describe('Whether the tenant may use anything now: its keys work only while it may'),
    ip_allow_list: z
      .array(z.string())
      .describe(
        "CIDR blocks the tenant's keys may be used from (its access policy in force); empty: any address",
      ),
    keys: z.array(VerifiableKey).describe('The keys that work now: neither revoked nor expired'),
  })
  .meta({ id: 'TenantKeySet' });

/** A tenant's member acting with a user token gives a key only what they hold; a key or staff, any permission. */
function grantorOf(request: FastifyRequest): Grantor {
  return request.user !== null && request.user.tenantId !== null
    ? { permissions: request.user.permissions }
    : null;
}

/**
 * `/v1/tenants/{id}/api-keys` (operators, and the tenant's own admins with `api_keys:read` /
 * `api_keys:write`) and `/v1/tenant-keys/…` (the SDK): tenant API keys.
 */
export const tenantKeyRoutes: FastifyPluginAsyncZod<Pick<Services, 'tenantKeys'>> = async (
  app,
  { tenantKeys },
) => {
  app.post(
    '/tenants/:id/api-keys',
    {
      // The secret must not be kept in the idempotency store, in clear, for a day.
      config: { scope: 'tenant-keys:write', permission: 'api_keys:write', idempotencyRedact: ['secret'] },
      schema: {
        tags: TAGS,
        operationId: 'createTenantApiKey',
        summary: "Create an API key for a tenant's use of the vendor's API",
        description:
          "The answer holds the key (`secret`), shown once; Tenantry keeps only its SHA-256. The key carries the vendor's " +
          'permissions named, and works until `expires_at` (never, without one) or until revoked. Apps verify it with the SDK.',
        params: TenantParams,
        body: CreateTenantApiKey,
        response: { 201: CreatedTenantKey, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await tenantKeys.create(
        request.ctx,
        request.params.id,
        request.body,
        grantorOf(request),
      );
      return result.ok ? reply.code(201).send(result.value) : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/tenants/:id/api-keys',
    {
      config: { scope: 'tenant-keys:read', permission: 'api_keys:read' },
      schema: {
        tags: TAGS,
        operationId: 'listTenantApiKeys',
        summary: "List a tenant's API keys",
        description: 'Newest first, revoked and expired ones included; never a secret or its hash.',
        params: TenantParams,
        querystring: PageQuery,
        response: { 200: pageOf(TenantKey), ...notFound },
      },
    },
    async (request, reply) => {
      const result = await tenantKeys.list(request.params.id, request.query);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/tenants/:id/api-keys/:key_id/roll',
    {
      config: { scope: 'tenant-keys:write', permission: 'api_keys:write', idempotencyRedact: ['secret'] },
      schema: {
        tags: TAGS,
        operationId: 'rollTenantApiKey',
        summary: "Roll a tenant's API key: a new secret with the same permissions",
        description:
          'The answer is the new key, with its secret (shown once). The old key keeps working for `overlap_seconds` ' +
          '(default a day), so the new one can be deployed, then is refused. A key revoked, expired or rolled already ' +
          'is refused with 409 `tenant_key_inactive`.',
        params: KeyParams,
        body: RollTenantApiKey,
        response: { 201: CreatedTenantKey, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const overlap = request.body?.overlap_seconds ?? DEFAULT_TENANT_KEY_OVERLAP_SECONDS;
      const result = await tenantKeys.roll(
        request.ctx,
        request.params.id,
        request.params.key_id,
        overlap,
        grantorOf(request),
      );
      return result.ok ? reply.code(201).send(result.value) : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/tenants/:id/api-keys/:key_id/revoke',
    {
      config: { scope: 'tenant-keys:write', permission: 'api_keys:write' },
      schema: {
        tags: TAGS,
        operationId: 'revokeTenantApiKey',
        summary: "Revoke a tenant's API key",
        description:
          'Apps refuse it once the entitlement stream tells them, within moments. Revoking twice is harmless.',
        params: KeyParams,
        response: { 200: TenantKey, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await tenantKeys.revoke(request.ctx, request.params.id, request.params.key_id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/tenant-keys/sets',
    {
      config: { scope: 'tenant-keys:verify' },
      schema: {
        tags: TAGS,
        operationId: 'listTenantKeySets',
        summary: 'The working keys of every tenant, as hashes, for apps to verify keys locally',
        description:
          'One page of tenants with a working key, by tenant id, each with its keys (hash, permissions, expiry) and ' +
          'whether the tenant may use anything. The SDK loads them all when it starts and when it reconnects to the ' +
          'entitlement stream, then revalidates the tenants the stream names.',
        querystring: z.strictObject({
          limit: z.coerce
            .number()
            .int()
            .min(1)
            .max(MAX_KEY_SET_TENANTS)
            .default(500)
            .describe('Tenants per page'),
          cursor: z.string().min(1).max(200).optional().describe('The `next_cursor` of the previous page'),
        }),
        response: { 200: pageOf(TenantKeySet) },
      },
    },
    async (request) => tenantKeys.sets(request.query),
  );

  app.post(
    '/tenant-keys/sets/revalidate',
    {
      config: { scope: 'tenant-keys:verify' },
      schema: {
        tags: TAGS,
        operationId: 'revalidateTenantKeySets',
        summary: 'The key sets that changed among those an app holds',
        description:
          'Send the version of each tenant key set held ("" for a tenant held without one); the answer holds the sets ' +
          `whose version differs. At most ${MAX_KEY_SET_TENANTS} tenants.`,
        body: z.strictObject({
          tenants: z
            .record(z.string().min(1).max(200), z.string().max(200))
            .refine((tenants) => Object.keys(tenants).length <= MAX_KEY_SET_TENANTS, {
              message: `at most ${MAX_KEY_SET_TENANTS} tenants per request`,
            })
            .describe('Tenant id → the version of its key set held'),
        }),
        response: { 200: z.object({ changed: z.array(TenantKeySet) }) },
      },
    },
    async (request) => ({ changed: await tenantKeys.revalidate(request.body.tenants) }),
  );

  app.post(
    '/tenant-keys/used',
    {
      config: { scope: 'tenant-keys:verify' },
      schema: {
        tags: TAGS,
        operationId: 'reportTenantKeysUsed',
        summary: 'Report when tenant keys were last verified, for their `last_used_at`',
        description:
          "Apps send these in batches; each key's `last_used_at` moves forward only, at most once a minute. Unknown ids are ignored.",
        body: z.strictObject({
          keys: z
            .array(z.strictObject({ id: z.string().min(1).max(200), used_at: InstantInput }))
            .max(MAX_USED_REPORT),
        }),
        response: { 200: z.object({ received: z.int().describe('Reports in the request') }) },
      },
    },
    async (request) => {
      await tenantKeys.markUsed(request.body.keys);
      return { received: request.body.keys.length };
    },
  );
};
