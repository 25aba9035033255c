import { createHash } from 'node:crypto';
import {
  byoiBindingKey,
  CURRENT_TENANT,
  parseBindingKey,
  schemaTenantSql,
  TENANT_POLICY,
  tenantBindingSql,
} from '../data/tenant-binding.ts';
import type { Migration } from './read-migrations.ts';

/**
 * The little the runner needs of a database connection: one session (the same connection for
 * every call), running a statement with `$n` parameters or, without parameters, a script of
 * several statements. A `pg.Client`, a client from a `pg.Pool` and a Kysely connection all fit
 * with a one-line adapter.
 */
export interface SqlSession {
  query(text: string, params?: unknown[]): Promise<{ readonly rows: readonly Record<string, unknown>[] }>;
}

/**
 * Where a target's app tables live: the vendor's Postgres (`pool`, `schema`, `database`) or a
 * customer's own database (`byoi`: migrated as a tenant database is, in its app schema, as the
 * customer's role; `byoi_agent`: reached only by the customer's agent, so never by this runner: the
 * coordinator sends that agent the `migrate` job instead).
 */
export type TargetPlacement = 'pool' | 'schema' | 'database' | 'byoi' | 'byoi_agent';

/** One place the app's migrations are applied to: the pool schema, or one tenant's schema or database. */
export interface MigrationTarget {
  readonly placement: TargetPlacement;
  /** The tenant's id (`ten_…`); null for the pool. */
  readonly tenantId: string | null;
  /** The tenant's slug, for people reading reports; null for the pool. */
  readonly slug: string | null;
  /** The schema the app's tables and the migrations table go in (`public` in a tenant database, the app schema in a BYOI one). */
  readonly schema: string;
  /** The tenant's role, which owns what the migrations create; null for the pool. */
  readonly role: string | null;
  /** The tenant's database (`database`, or the customer's for `byoi`); null otherwise. */
  readonly database: string | null;
}

/** What happened to one target. */
export type TargetStatus = 'applied' | 'up_to_date' | 'failed' | 'skipped';

/** One migration applied to a target (or, in a dry run, run and rolled back). */
export interface AppliedMigration {
  readonly version: number;
  readonly name: string;
  readonly durationMs: number;
}

/** Why a target failed. Its transaction was rolled back: it stays at its previous version. */
export interface TargetError {
  /**
   * - `checksum_mismatch`: an applied migration's file has changed since;
   * - `unknown_migration`: the target has a migration applied that the folder does not hold;
   * - `migration_failed`: a migration's SQL failed;
   * - `connection_failed`: the target's database could not be reached;
   * - `binding_missing`: a schema tenant's database has no tenant binding to keep its tables to it;
   * - `backup_not_confirmed`: a pre-check (the coordinator's backup hook) refused the target before
   *   anything ran on it (the target is skipped);
   * - `verification_failed`, `schema_mismatch`: a post-check in the target's transaction failed (the
   *   app's verification query, or the schema compared to the reference target's), so it was rolled back;
   * - `canary_failed`: the coordinator did not start the target, since a canary failed;
   * - `agent_not_enrolled`: a `byoi_agent` target whose tenant has no active agent, so the
   *   coordinator had nothing to send its `migrate` job to;
   * - `agent_timeout`: the tenant's agent did not take (offline) or did not finish the `migrate` job
   *   in the coordinator's time;
   * - `agent_version_mismatch`: the agent's `migrate` job succeeded, but not to the run's version
   *   through the run's migrations (the agent has another release's folder);
   * - a `byoi_agent` target's failed or refused `migrate` job keeps the job's own code: the runner's
   *   codes above as the agent's runner found them, or the agent's (`not_allowed`, `unknown_type`,
   *   `migrations_unreadable`, `job_failed`, `agent_revoked`, … see docs/agent.md);
   * - `error`: anything else (the runner's own statements failed, e.g. for lack of privileges).
   */
  readonly code:
    | 'checksum_mismatch'
    | 'unknown_migration'
    | 'migration_failed'
    | 'connection_failed'
    | 'binding_missing'
    | 'backup_not_confirmed'
    | 'verification_failed'
    | 'schema_mismatch'
    | 'canary_failed'
    | 'agent_not_enrolled'
    | 'agent_timeout'
    | 'agent_version_mismatch'
    | 'error'
    // An agent's job's own code, passed through as it came.
    | (string & {});
  readonly message: string;
  /** The migration at fault, where one is. */
  readonly migration: { readonly version: number; readonly name: string } | null;
}

