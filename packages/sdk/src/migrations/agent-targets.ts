import type { Schemas } from '@tenantry/core/api';
import { type ControlPlaneClient, ControlPlaneError } from '../control-plane/index.ts';
import type { AppliedMigration, MigrationTarget, TargetError, TargetResult } from './migrate-target.ts';
import type { Migration } from './read-migrations.ts';

type AgentJob = Schemas['AgentJob'];

/** How long the coordinator waits for an agent's migrate job to end unless told otherwise: 10 minutes. */
export const DEFAULT_AGENT_TIMEOUT_MS = 10 * 60_000;

/** The first wait between two reads of a job; each wait doubles, up to {@link MAX_POLL_MS}. */
const FIRST_POLL_MS = 200;
const MAX_POLL_MS = 5_000;
/** Sends of a job retried after the control plane could not be reached or failed (5xx, 429). */
const SEND_ATTEMPTS = 3;

/** The agent and the job a `byoi_agent` target was migrated through. */
export interface AgentJobRef {
  readonly agentId: string;
  readonly jobId: string;
}

/** A `byoi_agent` target's end: its result, and the job it went through when one was sent. */
export interface AgentTargetEnd {
  readonly result: TargetResult;
  readonly job: AgentJobRef | null;
}

/** What the coordinator hands the agent path of one run. */
export interface AgentRun {
  readonly client: ControlPlaneClient;
  /** The run's id: with the tenant's, the job's idempotency key, so a repeated send makes no second job. */
  readonly runId: string;
  readonly migrations: readonly Migration[];
  readonly dryRun: boolean;
  readonly timeoutMs: number;
  /** Limits the reads of jobs in flight at once, so a fleet of agents does not flood the control plane. */
  readonly limit: <T>(work: () => Promise<T>) => Promise<T>;
}

/** A failure before or while the job was sent or read: the target's error as it is recorded. */
class AgentStepFailure extends Error {
  readonly error: TargetError;
  constructor(error: TargetError) {
    super(error.message);
    this.error = error;
  }
}

function fail(code: TargetError['code'], message: string): never {
  throw new AgentStepFailure({ code, message, migration: null });
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A refusal of the control plane or its absence, as the target's error: a 403 names the scope the
 * rollout's token lacks (as a BYOI target's connection read does), anything else keeps its code.
 */
function controlPlaneFailure(error: unknown, doing: string, scope: string): never {
  if (error instanceof ControlPlaneError && error.status === 403)
    fail(
      'connection_failed',
      `the control plane refused ${doing}: migrating byoi_agent tenants through their agents needs a token with ${scope} (or leave them out: --no-byoi, in the SDK byoi: false)`,
    );
  if (error instanceof ControlPlaneError && error.status < 500 && error.status !== 429)
    fail(error.code, `the control plane refused ${doing}: ${error.message}`);
  fail('connection_failed', `${doing} failed: ${errorText(error)}`);
}

function transient(error: unknown): boolean {
  return !(error instanceof ControlPlaneError) || error.status >= 500 || error.status === 429;
}

/**
 * The tenant's active agent, as the control plane lists it (`GET /v1/agents?tenant_id=`, scope
 * `agents:read`): the newest active one, as the byoi_agent placement's own steps pick it.
 */
export async function activeAgentOf(client: ControlPlaneClient, tenantId: string): Promise<string> {
  const active: Schemas['Agent'][] = [];
  let cursor: string | undefined;
  const seen = new Set<string>();
  try {
    do {
      const page = await client.get('/v1/agents', { query: { tenant_id: tenantId, limit: 100, cursor } });
      active.push(...page.body.data.filter((agent) => agent.state === 'active'));
      if (cursor !== undefined) seen.add(cursor);
      cursor = page.body.next_cursor ?? undefined;
    } while (cursor !== undefined && !seen.has(cursor));
  } catch (error) {
    controlPlaneFailure(error, `listing tenant ${tenantId}'s agents`, 'agents:read');
  }
  const newest = active.sort((a, b) => b.created_at.localeCompare(a.created_at))[0];
  if (newest === undefined)
    fail(
      'agent_not_enrolled',
      `tenant ${tenantId} is placed byoi_agent and has no active agent, so nothing reaches its database: make an enrolment token (POST /v1/tenants/${tenantId}/agent-enrolments) and have the customer run \`tenantry agent\` with it (docs/agent.md); nothing was changed`,
    );
  return newest.id;
}

/**
 * Sends the agent the built-in `migrate` job for the target's schema (`POST /v1/agents/{id}/jobs`,
 * scope `agents:write`). Its idempotency key is the run's and the tenant's: a send retried after
 * the control plane could not answer gets the job the first one made, never a second job.
 */
