import type { PlanDefinition as PlanDefinitionType } from '@tenantry/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { conflict, notFound, PlanVersionNumber, sendProblem, Timestamp } from '../http/index.ts';
import type { Services } from '../services.ts';

const PlanDefinition = z
  .custom<PlanDefinitionType>((value) => typeof value === 'object' && value !== null)
  .describe('A resolved plan definition; see docs/plans.md')
  .meta({ id: 'PlanDefinition' });

const PlanSummary = z
  .object({
    id: z.string(),
    key: z.string(),
    name: z.string(),
    latest_version: z.number().int(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'Plan' });

const PlanDetail = PlanSummary.extend({
  definition: PlanDefinition,
  versions: z.array(
    z.object({
      version: z.number().int(),
      checksum: z.string(),
      created_at: Timestamp,
      tenants: z.number().int(),
    }),
  ),
}).meta({ id: 'PlanDetail' });

const PlanVersion = z
  .object({
    plan_id: z.string(),
    key: z.string(),
    version: z.number().int(),
    checksum: z.string(),
    created_at: Timestamp,
    definition: PlanDefinition,
  })
  .meta({ id: 'PlanVersion' });

const ApplyResult = z
  .object({
    dry_run: z.boolean(),
    plans: z.array(
      z.object({
        key: z.string(),
        id: z.string(),
        change: z.enum(['created', 'updated', 'unchanged']),
        version: z.number().int(),
        previous_version: z.number().int().nullable(),
      }),
    ),
  })
  .meta({ id: 'PlanApplyResult' });

/** `/v1/plans`: plans as code. */
export const planRoutes: FastifyPluginAsyncZod<Pick<Services, 'plans'>> = async (app, services) => {
  app.post(
    '/plans/apply',
    {
      config: { scope: 'plans:write' },
      schema: {
        tags: ['Plans'],
        operationId: 'applyPlans',
        summary: 'Apply a plan file',
        description:
          'Validates the whole YAML plan file and stores a new version of each plan whose definition changed. ' +
          'Every error is reported with its line and path; if there is any, nothing is stored.',
        body: z.strictObject({
          source: z.string().min(1).max(1_000_000).describe('The YAML text of the plan file'),
          filename: z.string().max(500).optional().describe('Named in error messages'),
          dry_run: z.boolean().default(false).describe('Report what would change without storing it'),
        }),
        response: { 200: ApplyResult, ...conflict },
      },
    },
    async (request, reply) => {
      const { source, filename, dry_run } = request.body;
      const result = await services.plans.apply(request.ctx, { source, filename, dryRun: dry_run });
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/plans',
    {
      config: { scope: 'plans:read' },
      schema: {
        tags: ['Plans'],
        operationId: 'listPlans',
        summary: 'List plans',
        response: { 200: z.object({ data: z.array(PlanSummary) }) },
      },
    },
    async () => ({ data: await services.plans.list() }),
  );

  app.get(
    '/plans/:key',
    {
      config: { scope: 'plans:read' },
      schema: {
        tags: ['Plans'],
        operationId: 'getPlan',
        summary: 'Show a plan with its versions',
        params: z.object({ key: z.string().describe('Plan key or id') }),
        response: { 200: PlanDetail, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await services.plans.get(request.params.key);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/plans/:key/versions/:version',
    {
      config: { scope: 'plans:read' },
      schema: {
        tags: ['Plans'],
        operationId: 'getPlanVersion',
        summary: 'Show one version of a plan',
        params: z.object({ key: z.string(), version: z.coerce.number().pipe(PlanVersionNumber) }),
        response: { 200: PlanVersion, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await services.plans.version(request.params.key, request.params.version);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};
