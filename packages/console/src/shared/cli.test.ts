import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { buildProgram, runCli } from 'tenantry';
import { describe, expect, it } from 'vitest';
import type { Call } from './api.ts';
import { CLI_COMMANDS, type CliMapping, cliArgvOf, cliOf, shellQuote } from './cli.ts';

/** A value per field, each one the CLI's option parsers take (a choice, a month, a number in range). */
const SAMPLES: Record<string, string> = {
  id: 'acme',
  key: 'pro',
  key_id: 'tak_1',
  state: 'active',
  plan: 'pro',
  placement: 'pool',
  data_plane: 'dpl_default',
  limit: '50',
  cursor: 'c_1',
  reason: 'fraud check',
  reference: 'wire 42',
  meter: 'api_calls',
  from: '2026-01-01T00:00:00Z',
  to: '2026-02-01T00:00:00Z',
  window: 'day',
  period: '2026-01',
  top: '5',
  tenant: 'acme',
  status: 'open',
  brand: 'visa',
  last4: '4242',
};

function sample(field: string): string {
  const value = SAMPLES[field];
  if (value === undefined) throw new Error(`no sample value for the field ${field}; add one to SAMPLES`);
  return value;
}

/** A call of the entry's operation with every field it maps filled in. */
function sampleCall(mapping: CliMapping): Call {
  const pathFields = [...mapping.path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1] ?? '');
  const path = mapping.path.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(sample(name)));
  const fields = Object.keys(mapping.options ?? {}).filter((name) => !pathFields.includes(name));
  const values = Object.fromEntries(fields.map((name) => [name, sample(name)]));
  if (mapping.method === 'GET') {
    const query = new URLSearchParams(values).toString();
    return { method: 'GET', url: query === '' ? path : `${path}?${query}` };
  }
  return { method: 'POST', url: path, body: values };
}

/** What a POSIX shell makes of a command line: its words, as `sh` itself splits them. */
function shellWords(line: string): string[] {
  // Each word NUL-terminated; printf is the shell's builtin, so nothing else runs.
  const out = execFileSync('sh', ['-c', `set -- ${line}; printf '%s\\0' "$@"`], { encoding: 'utf8' });
  return out.split('\0').slice(0, -1);
}

interface Ran {
  readonly path: string[];
  readonly args: unknown[];
  readonly command: Command;
}

/**
 * Parses `argv` with the CLI's own program, every command's action replaced by a recorder: commander
 * checks the commands, options, choices and option parsers as it would, and nothing runs.
 */
async function parseWithCli(argv: readonly string[]): Promise<Ran> {
  const ignore = { write: () => true };
  const program = buildProgram({ stdout: ignore, stderr: ignore, env: {} });
  let ran: Ran | undefined;
  const stub = (command: Command, path: string[]) => {
    if (command.commands.length === 0) {
      command.action((...received: unknown[]) => {
        ran = { path, args: received.slice(0, command.registeredArguments.length), command };
      });
    }
    for (const sub of command.commands) stub(sub, [...path, sub.name()]);
  };
  stub(program, []);
  await program.parseAsync([...argv], { from: 'user' });
  if (ran === undefined) throw new Error(`no command ran for ${argv.join(' ')}`);
  return ran;
}

/** What the CLI sent when it ran a copied line: method, URL (path and query) and parsed body. */
interface Sent {
  readonly method: string;
  readonly url: string;
  readonly body?: unknown;
}

/**
 * Runs a copied line as a user would: the shell splits it into words (nothing in it runs), and the
 * CLI's own program runs them against a recording stand-in for the control plane, which answers
 * every request with `{}`. Resolves to the one request it sent.
 */
async function runCopied(line: string): Promise<Sent> {
  const words = shellWords(line);
  expect(words[0]).toBe('tenantry');
  const sent: Sent[] = [];
  let stderr = '';
  const code = await runCli(words.slice(1), {
    stdout: { write: () => true },
    stderr: { write: (text: string) => (stderr += text) },
    env: { TENANTRY_URL: 'http://control-plane.invalid', TENANTRY_TOKEN: 'tk_test' },
    fetch: async (input, init) => {
      const url = new URL(String(input));
      const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined;
      sent.push({
        method: init?.method ?? 'GET',
        url: url.pathname + url.search,
        ...(body === undefined ? {} : { body }),
      });
      const accept = new Headers(init?.headers).get('accept')?.split(',')[0] ?? 'application/json';
      return new Response(accept === 'application/json' ? '{}' : 'raw', {
        headers: { 'content-type': accept },
      });
    },
  });
  expect(stderr, line).toBe('');
  expect(code).toBe(0);
  expect(sent).toHaveLength(1);
  return sent[0] as Sent;
}

