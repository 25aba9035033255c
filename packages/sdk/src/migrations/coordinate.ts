import { createHash } from 'node:crypto';
import type { RequestBody, Schemas } from '@tenantry/core/api';
import pg from 'pg';
import { ControlPlaneClient, ControlPlaneError, type ControlPlaneOptions } from '../control-plane/index.ts';
import {
  type AgentJobRef,
  type AgentRun,
  type AgentTargetEnd,
  DEFAULT_AGENT_TIMEOUT_MS,
  limiter,
  migrateThroughAgent,
} from './agent-targets.ts';
import { listByoiTargets, openByoi } from './byoi-targets.ts';
import { listFleetTargets, poolTarget } from './list-fleet-targets.ts';
import {
  DEFAULT_CONCURRENCY,
  type FleetSession,
  ownConnection,
  pooled,
  runFleet,
  skippedResult,
} from './migrate-fleet.ts';
import type { MigrationTarget, SqlSession, TargetError, TargetResult } from './migrate-target.ts';
import { readMigrations } from './read-migrations.ts';

/**
 * Where a coordinated run's targets come from and how each is reached: the vendor's own
 * PostgreSQL and the BYOI tenants' databases ({@link vendorTargets}), or any other source that
 * lists targets and opens a session on one. The coordinator needs nothing else of them.
 */
export interface TargetSource {
  /** The targets, in the order they are migrated (canaries are taken out and run first). */
  targets(): Promise<readonly MigrationTarget[]>;
  /** Opens a session on the database that holds `target`; a throw is the connectivity pre-check failing. */
  open(target: MigrationTarget): Promise<FleetSession>;
  /** Lets go of what the source holds (connection pools), once the run is over. */
  close(): Promise<void>;
}

/** The canaries of a run: a share of the tenant targets, or named tenants. */
export type CanarySpec = { readonly percent: number } | { readonly tenants: readonly string[] };

/** Whether the vendor's recent backup of a target is confirmed. */
export interface BackupConfirmation {
  readonly confirmed: boolean;
  /** Why not, when not: shown in the run's record. */
  readonly reason?: string;
}

/** A target's stages, as the control plane records them (`migration_run_targets.stage`). */
export type Stage = Schemas['MigrationRunTarget']['stage'];

/** The stages a target ends in. */
export type FinalStage = Exclude<Stage, 'pending' | 'prechecked' | 'applying'>;

/** Told as each target moves on. */
export interface CoordinatorProgress {
  readonly target: MigrationTarget;
  readonly stage: Stage;
  readonly canary: boolean;
  /** Targets in a final stage so far, of `total`. */
  readonly done: number;
  readonly total: number;
}

/** Input the coordinator refuses before it reads a database or writes a record. */
export class CoordinatorInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CoordinatorInputError';
  }
}

export interface CoordinateOptions {
  /** The folder of `NNNN_name.sql` migrations. */
  readonly migrationsDir: string;
  readonly source: TargetSource;
  /**
   * The control plane the run is recorded in (`POST /v1/migration-runs` and a report per target
   * stage), with a key holding `migrations:write`; null records nothing (an install with no
   * control plane). The `byoi_agent` targets are migrated through it too: their agents are found
   * (`agents:read`) and sent the `migrate` job (`agents:write`).
   */
  readonly controlPlane: ControlPlaneClient | ControlPlaneOptions | null;
  /** Canaries migrate first; the rest start only if every canary ended well. */
  readonly canary?: CanarySpec;
  /**
   * Asked per target before anything runs on it: has the vendor a recent backup of it? Unconfirmed
   * (or a throw), the target is skipped with the reason.
   */
  readonly backupCheck?: (target: MigrationTarget) => Promise<BackupConfirmation>;
  /**
   * The app's own verification, run in each target's transaction after its migrations, as the
   * tenant's role with its schema as `search_path`; false rolls the target back. See {@link verifyQuery}.
   */
  readonly verify?: (session: SqlSession, target: MigrationTarget) => Promise<boolean>;
  /**
   * Compare each target's tables and columns after its migrations with the first target's to
   * reach the latest version in this run (a canary, when there are canaries); a difference rolls
   * the target back. Default true.
   */
  readonly schemaCheck?: boolean;
  /** Run, post-check and roll back every target: nothing changes. */
  readonly dryRun?: boolean;
  readonly concurrency?: number;
  /** The tenant binding key (see `migrateTarget`); default `TENANTRY_BINDING_KEY`. */
  readonly bindingKey?: string;
  /**
   * How long a `byoi_agent` target's `migrate` job may take, from when it is sent to its end,
   * before the target fails with `agent_timeout` (an agent that is not connected never takes it);
   * default 10 minutes.
   */
  readonly agentTimeoutMs?: number;
  /**
   * How often a target waiting on a paused run asks again whether the run was resumed
   * (`POST /v1/migration-runs/{id}/pause`); default 5 seconds.
   */
  readonly pausePollMs?: number;
  /** Called from the run's own promise chain: keep it quick. */
  readonly onProgress?: (event: CoordinatorProgress) => void;
}

