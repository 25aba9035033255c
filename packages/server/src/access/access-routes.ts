import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { sendProblem, Timestamp } from '../http/index.ts';
import type { AccessService } from './access-service.ts';

const AccessView = z
  .object({
    version: z.number().int().describe('0 until an access file is applied'),
    checksum: z.string().nullable(),
    created_at: Timestamp.nullable(),
    permissions: z.record(z.string(), z.string()).describe("The vendor's permissions and their descriptions"),
    roles: z
      .record(z.string(), z.array(z.string()))
      .describe('The vendor permissions each built-in role holds'),
    tenant_admin_permissions: z
      .record(z.string(), z.string())
      .describe("Tenantry's own tenant-admin permissions (reserved names)"),
  })
  .meta({ id: 'Access' });

const AccessApplyResult = z
  .object({
    dry_run: z.boolean(),
    change: z.enum(['created', 'unchanged']),
    version: z.number().int(),
    previous_version: z.number().int().nullable(),
  })
  .meta({ id: 'AccessApplyResult' });

/** `/v1/access`: the vendor's permission catalogue and built-in roles, as code. */
export const accessRoutes: FastifyPluginAsyncZod<{ access: AccessService }> = async (app, services) => {
  app.put(
    '/access',
    {
      config: { scope: 'access:write' },
      schema: {
        tags: ['Access'],
        operationId: 'applyAccess',
        summary: 'Apply the access file',
        description:
          'Validates the whole access file (YAML or JSON: permissions and what each built-in role holds) and ' +
          'stores it as a new version when it changed. Every error is reported with its line and path; if there is any, nothing is stored.',
        body: z.strictObject({
          source: z.string().min(1).max(1_000_000).describe('The YAML (or JSON) text of the access file'),
          filename: z.string().max(500).optional().describe('Named in error messages'),
          dry_run: z.boolean().default(false).describe('Report what would change without storing it'),
        }),
        response: { 200: AccessApplyResult },
      },
    },
    async (request, reply) => {
      const { source, filename, dry_run } = request.body;
      const result = await services.access.apply(request.ctx, { source, filename, dryRun: dry_run });
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/access',
    {
      config: { scope: 'access:read' },
      schema: {
        tags: ['Access'],
        operationId: 'getAccess',
        summary: 'Show the access file in force',
        response: { 200: AccessView },
      },
    },
    async () => services.access.current(),
  );
};
