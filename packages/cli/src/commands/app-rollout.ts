import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type {
  BackupConfirmation,
  CoordinatedReport,
  CoordinatedTarget,
  CoordinatorProgress,
  MigrationTarget,
} from '@tenantry/sdk';
import type { Command } from 'commander';
import { CliError } from '../cli-error.ts';
import type { CommandContext } from '../command-context.ts';
import { integerArgument } from '../integer-argument.ts';
import type { Output, Writer } from '../output.ts';
import { progressBar } from '../progress-bar.ts';
import { isTty, targetName } from './app.ts';

interface RolloutOptions {
  readonly dir: string;
  readonly databaseUrl?: string;
  readonly poolSchema?: string;
  readonly concurrency: number;
  readonly canary?: string;
  readonly backupCheck?: string;
  readonly verifySql?: string;
  readonly schemaCheck: boolean;
  readonly byoi: boolean;
  readonly agentTimeout: number;
  readonly dryRun?: boolean;
}

/** How long a backup check may take per target before it counts as not confirmed. */
const BACKUP_CHECK_TIMEOUT_MS = 120_000;

/**
 * Adds `app rollout`: the coordinated run of the app's migrations (pre-checks, canaries,
 * post-checks, the run recorded in the control plane). A subcommand rather than a flag of
 * `app migrate`: half its options mean nothing to a bare migrate, and its report is per stage.
 */
