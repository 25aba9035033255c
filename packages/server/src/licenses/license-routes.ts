import { MODULE_NAME, SHA256_HEX } from '@tenantry/core';
import { IssueLicense } from '@tenantry/core/api/requests';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  conflict,
  notFound,
  PageQuery,
  ProblemSchema,
  pageOf,
  sendProblem,
  Timestamp,
} from '../http/index.ts';
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

const ModuleSignature = z
  .object({
    signature: z
      .string()
      .describe(
        'A compact JWS (EdDSA, `typ` tenantry-module+jwt) of `{module, sha256, iat}`, signed with the active ' +
          'license key; ship it beside the module (`module.js.sig`)',
      ),
    kid: z.string().describe('The license key that signed it'),
    module: z.string(),
    sha256: z.string().regex(SHA256_HEX).describe('The digest signed, lowercase hex'),
    signed_at: Timestamp,
  })
  .meta({ id: 'ModuleSignature' });

const LicenseStatus = z.enum(['active', 'superseded', 'revoked', 'expired']);

const LicenseInstall = z
  .object({
    install_id: z.string().describe('The install, as it names itself when it checks in'),
    license_id: z.string().describe('The license it presented last'),
    license_status: LicenseStatus.describe('Where that license stands now'),
    license_current: z
      .boolean()
      .describe('Whether that license is still active: false means the install is due its newer license'),
    version: z.string().describe("The install's app version, as it last reported it"),
    seats_in_use: z.number().int().nullable().describe('Seats it last reported; null when it reported none'),
    first_seen_at: Timestamp,
    last_check_in_at: Timestamp,
    check_ins: z.number().int().describe('How many times it checked in'),
  })
  .meta({ id: 'LicenseInstall' });

const CheckInAnswer = z
  .object({
    response: z
      .string()
      .describe(
        'A compact JWS (EdDSA, `typ` tenantry-check-in+jwt) signed with the active license key, of ' +
          '`{license_id, status, newest, install_id, iat, seats_licensed, revoked_at}`; verify it with the license keyring',
      ),
    status: LicenseStatus.describe('Where the presented license stands now (as signed in `response`)'),
    newest_license_id: z
      .string()
      .nullable()
      .describe("The tenant's newest active license (its token is `newest` in `response`), or null"),
  })
  .meta({ id: 'LicenseCheckInAnswer' });

const RevocationList = z
  .object({
    list: z
      .string()
      .describe(
        'A compact JWS (EdDSA, `typ` tenantry-revocations+jwt) signed with the active license key, of ' +
          '`{iat, seq, revoked: [{license_id, revoked_at}]}`: the file an air-gapped install reads',
      ),
    seq: z.number().int().describe('Grows with each revocation; installs refuse a list older than one seen'),
    signed_at: Timestamp,
    revoked: z.number().int().describe('How many licenses it names'),
  })
  .meta({ id: 'LicenseRevocationList' });

// 32 bytes of base64url without padding, as the license keyring takes an Ed25519 key.
const ED25519_X = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

