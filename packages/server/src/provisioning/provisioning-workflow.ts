import type { Placement, PlacementResources } from '@tenantry/core';
import type { Kysely, Transaction } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import type { JobQueue } from '../jobs/index.ts';
import type { PlacedTenant, PlacementDrivers, StepOutcome } from '../placements/index.ts';

/** The job kind that runs one step of a tenant's provisioning run. */
export const PROVISION_JOB = 'tenant.provision';

/** Attempts of one step whose errors are thrown (transient) before the run fails at that step. */
export const STEP_ATTEMPTS = 3;

export type RunState = 'running' | 'waiting' | 'succeeded' | 'failed';
export type StepStatus = 'pending' | 'running' | 'waiting' | 'succeeded' | 'failed';

/** A tenant's provisioning run as the API shows it. */
export interface ProvisioningView {
  tenant: string;
  state: RunState;
  /** The step being run, waited on or failed; null once the run has succeeded. */
  step: string | null;
  error: string | null;
  steps: {
    name: string;
    status: StepStatus;
    attempts: number;
    last_error: string | null;
    started_at: string | null;
    finished_at: string | null;
  }[];
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

/** What the tenant service does when a run ends, in the transaction that records the end. */
export interface ProvisioningListener {
  /** Moves the tenant out of `provisioning`: to active or trialing, or (`error` given) to provisioning_failed. */
  ended(tx: Transaction<Schema>, tenantId: string, error: string | null): Promise<void>;
  /** Told once that transaction has committed. */
  committed(tenantId: string): void;
}

export interface ProvisioningWorkflowOptions {
  readonly db: Kysely<Schema>;
  readonly clock: Clock;
  readonly jobs: JobQueue;
  readonly drivers: PlacementDrivers;
}

/**
 * Provisions tenants with their placement's driver, durably: a run per tenant holds the driver's
 * steps in order, and each step runs in a job execution of its own, whose outcome is written
 * (with the job of the next step) before the next step starts. A control plane that stops between
 * steps resumes at the step it stopped at; one that stops inside a step runs that step again
 * when the job's lease runs out, which the drivers' idempotent steps allow.
 *
 * - `done`: the next step's job is queued; after the last, the run succeeds and the tenant leaves
 *   `provisioning`.
 * - thrown: the job retries the step with backoff, {@link STEP_ATTEMPTS} times in all, then the
 *   run fails at that step with the error.
 * - `failed`: the run fails at once (retrying cannot help).
 * - `waiting`: the run parks at the step, burning no attempts, until {@link resume}.
 * A failed run is taken up again at its failed step by the tenant's `retry_provisioning`.
 */
export class ProvisioningWorkflow {
  readonly #o: ProvisioningWorkflowOptions;
  #listener: ProvisioningListener | undefined;

  constructor(options: ProvisioningWorkflowOptions) {
    this.#o = options;
    options.jobs.handle(PROVISION_JOB, {
      run: (payload) => this.#runStep(String(payload.tenant_id), stepOf(payload)),
      onExhausted: (payload, error) => this.#exhausted(String(payload.tenant_id), stepOf(payload), error),
    });
  }

  /** Set once by the tenant service, which owns the tenant's state. */
  listen(listener: ProvisioningListener): void {
    this.#listener = listener;
  }

  /** Starts a tenant's run inside the transaction that creates the tenant: its steps, and the first step's job. */
  async start(tx: Transaction<Schema>, tenantId: string, placement: Placement): Promise<void> {
    const driver = this.#o.drivers.get(placement);
    const now = this.#o.clock.now();
    const first = driver.steps[0]?.name;
    if (first === undefined) throw new Error(`the ${placement} driver has no steps`);
    await tx
      .insertInto('provisioning_runs')
      .values({
        tenant_id: tenantId,
        state: 'running',
        step: first,
        error: null,
        created_at: now,
        updated_at: now,
        finished_at: null,
      })
      .execute();
    await tx
      .insertInto('provisioning_steps')
      .values(
        driver.steps.map((step, position) => ({
          tenant_id: tenantId,
          position,
          name: step.name,
          status: 'pending' as const,
          last_error: null,
          started_at: null,
          finished_at: null,
        })),
      )
      .execute();
    await this.#enqueue(tx, tenantId, first);
  }

