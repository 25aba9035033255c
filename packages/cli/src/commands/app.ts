import type { FleetProgress, FleetReport, TargetResult } from '@tenantry/sdk';
import type { Command } from 'commander';
import { CliError } from '../cli-error.ts';
import type { CommandContext } from '../command-context.ts';
import { integerArgument } from '../integer-argument.ts';
import type { Output, Writer } from '../output.ts';
import { progressBar } from '../progress-bar.ts';
import { bindingKeyCommand } from './app-binding-key.ts';
import { rolloutCommand } from './app-rollout.ts';

interface MigrateOptions {
  readonly dir: string;
  readonly databaseUrl?: string;
  readonly poolSchema?: string;
  readonly concurrency: number;
  readonly dryRun?: boolean;
  readonly keepGoing?: boolean;
  readonly poolOnly?: boolean;
}

/**
 * Adds `app migrate`, `app rollout` and `app binding-key`: the vendor app's SQL migrations, applied
 * across the fleet, and a BYOI tenant's own binding key for its agent.
 */
export function appCommand(parent: Command, ctx: CommandContext): Command {
  const app = parent.command('app').description("the vendor app's own database, across every tenant");

  app
    .command('migrate')
    .description(
      "apply the app's SQL migrations to the pool schema and to every schema and database tenant, each in one transaction",
    )
    .requiredOption('--dir <dir>', 'the folder of migrations: 0001_name.sql, 0002_name.sql, …')
    .option(
      '--database-url <url>',
      'the PostgreSQL holding the pool schema and the tenants, as a member of every tenant role (env DATABASE_URL)',
    )
    .option('--pool-schema <schema>', 'the pool schema (env TENANTRY_POOL_SCHEMA, default public)')
    .option('--concurrency <n>', 'targets migrated at once', integerArgument(1, 256), 4)
    .option(
      '--dry-run',
      'run every pending migration and roll it back: report what would apply, change nothing',
    )
    .option('--keep-going', 'go on after a target fails (default: start no further target)')
    .option(
      '--pool-only',
      'no control plane: migrate the pool schema only and install the tenant binding there (a self-hosted app on a license)',
    )
    .action(async (options: MigrateOptions, command: Command) => {
      const env = ctx.io.env;
      const databaseUrl = options.databaseUrl ?? (env.DATABASE_URL || undefined);
      if (databaseUrl === undefined)
        throw new CliError('no database to migrate; pass --database-url or set DATABASE_URL');
      // With no control plane nobody else installs the binding the pool tables' policies call.
      if (options.poolOnly && !env.TENANTRY_BINDING_KEY)
        throw new CliError(
          '--pool-only installs the tenant binding the app runs with: set TENANTRY_BINDING_KEY (e.g. `openssl rand -hex 32`), the key the app gets too',
        );
      // Checks the token and URL the way every command does; the SDK makes its own client.
      const controlPlane = options.poolOnly ? null : controlPlaneOf(command);
      const out = ctx.output(command);
      const stdoutTty = isTty(ctx.io.stdout);
      // JSON lines for machines (a pipe, a file, --json); text for people at a terminal.
      const jsonLines = out.json || !stdoutTty;
      const bar =
        isTty(ctx.io.stderr) && !(jsonLines && stdoutTty) ? await targetsBar(ctx.io.stderr) : undefined;
      const onProgress = (event: FleetProgress) => {
        if (event.type !== 'finished') return;
        bar?.update(event);
        if (jsonLines) ctx.io.stdout.write(`${JSON.stringify(targetLine(event.result))}\n`);
      };
      // Loaded on demand: the other commands need neither the SDK nor pg.
      const { migrateFleet } = await import('@tenantry/sdk');
      let report: FleetReport;
      try {
        report = await migrateFleet({
          migrationsDir: options.dir,
          databaseUrl,
          controlPlane,
          poolSchema: options.poolSchema ?? (env.TENANTRY_POOL_SCHEMA || 'public'),
          concurrency: options.concurrency,
          dryRun: options.dryRun === true,
          keepGoing: options.keepGoing === true,
          ...(env.TENANTRY_BINDING_KEY ? { bindingKey: env.TENANTRY_BINDING_KEY } : {}),
          onProgress,
        });
      } finally {
        bar?.stop();
      }
      if (jsonLines) ctx.io.stdout.write(`${JSON.stringify(reportLine(report))}\n`);
      else printReport(out, report);
      if (report.failed > 0) {
        // Scripts must notice: exit code 2, after the report.
        throw new CliError(
          `${report.failed} of ${report.targets} targets failed${report.skipped > 0 ? `, ${report.skipped} not started` : ''}`,
        );
      }
    });

  rolloutCommand(app, ctx, controlPlaneOf);
  bindingKeyCommand(app, ctx);

  return app;

  function controlPlaneOf(command: Command) {
    const api = ctx.client(command);
    const token = ctx.options(command).token ?? ctx.io.env.TENANTRY_TOKEN ?? '';
    return { url: api.baseUrl, token, ...(ctx.io.fetch ? { fetch: ctx.io.fetch } : {}) };
  }
}