export function rolloutCommand(
  app: Command,
  ctx: CommandContext,
  controlPlaneOf: (command: Command) => { url: string; token: string; fetch?: typeof fetch },
): void {
  app
    .command('rollout')
    .description(
      "apply the app's migrations as a recorded, coordinated run: backup and connectivity pre-checks, canaries first, each target verified in its transaction before it commits (a byoi_agent tenant: migrated by its agent's migrate job)",
    )
    .requiredOption('--dir <dir>', 'the folder of migrations: 0001_name.sql, 0002_name.sql, …')
    .option(
      '--database-url <url>',
      'the PostgreSQL holding the pool schema and the tenants, as a member of every tenant role (env DATABASE_URL)',
    )
    .option('--pool-schema <schema>', 'the pool schema (env TENANTRY_POOL_SCHEMA, default public)')
    .option('--concurrency <n>', 'targets migrated at once', integerArgument(1, 256), 4)
    .option(
      '--canary <spec>',
      'run these first, and the rest only if all of them succeed: a percentage of the tenants (10%) or tenant ids or slugs (ten_a,acme)',
    )
    .option(
      '--backup-check <cmd>',
      'run per target before anything is applied (sh -c), with TENANTRY_TARGET, TENANTRY_TENANT_ID, TENANTRY_TENANT_SLUG, TENANTRY_TARGET_PLACEMENT, TENANTRY_TARGET_SCHEMA, TENANTRY_TARGET_DATABASE set; exit 0 confirms a recent backup, anything else skips the target (its last stderr line is the reason)',
    )
    .option(
      '--verify-sql <file>',
      "the app's verification query, run in each target's transaction after its migrations (as the tenant's role, its schema first on search_path); its first row's first column must be true, or the target is rolled back",
    )
    .option(
      '--no-schema-check',
      "do not compare each target's tables and columns with the run's first target's",
    )
    .option(
      '--no-byoi',
      "leave out the BYOI tenants (by default each byoi tenant is migrated in its customer's database, with the connection the control plane hands a token holding data-planes:connect, and each byoi_agent tenant by its agent, sent the migrate job with agents:read and agents:write)",
    )
    .option(
      '--agent-timeout <seconds>',
      "how long a byoi_agent tenant's migrate job may take, from when it is sent to its end; an agent that is not connected never takes it, and the tenant fails with agent_timeout",
      integerArgument(1, 7 * 24 * 3600),
      600,
    )
    .option(
      '--dry-run',
      'run every migration and post-check, then roll back: change nothing (the run is recorded)',
    )
    .action(async (options: RolloutOptions, command: Command) => {
      const env = ctx.io.env;
      const databaseUrl = options.databaseUrl ?? (env.DATABASE_URL || undefined);
      if (databaseUrl === undefined)
        throw new CliError('no database to migrate; pass --database-url or set DATABASE_URL');
      const sdk = await import('@tenantry/sdk');
      let canary: ReturnType<typeof sdk.parseCanary> | undefined;
      try {
        canary = options.canary === undefined ? undefined : sdk.parseCanary(options.canary);
      } catch (error) {
        throw new CliError(`--${(error as Error).message}`);
      }
      let verifySql: string | undefined;
      if (options.verifySql !== undefined) {
        try {
          verifySql = await readFile(options.verifySql, 'utf8');
        } catch (error) {
          throw new CliError(
            `--verify-sql ${options.verifySql}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`,
          );
        }
        if (verifySql.trim() === '') throw new CliError(`--verify-sql ${options.verifySql} is empty`);
      }
      const controlPlane = controlPlaneOf(command);
      const out = ctx.output(command);
      const stdoutTty = isTty(ctx.io.stdout);
      const jsonLines = out.json || !stdoutTty;
      const bar =
        isTty(ctx.io.stderr) && !(jsonLines && stdoutTty) ? await stagesBar(ctx.io.stderr) : undefined;
      const onProgress = (event: CoordinatorProgress) => {
        bar?.update(event);
        if (jsonLines && FINAL.has(event.stage))
          ctx.io.stdout.write(
            `${JSON.stringify({ type: 'target', target: event.target.tenantId ?? 'pool', slug: event.target.slug, canary: event.canary, stage: event.stage })}\n`,
          );
      };
      const backupCheck = options.backupCheck;
      let report: CoordinatedReport;
      try {
        report = await sdk.coordinateMigrations({
          migrationsDir: options.dir,
          source: sdk.vendorTargets({
            databaseUrl,
            controlPlane,
            poolSchema: options.poolSchema ?? (env.TENANTRY_POOL_SCHEMA || 'public'),
            concurrency: options.concurrency,
            byoi: options.byoi,
          }),
          controlPlane,
          ...(canary !== undefined ? { canary } : {}),
          ...(backupCheck !== undefined
            ? { backupCheck: (target) => runBackupCheck(backupCheck, target, env) }
            : {}),
          ...(verifySql !== undefined ? { verify: sdk.verifyQuery(verifySql) } : {}),
          schemaCheck: options.schemaCheck,
          dryRun: options.dryRun === true,
          concurrency: options.concurrency,
          agentTimeoutMs: options.agentTimeout * 1000,
          ...(env.TENANTRY_BINDING_KEY ? { bindingKey: env.TENANTRY_BINDING_KEY } : {}),
          onProgress,
        });
      } catch (error) {
        if (error instanceof sdk.CoordinatorInputError || error instanceof sdk.MigrationFolderError)
          throw new CliError(error.message);
        throw error;
      } finally {
        bar?.stop();
      }
      if (jsonLines) ctx.io.stdout.write(`${JSON.stringify(reportLine(report))}\n`);
      else printReport(out, report);
      if (report.recordingError !== null)
        throw new CliError(`the run's record in the control plane is incomplete: ${report.recordingError}`);
      if (report.state === 'failed') {
        const { failed, skipped } = report.counts;
        throw new CliError(
          `${failed} of ${report.targets.length} targets failed, ${skipped} skipped${report.stoppedAtCanary ? ' (a canary failed: the rest were not started)' : ''}`,
        );
      }
    });
}

const FINAL = new Set(['applied', 'verified', 'dry_run', 'failed', 'skipped']);

/**
 * Runs the vendor's backup check for one target: exit 0 confirms. Its environment is the CLI's,
 * less the credentials it has no need of (the control plane's key, the databases' URL, the binding
 * key), plus the target's names.
 */
