import pg from 'pg';
import { ControlPlaneClient, type ControlPlaneOptions } from '../control-plane/index.ts';
import { listFleetTargets, poolTarget } from './list-fleet-targets.ts';
import {
  type MigrationTarget,
  migrateTarget,
  type SqlSession,
  type TargetError,
  type TargetResult,
} from './migrate-target.ts';
import { type Migration, readMigrations } from './read-migrations.ts';

/** How many targets are migrated at once unless told otherwise. */
export const DEFAULT_CONCURRENCY = 4;

/** Told as each target starts and as each ends (skipped targets end without starting). */
export type FleetProgress =
  | {
      readonly type: 'started';
      readonly target: MigrationTarget;
      /** The target's place in the run's order. */
      readonly index: number;
      readonly done: number;
      readonly total: number;
    }
  | {
      readonly type: 'finished';
      readonly result: TargetResult;
      readonly index: number;
      /** Targets finished so far, this one included. */
      readonly done: number;
      readonly total: number;
    };

/** The outcome of a fleet run. */
export interface FleetReport {
  readonly dryRun: boolean;
  /** Migrations in the folder; the last one's version is the one every target should reach. */
  readonly migrations: number;
  readonly latestVersion: number;
  readonly targets: number;
  /** Targets that applied at least one migration (in a dry run: would have). */
  readonly applied: number;
  readonly upToDate: number;
  readonly failed: number;
  /** Targets not started: an earlier one failed (stop at the first failure), or the pre-check refused them. */
  readonly skipped: number;
  /** Migrations applied over all targets. */
  readonly migrationsApplied: number;
  readonly durationMs: number;
  /** One result per target, in the run's order. */
  readonly results: readonly TargetResult[];
}

/** A session on a target's database, and what to do with it afterwards. */
export interface FleetSession {
  readonly session: SqlSession;
  /** Gives the connection back; `failed` says it may be broken. */
  release(failed: boolean): Promise<void> | void;
}

/** How {@link runFleet} reaches the targets and how it runs. */
export interface RunFleetOptions {
  /** Opens a session on the database that holds `target`. */
  readonly open: (target: MigrationTarget) => Promise<FleetSession>;
  /** Targets migrated at once; default {@link DEFAULT_CONCURRENCY}. */
  readonly concurrency?: number;
  /** Run every pending migration and roll back: report what would apply, change nothing. */
  readonly dryRun?: boolean;
  /** Go on after a target fails; by default no further target is started and they are reported skipped. */
  readonly keepGoing?: boolean;
  /** The tenant binding key the targets get the binding installed with (see `migrateTarget`); default `TENANTRY_BINDING_KEY`. */
  readonly bindingKey?: string;
  /**
   * Run on each target's open session before its migrations; an error answered skips the target
   * (status `skipped`, with the error) without touching it; null lets its migrations start. The
   * coordinator's backup check (and its progress report that the target is prechecked).
   */
  readonly precheck?: (target: MigrationTarget, session: SqlSession) => Promise<TargetError | null>;
  /** Post-checks in each target's transaction, before it commits (see `migrateTarget`'s `beforeCommit`). */
  readonly beforeCommit?: (session: SqlSession, target: MigrationTarget) => Promise<TargetError | null>;
  readonly onProgress?: (event: FleetProgress) => void;
}

/** Everything {@link migrateFleet} needs. */
export interface MigrateFleetOptions {
  /** The folder of `NNNN_name.sql` migrations. */
  readonly migrationsDir: string;
  /**
   * The vendor's PostgreSQL, as a user that is a member of every tenant role (the control
   * plane's user is): the pool schema and `schema` tenants are in its database, and each
   * `database` tenant's database is reached on the same server with the same credentials.
   */
  readonly databaseUrl: string;
  /**
   * The control plane that lists the tenants: a client, or its URL and API key. `null` for an app
   * with no control plane (self-hosted on a license, its one tenant in the pool): only the pool
   * schema is migrated, with the tenant binding installed there, and PUBLIC loses TEMP on the
   * database as the control plane's provisioner would have done.
   */
  readonly controlPlane: ControlPlaneClient | ControlPlaneOptions | null;
  /** The pool schema (the control plane's TENANTRY_POOL_SCHEMA); default `public`. */
  readonly poolSchema?: string;
  /** Targets migrated at once (and connections used); default {@link DEFAULT_CONCURRENCY}. */
  readonly concurrency?: number;
  /** Run every pending migration and roll back: report what would apply, change nothing. */
  readonly dryRun?: boolean;
  /** Go on after a target fails; by default no further target is started and they are reported skipped. */
  readonly keepGoing?: boolean;
  /** The tenant binding key the targets get the binding installed with (see `migrateTarget`); default `TENANTRY_BINDING_KEY`. */
  readonly bindingKey?: string;
  /** Called as each target starts and ends, from the run's own promise chain: keep it quick. */
  readonly onProgress?: (event: FleetProgress) => void;
}

