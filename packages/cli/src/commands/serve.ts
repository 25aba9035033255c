import type { Command } from 'commander';
import { CliError } from '../cli-error.ts';
import type { CommandContext } from '../command-context.ts';

/** Adds `serve`: runs the control plane in this process until SIGINT or SIGTERM. */
export function serveCommand(parent: Command, ctx: CommandContext): Command {
  return parent
    .command('serve')
    .description('run the control plane (configured by DATABASE_URL, PORT, TENANTRY_* variables)')
    .action(async () => {
      // Loaded on demand: the server pulls in Fastify and Postgres drivers, which every other
      // command (a thin HTTP client) should not pay for at start-up.
      const { loadConfig, startServer } = await import('@tenantry/server');
      const config = loadConfig(ctx.io.env);
      if (!config.ok) throw new CliError(config.error);
      let server: Awaited<ReturnType<typeof startServer>>;
      try {
        server = await startServer(config.value);
      } catch (error) {
        // Schema too new, port in use: the operator needs the reason, not a stack trace.
        throw new CliError(error instanceof Error ? error.message : String(error));
      }
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        const stop = (received: NodeJS.Signals): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve(received);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      ctx.io.stderr.write(`received ${signal}; shutting down (send it again to stop at once)\n`);
      // A second signal means the operator will not wait for in-flight requests to finish.
      const force = (): never => process.exit(130);
      process.once('SIGINT', force);
      process.once('SIGTERM', force);
      await server.close();
      process.off('SIGINT', force);
      process.off('SIGTERM', force);
    });
}