/** How often a target waiting on a paused run asks again, unless told. */
export const DEFAULT_PAUSE_POLL_MS = 5_000;

/**
 * What checked a target after its migrations:
 * - `transaction`: the coordinator's post-checks (schema check, verification query), in the
 *   target's transaction before it committed;
 * - `agent`: a `byoi_agent` target, migrated by its agent's `migrate` job. The coordinator's
 *   post-checks cannot run in the agent's transaction: what checked it is the agent's runner (the
 *   applied migrations' checksums against its folder, one transaction), and the coordinator's
 *   comparison of the version and migrations the job reported with the run's;
 * - `none`: no post-check was asked for (`schemaCheck: false` and no `verify`).
 */
export type PostChecks = 'transaction' | 'agent' | 'none';

/** One target's outcome in a coordinated run. */
export interface CoordinatedTarget {
  readonly target: MigrationTarget;
  readonly canary: boolean;
  /** Its final stage. */
  readonly stage: FinalStage;
  readonly result: TargetResult;
  /** What checked it after its migrations (a `byoi_agent` target: its agent, not the coordinator). */
  readonly postChecks: PostChecks;
  /** A `byoi_agent` target's agent and the `migrate` job it was sent; null for the others, or when none was sent. */
  readonly agentJob: AgentJobRef | null;
}

export interface CoordinatedReport {
  /** The run's id in the control plane (`mgr_…`); null when not recorded. */
  readonly runId: string | null;
  readonly dryRun: boolean;
  readonly latestVersion: number;
  /** `succeeded` when no target failed or was skipped. */
  readonly state: 'succeeded' | 'failed';
  /** A canary failed, so the rest were not started. */
  readonly stoppedAtCanary: boolean;
  readonly counts: Readonly<Record<Stage, number>>;
  /** Canaries first, then the rest, each in the source's order. */
  readonly targets: readonly CoordinatedTarget[];
  /**
   * A progress report the control plane refused or never got: the databases are as `targets`
   * says, but the run's record is incomplete.
   */
  readonly recordingError: string | null;
  /**
   * Whether the run was read back for targets an operator retried while it went on (which are run
   * again before the coordinator ends): false when recording nothing, or when the key lacks
   * `migrations:read`, so that retried targets wait for a new run.
   */
  readonly retriesChecked: boolean;
  readonly durationMs: number;
}

const STAGES: readonly Stage[] = [
  'pending',
  'prechecked',
  'dry_run',
  'applying',
  'applied',
  'verified',
  'failed',
  'skipped',
];

/**
 * `10%` → a share of the tenant targets; `ten_a,acme` → those tenants (ids or slugs).
 * @throws {CoordinatorInputError} for a share not above 0 and at most 100, or an empty list.
 */
export function parseCanary(spec: string): CanarySpec {
  const text = spec.trim();
  if (text.endsWith('%')) {
    const percent = Number(text.slice(0, -1));
    if (!Number.isFinite(percent) || percent <= 0 || percent > 100 || text.length === 1)
      throw new CoordinatorInputError(`canary ${spec}: a percentage is above 0 and at most 100, e.g. 10%`);
    return { percent };
  }
  const tenants = text.split(',').map((t) => t.trim());
  if (text === '' || tenants.some((t) => t === ''))
    throw new CoordinatorInputError(
      `canary ${spec}: give a percentage (10%) or tenant ids or slugs, comma-separated`,
    );
  return { tenants };
}

