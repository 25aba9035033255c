import { InstantInput, KEY_PATTERN } from '@tenantry/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { conflict, notFound, PageQuery, pageOf, sendProblem, Timestamp } from '../http/index.ts';
import type { Services } from '../services.ts';

const TAGS = ['Licenses'];

const PublicJwk = z
  .object({
    kty: z.literal('OKP'),
    crv: z.literal('Ed25519'),
    x: z.string(),
    kid: z.string(),
    alg: z.literal('EdDSA'),
    use: z.literal('sig'),
  })
  .describe('The public half, as an install trusts it; never a private member');

const LicenseKey = z
  .object({
    kid: z.string().describe("The key's JWK thumbprint; licenses name it in their `kid` header"),
    status: z
      .enum(['active', 'retired'])
      .describe('`active` signs new licenses; `retired` signs nothing more but stays published'),
    created_at: Timestamp,
    retired_at: Timestamp.nullable(),
    public_jwk: PublicJwk,
  })
  .meta({ id: 'LicenseKey' });

const License = z
  .object({
    id: z.string().describe("`lic_…`, the license's `jti`"),
    tenant_id: z.string(),
    seq: z.number().int().describe('Grows with each license issued to the tenant'),
    kid: z.string().describe('The key that signed it'),
    status: z
      .enum(['active', 'superseded', 'revoked', 'expired'])
      .describe('`expired`: active but past `expires_at` (the install may still be in its grace days)'),
    edition: z.string(),
    plan: z.object({ key: z.string(), version: z.number().int() }),
    seats: z.number().int().nullable().describe('null: unlimited'),
    issued_at: Timestamp,
    expires_at: Timestamp,
    grace_days: z.number().int(),
    offline_days: z.number().int().nullable(),
    phone_home: z.boolean(),
    install: z.string().nullable(),
    superseded_at: Timestamp.nullable(),
    revoked_at: Timestamp.nullable(),
    revoke_reason: z.string().nullable(),
  })
  .meta({ id: 'License' });

const LicenseWithToken = License.extend({
  token: z.string().describe('The signed license (compact JWS) to hand to the customer'),
}).meta({ id: 'IssuedLicense' });

const IdParams = z.object({ id: z.string() });
const TenantParams = z.object({ id: z.string().describe('Tenant id or slug') });

/** `/v1/license-keys`, `/v1/tenants/{id}/licenses` and `/v1/licenses`: licenses for self-hosted installs (docs/licenses.md). */
export const licenseRoutes: FastifyPluginAsyncZod<Pick<Services, 'licenses'>> = async (app, { licenses }) => {
  app.post(
    '/license-keys',
    {
      config: { scope: 'licenses:write' },
      schema: {
        tags: TAGS,
        operationId: 'createLicenseKey',
        summary: 'Generate a license signing key',
        description:
          'An Ed25519 key pair; its private half is sealed at rest and never leaves the server. The new key ' +
          'signs the licenses issued from now on; the previous one is retired but stays published. ' +
          "Ship or configure the public half in installs' keyrings before issuing with it.",
        response: { 201: LicenseKey },
      },
    },
    async (request, reply) => reply.code(201).send(await licenses.createKey(request.ctx)),
  );

  app.get(
    '/license-keys',
    {
      config: { scope: 'licenses:read' },
      schema: {
        tags: TAGS,
        operationId: 'listLicenseKeys',
        summary: 'List the license signing keys',
        description:
          'Every key, newest first, public halves only. `public_jwk` of each is what an install configures in its keyring.',
        response: { 200: z.object({ data: z.array(LicenseKey) }) },
      },
    },
    async () => ({ data: await licenses.listKeys() }),
  );

  app.post(
    '/tenants/:id/licenses',
    {
      config: { scope: 'licenses:write' },
      schema: {
        tags: TAGS,
        operationId: 'issueLicense',
        summary: "Issue a license from the tenant's plan",
        description:
          "Signs a license carrying the tenant's entitlements as its snapshot shows them now (plan version and " +
          "overrides). It takes the tenant's next `seq` and supersedes the tenant's active license.",
        params: TenantParams,
        body: z.strictObject({
          expires_at: InstantInput.optional().describe('When it expires; give this or `days`'),
          days: z.int().min(1).max(36_500).optional().describe('Days from now until it expires'),
          edition: z.string().regex(KEY_PATTERN).optional().describe("Defaults to the plan's key"),
          grace_days: z
            .int()
            .min(0)
            .max(3650)
            .optional()
            .describe('Days it keeps running after expiry; default 14'),
          offline_days: z
            .int()
            .min(0)
            .max(36_500)
            .nullable()
            .optional()
            .describe('Days without a check-in; 0: must check in; null (default): never needs to'),
          phone_home: z
            .boolean()
            .optional()
            .describe('Whether the install must report when it checks in; default false'),
          install: z
            .string()
            .min(1)
            .max(200)
            .nullable()
            .optional()
            .describe('Bind it to this install id; default any'),
          seats: z
            .int()
            .min(0)
            .max(2_147_483_647)
            .nullable()
            .optional()
            .describe("Seats the install may have; defaults to the tenant's `seats` limit (null: unlimited)"),
        }),
        response: { 201: LicenseWithToken, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await licenses.issue(request.ctx, request.params.id, request.body);
      return result.ok ? reply.code(201).send(result.value) : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/tenants/:id/licenses',
    {
      config: { scope: 'licenses:read' },
      schema: {
        tags: TAGS,
        operationId: 'listTenantLicenses',
        summary: "List a tenant's licenses",
        description: 'Newest (highest `seq`) first.',
        params: TenantParams,
        querystring: PageQuery,
        response: { 200: pageOf(License), ...notFound },
      },
    },
    async (request, reply) => {
      const result = await licenses.list(request.params.id, request.query);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/licenses/:id',
    {
      config: { scope: 'licenses:read' },
      schema: {
        tags: TAGS,
        operationId: 'getLicense',
        summary: 'Get a license, with its token',
        params: IdParams,
        response: { 200: LicenseWithToken, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await licenses.get(request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/licenses/:id/revoke',
    {
      config: { scope: 'licenses:write' },
      schema: {
        tags: TAGS,
        operationId: 'revokeLicense',
        summary: 'Revoke a license',
        description:
          'Marks it revoked. A license verifies offline, so installs learn of it when they check in; ' +
          "the tenant's other licenses are unchanged.",
        params: IdParams,
        body: z.strictObject({ reason: z.string().min(1).max(500).optional() }).nullish(),
        response: { 200: License, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await licenses.revoke(request.ctx, request.params.id, request.body?.reason);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};