  /**
   * Takes a failed run up again at its failed step (the tenant's `retry_provisioning`), inside the
   * caller's transaction; a tenant with no run yet (provisioned before runs existed) gets one.
   */
  async retry(tx: Transaction<Schema>, tenantId: string, placement: Placement): Promise<void> {
    const run = await tx
      .selectFrom('provisioning_runs')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .forUpdate()
      .executeTakeFirst();
    if (run === undefined) return this.start(tx, tenantId, placement);
    if (run.state !== 'failed' || run.step === null) return;
    const now = this.#o.clock.now();
    await tx
      .updateTable('provisioning_runs')
      .set({ state: 'running', error: null, updated_at: now, finished_at: null })
      .where('tenant_id', '=', tenantId)
      .execute();
    await tx
      .updateTable('provisioning_steps')
      .set({ status: 'pending', finished_at: null })
      .where('tenant_id', '=', tenantId)
      .where('name', '=', run.step)
      .execute();
    await this.#enqueue(tx, tenantId, run.step);
  }

  /**
   * Takes a waiting run up again at the step it waits on, now that what it waited for has come (a
   * customer's connection details, an agent's enrolment); answers whether a run was waiting.
   */
  async resume(tenantId: string): Promise<boolean> {
    const resumed = await this.#o.db.transaction().execute(async (tx) => {
      const run = await tx
        .selectFrom('provisioning_runs')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .forUpdate()
        .executeTakeFirst();
      if (run?.state !== 'waiting' || run.step === null) return false;
      const now = this.#o.clock.now();
      await tx
        .updateTable('provisioning_runs')
        .set({ state: 'running', error: null, updated_at: now })
        .where('tenant_id', '=', tenantId)
        .execute();
      await tx
        .updateTable('provisioning_steps')
        .set({ status: 'pending' })
        .where('tenant_id', '=', tenantId)
        .where('name', '=', run.step)
        .execute();
      await this.#enqueue(tx, tenantId, run.step);
      return true;
    });
    if (resumed) this.#o.jobs.notify();
    return resumed;
  }

  /** A tenant's run with its steps; undefined for a tenant provisioned before runs existed. */
  async view(tenantId: string): Promise<ProvisioningView | undefined> {
    const run = await this.#o.db
      .selectFrom('provisioning_runs')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    if (run === undefined) return undefined;
    const steps = await this.#o.db
      .selectFrom('provisioning_steps')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('position')
      .execute();
    return {
      tenant: tenantId,
      state: run.state,
      step: run.step,
      error: run.error,
      steps: steps.map((s) => ({
        name: s.name,
        status: s.status,
        attempts: s.attempts,
        last_error: s.last_error,
        started_at: s.started_at?.toISOString() ?? null,
        finished_at: s.finished_at?.toISOString() ?? null,
      })),
      created_at: run.created_at.toISOString(),
      updated_at: run.updated_at.toISOString(),
      finished_at: run.finished_at?.toISOString() ?? null,
    };
  }

  /** Removes what a tenant's placement made, through its driver; safe to run again. */
  async deprovision(tenant: PlacedTenant): Promise<void> {
    await this.#o.drivers.get(tenant.resources.placement).deprovision(tenant);
  }

  /**
   * Runs one step, if it is still the run's current one (a job that outlived its lease, or one of
   * an older version naming no step, finds the run moved on or runs the current step).
   */
  async #runStep(tenantId: string, jobStep: string | undefined): Promise<void> {
    const found = await this.#current(tenantId, jobStep);
    if (found === undefined) return;
    const { step, tenant } = found;
    const driver = this.#o.drivers.get(tenant.resources.placement);
    const definition = driver.steps.find((s) => s.name === step);
    await this.#o.db
      .updateTable('provisioning_steps')
      .set((eb) => ({ status: 'running', attempts: eb('attempts', '+', 1), started_at: this.#o.clock.now() }))
      .where('tenant_id', '=', tenantId)
      .where('name', '=', step)
      .execute();
    let outcome: StepOutcome;
    if (definition === undefined) {
      outcome = {
        status: 'failed',
        code: 'placement_unavailable',
        detail: `placement ${tenant.resources.placement} has no step "${step}" on this control plane`,
      };
    } else {
      try {
        outcome = await definition.run(tenant);
      } catch (error) {
        // Transient: the job retries the step; the error is shown meanwhile.
        const message = error instanceof Error ? error.message : String(error);
        await this.#o.db
          .updateTable('provisioning_steps')
          .set({ status: 'pending', last_error: message })
          .where('tenant_id', '=', tenantId)
          .where('name', '=', step)
          .execute();
        await this.#o.db
          .updateTable('provisioning_runs')
          .set({ error: message, updated_at: this.#o.clock.now() })
          .where('tenant_id', '=', tenantId)
          .execute();
        throw error;
      }
    }
    await this.#record(tenantId, step, outcome);
  }

  /** The run's current step and the tenant as its driver sees it, when `jobStep` is still to run. */
  async #current(
    tenantId: string,
    jobStep: string | undefined,
  ): Promise<{ step: string; tenant: PlacedTenant } | undefined> {
    const row = await this.#o.db
      .selectFrom('tenants as t')
      .leftJoin('provisioning_runs as r', 'r.tenant_id', 't.id')
      .select(['t.id', 't.state', 't.placement', 't.resources', 'r.state as run_state', 'r.step'])
      .where('t.id', '=', tenantId)
      .executeTakeFirst();
    if (row === undefined || row.state !== 'provisioning') return undefined;
    if (row.run_state === null) {
      // A tenant queued for provisioning before runs existed: its run starts now.
      await this.#o.db.transaction().execute((tx) => this.start(tx, tenantId, row.placement));
      return undefined;
    }
    if (row.run_state !== 'running' || row.step === null) return undefined;
    if (jobStep !== undefined && jobStep !== row.step) return undefined;
    return { step: row.step, tenant: { id: row.id, resources: row.resources as PlacementResources } };
  }

  /** Writes a step's outcome, and what follows from it, in one transaction. */
  async #record(tenantId: string, step: string, outcome: StepOutcome): Promise<void> {
    let ended = false;
    await this.#o.db.transaction().execute(async (tx) => {
      const run = await tx
        .selectFrom('provisioning_runs')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .forUpdate()
        .executeTakeFirst();
      if (run?.state !== 'running' || run.step !== step) return;
      const now = this.#o.clock.now();
      const setStep = (status: StepStatus, lastError: string | null, finished: boolean) =>
        tx
          .updateTable('provisioning_steps')
          .set({ status, last_error: lastError, ...(finished ? { finished_at: now } : {}) })
          .where('tenant_id', '=', tenantId)
          .where('name', '=', step)
          .execute();
      const setRun = (state: RunState, next: string | null, error: string | null) =>
        tx
          .updateTable('provisioning_runs')
          .set({
            state,
            step: next,
            error,
            updated_at: now,
            ...(state === 'succeeded' || state === 'failed' ? { finished_at: now } : {}),
          })
          .where('tenant_id', '=', tenantId)
          .execute();
      if (outcome.status === 'waiting') {
        const detail = `waiting for ${outcome.for}: ${outcome.detail}`;
        await setStep('waiting', detail, false);
        await setRun('waiting', step, detail);
        return;
      }
      if (outcome.status === 'failed') {
        await setStep('failed', outcome.detail, true);
        await setRun('failed', step, outcome.detail);
        await this.#listener?.ended(tx, tenantId, outcome.detail);
        ended = true;
        return;
      }
      await setStep('succeeded', null, true);
      if (outcome.resources !== undefined)
        await tx
          .updateTable('tenants')
          .set({ resources: JSON.stringify(outcome.resources) })
          .where('id', '=', tenantId)
          .execute();
      const next = await tx
        .selectFrom('provisioning_steps')
        .select('name')
        .where('tenant_id', '=', tenantId)
        .where('status', '<>', 'succeeded')
        .orderBy('position')
        .executeTakeFirst();
      if (next !== undefined) {
        await setRun('running', next.name, null);
        await this.#enqueue(tx, tenantId, next.name);
        return;
      }
      await setRun('succeeded', null, null);
      await this.#listener?.ended(tx, tenantId, null);
      ended = true;
    });
    if (ended) this.#listener?.committed(tenantId);
  }

  /** The step's attempts are spent: the run fails there with the last error. */
  async #exhausted(tenantId: string, jobStep: string | undefined, error: string): Promise<void> {
    const step =
      jobStep ??
      (
        await this.#o.db
          .selectFrom('provisioning_runs')
          .select('step')
          .where('tenant_id', '=', tenantId)
          .executeTakeFirst()
      )?.step;
    if (step === undefined || step === null) return;
    await this.#record(tenantId, step, { status: 'failed', code: 'step_failed', detail: error });
  }

  #enqueue(tx: Transaction<Schema>, tenantId: string, step: string): Promise<void> {
    return this.#o.jobs.enqueue(tx, {
      kind: PROVISION_JOB,
      payload: { tenant_id: tenantId, step },
      dedupeKey: `provision:${tenantId}:${step}`,
      maxAttempts: STEP_ATTEMPTS,
    });
  }
}

function stepOf(payload: Record<string, unknown>): string | undefined {
  return typeof payload.step === 'string' ? payload.step : undefined;
}
