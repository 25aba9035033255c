import {
  type DomainError,
  type FieldError,
  fail,
  keysetPage,
  ok,
  type Page,
  type Result,
} from '@tenantry/core';
import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { MigrationRunsTable, MigrationRunTargetsTable, Schema } from '../db/index.ts';
import { newId } from '../ids.ts';
import type { RequestContext } from '../request-context.ts';

/** Where a target's app tables live. */
export const TARGET_PLACEMENTS = ['pool', 'schema', 'database', 'byoi', 'byoi_agent'] as const;
export type TargetPlacement = (typeof TARGET_PLACEMENTS)[number];

/** A target's stages, in the order a target moves through them. */
export const STAGES = [
  'pending',
  'prechecked',
  'dry_run',
  'applying',
  'applied',
  'verified',
  'failed',
  'skipped',
] as const;
export type Stage = (typeof STAGES)[number];

/**
 * The stages a target ends in: `verified` (committed after its post-checks passed in its
 * transaction), `applied` (committed, no post-check run: an agent's migrate job), `dry_run`
 * (run, post-checked and rolled back), `failed`, `skipped`. A final stage is not rewritten.
 */
export const FINAL_STAGES: readonly Stage[] = ['applied', 'verified', 'dry_run', 'failed', 'skipped'];
type FinalStage = 'applied' | 'verified' | 'dry_run' | 'failed' | 'skipped';

/** The most targets one run may have: a fleet larger than this runs in several. */
export const MAX_TARGETS = 10_000;

/** Why a target failed or was skipped. */
export interface TargetErrorView {
  code: string;
  message: string;
  migration: { version: number; name: string } | null;
}

export interface RunTargetView {
  target: string;
  tenant_id: string | null;
  placement: TargetPlacement;
  canary: boolean;
  stage: Stage;
  version_before: number | null;
  version_after: number | null;
  error: TargetErrorView | null;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
}

export interface MigrationRunView {
  id: string;
  started_by: string;
  target_version: number;
  dry_run: boolean;
  canary: string | null;
  /** `paused`: no further target starts until it is resumed; it has not ended. */
  state: 'running' | 'paused' | 'succeeded' | 'failed';
  target_count: number;
  /** Targets per stage, every stage named (0 when none). */
  counts: Record<Stage, number>;
  created_at: string;
  finished_at: string | null;
}

/** One run of a tenant's migration history: the run and the tenant's target in it. */
export interface TenantMigrationView extends RunTargetView {
  run_id: string;
  run_state: MigrationRunView['state'];
  target_version: number;
  dry_run: boolean;
  created_at: string;
}

export interface CreateRunInput {
  target_version: number;
  dry_run: boolean;
  canary: string | null;
  targets: ReadonlyArray<{ target: string; placement: TargetPlacement; canary: boolean }>;
}

export interface TargetReport {
  stage: Exclude<Stage, 'pending'>;
  version_before?: number | null | undefined;
  version_after?: number | null | undefined;
  error?: TargetErrorView | null | undefined;
}

type RunRow = Selectable<MigrationRunsTable>;
type TargetRow = Selectable<MigrationRunTargetsTable>;

/**
 * The record of the vendor's app migration runs: the coordinator (SDK, CLI, an agent's migrate
 * job) creates a run with its targets, reports each target's stages as it goes, and the run ends
 * when its last target reaches a final stage. The control plane runs no migration itself; it
 * keeps what the coordinators report, so that operators see the fleet's progress and each
 * tenant's history in one place.
 *
 * What is recorded through the change recorder, and what is not: a run's creation and its end
 * (`migration_run.created`, `.finished`) and each target's final stage
 * (`migration_run.target_finished`, in the tenant's audit chain) are changes worth an audit entry
 * and an event. The intermediate stages (prechecked, applying) are progress, a row update each:
 * a run over thousands of targets would otherwise write several audit entries and webhooks per
 * target for nothing anyone acts on.
 */