/** The canary spec as the run records it. */
function canaryText(spec: CanarySpec): string {
  return 'percent' in spec ? `${spec.percent}%` : spec.tenants.join(',');
}

/**
 * A verification of {@link CoordinateOptions.verify} from SQL: the query must answer a row whose
 * first column is truthy (true, a non-zero number, a non-empty string other than `f`/`false`).
 */
export function verifyQuery(sql: string): (session: SqlSession) => Promise<boolean> {
  return async (session) => {
    const row = (await session.query(sql)).rows[0];
    if (row === undefined) return false;
    const value = Object.values(row)[0];
    if (typeof value === 'string') return value !== '' && value !== 'f' && value !== 'false';
    return Boolean(value);
  };
}

/**
 * The fleet as a {@link TargetSource}: the pool schema and every `schema` and `database` tenant
 * the control plane lists (as `tenantry app migrate` migrates), reached with `databaseUrl`, a user
 * that is a member of every tenant role; then every `byoi` tenant, reached in its customer's
 * database with the connection the control plane decrypts for it (the token needs
 * `data-planes:connect`), and every `byoi_agent` tenant, which only its agent reaches: the
 * coordinator migrates it through the agent's `migrate` job, never through `open`.
 */
export function vendorTargets(options: {
  readonly databaseUrl: string;
  /** Lists the tenants; null: only the pool schema. */
  readonly controlPlane: ControlPlaneClient | ControlPlaneOptions | null;
  readonly poolSchema?: string;
  readonly concurrency?: number;
  /** Include the `byoi` and `byoi_agent` tenants; default true. */
  readonly byoi?: boolean;
}): TargetSource {
  if (!URL.canParse(options.databaseUrl) || !/^postgres(ql)?:/.test(options.databaseUrl))
    throw new CoordinatorInputError('databaseUrl must be a postgres:// or postgresql:// URL');
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    max: options.concurrency ?? DEFAULT_CONCURRENCY,
  });
  // An idle connection the server closes is dropped by the pool; unheard, its error would end the process.
  pool.on('error', () => {});
  const client =
    options.controlPlane === null || options.controlPlane instanceof ControlPlaneClient
      ? options.controlPlane
      : new ControlPlaneClient(options.controlPlane);
  return {
    targets: async () => {
      if (client === null) return [poolTarget(options.poolSchema)];
      const vendor = await listFleetTargets(
        client,
        options.poolSchema === undefined ? {} : { poolSchema: options.poolSchema },
      );
      return options.byoi === false ? vendor : [...vendor, ...(await listByoiTargets(client))];
    },
    open: (target) => {
      if (target.placement === 'byoi' && client !== null) return openByoi(client, target);
      if (target.placement === 'byoi' || target.placement === 'byoi_agent')
        throw new Error(`a ${target.placement} target is not in the vendor's PostgreSQL`);
      return target.database === null ? pooled(pool) : ownConnection(options.databaseUrl, target.database);
    },
    close: () => pool.end(),
  };
}

/**
 * The migration coordinator: the vendor's app migrations across targets the way a customer's
 * database deserves, on top of the fleet runner (each target in one transaction, see
 * `migrateTarget`):
 *
 * 1. the folder is read and the canaries resolved before anything is written: a bad folder, an
 *    unknown canary tenant or a bad percentage throws, with no run recorded;
 * 2. the run is recorded in the control plane with its targets, canaries first;
 * 3. per target: pre-checks (its database is reachable; the backup hook confirms a recent backup,
 *    or it is skipped with the reason), then its migrations in one transaction, checked against
 *    what it already has (unknown or changed migrations are refused), then post-checks in that
 *    same transaction (its tables and columns match the reference target's; the app's own
 *    verification query is truthy), then commit (a dry run: rollback). Any failure rolls the
 *    target back: it stays at its previous version.
 *    A `byoi_agent` target goes through this step by its agent instead: its active agent is
 *    found (none: `agent_not_enrolled`), the backup check runs, then the agent is sent the
 *    `migrate` job and the coordinator waits for its end (`agentTimeoutMs`; `agent_timeout`). The
 *    agent runs the migrations in one transaction in the customer's database; the coordinator's
 *    post-checks cannot run there, so the target ends `applied` (not `verified`) with
 *    `postChecks: 'agent'`, after the job's version and migrations are compared with the run's;
 * 4. canaries run first (a `byoi_agent` target may be one); the rest start only when every canary
 *    ended well, else they are skipped (`canary_failed`) and the run stops;
 * 5. each target's stage is reported to the control plane as it moves (prechecked, applying, and
 *    its final one), and the run ends there when the last target finishes.
 *
 * A failing target does not stop the others of its group (canaries, rest): each is independent,
 * and a re-run applies only what is pending.
 *
 * @throws {CoordinatorInputError} or {@link MigrationFolderError} for bad input, before anything is written.
 */
