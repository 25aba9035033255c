import { describe, expect, it } from 'vitest';
import { runCaptured } from '../test/run-captured.ts';

/** Runs the CLI in-process with a `fetch` that records calls, so tests can prove none was made. */
async function run(args: string[], env: Record<string, string> = { TENANTRY_TOKEN: 'tk_test' }) {
  const calls: string[] = [];
  const fetch = async (input: string | URL | Request): Promise<Response> => {
    calls.push(String(input));
    return new Response('{}', { status: 500 });
  };
  return { ...(await runCaptured(args, env, { fetch })), calls };
}

/** Asserts the run failed with exactly one line on stderr, exit code 2 and no request. */
function expectOneLineFailure(result: Awaited<ReturnType<typeof run>>, line: string | RegExp): void {
  expect(result.code).toBe(2);
  expect(result.stdout).toBe('');
  expect(result.stderr.endsWith('\n')).toBe(true);
  expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
  if (typeof line === 'string') expect(result.stderr).toBe(`${line}\n`);
  else expect(result.stderr).toMatch(line);
  expect(result.calls).toEqual([]);
}

describe('argument errors', () => {
  it('reports a missing required option on one line', async () => {
    expectOneLineFailure(
      await run(['tenants', 'create', '--slug', 'acme', '--plan', 'pro']),
      "error: required option '--name <name>' not specified",
    );
  });

  it('rejects a --seats that is not a whole number before any request', async () => {
    for (const seats of ['abc', '2.5', '1e3', '', '-1']) {
      expectOneLineFailure(
        await run([
          'tenants',
          'create',
          '--slug',
          'acme',
          '--name',
          'Acme',
          '--plan',
          'pro',
          `--seats=${seats}`,
        ]),
        /^error: option '--seats <n>' argument '.*' is invalid\. Expected a whole number/,
      );
    }
  });

  it('rejects an unknown placement, naming the choices', async () => {
    expectOneLineFailure(
      await run(['tenants', 'create', '--slug', 'a', '--name', 'A', '--plan', 'pro', '--placement', 'moon']),
      "error: option '--placement <placement>' argument 'moon' is invalid. Allowed choices are pool, schema, database, byoi, byoi_agent.",
    );
  });

  it('rejects a filter value the API would refuse, naming the choices the API takes', async () => {
    expectOneLineFailure(
      await run(['tenants', 'list', '--state', 'asleep']),
      "error: option '--state <state>' argument 'asleep' is invalid. Allowed choices are provisioning, provisioning_failed, trialing, active, past_due, suspended, cancelled, deleted.",
    );
    expectOneLineFailure(
      await run(['invoices', 'list', '--status', 'draft']),
      "error: option '--status <status>' argument 'draft' is invalid. Allowed choices are open, paid, void, uncollectible, issued.",
    );
    expectOneLineFailure(
      await run(['usage', 'show', 'acme', '--meter', 'm', '--window', 'week']),
      "error: option '--window <window>' argument 'week' is invalid. Allowed choices are hour, day, month.",
    );
  });

  it('rejects a --limit outside 1..100', async () => {
    expectOneLineFailure(await run(['tenants', 'list', '--limit', '500']), /Expected 1 to 100\.$/m);
  });

  it('keeps the did-you-mean suggestion on the same line as the error', async () => {
    expectOneLineFailure(await run(['tenants', 'lst']), "error: unknown command 'lst' (Did you mean list?)");
  });

  it('reports an unknown option on one line', async () => {
    expectOneLineFailure(await run(['plans', 'list', '--bogus']), "error: unknown option '--bogus'");
  });

  it('reports a missing subcommand on one line instead of printing help', async () => {
    expectOneLineFailure(await run(['tenants']), "error: missing command; see 'tenantry tenants --help'");
    expectOneLineFailure(await run([]), "error: missing command; see 'tenantry --help'");
  });

  it('reports an excess argument on one line', async () => {
    expectOneLineFailure(await run(['tenants', 'show', 'acme', 'extra']), /^error: too many arguments/);
  });

  it('refuses an update that changes nothing', async () => {
    expectOneLineFailure(
      await run(['tenants', 'update', 'acme']),
      'error: nothing to update; pass --name, --region or --seats',
    );
  });
});

describe('configuration errors', () => {
  it('asks for a token when neither TENANTRY_TOKEN nor --token is given', async () => {
    expectOneLineFailure(
      await run(['tenants', 'list'], {}),
      'error: no API token; set TENANTRY_TOKEN or pass --token',
    );
    expectOneLineFailure(
      await run(['keys', 'list'], { TENANTRY_TOKEN: '' }),
      'error: no API token; set TENANTRY_TOKEN or pass --token',
    );
  });

  it('rejects a --url that is not a URL', async () => {
    expectOneLineFailure(
      await run(['plans', 'list', '--url', 'not a url']),
      'error: not a URL: not a url; set TENANTRY_URL or pass --url',
    );
  });

  it('reports an unreadable plan file with its path', async () => {
    expectOneLineFailure(
      await run(['plans', 'apply', '/nonexistent/plans.yaml']),
      'error: cannot read /nonexistent/plans.yaml (ENOENT)',
    );
  });
});

describe('help', () => {
  it('prints help on stdout and exits 0', async () => {
    const result = await run(['tenants', 'create', '--help']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('Usage: tenantry tenants create [options]');
    expect(result.stdout).toContain('--placement <placement>');
  });
});
