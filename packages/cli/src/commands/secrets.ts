import type { Schemas } from '@tenantry/core/api';
import type { Command } from 'commander';
import { CliError } from '../cli-error.ts';
import type { CommandContext, Stdin } from '../command-context.ts';
import { fetchList, notePageLeft, type PageFlags, withPageFlags } from '../fetch-list.ts';
import { formatTime, type Output } from '../output.ts';

type TenantSecret = Schemas['TenantSecret'];

/** Refuses reading more than this from stdin: the control plane takes 16 KiB, so this is plenty. */
const MAX_STDIN_BYTES = 64 * 1024;

/**
 * The value piped in on stdin, less one trailing line break (what `echo` and editors add; a key
 * never ends with one). Refused when stdin is a terminal or empty: the value is never taken from
 * the command line, where `ps` shows it to every user of the machine and the shell keeps it in
 * its history.
 */
async function valueFromStdin(stdin: Stdin | undefined): Promise<string> {
  const how = 'pipe the value on stdin, e.g. `tenantry secrets set acme openai.api_key < key.txt`';
  if (stdin === undefined || stdin.isTTY === true)
    throw new CliError(`${how}; it is never taken from the command line, where other users could see it`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk);
    size += bytes.length;
    if (size > MAX_STDIN_BYTES)
      throw new CliError('the value on stdin is over 64 KiB; a secret holds at most 16 KiB');
    chunks.push(bytes);
  }
  const value = Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
  if (value.length === 0) throw new CliError(`nothing on stdin: ${how}`);
  return value;
}

function show(out: Output, secret: TenantSecret): void {
  out.fields([
    ['tenant', secret.tenant_id],
    ['name', secret.name],
    ['version', String(secret.version)],
    ['created', secret.created_at],
    ['rotated', secret.rotated_at ?? undefined],
  ]);
}

/** Adds `secrets set|list|delete`: tenants' own provider keys (docs/tenant-secrets.md). */
export function secretsCommand(parent: Command, ctx: CommandContext): Command {
  const secrets = parent
    .command('secrets')
    .description(
      "tenants' own provider keys (bring your own key); values are write-only (docs/tenant-secrets.md)",
    );

  secrets
    .command('set')
    .description(
      'set a secret from stdin: create it, or rotate it to a new version (the previous value is destroyed)',
    )
    .argument('<tenant>', 'tenant id (ten_…) or slug')
    .argument('<name>', "the secret's name, e.g. openai.api_key")
    .action(async (tenant: string, name: string, _options: unknown, command: Command) => {
      const client = ctx.client(command);
      const value = await valueFromStdin(ctx.io.stdin);
      const set = await client.put('/v1/tenants/{id}/secrets/{name}', {
        path: { id: tenant, name },
        body: { value },
      });
      const out = ctx.output(command);
      out.result(set, () => {
        out.line(set.version === 1 ? `set ${set.name}` : `rotated ${set.name} to version ${set.version}`);
        show(out, set);
      });
    });

  withPageFlags(
    secrets
      .command('list')
      .description("list a tenant's secrets: names, versions and times (never values)")
      .argument('<tenant>', 'tenant id (ten_…) or slug'),
  ).action(async (tenant: string, options: PageFlags, command: Command) => {
    const list = await fetchList(
      ctx.client(command),
      '/v1/tenants/{id}/secrets',
      {
        path: { id: tenant },
        query: {
          ...(options.limit === undefined ? {} : { limit: options.limit }),
          ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
        },
      },
      options.all === true,
    );
    const out = ctx.output(command);
    out.result(list.raw, () =>
      out.table(
        list.rows,
        [
          { header: 'NAME', value: (s) => s.name },
          { header: 'VERSION', value: (s) => String(s.version) },
          { header: 'CREATED', value: (s) => formatTime(s.created_at) },
          { header: 'ROTATED', value: (s) => formatTime(s.rotated_at) },
        ],
        'no secrets',
      ),
    );
    notePageLeft(ctx.io.stderr, 'secrets', list);
  });

  secrets
    .command('delete')
    .description("delete a tenant's secret")
    .argument('<tenant>', 'tenant id (ten_…) or slug')
    .argument('<name>', "the secret's name")
    .action(async (tenant: string, name: string, _options: unknown, command: Command) => {
      const deleted = await ctx.client(command).delete('/v1/tenants/{id}/secrets/{name}', {
        path: { id: tenant, name },
      });
      const out = ctx.output(command);
      out.result(deleted, () => out.line(`deleted ${deleted.name} of ${deleted.tenant_id}`));
    });

  return secrets;
}
