import type { FastifyReply } from 'fastify';
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
import type { SupportBundleView } from './support-bundle-service.ts';

const TAGS = ['Licenses'];

/** The media types an upload may be sent as: what gzip files are called, in IANA's registry and before it. */
const ARCHIVE_TYPES = ['application/gzip', 'application/x-gzip'];

const SupportBundle = z
  .object({
    id: z.string().describe('`spb_…`'),
    tenant_id: z.string(),
    description: z.string().nullable().describe("The uploader's words about it; null when none"),
    size_bytes: z.number().int().describe("The archive's size"),
    sha256: z.string().describe("SHA-256 (hex) of the archive's bytes, to check a download against"),
    uploaded_by: z
      .object({
        type: z.string().describe('`user` (a member or staff, with their token) or `api_key`'),
        id: z.string(),
      })
      .describe('Who uploaded it'),
    created_at: Timestamp,
  })
  .meta({ id: 'SupportBundle' });

const TenantParams = z.object({ id: z.string().describe('Tenant id or slug') });
const BundleParams = TenantParams.extend({ bundle_id: z.string().describe('`spb_…`') });

/**
 * `/v1/tenants/{id}/support-bundles`: the support bundles a tenant uploads from its installs
 * (`tenantry support-bundle --upload`, or the portal's Self-hosted page) and the vendor's staff
 * download (docs/support-bundle.md).
 */
export const supportBundleRoutes: FastifyPluginAsyncZod<Pick<Services, 'supportBundles'>> = async (
  app,
  { supportBundles },
) => {
  const { maxBytes, perTenant, tenantBytes } = supportBundles.limits;
  // Any body is read as bytes in this plugin (JSON keeps its own parser), so that the route, not
  // Fastify, tells a caller who sent the wrong type what to send instead.
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.post(
    '/tenants/:id/support-bundles',
    {
      config: {
        scope: 'support-bundles:write',
        permission: 'support_bundles:write',
        // Read as bytes, so documented rather than validated.
        documentedBody: {
          'application/gzip': z
            .string()
            .describe('The tar.gz archive `tenantry support-bundle` writes, as bytes (binary)'),
        },
      },
      bodyLimit: maxBytes,
      schema: {
        tags: TAGS,
        operationId: 'uploadSupportBundle',
        summary: 'Upload a support bundle',
        description:
          `The body is the archive, sent as \`application/gzip\` (at most ${maxBytes} bytes, set by ` +
          '`TENANTRY_SUPPORT_BUNDLE_MAX_MB`; larger is 413 `payload_too_large`). It is stored as it came once it is ' +
          'known to be a whole gzip stream of a tar archive; otherwise 400 `support_bundle_invalid` with `refusal` ' +
          '(`empty`, `not_gzip`, `corrupt_gzip`, `not_tar`, `too_large_unpacked`), and another media type is 415. ' +
          `A tenant keeps at most ${perTenant} bundles and ${tenantBytes} bytes of them ` +
          '(set by `TENANTRY_SUPPORT_BUNDLES_PER_TENANT`, `TENANTRY_SUPPORT_BUNDLE_TENANT_MB`): past them 409 ' +
          '`support_bundle_quota_exceeded`, until some are deleted. A refused upload writes nothing.',
        params: TenantParams,
        querystring: z.strictObject({
          description: z
            .string()
            .trim()
            .min(1)
            .max(500)
            .optional()
            .describe(
              'What the bundle is about, for the vendor (e.g. a ticket number); at most 500 characters',
            ),
        }),
        response: {
          201: SupportBundle,
          400: ProblemSchema,
          413: ProblemSchema,
          415: ProblemSchema,
          ...notFound,
          ...conflict,
        },
      },
    },
    async (request, reply) => {
      const type = String(request.headers['content-type'] ?? '')
        .split(';')[0]
        ?.trim()
        .toLowerCase();
      if (!Buffer.isBuffer(request.body) || type === undefined || !ARCHIVE_TYPES.includes(type)) {
        return sendProblem(reply, {
          code: 'unsupported_media_type',
          detail: `send the archive as application/gzip (the .tar.gz tenantry support-bundle writes), not ${type === '' ? 'a body without a content type' : JSON.stringify(type?.slice(0, 80))}`,
        });
      }
      const result = await supportBundles.upload(request.ctx, request.params.id, {
        content: request.body,
        description: request.query.description,
      });
      return result.ok ? reply.code(201).send(result.value) : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/tenants/:id/support-bundles',
    {
      config: { scope: 'support-bundles:read', permission: 'support_bundles:read' },
      schema: {
        tags: TAGS,
        operationId: 'listSupportBundles',
        summary: "List a tenant's support bundles",
        description: 'Newest first; what describes each archive, never its bytes (download one for those).',
        params: TenantParams,
        querystring: PageQuery,
        response: { 200: pageOf(SupportBundle), ...notFound },
      },
    },
    async (request, reply) => {
      const result = await supportBundles.list(request.params.id, request.query);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/tenants/:id/support-bundles/:bundle_id',
    {
      config: { scope: 'support-bundles:read', permission: 'support_bundles:read' },
      schema: {
        tags: TAGS,
        operationId: 'downloadSupportBundle',
        summary: 'Download a support bundle',
        description:
          'The archive, byte for byte as it was uploaded (its `sha256` checks it), always as an `application/gzip` ' +
          'attachment named after its id, with `X-Content-Type-Options: nosniff`: what a customer uploaded is never ' +
          'shown by a browser as a page.',
        params: BundleParams,
        response: {
          200: {
            description: 'The archive',
            content: { 'application/gzip': { schema: z.string().describe('The tar.gz archive (binary)') } },
          },
          ...notFound,
        },
      },
    },
    async (request, reply) => {
      const result = await supportBundles.download(request.params.id, request.params.bundle_id);
      if (!result.ok) return sendProblem(reply, result.error);
      return sendArchive(reply, result.value.bundle, result.value.content);
    },
  );

  app.delete(
    '/tenants/:id/support-bundles/:bundle_id',
    {
      config: { scope: 'support-bundles:write', permission: 'support_bundles:write' },
      schema: {
        tags: TAGS,
        operationId: 'deleteSupportBundle',
        summary: 'Delete a support bundle',
        description: "Frees its place and bytes in the tenant's quota; answers what was deleted.",
        params: BundleParams,
        response: { 200: SupportBundle, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await supportBundles.delete(request.ctx, request.params.id, request.params.bundle_id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};

/**
 * Sends an archive as a download and never as anything a browser would render: its type forced,
 * sniffing off, an attachment named after its id (never after anything the uploader sent), and a
 * sandbox should it be opened all the same. A Buffer is sent as it is, not through the JSON serializer.
 */
function sendArchive(reply: FastifyReply, bundle: SupportBundleView, content: Buffer): FastifyReply {
  return reply
    .type('application/gzip')
    .header('content-disposition', `attachment; filename="${bundle.id}.tar.gz"`)
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', "default-src 'none'; sandbox")
    .header('cache-control', 'private, no-store')
    .send(content);
}