export async function coordinateMigrations(options: CoordinateOptions): Promise<CoordinatedReport> {
  const started = performance.now();
  const dryRun = options.dryRun === true;
  const agentTimeoutMs = options.agentTimeoutMs ?? DEFAULT_AGENT_TIMEOUT_MS;
  if (!(Number.isFinite(agentTimeoutMs) && agentTimeoutMs > 0))
    throw new CoordinatorInputError(`agentTimeoutMs ${agentTimeoutMs}: a time above 0 ms`);
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!(Number.isSafeInteger(concurrency) && concurrency >= 1))
    throw new CoordinatorInputError(`concurrency ${concurrency}: a whole number of at least 1`);
  const pausePollMs = options.pausePollMs ?? DEFAULT_PAUSE_POLL_MS;
  if (!(Number.isFinite(pausePollMs) && pausePollMs > 0))
    throw new CoordinatorInputError(`pausePollMs ${pausePollMs}: a time above 0 ms`);
  const migrations = await readMigrations(options.migrationsDir);
  const latestVersion = migrations.at(-1)?.version ?? 0;
  const { source } = options;
  try {
    const all = await source.targets();
    const canaries = pickCanaries(all, options.canary);
    const ordered = [...all.filter((t) => canaries.has(t)), ...all.filter((t) => !canaries.has(t))];
    const { controlPlane } = options;
    const client =
      controlPlane === null
        ? null
        : controlPlane instanceof ControlPlaneClient
          ? controlPlane
          : new ControlPlaneClient(controlPlane);
    const recorder = new Recorder(client);
    const runId = await recorder.create({
      target_version: latestVersion,
      dry_run: dryRun,
      canary: options.canary === undefined ? null : canaryText(options.canary),
      targets: ordered.map((t) => ({ target: refOf(t), placement: t.placement, canary: canaries.has(t) })),
    });
    const checks = postChecks(options);
    const postChecksOf = (target: MigrationTarget): PostChecks =>
      target.placement === 'byoi_agent' ? 'agent' : checks.length > 0 ? 'transaction' : 'none';
    const outcomes = new Map<MigrationTarget, CoordinatedTarget>();
    let done = 0;
    const finish = (
      target: MigrationTarget,
      stage: FinalStage,
      result: TargetResult,
      agentJob: AgentJobRef | null = null,
    ) => {
      const canary = canaries.has(target);
      outcomes.set(target, { target, canary, stage, result, postChecks: postChecksOf(target), agentJob });
      done++;
      recorder.report(target, {
        stage,
        version_before: result.fromVersion,
        version_after: result.toVersion,
        ...(result.error !== null ? { error: result.error } : {}),
      });
      options.onProgress?.({ target, stage, canary, done, total: ordered.length });
    };
    const tell = (target: MigrationTarget, stage: Stage) =>
      options.onProgress?.({ target, stage, canary: canaries.has(target), done, total: ordered.length });
    /** The backup check, then the stages that say the target passed its pre-checks. */
    const precheck = async (target: MigrationTarget): Promise<TargetError | null> => {
      const refused = await backupRefusal(options.backupCheck, target);
      if (refused !== null) return refused;
      // The target's start: it waits here while the run is paused.
      await recorder.start(target, pausePollMs);
      tell(target, 'prechecked');
      if (!dryRun) {
        tell(target, 'applying');
        await recorder.reportNow(target, { stage: 'applying' });
      }
      return null;
    };
    const agentRun: AgentRun | null =
      client === null || runId === null
        ? null
        : { client, runId, migrations, dryRun, timeoutMs: agentTimeoutMs, limit: limiter(concurrency) };
    const group = async (all: readonly MigrationTarget[]) => {
      const targets = all.filter((t) => t.placement !== 'byoi_agent');
      // Only the customer's agent reaches a byoi_agent database: each is migrated by its agent's
      // job, beside the others (it holds none of the vendor's connections, and its wait is the agent's).
      await Promise.all([
        agentGroup(
          all.filter((t) => t.placement === 'byoi_agent'),
          agentRun,
          dryRun,
          concurrency,
          precheck,
          (end) => finish(end.result.target, stageOf(end.result, dryRun, false), end.result, end.job),
        ),
        targets.length === 0 ? undefined : fleetGroup(targets),
      ]);
    };
    const fleetGroup = (targets: readonly MigrationTarget[]) =>
      runFleet(targets, migrations, {
        open: (target) => source.open(target),
        concurrency,
        dryRun,
        keepGoing: true,
        ...(options.bindingKey !== undefined ? { bindingKey: options.bindingKey } : {}),
        precheck,
        ...(checks.length > 0
          ? {
              beforeCommit: async (session, target) => {
                for (const check of checks) {
                  const error = await check(session, target);
                  if (error !== null) return error;
                }
                return null;
              },
            }
          : {}),
        onProgress: (event) => {
          if (event.type !== 'finished') return;
          finish(event.result.target, stageOf(event.result, dryRun, checks.length > 0), event.result);
        },
      });
    const canaryTargets = ordered.filter((t) => canaries.has(t));
    await group(canaryTargets);
    const canariesWell = canaryTargets.every((t) => {
      const stage = outcomes.get(t)?.stage;
      return stage === 'verified' || stage === 'applied' || stage === 'dry_run';
    });
    const rest = ordered.filter((t) => !canaries.has(t));
    if (canariesWell) await group(rest);
    else
      for (const target of rest)
        finish(
          target,
          'skipped',
          skippedResult(target, dryRun, {
            code: 'canary_failed',
            message: 'not started: a canary failed or was skipped, so the run stopped after the canaries',
            migration: null,
          }),
        );
    // Targets an operator retried while the run went on (or while it was paused) are pending
    // again: they run again, until none is. The run has not ended while one is pending.
    let retriesChecked = false;
    if (canariesWell)
      for (;;) {
        await recorder.settled();
        const pending = await recorder.pendingTargets();
        if (pending === null) break;
        retriesChecked = true;
        const again = ordered.filter((t) => pending.has(refOf(t)) && outcomes.has(t));
        if (again.length === 0) break;
        for (const target of again) outcomes.delete(target);
        done -= again.length;
        await group(again);
      }
    await recorder.settled();
    const targets = ordered.map((t) => outcomes.get(t) as CoordinatedTarget);
    const counts = Object.fromEntries(STAGES.map((s) => [s, 0])) as Record<Stage, number>;
    for (const t of targets) counts[t.stage]++;
    return {
      runId,
      dryRun,
      latestVersion,
      state: counts.failed + counts.skipped > 0 ? 'failed' : 'succeeded',
      stoppedAtCanary: !canariesWell,
      counts,
      targets,
      recordingError: recorder.error,
      retriesChecked,
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    await source.close();
  }
}

