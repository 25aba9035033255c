import { Command, CommanderError } from 'commander';
import packageJson from '../package.json' with { type: 'json' };
import { type CliIo, CommandContext, DEFAULT_URL } from './command-context.ts';
import {
  accessCommand,
  agentCommand,
  apiCommand,
  appCommand,
  auditCommand,
  bundleCommand,
  clockCommand,
  invoicesCommand,
  keysCommand,
  licenseCommand,
  membersCommand,
  migrateCommand,
  oidcClientsCommand,
  plansCommand,
  secretsCommand,
  serveCommand,
  signingKeysCommand,
  supportBundleCommand,
  tenantKeysCommand,
  tenantsCommand,
  tokensCommand,
  usageCommand,
} from './commands/index.ts';
import { errorLines } from './error-lines.ts';

/** The exit code of every failure: bad arguments, API problems, an unreachable server. */
export const EXIT_FAILURE = 2;

/**
 * Builds the `tenantry` program. Commander is told never to exit or print errors itself: it
 * throws {@link CommanderError}s, which {@link runCli} prints as one line with exit code 2.
 */
export function buildProgram(io: CliIo): Command {
  const ctx = new CommandContext(io);
  const program = new Command('tenantry')
    .description('Tenantry control plane: tenants, plans, entitlements and API keys')
    .version(packageJson.version, '-V, --version')
    .option('--url <url>', `control plane URL (env TENANTRY_URL, default ${DEFAULT_URL})`)
    .option('--token <token>', 'API token (env TENANTRY_TOKEN)')
    .option('--json', "print the API's JSON instead of text")
    // Set before the subcommands are added: commander copies these settings into each of them.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      // Only reached by help shown because a subcommand is missing; runCli prints one line instead.
      writeErr: () => {},
      outputError: () => {},
    })
    .showSuggestionAfterError(true);

  serveCommand(program, ctx);
  agentCommand(program, ctx);
  migrateCommand(program, ctx);
  keysCommand(program, ctx);
  plansCommand(program, ctx);
  accessCommand(program, ctx);
  tenantsCommand(program, ctx);
  membersCommand(program, ctx);
  tenantKeysCommand(program, ctx);
  usageCommand(program, ctx);
  invoicesCommand(program, ctx);
  clockCommand(program, ctx);
  tokensCommand(program, ctx);
  signingKeysCommand(program, ctx);
  appCommand(program, ctx);
  auditCommand(program, ctx);
  licenseCommand(program, ctx);
  secretsCommand(program, ctx);
  oidcClientsCommand(program, ctx);
  supportBundleCommand(program, ctx);
  bundleCommand(program, ctx);
  apiCommand(program, ctx);
  return program;
}

/**
 * Runs the CLI on `argv` (the arguments after the executable and script) and resolves to the
 * process's exit code. Every failure is reported on `io.stderr`; nothing throws.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end parsing with a CommanderError too, but they are successes.
      if (error.exitCode === 0) return 0;
      if (error.code === 'commander.help') {
        io.stderr.write(`error: missing command; see '${missingCommandOf(program, argv)} --help'\n`);
        return EXIT_FAILURE;
      }
    }
    for (const line of errorLines(error)) io.stderr.write(`${line}\n`);
    return EXIT_FAILURE;
  }
}

/** The deepest command named in `argv`, e.g. `tenantry tenants`, for the missing-subcommand hint. */
function missingCommandOf(program: Command, argv: readonly string[]): string {
  const path = [program.name()];
  let command = program;
  for (const arg of argv) {
    const sub = command.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (sub === undefined) continue;
    path.push(sub.name());
    command = sub;
  }
  return path.join(' ');
}
