import { type agentProtocol, ok, type Result } from '@tenantry/core';
import {
  type Migration,
  type MigrationTarget,
  migrateTarget,
  readMigrations,
  type SqlSession,
} from '@tenantry/sdk';
import { z } from 'zod';

/** What a running job is given: its id, the customer's database, and a way to report progress. */
export interface JobContext {
  readonly jobId: string;
  /**
   * The tenant this agent serves, as the control plane's welcome named it: what a vendor's job
   * binds its transaction to when the app's tables keep to the tenant binding.
   */
  readonly tenantId: string;
  /**
   * Runs `work` on one connection to the customer's database, closed afterwards. The
   * connection's results stay in this process: only the job's declared output leaves it.
   */
  withDatabase<T>(work: (session: SqlSession) => Promise<T>): Promise<T>;
  /** Reports progress (metadata: counts, versions, statuses), sent to the control plane as it comes. */
  progress(progress: Record<string, agentProtocol.Metadata>): void;
  /** The folder of the vendor's SQL migrations, when the agent was given one. */
  readonly migrationsDir: string | undefined;
}

/**
 * A job type: its input and output as zod schemas, and what it does. The output schema is the
 * job's declaration of what may leave the customer's environment: counts, versions, statuses,
 * hashes. A field the run returns that the schema does not declare is not sent, and the job is
 * refused (`undeclared_output`), naming the field, never its value.
 */
export interface JobTypeDefinition<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  readonly type: string;
  readonly input: I;
  readonly output: O;
  run(input: z.output<I>, context: JobContext): Promise<z.input<O>>;
}

/** Declares a job type with its types inferred from its schemas. */
export function defineJobType<I extends z.ZodType, O extends z.ZodType>(
  definition: JobTypeDefinition<I, O>,
): JobTypeDefinition<I, O> {
  return definition;
}

/**
 * A job's failure whose code and message the run chooses to send. Any other error a run throws
 * is sent as `job_failed` with its name only: its message may hold the customer's data (an SQL
 * error quoting a row), so it stays in the agent's log.
 */
export class JobFailure extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'JobFailure';
    this.code = code;
  }
}

/** What running a job came to: the frame the agent sends for it (without `protocol`). */
export type JobOutcome =
  | { readonly kind: 'succeeded'; readonly output: Record<string, agentProtocol.Metadata> }
  | { readonly kind: 'failed'; readonly code: string; readonly message: string }
  | {
      readonly kind: 'refused';
      readonly reason: agentProtocol.JobRefusalReason;
      readonly detail: string;
      readonly fields?: readonly string[];
    };

/** The paths (dotted) present in `raw` and missing from `declared`: what a schema stripped or refused. */
export function undeclaredPaths(raw: unknown, declared: unknown, at: readonly string[] = []): string[] {
  if (Array.isArray(raw)) {
    if (!Array.isArray(declared)) return raw.length > 0 ? [at.join('.') || '(root)'] : [];
    return raw.flatMap((item, i) => undeclaredPaths(item, declared[i], [...at, String(i)]));
  }
  if (typeof raw !== 'object' || raw === null) return [];
  if (typeof declared !== 'object' || declared === null) return [at.join('.') || '(root)'];
  const kept = declared as Record<string, unknown>;
  return Object.entries(raw as Record<string, unknown>).flatMap(([key, value]) =>
    Object.hasOwn(kept, key) ? undeclaredPaths(value, kept[key], [...at, key]) : [[...at, key].join('.')],
  );
}

/**
 * Checks a run's output against its type's declaration: the output to send, or the outcome
 * that replaces it. Undeclared fields (stripped by a plain object schema, or refused by a
 * strict one) refuse the job by name; an output that does not match its declared types fails it,
 * naming the paths; what is sent is the parsed output, never the raw one.
 */
