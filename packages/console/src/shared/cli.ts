import { pathParams } from '@tenantry/core/api';
import type { Call } from './api.ts';

/**
 * One API operation the `tenantry` CLI (packages/cli) does, and how its command line is made from
 * the call: the path parameters given as the command's arguments or options, the query (GET) or
 * body (POST) fields given as options. cli.test.ts parses every entry's command line with the
 * CLI's own commander program, so an entry naming a command or option the CLI lacks fails there.
 */
export interface CliMapping {
  readonly method: 'GET' | 'POST';
  /** The path template, as in the API's OpenAPI document: `/v1/tenants/{id}`. */
  readonly path: string;
  /** The command's words after `tenantry`: `['tenants', 'show']`. */
  readonly command: readonly string[];
  /** Path parameters given as the command's arguments, in their order. */
  readonly args?: readonly string[];
  /** Path, query or body fields given as `--flag <value>` options: field name → flag. */
  readonly options?: Readonly<Record<string, string>>;
}

/**
 * The CLI's own commands for the API's operations: the table "Copy as CLI" reads first. A call whose
 * operation is missing here, or that carries a field its entry does not map, is given as
 * `tenantry api`, which does any operation of the API.
 */
export const CLI_COMMANDS: readonly CliMapping[] = [
  {
    method: 'GET',
    path: '/v1/tenants',
    command: ['tenants', 'list'],
    options: {
      state: '--state',
      plan: '--plan',
      placement: '--placement',
      data_plane: '--data-plane',
      limit: '--limit',
      cursor: '--cursor',
    },
  },
  { method: 'GET', path: '/v1/tenants/{id}', command: ['tenants', 'show'], args: ['id'] },
  {
    method: 'GET',
    path: '/v1/tenants/{id}/entitlements',
    command: ['tenants', 'entitlements'],
    args: ['id'],
  },
  {
    method: 'GET',
    path: '/v1/tenants/{id}/payment-method',
    command: ['tenants', 'payment-method'],
    args: ['id'],
  },
  {
    method: 'POST',
    path: '/v1/tenants/{id}/payment-method',
    command: ['tenants', 'payment-method'],
    args: ['id'],
    options: { reference: '--set', brand: '--brand', last4: '--last4' },
  },
  { method: 'GET', path: '/v1/tenants/{id}/dunning', command: ['tenants', 'dunning'], args: ['id'] },
  {
    method: 'POST',
    path: '/v1/tenants/{id}/suspend',
    command: ['tenants', 'suspend'],
    args: ['id'],
    options: { reason: '--reason' },
  },
  {
    method: 'POST',
    path: '/v1/tenants/{id}/resume',
    command: ['tenants', 'resume'],
    args: ['id'],
    options: { reason: '--reason' },
  },
  { method: 'GET', path: '/v1/tenants/{id}/members', command: ['members', 'list'], args: ['id'] },
  {
    method: 'GET',
    path: '/v1/tenants/{id}/api-keys',
    command: ['tenant-keys', 'list'],
    args: ['id'],
    options: { limit: '--limit', cursor: '--cursor' },
  },
  {
    method: 'POST',
    path: '/v1/tenants/{id}/api-keys/{key_id}/revoke',
    command: ['tenant-keys', 'revoke'],
    args: ['id', 'key_id'],
  },
  {
    method: 'GET',
    path: '/v1/tenants/{id}/usage',
    command: ['usage', 'show'],
    args: ['id'],
    options: { meter: '--meter', from: '--from', to: '--to', window: '--window' },
  },
  {
    method: 'GET',
    path: '/v1/tenants/{id}/invoices/upcoming',
    command: ['invoices', 'preview'],
    options: { id: '--tenant', period: '--period' },
  },
  {
    method: 'GET',
    path: '/v1/tenants/{id}/showback',
    command: ['invoices', 'showback'],
    options: { id: '--tenant', period: '--period', top: '--top' },
  },
  {
    method: 'GET',
    path: '/v1/tenants/{id}/licenses',
    command: ['license', 'list'],
    options: { id: '--tenant', limit: '--limit', cursor: '--cursor' },
  },
  {
    method: 'GET',
    path: '/v1/tenants/{id}/license-installs',
    command: ['license', 'installs'],
    options: { id: '--tenant', limit: '--limit', cursor: '--cursor' },
  },
  {
    method: 'POST',
    path: '/v1/licenses/{id}/revoke',
    command: ['license', 'revoke'],
    args: ['id'],
    options: { reason: '--reason' },
  },
  { method: 'GET', path: '/v1/license-keys', command: ['license', 'keys'] },
  { method: 'GET', path: '/v1/license-revocations', command: ['license', 'revocations'] },
  {
    method: 'GET',
    path: '/v1/invoices',
    command: ['invoices', 'list'],
    options: { tenant: '--tenant', status: '--status', limit: '--limit', cursor: '--cursor' },
  },
  { method: 'GET', path: '/v1/invoices/{id}', command: ['invoices', 'show'], args: ['id'] },
  {
    method: 'POST',
    path: '/v1/invoices/{id}/pay',
    command: ['invoices', 'pay'],
    args: ['id'],
    options: { reference: '--reference' },
  },
  {
    method: 'POST',
    path: '/v1/invoices/{id}/void',
    command: ['invoices', 'void'],
    args: ['id'],
    options: { reason: '--reason' },
  },
  {
    method: 'POST',
    path: '/v1/invoices/{id}/mark-uncollectible',
    command: ['invoices', 'mark-uncollectible'],
    args: ['id'],
    options: { reason: '--reason' },
  },
  { method: 'GET', path: '/v1/plans', command: ['plans', 'list'] },
  { method: 'GET', path: '/v1/plans/{key}', command: ['plans', 'show'], args: ['key'] },
  { method: 'GET', path: '/v1/api-keys', command: ['keys', 'list'] },
  { method: 'POST', path: '/v1/api-keys/{id}/revoke', command: ['keys', 'revoke'], args: ['id'] },
  { method: 'GET', path: '/v1/oidc-clients', command: ['oidc-clients', 'list'] },
];