/**
 * Migrates the `byoi_agent` targets of a group through their agents, `concurrency` of them being
 * found, pre-checked and sent their job at once; the waits for the jobs' ends overlap (an agent
 * that is offline holds up no other target), their reads limited by the run's `limit`.
 */
async function agentGroup(
  targets: readonly MigrationTarget[],
  run: AgentRun | null,
  dryRun: boolean,
  concurrency: number,
  precheck: (target: MigrationTarget) => Promise<TargetError | null>,
  finished: (end: AgentTargetEnd) => void,
): Promise<void> {
  if (targets.length === 0) return;
  if (run === null) {
    for (const target of targets)
      finished({
        result: {
          ...skippedResult(target, dryRun, {
            code: 'connection_failed',
            message:
              "no control plane: a byoi_agent tenant's database is reached only by its agent, through the control plane",
            migration: null,
          }),
          status: 'failed',
        },
        job: null,
      });
    return;
  }
  const waits: Promise<void>[] = [];
  // A throw of `finished` (the caller's progress callback) ends the run once every job has ended,
  // as the fleet runner does with its callbacks.
  let thrown: { error: unknown } | undefined;
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const target = targets[next++] as MigrationTarget;
      // Once its job is sent (or it ended before), its wait goes on while the worker takes the next.
      let sent!: () => void;
      const isSent = new Promise<void>((resolve) => {
        sent = resolve;
      });
      const one = async () => {
        try {
          finished(await migrateThroughAgent(run, target, () => precheck(target), sent));
        } catch (error) {
          thrown ??= { error };
        } finally {
          sent();
        }
      };
      waits.push(one());
      await isSent;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, targets.length) }, worker));
  await Promise.all(waits);
  if (thrown) throw thrown.error;
}

