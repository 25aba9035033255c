import type { Command } from 'commander';
import { CliError } from '../cli-error.ts';
import type { CommandContext } from '../command-context.ts';

const PINO_LEVELS = { info: 30, warn: 40, error: 50 } as const;

/**
 * Adds `agent`: runs the outbound agent in this process until SIGINT or SIGTERM, or until the
 * control plane refuses it for good (docs/agent.md). Logs JSON lines on stdout, pino's shape;
 * the credential, the enrolment token and the database password never appear in them.
 */
export function agentCommand(parent: Command, ctx: CommandContext): Command {
  return parent
    .command('agent')
    .description(
      "run the outbound agent: dials out to the control plane (--url) and runs its jobs on the customer's database (docs/agent.md)",
    )
    .option(
      '--credential-file <path>',
      'where the agent keeps its credential, mode 0600 (env TENANTRY_AGENT_CREDENTIAL_FILE, default ./tenantry-agent.json)',
    )
    .option('--database-url <url>', "the customer's database (env TENANTRY_AGENT_DATABASE_URL)")
    .option(
      '--allow <types>',
      'comma-separated job types the agent may run; default all (env TENANTRY_AGENT_ALLOW)',
    )
    .option(
      '--migrations <dir>',
      "the vendor's SQL migrations folder, for provision and migrate (env TENANTRY_AGENT_MIGRATIONS)",
    )
    .option(
      '--ca <file>',
      'extra CA certificate (PEM) to verify a wss:// control plane with (env TENANTRY_AGENT_CA)',
    )
    .addHelpText(
      'after',
      '\nThe control plane comes from --url (env TENANTRY_AGENT_URL, then TENANTRY_URL); the one-time enrolment\n' +
        'token from --token or TENANTRY_AGENT_TOKEN, needed only until the credential file exists.',
    )
    .action(
      async (
        flags: {
          credentialFile?: string;
          databaseUrl?: string;
          allow?: string;
          migrations?: string;
          ca?: string;
        },
        command: Command,
      ) => {
        const env = ctx.io.env;
        const globals = ctx.options(command);
        const url = globals.url ?? (env.TENANTRY_AGENT_URL || undefined) ?? (env.TENANTRY_URL || undefined);
        if (url === undefined)
          throw new CliError('no control plane URL; pass --url or set TENANTRY_AGENT_URL');
        if (!URL.canParse(url)) throw new CliError(`not a URL: ${url}`);
        const databaseUrl = flags.databaseUrl ?? (env.TENANTRY_AGENT_DATABASE_URL || undefined);
        if (databaseUrl === undefined)
          throw new CliError('no customer database; pass --database-url or set TENANTRY_AGENT_DATABASE_URL');
        const allowText = flags.allow ?? (env.TENANTRY_AGENT_ALLOW || undefined);
        const caFile = flags.ca ?? (env.TENANTRY_AGENT_CA || undefined);
        // Loaded on demand: only this command needs the agent, pg and ws.
        const { Agent, BUILT_IN_JOB_TYPES, connectUrl } = await import('@tenantry/agent');
        try {
          connectUrl(url);
        } catch (error) {
          throw new CliError(error instanceof Error ? error.message : String(error));
        }
        const known = BUILT_IN_JOB_TYPES.map((type) => type.type);
        const allow = allowText
          ?.split(',')
          .map((type) => type.trim())
          .filter((type) => type !== '');
        const unknown = allow?.filter((type) => !known.includes(type)) ?? [];
        if (unknown.length > 0)
          throw new CliError(
            `--allow names job types the agent does not have: ${unknown.join(', ')} (it has ${known.join(', ')})`,
          );
        let ca: string | undefined;
        if (caFile !== undefined) {
          const { readFile } = await import('node:fs/promises');
          try {
            ca = await readFile(caFile, 'utf8');
          } catch (error) {
            throw new CliError(
              `cannot read --ca ${caFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
            );
          }
        }
        const line =
          (level: keyof typeof PINO_LEVELS) =>
          (fields: Record<string, unknown>, msg: string): void => {
            ctx.io.stdout.write(
              `${JSON.stringify({ level: PINO_LEVELS[level], time: Date.now(), ...fields, msg })}\n`,
            );
          };
        const agent = new Agent({
          url,
          token: globals.token ?? (env.TENANTRY_AGENT_TOKEN || undefined),
          credentialFile:
            flags.credentialFile ??
            (env.TENANTRY_AGENT_CREDENTIAL_FILE || undefined) ??
            'tenantry-agent.json',
          databaseUrl,
          allow,
          migrationsDir: flags.migrations ?? (env.TENANTRY_AGENT_MIGRATIONS || undefined),
          ca,
          log: { info: line('info'), warn: line('warn'), error: line('error') },
        });
        agent.start();
        const stop = (): void => {
          void agent.stop();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          await agent.done;
        } catch (error) {
          throw new CliError(error instanceof Error ? error.message : String(error));
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      },
    );
}
