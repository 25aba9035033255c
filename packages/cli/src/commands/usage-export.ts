import { writeFile } from 'node:fs/promises';
import { type Command, InvalidArgumentError } from 'commander';
import { CliError } from '../cli-error.ts';
import type { CommandContext } from '../command-context.ts';
import { formatTime } from '../output.ts';

/** `--to`: an ISO 8601 instant with its zone, so the period ends the same instant everywhere. */
function instantArgument(value: string): Date {
  const text = value.trim();
  if (Number.isNaN(Date.parse(text)) || !/[zZ]|[+-]\d{2}:\d{2}$/.test(text))
    throw new InvalidArgumentError('Expected an ISO 8601 instant with its zone, e.g. 2027-02-01T00:00:00Z.');
  return new Date(text);
}

/**
 * Adds `usage export`: a self-hosted install's next offline usage report, from its state
 * directory, needing no control plane (docs/sdk.md, the self-hosted section).
 */
export function usageExportCommand(usage: Command, ctx: CommandContext): Command {
  return usage
    .command('export')
    .description(
      "write a self-hosted install's next usage report (signed by the install, chained to the previous one) for `tenantry usage import`",
    )
    .requiredOption('--state-dir <dir>', "the install's state directory (the app's stateDirectory)")
    .option(
      '--to <instant>',
      'the end of the period (ISO 8601, not in the future); default now',
      instantArgument,
    )
    .requiredOption('--out <file>', 'where to write the report')
    .action(async (options: { stateDir: string; to?: Date; out: string }, command: Command) => {
      // Loaded by this command alone, as the other commands that need the SDK do: every other
      // command's start would pay for it.
      const { exportUsageReport, StateDirectoryInUseError, UsageExportError } = await import('@tenantry/sdk');
      const report = await exportUsageReport({
        stateDirectory: options.stateDir,
        ...(options.to === undefined ? {} : { to: options.to }),
      }).catch((error: unknown) => {
        if (error instanceof UsageExportError || error instanceof StateDirectoryInUseError)
          throw new CliError(error.message);
        throw error;
      });
      await writeFile(options.out, `${report.token}\n`).catch((error: NodeJS.ErrnoException) => {
        throw new CliError(
          `cannot write ${options.out}: ${error.code ?? error.message}; the report is kept in the state directory, run the same export again (--to ${report.period.to}) to write it`,
        );
      });
      const { token: _token, ...summary } = report;
      const out = ctx.output(command);
      out.result({ ...summary, out: options.out }, () => {
        out.fields([
          ['report', `${report.seq}${report.again ? ' (exported before: the same report again)' : ''}`],
          ['period', `${formatTime(report.period.from)} → ${formatTime(report.period.to)}`],
          ['events', String(report.events)],
          ['digest', report.digest],
          ['written to', options.out],
        ]);
      });
      if (report.remaining > 0) {
        ctx.io.stderr.write(
          `${report.remaining} events before the asked end did not fit in this report: run the export again\n`,
        );
      }
      if (report.late > 0) {
        ctx.io.stderr.write(
          `${report.late} events were recorded with times in periods already exported: no report carries them\n`,
        );
      }
    });
}
