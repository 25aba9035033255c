import type { Schemas } from '@tenantry/core/api';
import type { Command } from 'commander';
import { ApiError } from '../api-client.ts';
import type { CommandContext } from '../command-context.ts';
import { formatTime, formatValue } from '../output.ts';
import { readSource } from './plans.ts';

type ApplyResult = Schemas['AccessApplyResult'];

/** Adds `access apply|show`: the vendor's permission catalogue and built-in roles, as code. */
export function accessCommand(parent: Command, ctx: CommandContext): Command {
  const access = parent
    .command('access')
    .description("define and inspect the vendor's permissions and what each built-in role holds");

  access
    .command('apply')
    .description('apply an access file (YAML or JSON); a changed file becomes a new version')
    .argument('<file>', 'the access file')
    .option('--dry-run', 'show what would change without storing anything')
    .action(async (file: string, options: { dryRun?: boolean }, command: Command) => {
      const source = await readSource(file);
      let result: ApplyResult;
      try {
        result = await ctx.client(command).put('/v1/access', {
          body: { source, filename: file, dry_run: options.dryRun === true },
        });
      } catch (error) {
        // The server knows lines and columns; only the CLI knows which local file they are in.
        throw error instanceof ApiError ? error.withFile(file) : error;
      }
      const out = ctx.output(command);
      out.result(result, () => {
        if (result.change === 'unchanged') out.line(`unchanged v${result.version}`);
        else {
          const from = result.previous_version === null ? '' : `v${result.previous_version} → `;
          out.line(`${result.dry_run ? 'would apply' : 'applied'} ${from}v${result.version}`);
        }
        if (result.dry_run) out.line('dry run: nothing was stored');
      });
    });

  access
    .command('show')
    .description('show the access file in force: permissions, and the roles that hold each')
    .action(async (_options: unknown, command: Command) => {
      const shown = await ctx.client(command).get('/v1/access');
      const out = ctx.output(command);
      out.result(shown, () => {
        out.fields([
          ['version', shown.version === 0 ? 'none applied' : `v${shown.version}`],
          ['applied', formatValue(shown.created_at === null ? null : formatTime(shown.created_at))],
        ]);
        out.line();
        const permissions = Object.entries(shown.permissions);
        out.table(
          permissions,
          [
            { header: 'PERMISSION', value: ([name]) => name },
            {
              header: 'ROLES',
              value: ([name]) =>
                Object.entries(shown.roles)
                  .filter(([, held]) => held.includes(name))
                  .map(([role]) => role)
                  .join(', '),
            },
            { header: 'DESCRIPTION', value: ([, description]) => description },
          ],
          'no permissions; define them with: tenantry access apply <file>',
        );
      });
    });

  return access;
}
