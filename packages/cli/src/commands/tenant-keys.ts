import { MAX_KEY_PERMISSIONS, PERMISSION_PATTERN, parseTenantKey } from '@tenantry/core';
import type { RequestBody, Schemas } from '@tenantry/core/api';
import { type Command, InvalidArgumentError } from 'commander';
import { CliError } from '../cli-error.ts';
import type { CommandContext } from '../command-context.ts';
import { fetchList, notePageLeft, type PageFlags, withPageFlags } from '../fetch-list.ts';
import { formatTime, type Output } from '../output.ts';

type TenantKey = Schemas['TenantApiKey'];
/** A key with its secret, as the answer that created or rolled it shows it (once). */
type CreatedTenantKey = Schemas['CreatedTenantApiKey'];
type CreateBody = RequestBody<'/v1/tenants/{id}/api-keys', 'post'>;

/** The longest roll overlap the control plane takes, in seconds (30 days). */
const MAX_OVERLAP_SECONDS = 30 * 86_400;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `--overlap`: `0`, or a whole number with a unit, e.g. `90s`, `30m`, `24h`, `7d`. */
function overlapArgument(value: string): number {
  const match = /^(\d+)([smhd])$/.exec(value.trim()) ?? (value.trim() === '0' ? ['0', '0', 's'] : null);
  const seconds = match ? Number(match[1]) * (UNIT_SECONDS[match[2] ?? 's'] ?? 1) : Number.NaN;
  if (!Number.isSafeInteger(seconds) || seconds > MAX_OVERLAP_SECONDS)
    throw new InvalidArgumentError('Expected 0 or a duration up to 30d, e.g. 30m, 24h, 7d.');
  return seconds;
}

/** `--permission`: one of the vendor's permissions, `resource:action`; repeatable. */
function permissionArgument(value: string, previous: string[] | undefined = []): string[] {
  if (!PERMISSION_PATTERN.test(value))
    throw new InvalidArgumentError('Expected a permission of the form resource:action, e.g. meetings:write.');
  if (previous.length >= MAX_KEY_PERMISSIONS)
    throw new InvalidArgumentError(`A key carries at most ${MAX_KEY_PERMISSIONS} permissions.`);
  return [...previous, value];
}

/** `--expires`: a date (`2027-12-31`, its start in UTC) or an ISO 8601 instant with its offset. */
function expiresArgument(value: string): NonNullable<CreateBody['expires_at']> {
  const text = value.trim();
  const instant = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text;
  if (Number.isNaN(Date.parse(instant)) || !/[zZ]|[+-]\d{2}:\d{2}$/.test(instant))
    throw new InvalidArgumentError('Expected a date (2027-12-31) or an ISO 8601 instant.');
  return instant;
}

function printCreated(out: Output, key: CreatedTenantKey, heading?: string): void {
  out.result(key, () => {
    if (heading) out.line(heading);
    out.fields([
      ['id', key.id],
      ['tenant', key.tenant_id],
      ['name', key.name],
      ['permissions', key.permissions.join(' ')],
      ['expires', formatTime(key.expires_at)],
      ['key', key.secret ?? '-'],
    ]);
    out.line();
    out.line('Give the key to the customer now: it will not be shown again.');
  });
}