export class MigrationRunService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;

  constructor(deps: { db: Kysely<Schema>; clock: Clock }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
  }

  /** Creates a run with its targets, all `pending`; every named tenant must exist. */
  async create(ctx: RequestContext, input: CreateRunInput): Promise<Result<MigrationRunView, DomainError>> {
    const errors = targetErrors(input);
    if (errors.length > 0) return invalid(errors);
    const tenantIds = input.targets.filter((t) => t.target !== 'pool').map((t) => t.target);
    return this.#db.transaction().execute(async (tx) => {
      const known = new Set(
        tenantIds.length === 0
          ? []
          : (await tx.selectFrom('tenants').select('id').where('id', 'in', tenantIds).execute()).map(
              (r) => r.id,
            ),
      );
      const unknown = input.targets.flatMap((t, i) =>
        t.target === 'pool' || known.has(t.target)
          ? []
          : [{ path: `targets.${i}.target`, message: `no tenant has the id ${t.target}` }],
      );
      if (unknown.length > 0) return invalid(unknown);
      const now = this.#clock.now();
      // Wall time, not the tenants' clock: a run is an operation on real databases, and its id orders the list.
      const id = newId('mgr');
      const run = await tx
        .insertInto('migration_runs')
        .values({
          id,
          started_by: `${ctx.actor.type}:${ctx.actor.id}`,
          target_version: input.target_version,
          dry_run: input.dry_run,
          canary: input.canary,
          target_count: input.targets.length,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      // Canaries first, each group in the order given: the order the coordinator runs them in.
      const ordered = [...input.targets.filter((t) => t.canary), ...input.targets.filter((t) => !t.canary)];
      // In slices: one statement's parameters are limited to 65535.
      for (let at = 0; at < ordered.length; at += 1000) {
        await tx
          .insertInto('migration_run_targets')
          .values(
            ordered.slice(at, at + 1000).map((t, i) => ({
              run_id: id,
              target: t.target,
              tenant_id: t.target === 'pool' ? null : t.target,
              placement: t.placement,
              position: at + i,
              canary: t.canary,
            })),
          )
          .execute();
      }
      await recordChange(tx, ctx, {
        action: 'migration_run.created',
        tenantId: null,
        target: { type: 'migration_run', id },
        data: {
          run_id: id,
          target_version: input.target_version,
          dry_run: input.dry_run,
          canary: input.canary,
          targets: input.targets.length,
        },
        occurredAt: now,
      });
      return ok(runView(run, countsOf(ordered.map(() => ({ stage: 'pending' as Stage, n: 1 })))));
    });
  }

  /**
   * Records a target's progress. An intermediate stage updates its row; a final one is audited in
   * the target tenant's chain, and the last target to finish ends the run, audited as well. The
   * run's row is locked for a final stage, so that two targets finishing at once cannot both see
   * the other still running and leave the run open.
   */
  async report(
    ctx: RequestContext,
    runId: string,
    target: string,
    report: TargetReport,
  ): Promise<Result<RunTargetView, DomainError>> {
    const final = FINAL_STAGES.includes(report.stage);
    return this.#db.transaction().execute(async (tx) => {
      // A final stage may end the run: its row is locked against another ending it. Any other
      // report shares the lock, so that a pause (which takes the row) is seen by every start after it.
      const base = tx.selectFrom('migration_runs').selectAll().where('id', '=', runId);
      const run = await (final ? base.forUpdate() : base.forShare()).executeTakeFirst();
      if (!run) return runNotFound(runId);
      const errors = reportErrors(run, report);
      if (errors.length > 0) return invalid(errors);
      const current = await tx
        .selectFrom('migration_run_targets')
        .selectAll()
        .where('run_id', '=', runId)
        .where('target', '=', target)
        .forUpdate()
        .executeTakeFirst();
      if (!current)
        return fail('migration_target_not_found', `migration run ${runId} has no target ${target}`);
      if (FINAL_STAGES.includes(current.stage))
        return fail(
          'migration_target_finished',
          `target ${target} of migration run ${runId} already finished as ${current.stage}`,
          { details: { stage: current.stage } },
        );
      // A paused run starts no target: the coordinator's first report on a target is its start.
      if (run.state === 'paused' && current.stage === 'pending')
        return fail(
          'migration_run_paused',
          `migration run ${runId} is paused: target ${target} does not start until the run is resumed`,
        );
      const now = this.#clock.now();
      const row = await tx
        .updateTable('migration_run_targets')
        .set({
          stage: report.stage,
          ...(report.version_before !== undefined ? { version_before: report.version_before } : {}),
          ...(report.version_after !== undefined ? { version_after: report.version_after } : {}),
          ...(report.error !== undefined
            ? { error: report.error === null ? null : JSON.stringify(report.error) }
            : {}),
          started_at: current.started_at ?? now,
          ...(final ? { finished_at: now } : {}),
          updated_at: now,
        })
        .where('run_id', '=', runId)
        .where('target', '=', target)
        .returningAll()
        .executeTakeFirstOrThrow();
      if (final) await this.#finishTarget(tx, ctx, run, row, now);
      return ok(targetView(row));
    });
  }

  async #finishTarget(
    tx: Transaction<Schema>,
    ctx: RequestContext,
    run: RunRow,
    row: TargetRow,
    now: Date,
  ): Promise<void> {
    await recordChange(tx, ctx, {
      action: 'migration_run.target_finished',
      tenantId: row.tenant_id,
      target: { type: 'migration_run', id: run.id },
      data: {
        run_id: run.id,
        target: row.target,
        stage: row.stage as FinalStage,
        version_before: row.version_before,
        version_after: row.version_after,
        error_code: row.error?.code ?? null,
      },
      occurredAt: now,
    });
    const counts = await stageCounts(tx, run.id);
    if (counts.pending + counts.prechecked + counts.applying > 0) return;
    const state = counts.failed + counts.skipped > 0 ? 'failed' : 'succeeded';
    await tx
      .updateTable('migration_runs')
      .set({ state, finished_at: now })
      .where('id', '=', run.id)
      .execute();
    await recordChange(tx, ctx, {
      action: 'migration_run.finished',
      tenantId: null,
      target: { type: 'migration_run', id: run.id },
      data: {
        run_id: run.id,
        state,
        counts: Object.fromEntries(
          Object.entries(counts).filter(([stage]) => FINAL_STAGES.includes(stage as Stage)),
        ),
      },
      occurredAt: now,
    });
  }

  /**
   * Pauses a running run: from now no target of it starts (a report that would move a pending
   * target on is refused, `migration_run_paused`); the targets already started finish and report.
   * Pausing a paused run changes nothing; a run that has ended is not paused (`migration_run_finished`).
   */
  async pause(ctx: RequestContext, runId: string): Promise<Result<MigrationRunView, DomainError>> {
    return this.#setPaused(ctx, runId, true);
  }

  /** Resumes a paused run: its coordinator, which waits while the run is paused, starts the rest. */
  async resume(ctx: RequestContext, runId: string): Promise<Result<MigrationRunView, DomainError>> {
    return this.#setPaused(ctx, runId, false);
  }

  async #setPaused(
    ctx: RequestContext,
    runId: string,
    paused: boolean,
  ): Promise<Result<MigrationRunView, DomainError>> {
    return this.#db.transaction().execute(async (tx) => {
      const run = await tx
        .selectFrom('migration_runs')
        .selectAll()
        .where('id', '=', runId)
        .forUpdate()
        .executeTakeFirst();
      if (!run) return runNotFound(runId);
      if (run.state !== 'running' && run.state !== 'paused') return runFinished(run);
      const counts = await stageCounts(tx, runId);
      if ((run.state === 'paused') === paused) return ok(runView(run, counts));
      const changed = await tx
        .updateTable('migration_runs')
        .set({ state: paused ? 'paused' : 'running' })
        .where('id', '=', runId)
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordChange(tx, ctx, {
        action: paused ? 'migration_run.paused' : 'migration_run.resumed',
        tenantId: null,
        target: { type: 'migration_run', id: runId },
        before: { state: run.state },
        after: { state: changed.state },
        data: { run_id: runId, counts },
        occurredAt: this.#clock.now(),
      });
      return ok(runView(changed, counts));
    });
  }

  /**
   * Sets a failed target pending again, its error and versions cleared, for the run's coordinator
   * to run it again: a coordinator runs the targets set pending while it ran (or while the run was
   * paused) before it ends. A run that has ended has no coordinator left (`migration_run_finished`):
   * a new run migrates what is pending.
   */
  async retryTarget(
    ctx: RequestContext,
    runId: string,
    target: string,
  ): Promise<Result<RunTargetView, DomainError>> {
    return this.#db.transaction().execute(async (tx) => {
      const run = await tx
        .selectFrom('migration_runs')
        .selectAll()
        .where('id', '=', runId)
        .forUpdate()
        .executeTakeFirst();
      if (!run) return runNotFound(runId);
      const current = await tx
        .selectFrom('migration_run_targets')
        .selectAll()
        .where('run_id', '=', runId)
        .where('target', '=', target)
        .forUpdate()
        .executeTakeFirst();
      if (!current)
        return fail('migration_target_not_found', `migration run ${runId} has no target ${target}`);
      if (run.state !== 'running' && run.state !== 'paused') return runFinished(run);
      if (current.stage !== 'failed')
        return fail(
          'migration_target_not_failed',
          `target ${target} of migration run ${runId} is ${current.stage}, not failed: only a failed target is retried`,
          { details: { stage: current.stage } },
        );
      const now = this.#clock.now();
      const row = await tx
        .updateTable('migration_run_targets')
        .set({
          stage: 'pending',
          version_before: null,
          version_after: null,
          error: null,
          started_at: null,
          finished_at: null,
          updated_at: now,
        })
        .where('run_id', '=', runId)
        .where('target', '=', target)
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordChange(tx, ctx, {
        action: 'migration_run.target_retried',
        tenantId: row.tenant_id,
        target: { type: 'migration_run', id: runId },
        before: { stage: 'failed' },
        after: { stage: 'pending' },
        data: { run_id: runId, target, error_code: current.error?.code ?? null },
        occurredAt: now,
      });
      return ok(targetView(row));
    });
  }

  /** The runs, newest first, a page at a time, each with its counts per stage. */
  async list(page: { limit: number; cursor?: string | undefined }): Promise<Page<MigrationRunView>> {
    let query = this.#db
      .selectFrom('migration_runs')
      .selectAll()
      .orderBy('id', 'desc')
      .limit(page.limit + 1);
    if (page.cursor !== undefined) query = query.where('id', '<', page.cursor);
    // The page's rows first: their counts are read for them alone, in one query.
    const shown = keysetPage(
      await query.execute(),
      page.limit,
      (run) => run,
      (run) => run.id,
    );
    const counts =
      shown.data.length === 0
        ? []
        : await this.#db
            .selectFrom('migration_run_targets')
            .select(['run_id', 'stage', sql<number>`count(*)::int`.as('n')])
            .where(
              'run_id',
              'in',
              shown.data.map((r) => r.id),
            )
            .groupBy(['run_id', 'stage'])
            .execute();
    return {
      data: shown.data.map((run) => runView(run, countsOf(counts.filter((c) => c.run_id === run.id)))),
      next_cursor: shown.next_cursor,
    };
  }

  /** The fleet view of one run: its counts per stage and every target, in the run's order. */
  async get(runId: string): Promise<Result<MigrationRunView & { targets: RunTargetView[] }, DomainError>> {
    const run = await this.#db
      .selectFrom('migration_runs')
      .selectAll()
      .where('id', '=', runId)
      .executeTakeFirst();
    if (!run) return runNotFound(runId);
    const targets = await this.#db
      .selectFrom('migration_run_targets')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('position')
      .execute();
    const counts = countsOf(targets.map((t) => ({ stage: t.stage, n: 1 })));
    return ok({ ...runView(run, counts), targets: targets.map(targetView) });
  }

  /** A tenant's migration history: its target in each run that had it, newest first. */
  async forTenant(
    tenantRef: string,
    page: { limit: number; cursor?: string | undefined },
  ): Promise<Result<Page<TenantMigrationView>, DomainError>> {
    const tenant = await this.#db
      .selectFrom('tenants')
      .select('id')
      .where((eb) =>
        eb.or([eb('id', '=', tenantRef), eb.and([eb('slug', '=', tenantRef), eb('state', '<>', 'deleted')])]),
      )
      .executeTakeFirst();
    if (!tenant) return fail('tenant_not_found', `no tenant has the id or slug ${tenantRef}`);
    let query = this.#db
      .selectFrom('migration_run_targets as t')
      .innerJoin('migration_runs as r', 'r.id', 't.run_id')
      .selectAll('t')
      .select(['r.state as run_state', 'r.target_version', 'r.dry_run', 'r.created_at as run_created_at'])
      .where('t.tenant_id', '=', tenant.id)
      .orderBy('t.run_id', 'desc')
      .limit(page.limit + 1);
    if (page.cursor !== undefined) query = query.where('t.run_id', '<', page.cursor);
    return ok(
      keysetPage(
        await query.execute(),
        page.limit,
        (row) => ({
          run_id: row.run_id,
          run_state: row.run_state,
          target_version: row.target_version,
          dry_run: row.dry_run,
          created_at: row.run_created_at.toISOString(),
          ...targetView(row),
        }),
        (row) => row.run_id,
      ),
    );
  }
}