/** The control plane's name of a target: the tenant's id, or `pool`. */
function refOf(target: MigrationTarget): string {
  return target.tenantId ?? 'pool';
}

/** The final stage of a target the runner finished. */
function stageOf(result: TargetResult, dryRun: boolean, checked: boolean): FinalStage {
  if (result.status === 'failed') return 'failed';
  if (result.status === 'skipped') return 'skipped';
  if (dryRun) return 'dry_run';
  return checked ? 'verified' : 'applied';
}

/** The canary targets the spec names; throws for a tenant no target is. */
function pickCanaries(
  targets: readonly MigrationTarget[],
  spec: CanarySpec | undefined,
): Set<MigrationTarget> {
  if (spec === undefined) return new Set();
  // The pool schema holds every pool tenant's rows: never a canary.
  const tenants = targets.filter((t) => t.tenantId !== null);
  if ('percent' in spec) {
    if (!(spec.percent > 0 && spec.percent <= 100))
      throw new CoordinatorInputError(`canary ${spec.percent}%: a percentage is above 0 and at most 100`);
    return new Set(tenants.slice(0, Math.ceil((tenants.length * spec.percent) / 100)));
  }
  const picked = new Set<MigrationTarget>();
  for (const name of spec.tenants) {
    const found = tenants.find((t) => t.tenantId === name || t.slug === name);
    if (!found)
      throw new CoordinatorInputError(
        `canary ${name}: no target of this run is that tenant (it is not a schema, database, byoi or byoi_agent tenant in a migrated state)`,
      );
    picked.add(found);
  }
  return picked;
}