/**
 * The `tenantry` command line of a call: its own command when the CLI has one doing exactly that
 * call, else `tenantry api`. The command carries no token: the CLI reads its own (TENANTRY_TOKEN
 * or --token).
 */
export function cliOf(call: Call): string {
  return ['tenantry', ...cliArgvOf(call)].map(shellQuote).join(' ');
}

/** The CLI's arguments (after `tenantry`) for a call. */
export function cliArgvOf(call: Call): string[] {
  return commandArgvOf(call) ?? apiArgvOf(call);
}

/** The arguments of the CLI's own command for a call, or undefined when it has none. */
function commandArgvOf(call: Call): string[] | undefined {
  // A media type other than JSON (a CSV, an invoice's HTML) is a download, not a command's output.
  if (call.accept !== undefined) return undefined;
  const url = new URL(call.url, 'http://console.invalid');
  for (const mapping of CLI_COMMANDS) {
    if (mapping.method !== call.method) continue;
    const found = pathParams(mapping.path, url.pathname);
    if (found === undefined) continue;
    const params = new Map(Object.entries(found));
    const fields = fieldsOf(call, url);
    if (fields === undefined) return undefined;
    const argv = [...mapping.command];
    for (const name of mapping.args ?? []) {
      const value = params.get(name);
      // The CLI would read an argument starting with a dash as an option.
      if (value === undefined || value.startsWith('-')) return undefined;
      argv.push(value);
      params.delete(name);
    }
    for (const [name, value] of [...params, ...fields]) {
      const flag = mapping.options?.[name];
      if (flag === undefined) return undefined;
      argv.push(flag, value);
    }
    return argv;
  }
  return undefined;
}

/**
 * `tenantry api` doing exactly the call: its method and path as sent (percent-encoded; the CLI
 * decodes each parameter and encodes it again), each query field as `-q`, the body as JSON, the
 * media type asked for as `-H accept:`. A PDF is bytes, which the CLI writes only to a file.
 */
function apiArgvOf(call: Call): string[] {
  const at = call.url.indexOf('?');
  const path = at === -1 ? call.url : call.url.slice(0, at);
  const argv = ['api', call.method, path];
  for (const [name, value] of new URLSearchParams(at === -1 ? '' : call.url.slice(at + 1)))
    argv.push('-q', `${name}=${value}`);
  if (call.accept !== undefined) argv.push('-H', `accept:${call.accept}`);
  // Named after the path's last segment, percent-encoded as it is: a name with no `/` in it.
  if (call.accept === 'application/pdf') argv.push('--out', `${path.split('/').at(-1)}.pdf`);
  // The CLI POSTs `{}` by itself, as the console does when a call has no fields.
  const empty = typeof call.body === 'object' && call.body !== null && Object.keys(call.body).length === 0;
  if (call.body !== undefined && !(call.method === 'POST' && empty))
    argv.push('--data-json', JSON.stringify(call.body));
  return argv;
}

/**
 * The query's fields and, for a POST, the body's: a body that is not a flat object of strings and
 * numbers has no command-line form.
 */
function fieldsOf(call: Call, url: URL): [string, string][] | undefined {
  const fields: [string, string][] = [...url.searchParams];
  if (call.body === undefined) return fields;
  if (typeof call.body !== 'object' || call.body === null || Array.isArray(call.body)) return undefined;
  for (const [name, value] of Object.entries(call.body)) {
    if (value === undefined) continue;
    if (typeof value !== 'string' && typeof value !== 'number') return undefined;
    fields.push([name, String(value)]);
  }
  return fields;
}

/**
 * One argument as a POSIX shell reads it back unchanged: bare when it holds only characters no
 * shell treats specially, else in single quotes, inside which only `'` itself needs care.
 */
export function shellQuote(arg: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}