/**
 * Applies the app's SQL migrations to the pool schema and to every `schema` and `database`
 * tenant the control plane lists, each target in one transaction (see {@link migrateTarget}),
 * `concurrency` at a time. The pool schema and `schema` tenants share one connection pool;
 * each `database` tenant gets a short-lived connection to its own database. A re-run applies
 * only what is pending, so a run that stopped (a failure, a crash) is resumed by running again.
 *
 * @throws {MigrationFolderError} when the folder is unusable, before anything has run.
 * @throws {ControlPlaneError} or {@link ControlPlaneUnreachableError} when the tenants cannot be listed.
 *
 * @example
 * ```ts
 * const report = await migrateFleet({
 *   migrationsDir: './migrations',
 *   databaseUrl: process.env.DATABASE_URL ?? '',
 *   controlPlane: { url: 'http://localhost:8080', token: process.env.TENANTRY_TOKEN ?? '' },
 *   onProgress: (e) => e.type === 'finished' && console.log(e.result.target.slug, e.result.status),
 * });
 * if (report.failed > 0) process.exitCode = 2;
 * ```
 */
export async function migrateFleet(options: MigrateFleetOptions): Promise<FleetReport> {
  const concurrency = checkConcurrency(options.concurrency);
  if (!URL.canParse(options.databaseUrl) || !/^postgres(ql)?:/.test(options.databaseUrl))
    throw new TypeError('databaseUrl must be a postgres:// or postgresql:// URL');
  const migrations = await readMigrations(options.migrationsDir);
  const { controlPlane } = options;
  const targets =
    controlPlane === null
      ? [poolTarget(options.poolSchema)]
      : await listFleetTargets(
          controlPlane instanceof ControlPlaneClient ? controlPlane : new ControlPlaneClient(controlPlane),
          options.poolSchema === undefined ? {} : { poolSchema: options.poolSchema },
        );
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: concurrency });
  // An idle connection the server closes is dropped by the pool; unheard, its error would end the process.
  pool.on('error', () => {});
  try {
    if (controlPlane === null && options.dryRun !== true) await revokeTemporary(pool);
    return await runFleet(targets, migrations, {
      open: (target) =>
        target.database === null ? pooled(pool) : ownConnection(options.databaseUrl, target.database),
      concurrency,
      ...pick(options),
    });
  } finally {
    await pool.end();
  }
}

/**
 * Migrates `targets` with the sessions `open` gives: the pool targets first, one at a time, then
 * the others at most `concurrency` at once, in order.
 * After a failure no further target is started unless `keepGoing`; those still in flight finish.
 * The core of {@link migrateFleet}, for callers that reach their databases their own way.
 */
export async function runFleet(
  targets: readonly MigrationTarget[],
  migrations: readonly Migration[],
  options: RunFleetOptions,
): Promise<FleetReport> {
  const concurrency = checkConcurrency(options.concurrency);
  const dryRun = options.dryRun === true;
  const started = performance.now();
  const total = targets.length;
  const results: Array<TargetResult | undefined> = new Array(total);
  let next = 0;
  let done = 0;
  let stop = false;
  let callbackFailed: { error: unknown } | undefined;
  const tell = (event: FleetProgress) => {
    try {
      options.onProgress?.(event);
    } catch (error) {
      // A callback that throws ends the run as a failure would: nothing new starts.
      callbackFailed ??= { error };
      stop = true;
    }
  };
  const migrateOne = async (target: MigrationTarget): Promise<TargetResult> => {
    const at = performance.now();
    let opened: FleetSession;
    try {
      opened = await options.open(target);
    } catch (error) {
      const message = `cannot connect to ${target.database ?? 'the database'}: ${error instanceof Error ? error.message : String(error)}`;
      return failedResult(target, dryRun, { code: 'connection_failed', message, migration: null }, at);
    }
    let result: TargetResult | undefined;
    try {
      const refused = options.precheck ? await options.precheck(target, opened.session) : null;
      if (refused !== null) {
        result = skippedResult(target, dryRun, refused);
        return result;
      }
      result = await migrateTarget(opened.session, target, migrations, {
        dryRun,
        ...(options.bindingKey !== undefined ? { bindingKey: options.bindingKey } : {}),
        ...(options.beforeCommit !== undefined ? { beforeCommit: options.beforeCommit } : {}),
      });
      return result;
    } finally {
      try {
        await opened.release(result?.status === 'failed' || result === undefined);
      } catch {
        // The target's outcome is known; a connection that will not close changes nothing in it.
      }
    }
  };
  // Pool targets first, each alone: a pool target (re)installs the tenant binding function in the
  // database the schema tenants share, and a schema tenant's transaction creating a policy that
  // calls it at the same moment can deadlock with that.
  const order = [
    ...targets.flatMap((t, i) => (t.placement === 'pool' ? [i] : [])),
    ...targets.flatMap((t, i) => (t.placement === 'pool' ? [] : [i])),
  ];
  const pools = total - targets.filter((t) => t.placement !== 'pool').length;
  const worker = async (until: number) => {
    while (!stop && next < until) {
      const index = order[next++] as number;
      const target = targets[index] as MigrationTarget;
      tell({ type: 'started', target, index, done, total });
      const result = await migrateOne(target);
      results[index] = result;
      done++;
      if (result.status === 'failed' && options.keepGoing !== true) stop = true;
      tell({ type: 'finished', result, index, done, total });
    }
  };
  await worker(pools);
  await Promise.all(Array.from({ length: Math.min(concurrency, total - pools) }, () => worker(total)));
  for (let index = 0; index < total; index++) {
    if (results[index] !== undefined) continue;
    const result = skippedResult(targets[index] as MigrationTarget, dryRun);
    results[index] = result;
    done++;
    tell({ type: 'finished', result, index, done, total });
  }
  if (callbackFailed) throw callbackFailed.error;
  const all = results as TargetResult[];
  const count = (status: TargetResult['status']) => all.filter((r) => r.status === status).length;
  return {
    dryRun,
    migrations: migrations.length,
    latestVersion: migrations.at(-1)?.version ?? 0,
    targets: total,
    applied: count('applied'),
    upToDate: count('up_to_date'),
    failed: count('failed'),
    skipped: count('skipped'),
    migrationsApplied: all.reduce((sum, r) => sum + r.applied.length, 0),
    durationMs: Math.round(performance.now() - started),
    results: all,
  };
}

