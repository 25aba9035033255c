import type { Command } from 'commander';
import { CliError } from '../cli-error.ts';
import type { CommandContext } from '../command-context.ts';

/** Adds `migrate`: brings the control plane's database schema up to date, then exits. */
export function migrateCommand(parent: Command, ctx: CommandContext): Command {
  return parent
    .command('migrate')
    .description(
      "apply pending migrations to the control plane's database (DATABASE_URL or the data directory)",
    )
    .action(async (_options: unknown, command: Command) => {
      // Loaded on demand, as in `serve`: only these two commands need the server's code.
      const { loadConfig, migrateDatabase } = await import('@tenantry/server');
      const config = loadConfig(ctx.io.env);
      if (!config.ok) throw new CliError(config.error);
      const applied = await migrateDatabase(config.value);
      const out = ctx.output(command);
      out.result({ applied }, () => {
        if (applied.length === 0) out.line('database is up to date');
        for (const name of applied) out.line(`applied ${name}`);
      });
    });
}