/** The outcome for one target. */
export interface TargetResult {
  readonly target: MigrationTarget;
  readonly status: TargetStatus;
  /** Migrations ran and were rolled back: nothing changed. */
  readonly dryRun: boolean;
  /** The target's version before the run; null when it was never read (skipped, unreachable). */
  readonly fromVersion: number | null;
  /** Its version afterwards (unchanged by a dry run or a failure); null when never read. */
  readonly toVersion: number | null;
  /** The migrations applied, in order (in a dry run: those that would be). */
  readonly applied: readonly AppliedMigration[];
  readonly error: TargetError | null;
  readonly durationMs: number;
}

/** The table in each target's schema that records the migrations applied to it. */
export const MIGRATIONS_TABLE = 'tenantry_migrations';

/** First key of the advisory lock that keeps two runners off one target at once ('tent'). */
const LOCK_CLASS = 0x74656e74;

/** Double-quotes an identifier for SQL text; names come from the control plane and configuration. */
function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

async function schemaExists(session: SqlSession, schema: string): Promise<boolean> {
  const found = await session.query('select 1 from pg_namespace where nspname = $1', [schema]);
  return found.rows.length > 0;
}

/**
 * Installs the tenant binding with `key` in the target's database, as the connecting user, before
 * the migrations: always for the pool and a tenant database (its key may have changed); for a
 * `schema` tenant, which shares the pool's database, only when it is missing, since runners
 * migrating schema tenants at once would otherwise all rewrite it. A lock of the database, held to
 * the end of the transaction, keeps two runners from installing it at once.
 */
async function installBinding(session: SqlSession, target: MigrationTarget, key: Buffer): Promise<void> {
  const missing = `select to_regprocedure('${CURRENT_TENANT}') is null as missing`;
  if (target.placement === 'schema' && (await session.query(missing)).rows[0]?.missing !== true) return;
  await session.query(`select pg_advisory_xact_lock(${LOCK_CLASS}, 0)`);
  if (target.placement === 'schema' && (await session.query(missing)).rows[0]?.missing !== true) return;
  await session.query(tenantBindingSql(key));
}

/** `text` as an SQL string literal, as the server prints one. */
function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** The advisory lock's second key: the schema's name hashed to a 32-bit integer. */
function lockKey(schema: string): number {
  return createHash('sha256').update(schema).digest().readInt32BE(0);
}

/** A target's failure, carried from where it is found to the result. */
class TargetFailure extends Error {
  readonly error: TargetError;
  constructor(error: TargetError) {
    super(error.message);
    this.error = error;
  }
}

/** Options of {@link migrateTarget}. */
export interface MigrateTargetOptions {
  readonly dryRun?: boolean;
  /**
   * The tenant binding key (see `installTenantBinding`); default `TENANTRY_BINDING_KEY`. With
   * it, the pool target and each tenant database get the binding installed (or its key
   * replaced) before their migrations.
   */
  readonly bindingKey?: string;
  /**
   * Post-checks run in the target's transaction after its migrations, before it commits (or,
   * in a dry run, rolls back), as the tenant's role with the target's schema as `search_path`:
   * an error answered rolls the target back, so a target that fails its checks stays at its
   * previous version. What the coordinator's verification query and schema check run in.
   */
  readonly beforeCommit?: (session: SqlSession, target: MigrationTarget) => Promise<TargetError | null>;
}

/**
 * Brings one target up to the latest migration in ONE transaction on `session`:
 * - the pool: `search_path` is the pool schema (made if missing), as the connecting user;
 * - a `schema` or `database` tenant: `SET LOCAL ROLE` to the tenant's role first, so every object
 *   the migrations create (and the migrations table) belongs to the tenant, and `search_path` is
 *   its schema (`public` in its own database).
 *
 * Already applied migrations are checked against their files (checksum), the pending ones run in
 * order and are recorded in `<schema>.tenantry_migrations` (version, name, checksum, applied_at,
 * duration_ms). Any failure rolls the whole transaction back, so the target stays at its previous
 * version. A dry run runs the pending migrations and rolls back. An advisory lock per schema keeps
 * two runners (a fleet run and a tenant's provisioning) from migrating one target at once. A
 * transaction PostgreSQL rolls back as a deadlock or a serialization failure is run again, up to
 * three times in all.
 *
 * Never throws for the target's own failures: they are in the result's `error`.
 */