/**
 * What the control plane's provisioner does to its database, done here when there is none: no
 * TEMP for PUBLIC, since a temporary table would shadow a pool table for later statements on the
 * app's connection (the data layer refuses to start while its role has TEMP).
 */
async function revokeTemporary(pool: pg.Pool): Promise<void> {
  const { rows } = await pool.query<{ name: string }>('select current_database() as name');
  await pool.query(`revoke temporary on database ${pg.escapeIdentifier(rows[0]?.name ?? '')} from public`);
}

function checkConcurrency(value: number | undefined): number {
  const concurrency = value ?? DEFAULT_CONCURRENCY;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1)
    throw new RangeError(`concurrency must be a whole number of at least 1, not ${value}`);
  return concurrency;
}

/** The run options of {@link MigrateFleetOptions} that were given (exactOptionalPropertyTypes). */
function pick(options: MigrateFleetOptions): Omit<RunFleetOptions, 'open' | 'concurrency'> {
  return {
    ...(options.dryRun !== undefined ? { dryRun: options.dryRun } : {}),
    ...(options.keepGoing !== undefined ? { keepGoing: options.keepGoing } : {}),
    ...(options.bindingKey !== undefined ? { bindingKey: options.bindingKey } : {}),
    ...(options.onProgress !== undefined ? { onProgress: options.onProgress } : {}),
  };
}

export async function pooled(pool: pg.Pool): Promise<FleetSession> {
  const client = await pool.connect();
  return {
    session: { query: (text, params) => client.query(text, params) },
    // A connection that saw a failure is closed rather than handed to the next target.
    release: (failed) => client.release(failed),
  };
}

export async function ownConnection(databaseUrl: string, database: string): Promise<FleetSession> {
  const url = new URL(databaseUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return clientSession({ connectionString: url.toString() });
}

/** A session on a connection of its own, opened with `config`; its release closes it. */
export async function clientSession(config: pg.ClientConfig): Promise<FleetSession> {
  const client = new pg.Client(config);
  // A connection lost while idle is reported as an event, which would end the process unheard;
  // the next statement fails instead, and its target with it.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    // The connect error is what is reported; ending the client that never connected only frees
    // its socket, and a failure to do so would say nothing more.
    await client.end().catch(() => {});
    throw error;
  }
  return {
    session: { query: (text, params) => client.query(text, params) },
    release: () => client.end(),
  };
}

function failedResult(
  target: MigrationTarget,
  dryRun: boolean,
  error: TargetError,
  at: number,
): TargetResult {
  return {
    target,
    status: 'failed',
    dryRun,
    fromVersion: null,
    toVersion: null,
    applied: [],
    error,
    durationMs: Math.round((performance.now() - at) * 100) / 100,
  };
}

/** A target skipped without being opened; `error` says why when a reason is known. */
export function skippedResult(
  target: MigrationTarget,
  dryRun: boolean,
  error: TargetError | null = null,
): TargetResult {
  return {
    target,
    status: 'skipped',
    dryRun,
    fromVersion: null,
    toVersion: null,
    applied: [],
    error,
    durationMs: 0,
  };
}