async function sendMigrate(run: AgentRun, agentId: string, target: MigrationTarget): Promise<AgentJob> {
  const tenantId = target.tenantId as string;
  let last: unknown;
  for (let attempt = 0; attempt < SEND_ATTEMPTS; attempt++) {
    if (attempt > 0) await sleep(FIRST_POLL_MS * 2 ** attempt);
    try {
      const { body } = await run.client.post('/v1/agents/{id}/jobs', {
        path: { id: agentId },
        body: {
          type: 'migrate',
          input: { schema: target.schema, dry_run: run.dryRun },
          idempotency_key: `migration-run:${run.runId}:${tenantId}`,
        },
      });
      return body;
    } catch (error) {
      last = error;
      if (!transient(error)) break;
    }
  }
  controlPlaneFailure(last, `sending agent ${agentId} the migrate job`, 'agents:write');
}

/**
 * Waits for the job to end, reading it (`GET /v1/agents/{id}/jobs/{job}`, scope `agents:read`) at
 * growing intervals until `timeoutMs` after it was sent. A read that could not reach the control
 * plane is tried again at the next one; a refusal ends the wait.
 */
async function waitForJob(run: AgentRun, agentId: string, sent: AgentJob): Promise<AgentJob> {
  const deadline = performance.now() + run.timeoutMs;
  let job = sent;
  let interval = FIRST_POLL_MS;
  let lastError: unknown;
  while (!ENDED.has(job.state)) {
    const left = deadline - performance.now();
    if (left <= 0) break;
    await sleep(Math.min(interval, left));
    interval = Math.min(interval * 2, MAX_POLL_MS);
    try {
      ({ body: job } = await run.limit(() =>
        run.client.get('/v1/agents/{id}/jobs/{job}', { path: { id: agentId, job: sent.id } }),
      ));
      lastError = undefined;
    } catch (error) {
      if (!transient(error)) controlPlaneFailure(error, `reading job ${sent.id}`, 'agents:read');
      lastError = error;
    }
  }
  if (ENDED.has(job.state)) return job;
  const seconds = Math.round(run.timeoutMs / 100) / 10;
  const where = `GET /v1/agents/${agentId}/jobs/${sent.id}`;
  if (lastError !== undefined)
    fail(
      'connection_failed',
      `reading agent ${agentId}'s migrate job ${sent.id} failed until the deadline (${seconds} s): ${errorText(lastError)}; its end shows at ${where}`,
    );
  if (job.state === 'running')
    fail(
      'agent_timeout',
      `agent ${agentId} took the migrate job ${job.id} but had not finished it after ${seconds} s: it may still commit; its end shows at ${where}, and a new rollout records the tenant's version`,
    );
  fail(
    'agent_timeout',
    `agent ${agentId} did not take the migrate job ${job.id} within ${seconds} s: it is not connected to the control plane (the customer's agent is stopped or cut off). The job stays queued and runs when the agent next connects; its end shows at ${where}`,
  );
}

const ENDED = new Set<AgentJob['state']>(['succeeded', 'failed', 'refused']);

/** The `migrate` job's declared output (packages/agent/src/job-types.ts), read without trusting it. */
interface MigrateOutput {
  readonly schema: string;
  readonly status: 'applied' | 'up_to_date';
  readonly dry_run: boolean;
  readonly from_version: number | null;
  readonly to_version: number | null;
  readonly applied: readonly { version: number; name: string; duration_ms: number }[];
}

function isVersion(value: unknown): value is number | null {
  return value === null || Number.isSafeInteger(value);
}

function migrateOutput(output: AgentJob['output']): MigrateOutput | null {
  if (output === null) return null;
  const { schema, status, dry_run, from_version, to_version, applied } = output;
  if (
    typeof schema !== 'string' ||
    (status !== 'applied' && status !== 'up_to_date') ||
    typeof dry_run !== 'boolean' ||
    !isVersion(from_version) ||
    !isVersion(to_version) ||
    !Array.isArray(applied)
  )
    return null;
  const migrations = applied as unknown[];
  if (
    !migrations.every(
      (m) =>
        typeof m === 'object' &&
        m !== null &&
        Number.isSafeInteger((m as Record<string, unknown>).version) &&
        typeof (m as Record<string, unknown>).name === 'string' &&
        typeof (m as Record<string, unknown>).duration_ms === 'number',
    )
  )
    return null;
  return output as unknown as MigrateOutput;
}

/** `migration 2 (add_starts_at): …`: how the migrate job words a failure of one migration. */
const AT_MIGRATION = /^migration (\d+) \(([^)]*)\): /;

/**
 * The target's result from the job's end. A failed or refused job is the target's failure, with
 * the job's own code and message. A succeeded one is checked as far as the coordinator can from
 * outside the customer's database: the job migrated the target's schema, as a dry run when the
 * run is one, and reached the run's version through the run's migrations (same versions, same
 * names); otherwise `agent_version_mismatch` (the agent's migrations folder is not the run's).
 */