export async function migrateTarget(
  session: SqlSession,
  target: MigrationTarget,
  migrations: readonly Migration[],
  options: MigrateTargetOptions = {},
): Promise<TargetResult> {
  // A deadlock or serialization failure rolled the whole transaction back, so the target is as it
  // was: it runs again, as PostgreSQL's documentation advises. (Concurrent DDL in one database,
  // such as another runner's binding install or the customer's own, can meet this one's.)
  for (let attempt = 1; ; attempt++) {
    const result = await migrateOnce(session, target, migrations, options, attempt < TRANSIENT_ATTEMPTS);
    if (result !== RETRY) return result;
  }
}

/** Times a target is run when PostgreSQL answers a deadlock or a serialization failure. */
const TRANSIENT_ATTEMPTS = 3;
/** PostgreSQL's SQLSTATEs of a transaction rolled back that may succeed when run again. */
const TRANSIENT: ReadonlySet<string> = new Set(['40P01', '40001']);
/** What {@link migrateOnce} answers for a transient failure. */
const RETRY = Symbol('retry');

/**
 * One run of {@link migrateTarget}. With `retry`, a transient failure answers {@link RETRY}
 * instead of failing the target.
 */
async function migrateOnce(
  session: SqlSession,
  target: MigrationTarget,
  migrations: readonly Migration[],
  options: MigrateTargetOptions,
  retry: boolean,
): Promise<TargetResult | typeof RETRY> {
  const dryRun = options.dryRun === true;
  const keyText = options.bindingKey ?? process.env.TENANTRY_BINDING_KEY;
  const vendorKey = keyText !== undefined && keyText !== '' ? parseBindingKey(keyText) : undefined;
  // A customer's database gets its tenant's own key, never the vendor's (see byoiBindingKey).
  const key =
    vendorKey !== undefined && target.placement === 'byoi' && target.tenantId !== null
      ? byoiBindingKey(vendorKey, target.tenantId)
      : vendorKey;
  const started = performance.now();
  const table = `${ident(target.schema)}.${ident(MIGRATIONS_TABLE)}`;
  let fromVersion: number | null = null;
  const applied: AppliedMigration[] = [];
  const result = (status: TargetStatus, error: TargetError | null): TargetResult => ({
    target,
    status,
    dryRun,
    fromVersion,
    toVersion: fromVersion === null ? null : dryRun || error ? fromVersion : fromVersion + applied.length,
    applied: error ? [] : applied,
    error,
    durationMs: round(performance.now() - started),
  });
  let open = false;
  try {
    // The pool schema is made when missing; CREATE SCHEMA IF NOT EXISTS would need the right to
    // create schemas even when it exists. A tenant's schema exists from provisioning.
    const makeSchema = target.placement === 'pool' && !(await schemaExists(session, target.schema));
    // Few round trips for the set-up: a fleet run does it for every tenant.
    open = true;
    // The "already exists, skipping" notices of IF NOT EXISTS are noise here.
    await session.query('begin; set local client_min_messages to warning');
    if (key !== undefined) await installBinding(session, target, key);
    await session.query(
      [
        ...(target.role !== null ? [`set local role ${ident(target.role)}`] : []),
        ...(makeSchema ? [`create schema ${ident(target.schema)}`] : []),
        `set local search_path to ${ident(target.schema)}`,
        `select pg_advisory_xact_lock(${LOCK_CLASS}, ${lockKey(target.schema)})`,
        `create table if not exists ${table} (
          version integer primary key,
          name text not null,
          checksum text not null,
          applied_at timestamptz not null,
          duration_ms double precision not null
        )`,
      ].join(';\n'),
    );
    const rows = (await session.query(`select version, name, checksum from ${table} order by version`)).rows;
    fromVersion = rows.length === 0 ? 0 : Number(rows.at(-1)?.version);
    checkApplied(rows, migrations);
    for (const migration of migrations) {
      if (migration.version <= fromVersion) continue;
      const at = performance.now();
      try {
        await session.query(migration.sql);
      } catch (error) {
        throw new TargetFailure({
          code: 'migration_failed',
          message: sqlErrorMessage(migration, error),
          migration: { version: migration.version, name: migration.name },
        });
      }
      applied.push({
        version: migration.version,
        name: migration.name,
        durationMs: round(performance.now() - at),
      });
    }
    if (target.placement === 'schema') {
      // Every table of a schema tenant, new or old, is kept to that tenant by the verified binding:
      // the app's role reaches the schema through grants, so the policy is what stops another
      // tenant's SQL from naming it. The schema's name is the tenant's id (the control plane's rule).
      const tenantId = target.tenantId ?? target.schema;
      if (
        (await session.query(`select to_regprocedure('${CURRENT_TENANT}') is null as missing`)).rows[0]
          ?.missing
      )
        throw new TargetFailure({
          code: 'binding_missing',
          message: `the tenant binding (${CURRENT_TENANT}) is not installed in this database, so the schema tenant's tables cannot be kept to it: set TENANTRY_BINDING_KEY for the migration, or run installTenantBinding()`,
          migration: null,
        });
      // Only the tables without it (a policy of the same name with another expression, e.g. the
      // pool's, is replaced): replacing a policy locks its table, on every run.
      const expected = `(( SELECT ${CURRENT_TENANT} AS current_tenant) = ${quoteLiteral(tenantId)}::text)`;
      const tables = await session.query(
        `select c.relname as table from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = $1 and c.relkind in ('r', 'p')
           and not (c.relrowsecurity and exists (
             select 1 from pg_policy p where p.polrelid = c.oid and p.polname = $2
               and pg_get_expr(p.polqual, p.polrelid) = $3 and pg_get_expr(p.polwithcheck, p.polrelid) = $3))
         order by 1`,
        [target.schema, TENANT_POLICY, expected],
      );
      for (const { table } of tables.rows)
        await session.query(schemaTenantSql(target.schema, String(table), tenantId));
    }
    if (applied.length > 0) {
      const params: unknown[] = [];
      const values = applied.map((a, i) => {
        const checksum = migrations.find((m) => m.version === a.version)?.checksum;
        params.push(a.version, a.name, checksum, a.durationMs);
        return `($${4 * i + 1}::integer, $${4 * i + 2}, $${4 * i + 3}, clock_timestamp(), $${4 * i + 4}::double precision)`;
      });
      await session.query(
        `insert into ${table} (version, name, checksum, applied_at, duration_ms) values ${values.join(', ')}`,
        params,
      );
    }
    const checked = options.beforeCommit ? await options.beforeCommit(session, target) : null;
    if (checked !== null) throw new TargetFailure(checked);
    open = false;
    await session.query(dryRun ? 'rollback' : 'commit');
    return result(applied.length > 0 ? 'applied' : 'up_to_date', null);
  } catch (error) {
    // The session may be broken as well; its owner throws it away after a failure.
    if (open) await session.query('rollback').catch(() => {});
    if (error instanceof TargetFailure) return result('failed', error.error);
    if (retry && TRANSIENT.has(sqlState(error))) return RETRY;
    return result('failed', { code: 'error', message: errorText(error), migration: null });
  }
}

