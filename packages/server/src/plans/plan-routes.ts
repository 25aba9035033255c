import type { PlanDefinition as PlanDefinitionType } from '@tenantry/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { conflict, notFound, PlanVersionNumber, sendProblem, Timestamp } from '../http/index.ts';
import type { Services } from '../services.ts';
import { MAX_IMPACT_EXAMINED, MAX_IMPACT_LISTED } from './plan-impact.ts';

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

const ImpactTenant = {
  id: z.string(),
  slug: z.string(),
  name: z.string(),
  version: z.number().int().describe('The version the tenant is on'),
};

const PlanImpact = z
  .object({
    adoption: z
      .literal('grandfathered')
      .describe(
        'Tenants keep the version they are on until moved (POST /v1/tenants/{id}/change-plan): the impact is what moving them would do',
      ),
    plans: z.array(
      z.object({
        key: z.string(),
        version: z.number().int().describe('The version the apply would create'),
        tenants: z.number().int().describe('Tenants on the plan, any version, not deleted'),
        examined: z
          .number()
          .int()
          .describe(`How many of them were evaluated (at most ${MAX_IMPACT_EXAMINED})`),
        over_limit: z.object({
          count: z.number().int(),
          tenants: z
            .array(
              z.object({
                ...ImpactTenant,
                limits: z.array(
                  z.object({
                    key: z.string(),
                    used: z.number(),
                    current: z.number().nullable().describe('Effective limit now; null = unlimited'),
                    new: z.number(),
                  }),
                ),
              }),
            )
            .describe(`At most ${MAX_IMPACT_LISTED}; count covers every tenant examined`),
        }),
        pays_more: z.object({
          count: z.number().int(),
          tenants: z
            .array(
              z.object({
                ...ImpactTenant,
                seats: z.number().int(),
                currency: z.string(),
                current: z.string().describe('Recurring charge per interval now, major units'),
                new: z.string().describe('Recurring charge per interval on the new version, major units'),
              }),
            )
            .describe(`At most ${MAX_IMPACT_LISTED}; count covers every tenant examined`),
        }),
      }),
    ),
  })
  .describe(
    "A dry run's only: who, among the tenants of each updated plan, would pass a limit with their current usage, or pay more at their seats (flat and per-seat prices, topped up to the minimum), on the new version",
  )
  .meta({ id: 'PlanApplyImpact' });

const ApplyResult = z
  .object({
    dry_run: z.boolean(),
    impact: PlanImpact.optional(),
    plans: z.array(
      z.object({
        key: z.string(),
        id: z.string(),
        change: z.enum(['created', 'updated', 'unchanged']),
        version: z.number().int(),
        previous_version: z.number().int().nullable(),
        definition: PlanDefinition.optional().describe(
          "A dry run's only, for a plan it would create or update: the definition that would be stored",
        ),
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