/** What is wrong with a run's targets as given (before any tenant is looked up). */
function targetErrors(input: CreateRunInput): FieldError[] {
  const errors: FieldError[] = [];
  if (input.targets.length === 0) errors.push({ path: 'targets', message: 'must name at least one target' });
  if (input.targets.length > MAX_TARGETS)
    errors.push({ path: 'targets', message: `at most ${MAX_TARGETS} targets per run; split the fleet` });
  const seen = new Set<string>();
  input.targets.forEach((t, i) => {
    if (seen.has(t.target))
      errors.push({ path: `targets.${i}.target`, message: `${t.target} is named twice` });
    seen.add(t.target);
    if ((t.target === 'pool') !== (t.placement === 'pool'))
      errors.push({
        path: `targets.${i}.placement`,
        message: 'the target `pool` has the placement `pool`, and only it',
      });
  });
  return errors;
}

/** What is wrong with a progress report for a run of this kind. */
function reportErrors(run: RunRow, report: TargetReport): FieldError[] {
  const errors: FieldError[] = [];
  if (run.dry_run && ['applying', 'applied', 'verified'].includes(report.stage))
    errors.push({
      path: 'stage',
      message: `a dry run applies nothing: ${report.stage} is not one of its stages`,
    });
  if (!run.dry_run && report.stage === 'dry_run')
    errors.push({ path: 'stage', message: 'the run is not a dry run' });
  if ((report.stage === 'failed' || report.stage === 'skipped') && !report.error)
    errors.push({ path: 'error', message: `a ${report.stage} target says why: give its error` });
  return errors;
}