/** Refuses a target whose applied migrations are not the folder's first ones, unchanged. */
function checkApplied(rows: readonly Record<string, unknown>[], migrations: readonly Migration[]): void {
  for (const row of rows) {
    const version = Number(row.version);
    const name = String(row.name);
    const migration = migrations.find((m) => m.version === version);
    if (!migration) {
      throw new TargetFailure({
        code: 'unknown_migration',
        message: `migration ${name} (version ${version}) is applied here but is not in the migrations folder; a newer set of migrations was applied, or a file was removed`,
        migration: { version, name },
      });
    }
    if (migration.checksum !== row.checksum) {
      throw new TargetFailure({
        code: 'checksum_mismatch',
        message: `${migration.file} was changed after it was applied here as ${name} (checksum ${String(row.checksum).slice(0, 12)}…, the file's is ${migration.checksum.slice(0, 12)}…); add a new migration instead of editing an applied one`,
        migration: { version, name },
      });
    }
  }
}

/** `0002_add_index.sql, line 3: relation "meetings" already exists`. */
function sqlErrorMessage(migration: Migration, error: unknown): string {
  // Postgres reports where the failing statement went wrong as a 1-based character offset into
  // the text sent, which is the whole file.
  const position = Number((error as { position?: unknown }).position);
  const where =
    Number.isInteger(position) && position > 0
      ? `, line ${migration.sql.slice(0, position - 1).split('\n').length}`
      : '';
  return `${migration.file}${where}: ${errorText(error)}`;
}

/** The SQLSTATE of a PostgreSQL error (pg's and PGlite's `code`); '' for anything else. */
function sqlState(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
