import { ALL_SCOPES, isScope, KEY_PRESETS, type Scope } from '@tenantry/core';
import type { RequestBody, Schemas } from '@tenantry/core/api';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { CliError } from '../cli-error.ts';
import type { CommandContext } from '../command-context.ts';
import { fetchList } from '../fetch-list.ts';
import { formatTime, formatValue, type Output } from '../output.ts';

type ApiKey = Schemas['ApiKey'];
/** A key with its secret, as the answer that created or rolled it shows it (once). */
type CreatedApiKey = Schemas['CreatedApiKey'];

/** The longest roll overlap the control plane takes, in seconds (7 days). */
const MAX_OVERLAP_SECONDS = 7 * 86_400;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `--overlap`: `0`, or a whole number with a unit, e.g. `90s`, `30m`, `24h`, `7d`. */
function overlapArgument(value: string): number {
  const match = /^(\d+)([smhd])$/.exec(value.trim()) ?? (value.trim() === '0' ? ['0', '0', 's'] : null);
  const seconds = match ? Number(match[1]) * (UNIT_SECONDS[match[2] ?? 's'] ?? 1) : Number.NaN;
  if (!Number.isSafeInteger(seconds) || seconds > MAX_OVERLAP_SECONDS)
    throw new InvalidArgumentError('Expected 0 or a duration up to 7d, e.g. 30m, 24h, 7d.');
  return seconds;
}

function scopeArgument(value: string, previous: Scope[]): Scope[] {
  if (!isScope(value)) throw new InvalidArgumentError(`Expected one of: ${ALL_SCOPES.join(', ')}.`);
  return [...previous, value];
}

/** What a key may do, in one cell: `all` for an operator key. */
function scopesOf(key: ApiKey): string {
  return key.kind === 'operator' ? 'all' : key.scopes.join(' ');
}

function printCreated(out: Output, key: CreatedApiKey, heading?: string): void {
  out.result(key, () => {
    if (heading) out.line(heading);
    out.fields([
      ['id', key.id],
      ['name', key.name],
      ['kind', key.kind],
      ['scopes', scopesOf(key)],
      ['prefix', key.display_prefix],
      ['created', key.created_at],
      ['secret', key.secret ?? '-'],
    ]);
    out.line();
    out.line('Store the secret now: it will not be shown again.');
  });
}

type CreateBody = RequestBody<'/v1/api-keys', 'post'>;

interface CreateOptions {
  readonly name: string;
  /** One of the choices given to commander. */
  readonly preset?: CreateBody['preset'];
  readonly scope: Scope[];
}

/** Adds `keys create|list|roll|revoke|generate|verify-format`: the control plane's API keys. */
export function keysCommand(parent: Command, ctx: CommandContext): Command {
  const keys = parent.command('keys').description('manage API keys and their scopes (docs/api-keys.md)');

  keys
    .command('create')
    .description(
      'create an API key and print its secret (shown only once); an operator key unless --preset app or --scope',
    )
    .requiredOption('--name <name>', 'what the key is for, e.g. "ci"')
    .addOption(
      new Option('--preset <preset>', 'operator (every scope) or app (what @tenantry/sdk needs)').choices([
        'operator',
        ...Object.keys(KEY_PRESETS),
      ]),
    )
    .option(
      '--scope <scope>',
      'a scope the key holds (repeat for more; adds to --preset app)',
      scopeArgument,
      [],
    )
    .action(async (options: CreateOptions, command: Command) => {
      if (options.preset === 'operator' && options.scope.length > 0)
        throw new CliError('an operator key holds every scope: give --scope or --preset operator, not both');
      const key = await ctx.client(command).post('/v1/api-keys', {
        body: {
          name: options.name,
          ...(options.preset ? { preset: options.preset } : {}),
          ...(options.scope.length > 0 ? { scopes: options.scope } : {}),
        },
      });
      printCreated(ctx.output(command), key);
    });

  keys
    .command('list')
    .description('list API keys (secrets are never shown)')
    .action(async (_options: unknown, command: Command) => {
      // Keys come in one answer (`{data}`, not paginated).
      const list = await fetchList(ctx.client(command), '/v1/api-keys', {}, true);
      const out = ctx.output(command);
      out.result(list.raw, () =>
        out.table(
          list.rows,
          [
            { header: 'ID', value: (k) => k.id },
            { header: 'NAME', value: (k) => k.name },
            { header: 'SCOPES', value: scopesOf },
            { header: 'PREFIX', value: (k) => formatValue(k.display_prefix) },
            { header: 'CREATED', value: (k) => formatTime(k.created_at) },
            { header: 'EXPIRES', value: (k) => formatTime(k.expires_at) },
            { header: 'REVOKED', value: (k) => formatTime(k.revoked_at) },
          ],
          'no API keys',
        ),
      );
    });

  keys
    .command('roll')
    .description(
      'give a key a new secret with the same scopes; the old secret keeps working for the overlap, then is refused',
    )
    .argument('<id>', 'the key id (key_…)')
    .option(
      '--overlap <duration>',
      'how long the old secret keeps working: 0, 30m, 24h, up to 7d (default 24h)',
      overlapArgument,
    )
    .action(async (id: string, options: { overlap?: number }, command: Command) => {
      const key = await ctx.client(command).post('/v1/api-keys/{id}/roll', {
        path: { id },
        body: options.overlap === undefined ? {} : { overlap_seconds: options.overlap },
      });
      printCreated(ctx.output(command), key, `rolled ${id} to ${key.id}`);
    });

  keys
    .command('revoke')
    .description('revoke an API key; requests using it fail from now on')
    .argument('<id>', 'the key id (key_…)')
    .action(async (id: string, _options: unknown, command: Command) => {
      const key = await ctx.client(command).post('/v1/api-keys/{id}/revoke', { path: { id } });
      const out = ctx.output(command);
      out.result(key, () => out.line(`revoked ${key.id} (${key.name})`));
    });

  keys
    .command('generate')
    .description('print a new operator key secret, offline, e.g. for TENANTRY_BOOTSTRAP_TOKEN')
    .action(async (_options: unknown, command: Command) => {
      const { generateSecret } = await import('@tenantry/server');
      const secret = generateSecret('operator');
      const out = ctx.output(command);
      out.result({ secret }, () => out.line(secret));
    });

  keys
    .command('verify-format')
    .description(
      'check offline whether a secret is a Tenantry API key: its prefix and checksum (not whether it is active)',
    )
    .argument('<secret>', 'the secret, e.g. one a secret scanner found')
    .action(async (secret: string, _options: unknown, command: Command) => {
      const { secretFormat } = await import('@tenantry/server');
      const format = secretFormat(secret.trim());
      if (format === 'invalid')
        throw new CliError(
          'not a Tenantry API key, or a mistyped one: its prefix, length or checksum is wrong',
        );
      const kind = secret.startsWith('tnt_rk_') ? 'restricted' : 'operator';
      const out = ctx.output(command);
      out.result({ format, kind }, () =>
        out.line(
          format === 'current'
            ? `a Tenantry ${kind} key; its checksum holds`
            : 'a Tenantry operator key of the earlier format (no checksum): only the control plane can tell it from a typo',
        ),
      );
    });

  return keys;
}
