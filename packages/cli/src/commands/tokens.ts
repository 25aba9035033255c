import type { Schemas } from '@tenantry/core/api';
import type { Command } from 'commander';
import type { CommandContext } from '../command-context.ts';
import { integerArgument } from '../integer-argument.ts';
import { formatTime } from '../output.ts';

type SigningKey = Schemas['SigningKey'];

/** The longest life the control plane gives a token, in seconds. */
const MAX_TTL_SECONDS = 3600;

/** Adds `tokens mint`: short-lived access tokens that name a tenant, for the vendor's app. */
export function tokensCommand(parent: Command, ctx: CommandContext): Command {
  const tokens = parent
    .command('tokens')
    .description('mint access tokens that the app verifies with the SDK');

  tokens
    .command('mint')
    .description('mint a short-lived access token naming a tenant, a subject and roles')
    .requiredOption('--tenant <tenant>', 'the tenant id (ten_…) or slug')
    .requiredOption('--subject <subject>', 'the user or service the token acts for')
    .option('--role <role>', 'a role within the tenant (repeat for more)', collect, [])
    .option(
      '--permission <permission>',
      "a permission of the vendor's the token grants, e.g. meetings:write (repeat for more)",
      collect,
      [],
    )
    .option(
      '--ttl <seconds>',
      `seconds until it expires, 60 to ${MAX_TTL_SECONDS} (default 900)`,
      integerArgument(60, MAX_TTL_SECONDS),
    )
    .action(
      async (
        options: { tenant: string; subject: string; role: string[]; permission: string[]; ttl?: number },
        command: Command,
      ) => {
        const token = await ctx.client(command).post('/v1/tenants/{id}/tokens', {
          path: { id: options.tenant },
          body: {
            subject: options.subject,
            roles: options.role,
            permissions: options.permission,
            ...(options.ttl === undefined ? {} : { ttl_seconds: options.ttl }),
          },
        });
        const out = ctx.output(command);
        out.result(token, () => {
          out.fields([
            ['token', token.access_token ?? '-'],
            ['type', token.token_type],
            ['expires', `${formatTime(token.expires_at)} (in ${token.expires_in} s)`],
          ]);
        });
      },
    );

  return tokens;
}

/** Adds `signing-keys list|rotate`: the keys that sign access tokens. */
export function signingKeysCommand(parent: Command, ctx: CommandContext): Command {
  const keys = parent
    .command('signing-keys')
    .description('list and rotate the keys that sign access tokens (published at /.well-known/jwks.json)');

  keys
    .command('list')
    .description('list the signing keys: the next, the active and the retired ones')
    .action(async (_options: unknown, command: Command) => {
      const list = await ctx.client(command).get('/v1/signing-keys');
      const out = ctx.output(command);
      out.result(list, () =>
        out.table(
          list.data,
          [
            { header: 'KID', value: (k) => k.kid },
            { header: 'STATUS', value: (k) => k.status },
            { header: 'PUBLISHED', value: (k) => publication(k) },
            { header: 'CREATED', value: (k) => formatTime(k.created_at) },
            { header: 'ACTIVATED', value: (k) => formatTime(k.activated_at) },
            { header: 'RETIRED', value: (k) => formatTime(k.retired_at) },
          ],
          'no signing keys',
        ),
      );
    });

  keys
    .command('rotate')
    .description('sign with the next key from now on; tokens signed before stay valid until they expire')
    .option('--reason <reason>', 'why, for the audit log')
    .action(async (options: { reason?: string }, command: Command) => {
      const rotation = await ctx.client(command).post('/v1/signing-keys/rotate', {
        body: options.reason === undefined ? {} : { reason: options.reason },
      });
      const out = ctx.output(command);
      out.result(rotation, () => {
        out.line(`signing with ${rotation.active.kid} from now on`);
        out.line(
          `retired ${rotation.retired.kid}; it stays published until ${formatTime(rotation.retired.published_until)}`,
        );
        out.line(`published ${rotation.next.kid} as the next key`);
      });
    });

  return keys;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function publication(key: SigningKey): string {
  if (!key.published) return 'no';
  return key.published_until === null ? 'yes' : `until ${formatTime(key.published_until)}`;
}
