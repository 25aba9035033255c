import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCaptured } from '../../test/run-captured.ts';

// Bad configuration of `tenantry agent` is refused before it dials anything: one line on stderr,
// exit code 2. (The agent running against a control plane is tested end to end in test/e2e.)
describe('agent', () => {
  it.each([
    ['no control plane URL', ['agent', '--database-url', 'postgres://db/app'], {}, /no control plane URL/],
    [
      'a URL that is not one',
      ['agent', '--url', 'not a url', '--database-url', 'postgres://db/app'],
      {},
      /not a URL/,
    ],
    [
      'a URL of another scheme',
      ['agent', '--url', 'ftp://cp.example', '--database-url', 'postgres://db/app'],
      {},
      /http\(s\) or ws\(s\)/,
    ],
    ['no customer database', ['agent', '--url', 'https://cp.example'], {}, /no customer database/],
    [
      'an allow-list naming a job type the agent does not have',
      [
        'agent',
        '--url',
        'https://cp.example',
        '--database-url',
        'postgres://db/app',
        '--allow',
        'noop,drop_all',
      ],
      {},
      /--allow names job types the agent does not have: drop_all/,
    ],
    [
      'an unreadable CA file',
      [
        'agent',
        '--url',
        'https://cp.example',
        '--database-url',
        'postgres://db/app',
        '--ca',
        '/nonexistent/ca.pem',
      ],
      {},
      /cannot read --ca \/nonexistent\/ca.pem: ENOENT/,
    ],
  ])('refuses %s with one line and exit code 2', async (_case, args, env, message) => {
    const result = await runCaptured(args, env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });

  it("refuses a vendor's job types module that does not load, exports no jobTypes, or renames a built-in type", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tenantry-agent-jobs-'));
    try {
      await writeFile(join(dir, 'none.mjs'), 'export const datasets = [];\n');
      // The agent's own `migrate`, redefined: it would change the customer's database its own way.
      await writeFile(
        join(dir, 'migrate.mjs'),
        "export const jobTypes = [{ type: 'migrate', run: async () => ({}) }];\n",
      );
      const base = ['agent', '--url', 'https://cp.example', '--database-url', 'postgres://db/app'];
      for (const [file, message] of [
        ['/nonexistent/jobs.js', /cannot load --jobs \/nonexistent\/jobs.js/],
        [join(dir, 'none.mjs'), /does not export `jobTypes`, an array of defineJobType/],
        [join(dir, 'migrate.mjs'), /job type migrate is registered twice/],
      ] as const) {
        const result = await runCaptured([...base, '--jobs', file], {});
        expect(result.code, result.stderr).toBe(2);
        expect(result.stderr).toMatch(message);
        expect(result.stderr.trim().split('\n')).toHaveLength(1);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('without a credential file or a token, says what to give it and stops', async () => {
    const result = await runCaptured(
      [
        'agent',
        '--url',
        'http://127.0.0.1:9',
        '--database-url',
        'postgres://db/app',
        '--credential-file',
        '/nonexistent/agent.json',
      ],
      {},
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no credential at \/nonexistent\/agent.json and no enrolment token/);
  });

  // The switches' own commands: a bad name, an enable without the vendor's list, an unloadable
  // module. (Switching declared datasets with a running agent is tested end to end.)
  it.each([
    [
      'a name that is not a dataset name',
      ['agent', 'datasets', 'disable', 'Drop Table', '--credential-file', '/nonexistent/a.json'],
      /not a dataset name: Drop Table/,
    ],
    [
      'enable without the datasets the vendor declares',
      ['agent', 'datasets', 'enable', 'analytics', '--credential-file', '/nonexistent/a.json'],
      /enable needs --datasets/,
    ],
    [
      'a datasets module that does not load',
      ['agent', 'datasets', 'list', '--datasets', '/nonexistent/datasets.js'],
      /cannot load --datasets \/nonexistent\/datasets.js/,
    ],
  ])('datasets: refuses %s with one line and exit code 2', async (_case, args, message) => {
    const result = await runCaptured(args, {});
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});