/** Adds `tenant-keys create|list|roll|revoke|verify-format`: API keys of tenants for the vendor's API. */
export function tenantKeysCommand(parent: Command, ctx: CommandContext): Command {
  const keys = parent
    .command('tenant-keys')
    .description("manage tenants' API keys for the vendor's own API (docs/tenant-api-keys.md)");

  keys
    .command('create')
    .description('create an API key for a tenant and print it (shown only once)')
    .argument('<tenant>', 'the tenant id (ten_…) or slug')
    .requiredOption('--name <name>', 'what the key is for, e.g. "ci"')
    .requiredOption(
      '--permission <permission>',
      "one of the vendor's permissions the key carries, resource:action (repeat for more)",
      permissionArgument,
    )
    .option(
      '--expires <when>',
      'when the key stops working: a date or an ISO 8601 instant (default never)',
      expiresArgument,
    )
    .action(
      async (
        tenant: string,
        options: { name: string; permission: string[]; expires?: string },
        command: Command,
      ) => {
        const key = await ctx.client(command).post('/v1/tenants/{id}/api-keys', {
          path: { id: tenant },
          body: {
            name: options.name,
            permissions: options.permission,
            ...(options.expires === undefined ? {} : { expires_at: options.expires }),
          },
        });
        printCreated(ctx.output(command), key);
      },
    );

  withPageFlags(
    keys
      .command('list')
      .description(
        "list a tenant's API keys, newest first (keys are never shown, only their last four characters)",
      )
      .argument('<tenant>', 'the tenant id (ten_…) or slug'),
  ).action(async (tenant: string, options: PageFlags, command: Command) => {
    const list = await fetchList(
      ctx.client(command),
      '/v1/tenants/{id}/api-keys',
      { path: { id: tenant }, query: { limit: options.limit, cursor: options.cursor } },
      options.all === true,
    );
    const out = ctx.output(command);
    out.result(list.raw, () => {
      out.table(
        list.rows,
        [
          { header: 'ID', value: (k: TenantKey) => k.id },
          { header: 'NAME', value: (k: TenantKey) => k.name },
          { header: 'KEY', value: (k: TenantKey) => `${k.prefix}…${k.last_four}` },
          { header: 'PERMISSIONS', value: (k: TenantKey) => k.permissions.join(' ') },
          { header: 'LAST USED', value: (k: TenantKey) => formatTime(k.last_used_at) },
          { header: 'EXPIRES', value: (k: TenantKey) => formatTime(k.expires_at) },
          { header: 'REVOKED', value: (k: TenantKey) => formatTime(k.revoked_at) },
        ],
        'no API keys',
      );
      notePageLeft(ctx.io.stderr, 'keys', list);
    });
  });

  keys
    .command('roll')
    .description(
      'give a key a successor with the same permissions; the old key keeps working for the overlap',
    )
    .argument('<tenant>', 'the tenant id (ten_…) or slug')
    .argument('<key>', 'the key id (tak_…)')
    .option(
      '--overlap <duration>',
      'how long the old key keeps working: 0, 30m, 24h, up to 30d (default 24h)',
      overlapArgument,
    )
    .action(async (tenant: string, id: string, options: { overlap?: number }, command: Command) => {
      const key = await ctx.client(command).post('/v1/tenants/{id}/api-keys/{key_id}/roll', {
        path: { id: tenant, key_id: id },
        body: options.overlap === undefined ? {} : { overlap_seconds: options.overlap },
      });
      printCreated(ctx.output(command), key, `rolled ${id} to ${key.id}`);
    });

  keys
    .command('revoke')
    .description("revoke a tenant's API key; apps refuse it once the entitlement stream tells them")
    .argument('<tenant>', 'the tenant id (ten_…) or slug')
    .argument('<key>', 'the key id (tak_…)')
    .action(async (tenant: string, id: string, _options: unknown, command: Command) => {
      const key = await ctx.client(command).post('/v1/tenants/{id}/api-keys/{key_id}/revoke', {
        path: { id: tenant, key_id: id },
      });
      const out = ctx.output(command);
      out.result(key, () => out.line(`revoked ${key.id} (${key.name}) of ${key.tenant_id}`));
    });

  keys
    .command('verify-format')
    .description(
      'check offline whether a string is a tenant API key: its format and checksum (not whether it works)',
    )
    .argument('<key>', 'the key, e.g. one a secret scanner found')
    .action(async (key: string, _options: unknown, command: Command) => {
      const parsed = parseTenantKey(key.trim());
      if (parsed === null)
        throw new CliError('not a tenant API key, or a mistyped one: its format or checksum is wrong');
      const out = ctx.output(command);
      out.result({ valid: true, prefix: parsed.prefix }, () =>
        out.line(`a tenant API key with the prefix ${parsed.prefix}; its checksum holds`),
      );
    });

  return keys;
}