function runBackupCheck(
  command: string,
  target: MigrationTarget,
  env: Readonly<Record<string, string | undefined>>,
): Promise<BackupConfirmation> {
  const { TENANTRY_TOKEN: _token, DATABASE_URL: _url, TENANTRY_BINDING_KEY: _key, ...rest } = env;
  const childEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries(rest)) if (value !== undefined) childEnv[name] = value;
  Object.assign(childEnv, {
    TENANTRY_TARGET: target.tenantId ?? 'pool',
    TENANTRY_TENANT_ID: target.tenantId ?? '',
    TENANTRY_TENANT_SLUG: target.slug ?? '',
    TENANTRY_TARGET_PLACEMENT: target.placement,
    TENANTRY_TARGET_SCHEMA: target.schema,
    TENANTRY_TARGET_DATABASE: target.database ?? '',
  });
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], {
      env: childEnv,
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: BACKUP_CHECK_TIMEOUT_MS,
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    child.on('error', (error) => resolve({ confirmed: false, reason: `${command}: ${error.message}` }));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve({ confirmed: true });
      const said = stderr.trim().split('\n').at(-1)?.trim().slice(0, 300);
      const how = signal !== null ? `killed by ${signal}` : `exit code ${code}`;
      resolve({ confirmed: false, reason: said ? `${said} (${how})` : `the backup check ended with ${how}` });
    });
  });
}

function reportLine(report: CoordinatedReport) {
  return {
    type: 'report',
    run_id: report.runId,
    state: report.state,
    dry_run: report.dryRun,
    latest_version: report.latestVersion,
    stopped_at_canary: report.stoppedAtCanary,
    counts: report.counts,
    targets: report.targets.map((t) => ({
      target: t.target.tenantId ?? 'pool',
      slug: t.target.slug,
      placement: t.target.placement,
      canary: t.canary,
      stage: t.stage,
      version_before: t.result.fromVersion,
      version_after: t.result.toVersion,
      error: t.result.error,
      post_checks: t.postChecks,
      agent_job: t.agentJob === null ? null : { agent_id: t.agentJob.agentId, job_id: t.agentJob.jobId },
    })),
    duration_ms: report.durationMs,
  };
}

/** The final per-stage summary, then every target that did not end well, with why. */
function printReport(out: Output, report: CoordinatedReport): void {
  const seconds = (report.durationMs / 1000).toFixed(1);
  out.line(
    `run ${report.runId ?? '(not recorded)'}: ${report.state}, ${report.targets.length} targets to version ${report.latestVersion} in ${seconds} s`,
  );
  const stages = Object.entries(report.counts).filter(([, n]) => n > 0);
  out.table(
    stages,
    [
      { header: 'STAGE', value: ([stage]) => stage },
      { header: 'TARGETS', value: ([, n]) => String(n) },
    ],
    '',
  );
  if (report.dryRun) out.line('dry run: every target was rolled back, nothing changed');
  if (report.stoppedAtCanary) out.line('a canary did not succeed: the other targets were not started');
  const byAgents = report.targets.filter((t) => t.postChecks === 'agent').length;
  if (byAgents > 0)
    out.line(
      `${byAgents} byoi_agent ${byAgents === 1 ? 'target was' : 'targets were'} migrated by ${byAgents === 1 ? 'its agent' : 'their agents'}: the schema check and verification query do not run there, only the agent's own checks (checksums, versions)`,
    );
  const bad = report.targets.filter((t) => t.stage === 'failed' || t.stage === 'skipped');
  if (bad.length > 0) {
    out.line();
    out.table(
      bad,
      [
        { header: 'TARGET', value: (t: CoordinatedTarget) => targetName(t) },
        { header: 'STAGE', value: (t) => t.stage },
        { header: 'VERSION', value: (t) => (t.result.toVersion === null ? '-' : String(t.result.toVersion)) },
        { header: 'WHY', value: (t) => t.result.error?.message ?? '' },
      ],
      '',
    );
  }
}

/** A progress bar on stderr: targets finished, and how many are in each final stage. */
async function stagesBar(stderr: Writer) {
  const bar = await progressBar(
    stderr,
    'rollout {bar} {value}/{total} targets | {ok} ok, {failed} failed, {skipped} skipped',
  );
  const counts = { ok: 0, failed: 0, skipped: 0 };
  let started = false;
  return {
    update(event: CoordinatorProgress) {
      if (!started) {
        started = true;
        bar.start(event.total, 0, counts);
      }
      if (!FINAL.has(event.stage)) return;
      if (event.stage === 'failed') counts.failed++;
      else if (event.stage === 'skipped') counts.skipped++;
      else counts.ok++;
      bar.update(event.done, counts);
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}