const InstallPublicJwk = z
  .strictObject({
    kty: z.literal('OKP'),
    crv: z.literal('Ed25519'),
    x: z.string().regex(ED25519_X, 'must be 32 bytes in base64url'),
    kid: z.string().min(1).max(200).optional(),
    alg: z.literal('EdDSA').optional(),
    use: z.literal('sig').optional(),
  })
  .describe(
    "The install's Ed25519 public key (a private member such as `d` is refused). The first check-in " +
      'carrying one records it; later check-ins of the install must carry the same, as must a check-in of an ' +
      'install whose usage reports pinned a key (409 `install_key_mismatch`)',
  );

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
    '/license-keys/sign-module',
    {
      config: { scope: 'licenses:write' },
      schema: {
        tags: TAGS,
        operationId: 'signLicensedModule',
        summary: "Sign a private module's digest",
        description:
          "Signs a private module's name and SHA-256 with the active license key, for the SDK's " +
          '`loadLicensedModule`, which loads the module only when the digest of its bytes matches. ' +
          'The module stays with the caller: only its digest is sent (`tenantry license sign-module` computes it).',
        body: z.strictObject({
          module: z
            .string()
            .regex(MODULE_NAME)
            .describe("The module's name as the app loads it (by default its file's name), e.g. `sso.js`"),
          sha256: z
            .string()
            .regex(/^[0-9a-fA-F]{64}$/)
            .describe("SHA-256 of the module file's bytes, 64 hex digits"),
        }),
        response: { 201: ModuleSignature, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await licenses.signModule(request.ctx, request.body);
      return result.ok ? reply.code(201).send(result.value) : sendProblem(reply, result.error);
    },
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
        body: IssueLicense,
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
      // A self-hosted customer's admins see their licenses and installs (the tenant portal).
      config: { scope: 'licenses:read', permission: 'licenses:read' },
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
    '/tenants/:id/licenses/:license_id',
    {
      config: { scope: 'licenses:read', permission: 'licenses:read' },
      schema: {
        tags: TAGS,
        operationId: 'getTenantLicense',
        summary: "Get one of a tenant's licenses, with its token",
        description:
          "The license file a self-hosted install runs with. Another tenant's license is not found here.",
        params: TenantParams.extend({ license_id: z.string().describe('`lic_…`') }),
        response: { 200: LicenseWithToken, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await licenses.getOfTenant(request.params.id, request.params.license_id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/tenants/:id/license-installs',
    {
      config: { scope: 'licenses:read', permission: 'licenses:read' },
      schema: {
        tags: TAGS,
        operationId: 'listTenantLicenseInstalls',
        summary: "List a tenant's installs, as they last checked in",
        description:
          "Each install that checked in with one of the tenant's licenses, by install id: its last check-in, " +
          'app version and reported seats, the license it presented and whether that license is still active.',
        params: TenantParams,
        querystring: PageQuery,
        response: { 200: pageOf(LicenseInstall), ...notFound },
      },
    },
    async (request, reply) => {
      const result = await licenses.listInstalls(request.params.id, request.query);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/license-revocations',
    {
      config: { scope: 'licenses:read' },
      schema: {
        tags: TAGS,
        operationId: 'getLicenseRevocationList',
        summary: 'The signed revocation list, for air-gapped installs',
        description:
          'Every revoked license of every tenant, signed now with the active license key: carry `list` into ' +
          "an air-gapped site as a file (`tenantry license revocations --out FILE`) for the SDK's license guard " +
          'to read. `seq` grows with each revocation. 409 `license_key_missing` before any key exists.',
        response: { 200: RevocationList, ...conflict },
      },
    },
    async (_request, reply) => {
      const result = await licenses.revocationList();
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

/**
 * `POST /v1/licenses/check-in`, registered outside the API-key scope: an install holds its license
 * and no API key, so the license, verified against the published license keys, is its credential.
 * Not rate-limited here (a reverse proxy's job for now): a refused license costs one signature check.
 */
export const licenseCheckInRoutes: FastifyPluginAsyncZod<Pick<Services, 'licenses'>> = async (
  app,
  { licenses },
) => {
  app.post(
    '/v1/licenses/check-in',
    {
      // No API key: the license's signature authenticates the install.
      config: { scope: 'public' },
      schema: {
        tags: TAGS,
        operationId: 'checkInLicense',
        summary: 'An install checks in with its license',
        description:
          'Called by self-hosted installs (the SDK), with no API key: the license token in the body is the ' +
          "credential and must verify against the control plane's license keys (401 `license_invalid` otherwise). " +
          "Records the install's check-in, version and seats, and answers with a signed response carrying the " +
          "license's status (revoked, superseded, expired) and the tenant's newest license. An install that " +
          'presented a public key before, or whose imported usage reports are signed with one, must present ' +
          'the same one (409 `install_key_mismatch`).',
        security: [],
        body: z.strictObject({
          license: z
            .string()
            .min(1)
            .max(65_536)
            .describe('The license token (compact JWS) the install holds'),
          install_id: z.string().min(1).max(200).describe('The install, as it names itself'),
          version: z.string().min(1).max(100).describe("The install's app version"),
          seats_in_use: z
            .int()
            .min(0)
            .max(2_147_483_647)
            .optional()
            .describe('Seats in use on the install now'),
          install_public_jwk: InstallPublicJwk.optional(),
        }),
        response: { 200: CheckInAnswer, 401: ProblemSchema, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await licenses.checkIn(
        // An install is no API key nor user: the system acts on its behalf, and the audit entry's
        // data names the install.
        { actor: { type: 'system', id: 'license-check-in' }, requestId: request.id, sourceIp: request.ip },
        request.body,
      );
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};