describe('the CLI equivalents of API calls', () => {
  it.each(CLI_COMMANDS.map((mapping) => [`${mapping.method} ${mapping.path}`, mapping] as const))(
    '%s is a command line the CLI takes, meaning the same call',
    async (_, mapping) => {
      const call = sampleCall(mapping);
      const line = cliOf(call);
      expect(line).toBeDefined();
      const words = shellWords(line ?? '');
      expect(words[0]).toBe('tenantry');
      const ran = await parseWithCli(words.slice(1));
      expect(ran.path).toEqual(mapping.command);
      // Each path parameter given as an argument reaches the command as that argument.
      expect(ran.args).toEqual((mapping.args ?? []).map(sample));
      // Each field given as an option reaches the command as that option's value.
      const options = ran.command.opts();
      for (const [field, flag] of Object.entries(mapping.options ?? {})) {
        const option = ran.command.options.find((candidate) => candidate.long === flag);
        expect(option, `${mapping.command.join(' ')} has no option ${flag}`).toBeDefined();
        expect(String(options[option?.attributeName() ?? ''])).toBe(sample(field));
      }
    },
  );

  it('a command or option the CLI lacks fails the check', async () => {
    await expect(parseWithCli(['tenants', 'list', '--search', 'acme'])).rejects.toThrow(/unknown option/);
    await expect(parseWithCli(['tenants', 'browse'])).rejects.toThrow(/unknown command/);
  });

  it('gives `tenantry api` for a call carrying a field the command cannot pass on, or a download', () => {
    expect(cliOf({ method: 'GET', url: '/v1/tenants?search=acme&limit=100' })).toBe(
      'tenantry api GET /v1/tenants -q search=acme -q limit=100',
    );
    expect(cliOf({ method: 'GET', url: '/v1/tenants?limit=100' })).toBe('tenantry tenants list --limit 100');
    expect(cliOf({ method: 'GET', url: '/v1/tenant-counts' })).toBe('tenantry api GET /v1/tenant-counts');
    expect(cliOf({ method: 'POST', url: '/v1/tenants/acme/suspend', body: { reason: { nested: 1 } } })).toBe(
      `tenantry api POST /v1/tenants/acme/suspend --data-json '{"reason":{"nested":1}}'`,
    );
    // A download: the media type asked for, and a PDF (bytes) into a file.
    expect(cliOf({ method: 'GET', url: '/v1/invoices/inv_1', accept: 'text/html' })).toBe(
      'tenantry api GET /v1/invoices/inv_1 -H accept:text/html',
    );
    expect(cliOf({ method: 'GET', url: '/v1/tenants/acme/invoices/inv_1', accept: 'application/pdf' })).toBe(
      'tenantry api GET /v1/tenants/acme/invoices/inv_1 -H accept:application/pdf --out inv_1.pdf',
    );
    // A POST with no fields: the CLI sends `{}` itself; a PUT carries its body whatever it is.
    expect(cliOf({ method: 'POST', url: '/v1/tenants/acme/onboarding/complete', body: {} })).toBe(
      'tenantry api POST /v1/tenants/acme/onboarding/complete',
    );
    expect(cliOf({ method: 'DELETE', url: '/v1/staff/usr_1' })).toBe('tenantry api DELETE /v1/staff/usr_1');
  });

  it('maps each operation once', () => {
    const operations = CLI_COMMANDS.map((mapping) => `${mapping.method} ${mapping.path}`);
    expect(new Set(operations).size).toBe(operations.length);
  });

  it('gives `tenantry api` for an argument the command would take for an option', async () => {
    expect(cliOf({ method: 'GET', url: '/v1/tenants/--help' })).toBe('tenantry api GET /v1/tenants/--help');
    await expect(parseWithCli(['tenants', 'show', '-x'])).rejects.toThrow(/unknown option/);
    expect((await runCopied(cliOf({ method: 'GET', url: '/v1/tenants/--help' }))).url).toBe(
      '/v1/tenants/--help',
    );
  });

  it('never carries a token', () => {
    for (const mapping of CLI_COMMANDS) expect(cliOf(sampleCall(mapping))).not.toMatch(/token|bearer/i);
  });
});