async function backupRefusal(
  check: CoordinateOptions['backupCheck'],
  target: MigrationTarget,
): Promise<TargetError | null> {
  if (check === undefined) return null;
  let answer: BackupConfirmation;
  try {
    answer = await check(target);
  } catch (error) {
    answer = {
      confirmed: false,
      reason: `the backup check failed: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  if (answer.confirmed) return null;
  return {
    code: 'backup_not_confirmed',
    message: `no recent backup confirmed${answer.reason ? `: ${answer.reason}` : ''}`,
    migration: null,
  };
}

type Check = (session: SqlSession, target: MigrationTarget) => Promise<TargetError | null>;

/** The post-checks run in each target's transaction: the schema match, then the app's query. */
function postChecks(options: CoordinateOptions): Check[] {
  const checks: Check[] = [];
  if (options.schemaCheck !== false) {
    // The first target to get here sets the reference: canaries run first, so it is a canary's.
    let reference: { fingerprint: string; of: MigrationTarget } | undefined;
    checks.push(async (session, target) => {
      const fingerprint = await schemaFingerprint(session);
      reference ??= { fingerprint, of: target };
      if (reference.fingerprint === fingerprint) return null;
      return {
        code: 'schema_mismatch',
        message: `its tables and columns after the migrations differ from those of ${reference.of.slug ?? reference.of.tenantId ?? `the pool schema ${reference.of.schema}`} (the run's reference): something outside the migrations changed this target's schema`,
        migration: null,
      };
    });
  }
  const { verify } = options;
  if (verify !== undefined)
    checks.push(async (session, target) => {
      let ok: boolean;
      let why = 'it answered no row, or a false first column';
      try {
        ok = await verify(session, target);
      } catch (error) {
        ok = false;
        why = `it failed: ${error instanceof Error ? error.message : String(error)}`;
      }
      return ok
        ? null
        : { code: 'verification_failed', message: `the verification query: ${why}`, migration: null };
    });
  return checks;
}

/**
 * A digest of the app's tables in the session's current schema: each table's and view's columns,
 * types and nullability, the migrations table left out. Read from the catalogue, which (unlike
 * information_schema) shows every column whatever the role's privileges.
 */
async function schemaFingerprint(session: SqlSession): Promise<string> {
  const { rows } = await session.query(
    `select c.relname as t, a.attname as c, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as nn
     from pg_class c
     join pg_namespace n on n.oid = c.relnamespace
     join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
     where n.nspname = current_schema() and c.relkind in ('r', 'p', 'v', 'm') and c.relname <> 'tenantry_migrations'
     order by 1, 2`,
  );
  return createHash('sha256').update(JSON.stringify(rows)).digest('hex');
}

type Report = RequestBody<'/v1/migration-runs/{id}/targets/{target}', 'post'>;

/**
 * Reports into the control plane. Intermediate stages are awaited in the target's own chain (so
 * its stages arrive in order); final ones are queued from the runner's synchronous progress and
 * awaited at the end. The first failure is kept and reporting stops: the databases are what they
 * are, and the run's record says where it stopped.
 */
class Recorder {
  readonly #client: ControlPlaneClient | null;
  #runId: string | null = null;
  #queue: Promise<void>[] = [];
  error: string | null = null;

  constructor(client: ControlPlaneClient | null) {
    this.#client = client;
  }

  async create(body: RequestBody<'/v1/migration-runs', 'post'>): Promise<string | null> {
    if (this.#client === null) return null;
    const { body: run } = await this.#client.post('/v1/migration-runs', { body });
    this.#runId = run.id;
    return run.id;
  }

  reportNow(target: MigrationTarget, body: Report): Promise<void> {
    const client = this.#client;
    const runId = this.#runId;
    if (client === null || runId === null || this.error !== null) return Promise.resolve();
    return client
      .post('/v1/migration-runs/{id}/targets/{target}', { path: { id: runId, target: refOf(target) }, body })
      .then(
        () => {},
        (error: unknown) => {
          this.error ??= `reporting ${refOf(target)} ${body.stage}: ${error instanceof Error ? error.message : String(error)}`;
        },
      );
  }

  /**
   * Reports a target's start (`prechecked`). While the run is paused the control plane refuses it
   * (`migration_run_paused`): the target waits, asking again every `pollMs`, until the run is
   * resumed, so that a paused run starts no further target.
   */
  async start(target: MigrationTarget, pollMs: number): Promise<void> {
    const client = this.#client;
    const runId = this.#runId;
    if (client === null || runId === null) return;
    for (;;) {
      if (this.error !== null) return;
      try {
        await client.post('/v1/migration-runs/{id}/targets/{target}', {
          path: { id: runId, target: refOf(target) },
          body: { stage: 'prechecked' },
        });
        return;
      } catch (error) {
        if (error instanceof ControlPlaneError && error.code === 'migration_run_paused') {
          await sleep(pollMs);
          continue;
        }
        this.error ??= `reporting ${refOf(target)} prechecked: ${error instanceof Error ? error.message : String(error)}`;
        return;
      }
    }
  }

  /**
   * The run's targets that are pending (an operator retried them), by reference; null when the
   * run is not recorded, its recording failed, or the key may not read it (`migrations:read`).
   */
  async pendingTargets(): Promise<Set<string> | null> {
    const client = this.#client;
    const runId = this.#runId;
    if (client === null || runId === null || this.error !== null) return null;
    try {
      const { body: run } = await client.get('/v1/migration-runs/{id}', { path: { id: runId } });
      return new Set(run.targets.filter((t) => t.stage === 'pending').map((t) => t.target));
    } catch (error) {
      // A key without `migrations:read` records the run but does not read it back: retried
      // targets wait for a new run, as the report's `retriesChecked` says.
      if (error instanceof ControlPlaneError && error.status === 403) return null;
      this.error ??= `reading the run back: ${error instanceof Error ? error.message : String(error)}`;
      return null;
    }
  }

  report(target: MigrationTarget, body: Report): void {
    this.#queue.push(this.reportNow(target, body));
  }

  async settled(): Promise<void> {
    await Promise.all(this.#queue);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
