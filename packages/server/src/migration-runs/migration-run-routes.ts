import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { conflict, notFound, PageQuery, pageOf, sendProblem, Timestamp } from '../http/index.ts';
import { MAX_TARGETS, type MigrationRunService, STAGES, TARGET_PLACEMENTS } from './migration-run-service.ts';

const TAGS = ['Migration runs'];

const TargetRef = z
  .string()
  .regex(/^(pool|ten_[0-9a-z]{26})$/, 'a tenant id (`ten_…`) or `pool`')
  .describe('The tenant id (`ten_…`), or `pool` for the pool schema');

const Stage = z.enum(STAGES);

const RUN_STATES = ['running', 'paused', 'succeeded', 'failed'] as const;

const TargetError = z
  .object({
    code: z
      .string()
      .min(1)
      .max(100)
      .describe(
        "Why: the runner's codes (`migration_failed`, `checksum_mismatch`, `unknown_migration`, `connection_failed`, …) or the coordinator's (`backup_not_confirmed`, `verification_failed`, `schema_mismatch`, `canary_failed`, and for a `byoi_agent` target `agent_not_enrolled`, `agent_timeout`, `agent_version_mismatch` or its agent's migrate job's own code)",
      ),
    message: z.string().max(4000),
    migration: z
      .object({ version: z.number().int(), name: z.string().max(200) })
      .nullable()
      .describe('The migration at fault, where one is'),
  })
  .meta({ id: 'MigrationTargetError' });

const RunTarget = z
  .object({
    target: z.string(),
    tenant_id: z.string().nullable(),
    placement: z.enum(TARGET_PLACEMENTS),
    canary: z.boolean(),
    stage: Stage,
    version_before: z.number().int().nullable(),
    version_after: z.number().int().nullable(),
    error: TargetError.nullable(),
    started_at: Timestamp.nullable(),
    finished_at: Timestamp.nullable(),
    updated_at: Timestamp,
  })
  .meta({ id: 'MigrationRunTarget' });

const MigrationRun = z
  .object({
    id: z.string().describe('`mgr_…`'),
    started_by: z.string().describe('The actor that created it: `api_key:key_…`, `user:usr_…`'),
    target_version: z.number().int(),
    dry_run: z.boolean(),
    canary: z.string().nullable(),
    state: z
      .enum(RUN_STATES)
      .describe(
        '`paused`: no further target starts until it is resumed; `succeeded` and `failed`: it has ended',
      ),
    target_count: z.number().int(),
    counts: z.object(
      Object.fromEntries(STAGES.map((s) => [s, z.number().int()])) as Record<
        (typeof STAGES)[number],
        z.ZodNumber
      >,
    ),
    created_at: Timestamp,
    finished_at: Timestamp.nullable(),
  })
  .describe("A run of the vendor's app migrations, with its targets counted per stage")
  .meta({ id: 'MigrationRun' });

const RunParams = z.object({ id: z.string().describe('`mgr_…`') });

/**
 * `/v1/migration-runs…` and `/v1/tenants/{id}/migrations`: the record of the vendor's app
 * migration runs (docs/app-migrations.md). The coordinator (`tenantry app rollout`, the SDK's
 * `coordinateMigrations`, an agent's migrate job) creates a run and reports each target's
 * progress; operators read the fleet view and each tenant's history. Writing is
 * `migrations:write`, reading `migrations:read`; the app preset holds neither.
 */