export function checkOutput(
  schema: z.ZodType,
  raw: unknown,
): Result<Record<string, agentProtocol.Metadata>, JobOutcome> {
  const parsed = schema.safeParse(raw);
  const unrecognized = parsed.success
    ? undeclaredPaths(raw, parsed.data)
    : parsed.error.issues
        .filter((issue) => issue.code === 'unrecognized_keys')
        .flatMap((issue) => issue.keys.map((key) => [...issue.path.map(String), key].join('.')));
  if (unrecognized.length > 0)
    return {
      ok: false,
      error: {
        kind: 'refused',
        reason: 'undeclared_output',
        detail: `the job's output held fields its type does not declare, and nothing of it was sent: ${unrecognized.join(', ')}`,
        fields: unrecognized,
      },
    };
  if (!parsed.success)
    return {
      ok: false,
      error: {
        kind: 'failed',
        code: 'output_invalid',
        message: `the job's output does not match its declared schema at ${parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ')}`,
      },
    };
  if (typeof parsed.data !== 'object' || parsed.data === null || Array.isArray(parsed.data))
    return {
      ok: false,
      error: { kind: 'failed', code: 'output_invalid', message: "a job's output is an object" },
    };
  return ok(parsed.data as Record<string, agentProtocol.Metadata>);
}

/** A schema name the migrations runner may use: a plain identifier. */
const SchemaName = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a schema is a-z, 0-9 and _, starting with a letter or _');

async function migrationsOf(context: JobContext): Promise<readonly Migration[]> {
  if (context.migrationsDir === undefined) return [];
  try {
    return await readMigrations(context.migrationsDir);
  } catch (error) {
    throw new JobFailure('migrations_unreadable', error instanceof Error ? error.message : String(error));
  }
}

/**
 * Runs the vendor's migrations on the schema with the SDK's runner, in one transaction (a failure
 * leaves the schema at its previous version), reporting each migration as it starts.
 */
async function runMigrations(
  context: JobContext,
  schema: string,
  dryRun: boolean,
): Promise<{
  status: string;
  from_version: number | null;
  to_version: number | null;
  applied: { version: number; name: string; duration_ms: number }[];
  existed: boolean;
}> {
  const migrations = await migrationsOf(context);
  const bySql = new Map(migrations.map((m) => [m.sql, m]));
  return context.withDatabase(async (session) => {
    const existed =
      (await session.query('select 1 from pg_namespace where nspname = $1', [schema])).rows.length > 0;
    // The runner runs each migration's SQL as one statement: seeing it go by is the progress.
    const watched: SqlSession = {
      query: (text, params) => {
        const migration = bySql.get(text);
        if (migration !== undefined)
          context.progress({ migration: migration.version, name: migration.name, of: migrations.length });
        return session.query(text, params);
      },
    };
    const target: MigrationTarget = {
      // The runner's `pool` target: the schema is made when missing, as the connecting user.
      placement: 'pool',
      tenantId: null,
      slug: null,
      schema,
      role: null,
      database: null,
    };
    const result = await migrateTarget(watched, target, migrations, { dryRun });
    if (result.error !== null) {
      throw new JobFailure(
        result.error.code,
        result.error.migration === null
          ? result.error.message
          : `migration ${result.error.migration.version} (${result.error.migration.name}): ${result.error.message}`,
      );
    }
    return {
      status: result.status,
      from_version: result.fromVersion,
      to_version: result.toVersion,
      applied: result.applied.map((a) => ({ version: a.version, name: a.name, duration_ms: a.durationMs })),
      existed,
    };
  });
}

const Applied = z.array(z.strictObject({ version: z.number(), name: z.string(), duration_ms: z.number() }));

/** `noop`: does nothing; the round trip is the point (benchmarks, liveness). */
export const noopJob = defineJobType({
  type: 'noop',
  input: z.strictObject({}),
  output: z.strictObject({ ok: z.literal(true) }),
  run: async () => ({ ok: true as const }),
});