describe('shell quoting', () => {
  const hostile = ["x'; rm -rf ~", '$(touch /tmp/pwned)', '`id`', 'a b\tc\nd', "it's", '*', '-', ''];

  it('keeps every argument one word, as the shell reads it', () => {
    for (const arg of hostile) expect(shellWords(shellQuote(arg))).toEqual([arg]);
  });

  it('quotes a tenant named to break out of its argument', () => {
    const name = "x'; rm -rf ~";
    const line = cliOf({ method: 'GET', url: `/v1/tenants/${encodeURIComponent(name)}` });
    expect(line).toBe(`tenantry tenants show 'x'\\''; rm -rf ~'`);
    expect(shellWords(line ?? '')).toEqual(['tenantry', 'tenants', 'show', name]);
    expect(cliArgvOf({ method: 'GET', url: `/v1/tenants/${encodeURIComponent(name)}` })).toEqual([
      'tenants',
      'show',
      name,
    ]);
  });

  it('passes a hostile tenant name to the API literally through `tenantry api`, as the shell reads the line', async () => {
    const name = 'x\'; $(touch /tmp/pwned) `id` "q"\nnext line';
    const call: Call = {
      method: 'POST',
      url: `/v1/tenants/${encodeURIComponent(name)}/retry-provisioning`,
      body: { reason: name },
    };
    const line = cliOf(call);
    expect(line.startsWith('tenantry api POST ')).toBe(true);
    const sent = await runCopied(line);
    expect(sent).toEqual({ method: 'POST', url: call.url, body: { reason: name } });
  });

  it('leaves plain words bare', () => {
    expect(shellQuote('ten_01H-x.y:z@a/b=c,d+e%f')).toBe('ten_01H-x.y:z@a/b=c,d+e%f');
  });
});

/** Every `callOf`, `get`, `post` and `postFile` of an API operation in the console's sources. */
function operationsUsed(): Set<string> {
  const root = join(import.meta.dirname, '..');
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' }).filter(
    (file) => /\.tsx?$/.test(file) && !file.endsWith('.test.ts'),
  );
  const used = new Set<string>();
  for (const file of files) {
    const text = readFileSync(join(root, file), 'utf8');
    for (const match of text.matchAll(/\b(callOf|get|post|postFile)(?:<[^>]*>)?\(\s*'(\/v1\/[^']*)'/g)) {
      used.add(`${match[1]?.startsWith('post') ? 'POST' : 'GET'} ${match[2]}`);
    }
  }
  return used;
}

/** A value for a path parameter or a query field of an operation the console calls. */
function sampleOf(name: string): string {
  return SAMPLES[name] ?? `x_${name}`;
}

describe('every call of the console has a CLI line', () => {
  it('that the CLI runs as the same request: its own command, or `tenantry api`', async () => {
    const operations = [...operationsUsed()].sort();
    expect(operations.length).toBeGreaterThan(60);
    const viaApi: string[] = [];
    for (const operation of operations) {
      const [method = '', template = ''] = operation.split(' ');
      const url = template.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(sampleOf(name)));
      const call: Call = method === 'POST' ? { method: 'POST', url, body: {} } : { method: 'GET', url };
      const line = cliOf(call);
      // A command's own line is parsed by the tests above; a `tenantry api` line is run here and
      // must reach the control plane as the console's very call.
      if (!line.startsWith('tenantry api ')) continue;
      viaApi.push(operation);
      expect(await runCopied(line), line).toEqual(call);
    }
    // No call is left without a line: those the CLI has no command for go through `tenantry api`.
    expect(viaApi).toEqual(
      expect.arrayContaining(['GET /v1/tenant-counts', 'POST /v1/plans/apply', 'GET /v1/audit']),
    );
  });
});
