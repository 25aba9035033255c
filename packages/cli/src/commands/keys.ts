import type { Command } from 'commander';
import type { CommandContext } from '../command-context.ts';
import { fetchList } from '../fetch-list.ts';
import { formatTime, formatValue } from '../output.ts';

/** An API key as the control plane shows it; `secret` only in the answer that created it. */
interface ApiKey {
  readonly id: string;
  readonly name: string;
  readonly kind: string;
  readonly display_prefix: string;
  readonly created_at: string;
  readonly revoked_at: string | null;
  readonly secret?: string;
}

/** Adds `keys create|list|revoke`: the operator API keys. */
export function keysCommand(parent: Command, ctx: CommandContext): Command {
  const keys = parent.command('keys').description('manage operator API keys');

  keys
    .command('create')
    .description('create an API key and print its secret (shown only once)')
    .requiredOption('--name <name>', 'what the key is for, e.g. "ci"')
    .action(async (options: { name: string }, command: Command) => {
      const key = await ctx.client(command).post<ApiKey>('/v1/api-keys', { name: options.name });
      const out = ctx.output(command);
      out.result(key, () => {
        out.fields([
          ['id', key.id],
          ['name', key.name],
          ['kind', key.kind],
          ['prefix', key.display_prefix],
          ['created', key.created_at],
          ['secret', key.secret ?? '-'],
        ]);
        out.line();
        out.line('Store the secret now: it will not be shown again.');
      });
    });

  keys
    .command('list')
    .description('list API keys (secrets are never shown)')
    .action(async (_options: unknown, command: Command) => {
      // Keys are few: fetch them all rather than make operators page through them.
      const list = await fetchList<ApiKey>(ctx.client(command), '/v1/api-keys', { limit: 100 }, true);
      const out = ctx.output(command);
      out.result(list.raw, () =>
        out.table(
          list.rows,
          [
            { header: 'ID', value: (k) => k.id },
            { header: 'NAME', value: (k) => k.name },
            { header: 'KIND', value: (k) => formatValue(k.kind) },
            { header: 'PREFIX', value: (k) => formatValue(k.display_prefix) },
            { header: 'CREATED', value: (k) => formatTime(k.created_at) },
            { header: 'REVOKED', value: (k) => formatTime(k.revoked_at) },
          ],
          'no API keys',
        ),
      );
    });

  keys
    .command('revoke')
    .description('revoke an API key; requests using it fail from now on')
    .argument('<id>', 'the key id (key_…)')
    .action(async (id: string, _options: unknown, command: Command) => {
      const key = await ctx.client(command).post<ApiKey>(`/v1/api-keys/${encodeURIComponent(id)}/revoke`);
      const out = ctx.output(command);
      out.result(key, () => out.line(`revoked ${key.id} (${key.name})`));
    });

  return keys;
}
