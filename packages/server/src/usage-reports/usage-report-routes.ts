import { ImportTenantUsageReport, ImportUsageReport } from '@tenantry/core/api/requests';
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

const TAGS = ['Usage'];

const UsageReport = z
  .object({
    tenant_id: z.string().describe("The tenant the report's license was issued to"),
    install_id: z.string().describe('The install, as it names itself'),
    seq: z.number().int().describe("The report's place in its install's chain: 1, 2, 3…"),
    report_id: z.string(),
    digest: z.string().describe("SHA-256 (hex) of the report token: the next report's `previous`"),
    key_thumbprint: z
      .string()
      .describe(
        "RFC 7638 thumbprint of the install key that signed it, pinned by the install's first report",
      ),
    license_id: z.string().describe('The license the report carried'),
    period: z
      .object({ from: Timestamp, to: Timestamp })
      .describe('The usage it covers: `from` ≤ time < `to`'),
    event_count: z.number().int(),
    totals: z
      .record(z.string(), z.object({ sum: z.number(), count: z.number().int() }))
      .describe('Per meter, as the report states them (checked against its events)'),
    created_at: Timestamp.describe('When the install wrote it'),
    imported_at: Timestamp,
  })
  .meta({ id: 'OfflineUsageReport' });

const ImportedReport = z
  .object({
    report: UsageReport,
    already_imported: z.boolean().describe('The same report was imported before: nothing was written'),
    accepted: z.number().int().describe('Events stored by this import'),
    duplicates: z.number().int().describe('Events whose id the tenant already had; not counted again'),
  })
  .meta({ id: 'OfflineUsageReportImport' });

const TenantParams = z.object({ id: z.string().describe('Tenant id or slug') });

/** `POST /v1/usage-reports` and `GET /v1/tenants/{id}/usage-reports`: offline usage reports (docs/metering.md). */
export const usageReportRoutes: FastifyPluginAsyncZod<Pick<Services, 'usageReports'>> = async (
  app,
  { usageReports },
) => {
  app.post(
    '/usage-reports',
    {
      config: { scope: 'usage:write' },
      // As ingestion's: a report (at most MAX_USAGE_REPORT_BYTES) carries as many events as a batch.
      bodyLimit: 32 * 1024 * 1024,
      schema: {
        tags: TAGS,
        operationId: 'importUsageReport',
        summary: 'Import an offline usage report',
        description:
          'A report a self-hosted install signed with its own key (`tenantry usage export`), carrying the license ' +
          "it runs with: verified, placed in its install's chain (the next `seq`, linked to the report before), and its " +
          'events stored as `POST /v1/events` stores them, so they are billed like SaaS usage. 201 when imported; 200 ' +
          'with `already_imported` when the same report was imported before (nothing is written). A refused report ' +
          'writes nothing: 422 `usage_report_invalid` (with `refusal`), 409 `usage_report_gap` or `usage_report_fork`, ' +
          '400 `validation_failed` for events `POST /v1/events` would refuse (an unknown meter, a time before the late window).',
        body: ImportUsageReport,
        response: { 200: ImportedReport, 201: ImportedReport, 422: ProblemSchema, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await usageReports.import(request.ctx, request.body);
      if (!result.ok) return sendProblem(reply, result.error);
      return reply.code(result.value.already_imported ? 200 : 201).send(result.value);
    },
  );

  app.post(
    '/tenants/:id/usage-reports',
    {
      // A self-hosted customer's admins upload their installs' offline reports themselves (the
      // tenant portal): a report whose license is another tenant's is refused.
      config: { scope: 'usage:write', permission: 'usage_reports:write' },
      bodyLimit: 32 * 1024 * 1024,
      schema: {
        tags: TAGS,
        operationId: 'importTenantUsageReport',
        summary: "Import an offline usage report of a tenant's install",
        description:
          '`POST /v1/usage-reports` for the tenant in the path: a report whose license was issued to another tenant is ' +
          'refused (422 `usage_report_invalid`, `refusal: other_tenant`) and writes nothing.',
        params: TenantParams,
        body: ImportTenantUsageReport,
        response: { 200: ImportedReport, 201: ImportedReport, 422: ProblemSchema, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await usageReports.import(request.ctx, {
        report: request.body.report,
        tenant: request.params.id,
      });
      if (!result.ok) return sendProblem(reply, result.error);
      return reply.code(result.value.already_imported ? 200 : 201).send(result.value);
    },
  );

  app.get(
    '/tenants/:id/usage-reports',
    {
      config: { scope: 'usage:read', permission: 'licenses:read' },
      schema: {
        tags: TAGS,
        operationId: 'listTenantUsageReports',
        summary: "List a tenant's imported usage reports",
        description: "By install, then `seq`; `install` keeps one install's chain.",
        params: TenantParams,
        querystring: PageQuery.extend({
          install: z.string().min(1).max(200).optional().describe("Only this install's reports"),
        }),
        response: { 200: pageOf(UsageReport), ...notFound },
      },
    },
    async (request, reply) => {
      const result = await usageReports.list(request.params.id, request.query);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};
