import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PageQuery, pageOf, sendProblem, Timestamp } from '../http/index.ts';
import {
  type FleetService,
  LICENSE_DAYS,
  MIGRATION_FAILED_DAYS,
  MIGRATION_STALE_MINUTES,
  NEAR_LIMIT_PERCENT,
  PROVISIONING_STALE_MINUTES,
  RUN_STATES,
  SIGNAL_ITEMS,
  TRIAL_DAYS,
} from './fleet-service.ts';

const TAGS = ['Fleet'];

const TenantRef = z.object({ id: z.string(), slug: z.string(), name: z.string() }).meta({ id: 'TenantRef' });

const FleetProvisioningRun = z
  .object({
    tenant: TenantRef,
    tenant_state: z.string().describe("The tenant's own state (`provisioning`, `provisioning_failed`, …)"),
    state: z.enum(RUN_STATES),
    step: z.string().nullable().describe('The step being run, waited on or failed; null once succeeded'),
    error: z.string().nullable(),
    attempts: z.number().int().describe('Attempts made at the current step'),
    created_at: Timestamp,
    updated_at: Timestamp,
    finished_at: Timestamp.nullable(),
  })
  .describe("A tenant's provisioning run; its steps: GET /v1/tenants/{id}/provisioning")
  .meta({ id: 'FleetProvisioningRun' });

function signal<T extends z.ZodType>(item: T, description: string) {
  return z
    .object({
      count: z.number().int().min(0).describe('How many in all'),
      items: z.array(item).max(SIGNAL_ITEMS).describe(`The first ${SIGNAL_ITEMS}`),
    })
    .describe(description);
}

const FleetSignals = z
  .object({
    generated_at: Timestamp,
    near_limit: signal(
      z.object({
        tenant: TenantRef,
        meter: z.string().describe('The limit: a meter, or `seats`'),
        threshold: z.number().int().describe('The highest threshold reached, in percent'),
        used: z.number(),
        limit: z.number(),
        reached_at: Timestamp,
      }),
      `Live tenants that reached ${NEAR_LIMIT_PERCENT} % or more of a limit in their current period (a threshold the usage checker recorded), each once at its highest share, highest first`,
    ),
    trials_ending: signal(
      z.object({ tenant: TenantRef, trial_ends_at: Timestamp }),
      `Trialing tenants whose trial ends within ${TRIAL_DAYS} days, soonest first`,
    ),
    licenses_expiring: signal(
      z.object({ tenant: TenantRef, license_id: z.string(), expires_at: Timestamp }),
      `Active licenses of live tenants expiring within ${LICENSE_DAYS} days, soonest first`,
    ),
    failing_webhooks: signal(
      z.object({
        endpoint_id: z.string(),
        tenant: TenantRef.nullable().describe('Null: an operator endpoint'),
        url: z.string(),
        status: z.enum(['enabled', 'disabled']),
        disabled_reason: z.string().nullable(),
        retrying_deliveries: z.number().int().describe('Deliveries pending after a failed attempt'),
      }),
      'Webhook endpoints being retried after failed deliveries, or disabled by the control plane (not by request)',
    ),
    provisioning_stuck: signal(
      z.object({
        tenant: TenantRef,
        state: z.enum(['running', 'failed']),
        step: z.string().nullable(),
        error: z.string().nullable(),
        updated_at: Timestamp,
      }),
      `Provisioning runs that failed, or running and unmoved for ${PROVISIONING_STALE_MINUTES} minutes`,
    ),
    migrations_stuck: signal(
      z.object({
        run_id: z.string(),
        state: z.enum(['running', 'failed']),
        target_version: z.number().int(),
        failed: z.number().int().describe('Targets failed'),
        last_progress_at: Timestamp.describe("When a target last moved (the run's creation when none has)"),
      }),
      `Migration runs failed within ${MIGRATION_FAILED_DAYS} days, or running with no target moved for ${MIGRATION_STALE_MINUTES} minutes`,
    ),
  })
  .meta({ id: 'FleetSignals' });

/**
 * `/v1/fleet-signals` and `/v1/provisioning-runs` (docs/fleet.md): what needs an operator's look
 * across the fleet, each signal a count and its first items, and the fleet's provisioning runs.
 * Both are read with `fleet:read`, which the app preset does not hold: the signals gather what
 * `licenses:read`, `webhooks:read` and `migrations:read` each show, and the app has no use for them.
 */
export const fleetRoutes: FastifyPluginAsyncZod<{ fleet: FleetService }> = async (app, { fleet }) => {
  app.get(
    '/fleet-signals',
    {
      config: { scope: 'fleet:read' },
      schema: {
        tags: TAGS,
        operationId: 'getFleetSignals',
        summary: 'What needs looking at across the fleet: each signal counted, its first items listed',
        description:
          'Tenants near a limit, trials ending, licenses expiring, failing webhook endpoints, provisioning and ' +
          "migration runs failed or not progressing. Each signal is one indexed query whatever the fleet's size.",
        response: { 200: FleetSignals },
      },
    },
    async () => fleet.signals(),
  );

  app.get(
    '/provisioning-runs',
    {
      config: { scope: 'fleet:read' },
      schema: {
        tags: TAGS,
        operationId: 'listProvisioningRuns',
        summary: "The fleet's provisioning runs, newest tenant first, optionally in one state",
        description: 'A failed run resumes at its failed step with POST /v1/tenants/{id}/retry-provisioning.',
        querystring: PageQuery.extend({
          state: z.enum(RUN_STATES).optional().describe('Only the runs in this state'),
        }),
        response: { 200: pageOf(FleetProvisioningRun) },
      },
    },
    async (request, reply) => {
      const { state, ...page } = request.query;
      const result = await fleet.provisioningRuns({ state }, page);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};