/** `health_check`: the customer's database answers; its server version and the round trip. */
export const healthCheckJob = defineJobType({
  type: 'health_check',
  input: z.strictObject({}),
  output: z.strictObject({
    connected: z.literal(true),
    server_version: z.string(),
    server_version_num: z.number().int(),
    latency_ms: z.number(),
  }),
  run: async (_input, context) => {
    const started = performance.now();
    try {
      return await context.withDatabase(async (session) => {
        const row = (
          await session.query(
            "select current_setting('server_version') as v, current_setting('server_version_num')::int as n",
          )
        ).rows[0];
        return {
          connected: true as const,
          server_version: String(row?.v),
          server_version_num: Number(row?.n),
          latency_ms: Math.round((performance.now() - started) * 100) / 100,
        };
      });
    } catch (error) {
      if (error instanceof JobFailure) throw error;
      throw new JobFailure(
        'connection_failed',
        `the customer's database did not answer: ${errorCode(error)}`,
      );
    }
  },
});

/** `provision`: makes the tenant's schema and brings it to the vendor's latest migration. */
export const provisionJob = defineJobType({
  type: 'provision',
  input: z.strictObject({ schema: SchemaName }),
  output: z.strictObject({
    schema: z.string(),
    created: z.boolean(),
    status: z.string(),
    from_version: z.number().nullable(),
    to_version: z.number().nullable(),
    applied: z.number().int(),
  }),
  run: async ({ schema }, context) => {
    const result = await runMigrations(context, schema, false);
    return {
      schema,
      created: !result.existed,
      status: result.status,
      from_version: result.from_version,
      to_version: result.to_version,
      applied: result.applied.length,
    };
  },
});

/** `migrate`: the vendor's migrations on the schema, version before and after, optionally as a dry run. */
export const migrateJob = defineJobType({
  type: 'migrate',
  input: z.strictObject({ schema: SchemaName, dry_run: z.boolean().default(false) }),
  output: z.strictObject({
    schema: z.string(),
    status: z.string(),
    dry_run: z.boolean(),
    from_version: z.number().nullable(),
    to_version: z.number().nullable(),
    applied: Applied,
  }),
  run: async ({ schema, dry_run }, context) => {
    const result = await runMigrations(context, schema, dry_run);
    return {
      schema,
      status: result.status,
      dry_run,
      from_version: result.from_version,
      to_version: result.to_version,
      applied: result.applied,
    };
  },
});

/** The job types every agent has. */
export const BUILT_IN_JOB_TYPES: readonly JobTypeDefinition[] = [
  noopJob,
  healthCheckJob,
  provisionJob,
  migrateJob,
];

/** An error's SQLSTATE or system code, or its name: what may be sent of an error we did not word. */
function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string')
    return error.code;
  return error instanceof Error ? error.name : 'error';
}

/**
 * Runs one job of a known, allowed type: input checked, run, output checked. Never throws: every
 * end is an outcome. A run's own error sends only its code (a JobFailure's message is the run's to
 * choose); its full text goes to `log`.
 */
export async function runJob(
  definition: JobTypeDefinition,
  input: unknown,
  context: JobContext,
  log: (message: string, fields: Record<string, unknown>) => void,
): Promise<JobOutcome> {
  const parsedInput = definition.input.safeParse(input);
  if (!parsedInput.success)
    return {
      kind: 'refused',
      reason: 'invalid_input',
      detail: `the input does not match ${definition.type}'s: ${parsedInput.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    };
  let raw: unknown;
  try {
    raw = await definition.run(parsedInput.data, context);
  } catch (error) {
    if (error instanceof JobFailure)
      return { kind: 'failed', code: error.code, message: error.message.slice(0, 2000) };
    log('job failed', {
      jobId: context.jobId,
      type: definition.type,
      error: error instanceof Error ? error.message : String(error),
    });
    return {
      kind: 'failed',
      code: 'job_failed',
      message: `the job threw ${errorCode(error)}; its message stays in the agent's log (it may hold the customer's data)`,
    };
  }
  const output = checkOutput(definition.output, raw);
  return output.ok ? { kind: 'succeeded', output: output.value } : output.error;
}