async function stageCounts(db: Kysely<Schema>, runId: string): Promise<Record<Stage, number>> {
  const rows = await db
    .selectFrom('migration_run_targets')
    .select(['stage', sql<number>`count(*)::int`.as('n')])
    .where('run_id', '=', runId)
    .groupBy('stage')
    .execute();
  return countsOf(rows);
}

function countsOf(rows: ReadonlyArray<{ stage: Stage; n: number }>): Record<Stage, number> {
  const counts = Object.fromEntries(STAGES.map((s) => [s, 0])) as Record<Stage, number>;
  for (const row of rows) counts[row.stage] += Number(row.n);
  return counts;
}

function runView(run: RunRow, counts: Record<Stage, number>): MigrationRunView {
  return {
    id: run.id,
    started_by: run.started_by,
    target_version: run.target_version,
    dry_run: run.dry_run,
    canary: run.canary,
    state: run.state,
    target_count: run.target_count,
    counts,
    created_at: run.created_at.toISOString(),
    finished_at: run.finished_at?.toISOString() ?? null,
  };
}

function targetView(row: TargetRow): RunTargetView {
  return {
    target: row.target,
    tenant_id: row.tenant_id,
    placement: row.placement,
    canary: row.canary,
    stage: row.stage,
    version_before: row.version_before,
    version_after: row.version_after,
    error: row.error,
    started_at: row.started_at?.toISOString() ?? null,
    finished_at: row.finished_at?.toISOString() ?? null,
    updated_at: row.updated_at.toISOString(),
  };
}

function runFinished(run: RunRow) {
  return fail('migration_run_finished', `migration run ${run.id} has ended (${run.state})`, {
    details: { state: run.state },
  });
}

function runNotFound(runId: string) {
  return fail('migration_run_not_found', `no migration run has the id ${runId}`);
}

function invalid(errors: readonly FieldError[]) {
  return fail('validation_failed', errors.map((e) => `${e.path}: ${e.message}`).join('; '), { errors });
}