function resultOf(job: AgentJob, target: MigrationTarget, run: AgentRun, durationMs: number): TargetResult {
  const base = { target, dryRun: run.dryRun, durationMs, applied: [] as AppliedMigration[] };
  const where = `agent ${job.agent_id}, job ${job.id}`;
  if (job.state !== 'succeeded') {
    const error = job.error ?? { code: `agent_job_${job.state}`, message: `the job ${job.state}` };
    const at = AT_MIGRATION.exec(error.message);
    const migration =
      at === null ? null : run.migrations.find((m) => m.version === Number(at[1]) && m.name === at[2]);
    return {
      ...base,
      status: 'failed',
      fromVersion: null,
      toVersion: null,
      error: {
        code: error.code,
        message: `${job.state === 'refused' ? 'the agent refused the migrate job' : 'the migrate job failed'} (${where}): ${error.message}`,
        migration:
          migration === undefined || migration === null
            ? null
            : { version: migration.version, name: migration.name },
      },
    };
  }
  const output = migrateOutput(job.output);
  if (output === null)
    return {
      ...base,
      status: 'failed',
      fromVersion: null,
      toVersion: null,
      error: {
        code: 'error',
        message: `the migrate job succeeded with an output that is not the migrate job's (${where}): is the agent a release that has the built-in migrate job?`,
        migration: null,
      },
    };
  const applied = output.applied.map((a) => ({
    version: a.version,
    name: a.name,
    durationMs: a.duration_ms,
  }));
  const result: TargetResult = {
    ...base,
    status: output.status,
    fromVersion: output.from_version,
    toVersion: output.to_version,
    applied,
    error: null,
  };
  const latest = run.migrations.at(-1)?.version ?? 0;
  // A dry run leaves the version where it was: what it reached is its last migration run.
  const reached = output.dry_run ? (applied.at(-1)?.version ?? output.from_version) : output.to_version;
  const stranger = applied.find(
    (a) => !run.migrations.some((m) => m.version === a.version && m.name === a.name),
  );
  const mismatch =
    output.schema !== target.schema
      ? `it migrated schema ${output.schema}, not the tenant's ${target.schema}`
      : output.dry_run !== run.dryRun
        ? `it ran ${output.dry_run ? 'as a dry run' : 'for real'}, the run ${run.dryRun ? 'is a dry run' : 'is not a dry run'}`
        : stranger !== undefined
          ? `it applied migration ${stranger.version} (${stranger.name}), which the run's folder does not hold under that version`
          : reached !== latest
            ? `it brought the schema to version ${reached}, the run's is ${latest}`
            : null;
  if (mismatch === null) return result;
  return {
    ...result,
    status: 'failed',
    error: {
      code: 'agent_version_mismatch',
      message: `the agent's migrations are not the run's (${where}): ${mismatch}. Give the agent this release's migrations folder (--migrations), then run again${output.dry_run ? '' : ` (what the job applied is committed: the tenant is at version ${output.to_version})`}`,
      migration: null,
    },
  };
}

/**
 * Migrates one `byoi_agent` target through the tenant's agent: finds its active agent, runs
 * `precheck` (the backup check and the stage reports; an error answered skips the target), sends
 * the `migrate` job (then calls `onSent`) and waits for its end. Never throws: every end is a result.
 */
export async function migrateThroughAgent(
  run: AgentRun,
  target: MigrationTarget,
  precheck: () => Promise<TargetError | null>,
  onSent: () => void,
): Promise<AgentTargetEnd> {
  const started = performance.now();
  const took = () => Math.round((performance.now() - started) * 100) / 100;
  const failed = (error: TargetError, job: AgentJobRef | null): AgentTargetEnd => ({
    result: {
      target,
      status: 'failed',
      dryRun: run.dryRun,
      fromVersion: null,
      toVersion: null,
      applied: [],
      error,
      durationMs: took(),
    },
    job,
  });
  if (target.tenantId === null)
    return failed({ code: 'error', message: 'a byoi_agent target names its tenant', migration: null }, null);
  let agentId: string;
  try {
    agentId = await run.limit(() => activeAgentOf(run.client, target.tenantId as string));
  } catch (error) {
    if (error instanceof AgentStepFailure) return failed(error.error, null);
    return failed({ code: 'error', message: errorText(error), migration: null }, null);
  }
  const refused = await precheck();
  if (refused !== null)
    return {
      result: {
        target,
        status: 'skipped',
        dryRun: run.dryRun,
        fromVersion: null,
        toVersion: null,
        applied: [],
        error: refused,
        durationMs: 0,
      },
      job: null,
    };
  let sent: AgentJob;
  try {
    sent = await run.limit(() => sendMigrate(run, agentId, target));
  } catch (error) {
    if (error instanceof AgentStepFailure) return failed(error.error, null);
    return failed({ code: 'error', message: errorText(error), migration: null }, null);
  }
  const job = { agentId, jobId: sent.id };
  onSent();
  try {
    const ended = await waitForJob(run, agentId, sent);
    return { result: resultOf(ended, target, run, took()), job };
  } catch (error) {
    if (error instanceof AgentStepFailure) return failed(error.error, job);
    return failed({ code: 'error', message: errorText(error), migration: null }, job);
  }
}

/** Runs at most `max` of the works handed to it at once; the others wait their turn. */
export function limiter(max: number): <T>(work: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (work) => {
    if (running < max) running++;
    // A work that ends hands its place to the next waiting one, so no newcomer slips in between.
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
