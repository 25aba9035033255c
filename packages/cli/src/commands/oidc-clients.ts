import { type Command, InvalidArgumentError, Option } from 'commander';
import { CliError } from '../cli-error.ts';
import type { CommandContext } from '../command-context.ts';
import { fetchList } from '../fetch-list.ts';
import { formatTime } from '../output.ts';

/** `--redirect-uri`, repeatable: collected in order. */
function redirectUriArgument(value: string, previous: string[]): string[] {
  if (value.trim().length === 0) throw new InvalidArgumentError('Expected a URL.');
  return [...previous, value.trim()];
}

/** Adds `oidc-clients create|list|delete`: the vendor's apps registered with Tenantry's OpenID provider. */
export function oidcClientsCommand(parent: Command, ctx: CommandContext): Command {
  const clients = parent
    .command('oidc-clients')
    .description("register the vendor's apps as OpenID clients of Tenantry (docs/oidc.md)");

  clients
    .command('create')
    .description('register an app; a confidential client gets a secret, printed only once')
    .requiredOption('--name <name>', 'the app, as users see it, e.g. "Minutes"')
    .option(
      '--redirect-uri <url>',
      'where the provider sends users back, matched exactly: https, or http on localhost (repeat for more)',
      redirectUriArgument,
      [],
    )
    .addOption(
      new Option('--kind <kind>', 'confidential (a server with a secret) or public (a SPA or native app)')
        .choices(['confidential', 'public'])
        .default('confidential'),
    )
    .action(
      async (
        options: { name: string; redirectUri: string[]; kind: 'confidential' | 'public' },
        command: Command,
      ) => {
        // Repeatable with an empty start, so commander cannot require it: checked here.
        if (options.redirectUri.length === 0) throw new CliError('give at least one --redirect-uri');
        const created = await ctx.client(command).post('/v1/oidc-clients', {
          body: { name: options.name, redirect_uris: options.redirectUri, kind: options.kind },
        });
        const out = ctx.output(command);
        out.result(created, () => {
          out.fields([
            ['client_id', created.id],
            ['name', created.name],
            ['kind', created.kind],
            ['redirect', created.redirect_uris.join(' ')],
            ['created', created.created_at],
            ['secret', created.client_secret ?? '- (public client: PKCE only)'],
          ]);
          if (created.client_secret !== null) {
            out.line();
            out.line('Store the secret now: it will not be shown again.');
          }
        });
      },
    );

  clients
    .command('list')
    .description('list the registered clients (secrets are never shown)')
    .action(async (_options: unknown, command: Command) => {
      // Few clients: every page at once.
      const list = await fetchList(ctx.client(command), '/v1/oidc-clients', {}, true);
      const out = ctx.output(command);
      out.result(list.raw, () =>
        out.table(
          list.rows,
          [
            { header: 'CLIENT_ID', value: (c) => c.id },
            { header: 'NAME', value: (c) => c.name },
            { header: 'KIND', value: (c) => c.kind },
            { header: 'REDIRECT URIS', value: (c) => c.redirect_uris.join(' ') },
            { header: 'CREATED', value: (c) => formatTime(c.created_at) },
          ],
          'no OpenID clients',
        ),
      );
    });

  clients
    .command('delete')
    .description("delete a client: its grants and refresh tokens go with it, the app's users sign in again")
    .argument('<id>', 'the client id (cli_…)')
    .action(async (id: string, _options: unknown, command: Command) => {
      const deleted = await ctx.client(command).delete('/v1/oidc-clients/{id}', { path: { id } });
      const out = ctx.output(command);
      out.result(deleted, () => out.line(`deleted ${deleted.id} (${deleted.name})`));
    });

  return clients;
}