export function isTty(writer: Writer): boolean {
  return (writer as { isTTY?: boolean }).isTTY === true;
}

/** Who a target is, for people: `acme (ten_…)`, or `pool (public)`. */
export function targetName({ target }: Pick<TargetResult, 'target'>): string {
  if (target.tenantId === null) return `pool (${target.schema})`;
  return target.slug === null ? target.tenantId : `${target.slug} (${target.tenantId})`;
}

/** One JSON line per target, in the API's snake_case. */
function targetLine(result: TargetResult) {
  const { target } = result;
  return {
    type: 'target',
    target: target.tenantId ?? 'pool',
    slug: target.slug,
    placement: target.placement,
    schema: target.schema,
    database: target.database,
    status: result.status,
    dry_run: result.dryRun,
    from_version: result.fromVersion,
    to_version: result.toVersion,
    applied: result.applied.map((a) => ({ version: a.version, name: a.name, duration_ms: a.durationMs })),
    error: result.error,
    duration_ms: result.durationMs,
  };
}

function reportLine(report: FleetReport) {
  return {
    type: 'report',
    dry_run: report.dryRun,
    migrations: report.migrations,
    latest_version: report.latestVersion,
    targets: report.targets,
    applied: report.applied,
    up_to_date: report.upToDate,
    failed: report.failed,
    skipped: report.skipped,
    migrations_applied: report.migrationsApplied,
    duration_ms: report.durationMs,
  };
}

function printReport(out: Output, report: FleetReport): void {
  const seconds = (report.durationMs / 1000).toFixed(1);
  const verb = report.dryRun ? 'would apply' : 'applied';
  out.line(
    `${report.targets} targets, latest version ${report.latestVersion}, in ${seconds} s: ` +
      `${report.applied} ${verb} (${report.migrationsApplied} migrations), ${report.upToDate} up to date, ` +
      `${report.failed} failed, ${report.skipped} skipped`,
  );
  if (report.dryRun) out.line('dry run: every migration was rolled back, nothing changed');
  const failed = report.results.filter((r) => r.status === 'failed');
  if (failed.length > 0) {
    out.line();
    out.table(
      failed,
      [
        { header: 'FAILED', value: targetName },
        { header: 'VERSION', value: (r) => (r.fromVersion === null ? '-' : String(r.fromVersion)) },
        { header: 'ERROR', value: (r) => r.error?.message ?? '' },
      ],
      '',
    );
  }
  if (report.skipped > 0) {
    out.line();
    out.line(
      `${report.skipped} targets were not started after the first failure; fix it and run again (or pass --keep-going)`,
    );
  }
}

/** A progress bar on stderr, counting targets. */
async function targetsBar(stderr: Writer) {
  const bar = await progressBar(
    stderr,
    'migrating {bar} {value}/{total} targets | {applied} applied, {failed} failed, {skipped} skipped',
  );
  const counts = { applied: 0, failed: 0, skipped: 0 };
  let started = false;
  return {
    update(event: Extract<FleetProgress, { type: 'finished' }>) {
      if (event.result.status === 'applied') counts.applied++;
      else if (event.result.status === 'failed') counts.failed++;
      else if (event.result.status === 'skipped') counts.skipped++;
      if (!started) {
        started = true;
        bar.start(event.total, 0, counts);
      }
      bar.update(event.done, counts);
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}