export const migrationRunRoutes: FastifyPluginAsyncZod<{ migrationRuns: MigrationRunService }> = async (
  app,
  { migrationRuns },
) => {
  app.post(
    '/migration-runs',
    {
      config: { scope: 'migrations:write' },
      schema: {
        tags: TAGS,
        operationId: 'createMigrationRun',
        summary: 'Start a migration run: its targets, all pending, canaries first',
        body: z.strictObject({
          target_version: z
            .int()
            .min(0)
            .max(2_147_483_647)
            .describe('The version every target is brought to'),
          dry_run: z.boolean().default(false),
          canary: z
            .string()
            .max(10_000)
            .nullable()
            .default(null)
            .describe('The canary spec as given: `10%` or tenant ids'),
          targets: z
            .array(
              z.strictObject({
                target: TargetRef,
                placement: z.enum(TARGET_PLACEMENTS),
                canary: z.boolean().default(false),
              }),
            )
            .max(MAX_TARGETS),
        }),
        response: { 201: MigrationRun },
      },
    },
    async (request, reply) => {
      const result = await migrationRuns.create(request.ctx, request.body);
      return result.ok ? reply.code(201).send(result.value) : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/migration-runs/:id/targets/:target',
    {
      config: { scope: 'migrations:write' },
      schema: {
        tags: TAGS,
        operationId: 'reportMigrationTarget',
        summary: "Report a target's progress in a run",
        description:
          'An intermediate stage (`prechecked`, `applying`) updates the target; a final one (`verified`, `applied`, ' +
          "`dry_run`, `failed`, `skipped`) is audited as `migration_run.target_finished` in the tenant's chain, and " +
          'the last target to finish ends the run (`migration_run.finished`). A finished target takes no further ' +
          'report (409 `migration_target_finished`). An agent running a BYOI target reports here too.',
        params: RunParams.extend({ target: TargetRef }),
        body: z.strictObject({
          stage: Stage.exclude(['pending']),
          version_before: z.int().min(0).nullable().optional(),
          version_after: z.int().min(0).nullable().optional(),
          error: TargetError.nullable().optional(),
        }),
        response: { 200: RunTarget, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const { id, target } = request.params;
      const result = await migrationRuns.report(request.ctx, id, target, request.body);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/migration-runs/:id/pause',
    {
      config: { scope: 'migrations:write' },
      schema: {
        tags: TAGS,
        operationId: 'pauseMigrationRun',
        summary: 'Pause a migration run: no further target starts until it is resumed',
        description:
          'A report that would start a pending target is refused (409 `migration_run_paused`); the coordinator waits, ' +
          'asking again, and the targets already started finish. Pausing a paused run changes nothing; a run that has ' +
          'ended answers 409 `migration_run_finished`. Audited as `migration_run.paused`.',
        params: RunParams,
        response: { 200: MigrationRun, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await migrationRuns.pause(request.ctx, request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/migration-runs/:id/resume',
    {
      config: { scope: 'migrations:write' },
      schema: {
        tags: TAGS,
        operationId: 'resumeMigrationRun',
        summary: 'Resume a paused migration run: its coordinator starts the pending targets',
        description:
          'Resuming a running run changes nothing; a run that has ended answers 409 `migration_run_finished`. ' +
          'Audited as `migration_run.resumed`.',
        params: RunParams,
        response: { 200: MigrationRun, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await migrationRuns.resume(request.ctx, request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/migration-runs/:id/targets/:target/retry',
    {
      config: { scope: 'migrations:write' },
      schema: {
        tags: TAGS,
        operationId: 'retryMigrationTarget',
        summary: 'Set a failed target of a migration run pending again, for its coordinator to run it again',
        description:
          'Its error and versions are cleared; the coordinator runs the targets set pending while it runs (or while the ' +
          'run is paused) before it ends. Only a `failed` target (409 `migration_target_not_failed`) of a run that has ' +
          'not ended (409 `migration_run_finished`: start a new run, which migrates what is pending). Audited as ' +
          "`migration_run.target_retried` in the tenant's chain.",
        params: RunParams.extend({ target: TargetRef }),
        response: { 200: RunTarget, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const { id, target } = request.params;
      const result = await migrationRuns.retryTarget(request.ctx, id, target);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/migration-runs',
    {
      config: { scope: 'migrations:read' },
      schema: {
        tags: TAGS,
        operationId: 'listMigrationRuns',
        summary: 'List migration runs, newest first, with their targets counted per stage',
        querystring: PageQuery,
        response: { 200: pageOf(MigrationRun) },
      },
    },
    async (request) => migrationRuns.list(request.query),
  );

  app.get(
    '/migration-runs/:id',
    {
      config: { scope: 'migrations:read' },
      schema: {
        tags: TAGS,
        operationId: 'getMigrationRun',
        summary: "A migration run: counts per stage and every target, in the run's order",
        params: RunParams,
        response: { 200: MigrationRun.extend({ targets: z.array(RunTarget) }), ...notFound },
      },
    },
    async (request, reply) => {
      const result = await migrationRuns.get(request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/tenants/:id/migrations',
    {
      config: { scope: 'migrations:read' },
      schema: {
        tags: TAGS,
        operationId: 'listTenantMigrations',
        summary: "A tenant's migration history: its target in each run, newest first",
        params: z.object({ id: z.string().describe('Tenant id (`ten_…`) or slug') }),
        querystring: PageQuery,
        response: {
          200: pageOf(
            RunTarget.extend({
              run_id: z.string(),
              run_state: z.enum(RUN_STATES),
              target_version: z.number().int(),
              dry_run: z.boolean(),
              created_at: Timestamp.describe('When the run was created'),
            }).meta({ id: 'TenantMigration' }),
          ),
          ...notFound,
        },
      },
    },
    async (request, reply) => {
      const result = await migrationRuns.forTenant(request.params.id, request.query);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};
