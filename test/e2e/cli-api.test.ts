// `tenantry api` against a real control plane, on both backends: the CLI in-process (its own
// client, token and error lines) over HTTP to a control plane listening on a port. It reads a
// tenant, creates one from --data-json (once, under one Idempotency-Key), prints problems as
// error lines with exit code 2, follows a list's cursor through several pages, writes a CSV raw,
// and refuses a path of no operation before any request.
import { runCli } from 'tenantry';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { startTestApp, type TestApp, uniqueSlug } from '../../packages/server/test/harness.ts';
import { applyPlans, createTenant, tenantCount } from '../../packages/server/test/tenant-support.ts';

let t: TestApp;
let url: string;
/** Every request the CLI sent, as `METHOD path?query`. */
const requests: string[] = [];

beforeAll(async () => {
  t = await startTestApp();
  url = await t.app.listen({ port: 0, host: '127.0.0.1' });
  await applyPlans(t);
});

afterAll(() => t.close());

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { TENANTRY_URL: url, TENANTRY_TOKEN: t.token },
    fetch: (input, init) => {
      const sent = new URL(String(input));
      requests.push(`${init?.method ?? 'GET'} ${sent.pathname}${sent.search}`);
      return fetch(input, init);
    },
  });
  return { code, stdout, stderr };
}

describe('tenantry api', () => {
  test('GETs a tenant by the path with its slug inline, as JSON or YAML', async () => {
    const tenant = await createTenant(t, { name: 'Read "me" $(now)' });
    const shown = await cli('api', 'GET', `/v1/tenants/${tenant.slug}`);
    expect(shown.stderr).toBe('');
    expect(shown.code).toBe(0);
    const body = JSON.parse(shown.stdout);
    expect([body.id, body.slug, body.name]).toEqual([tenant.id, tenant.slug, 'Read "me" $(now)']);
    const yaml = await cli('api', 'get', `/v1/tenants/${tenant.id}`, '--output', 'yaml');
    expect(yaml.code).toBe(0);
    expect(parse(yaml.stdout)).toEqual(body);
  });

  test('POSTs --data-json once under one Idempotency-Key, however often it is sent', async () => {
    const slug = uniqueSlug('api');
    const before = await tenantCount(t);
    const data = JSON.stringify({ slug, name: 'Made by tenantry api', plan: 'pro', seats: 3 });
    const first = await cli(
      'api',
      'POST',
      '/v1/tenants',
      '--data-json',
      data,
      '--idempotency-key',
      `key-${slug}`,
    );
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const created = JSON.parse(first.stdout);
    expect([created.slug, created.name, created.seats]).toEqual([slug, 'Made by tenantry api', 3]);
    const again = await cli(
      'api',
      'POST',
      '/v1/tenants',
      '--data-json',
      data,
      '--idempotency-key',
      `key-${slug}`,
    );
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).id).toBe(created.id);
    expect(await tenantCount(t)).toBe(before + 1);
  });

  test("prints a problem's detail and code, or its field errors, on stderr and exits 2", async () => {
    const missing = await cli('api', 'GET', '/v1/tenants/no-such-tenant');
    expect(missing.code).toBe(2);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(/^error: .*no-such-tenant.* \[tenant_not_found\]\n$/);
    const invalid = await cli('api', 'POST', '/v1/tenants', '-d', 'slug=half-a-tenant', '-d', 'seats:=-1');
    expect(invalid.code).toBe(2);
    // One line per field, as every command prints a validation_failed problem.
    expect(invalid.stderr).toMatch(/^name: /m);
    expect(invalid.stderr).toMatch(/^seats: /m);
  });

  test('--paginate follows next_cursor over several pages and prints each item on its line', async () => {
    const prefix = uniqueSlug('page');
    const slugs: string[] = [];
    for (let i = 0; i < 5; i++) slugs.push((await createTenant(t, { slug: `${prefix}-${i}` })).slug);
    requests.length = 0;
    const listed = await cli(
      'api',
      'GET',
      '/v1/tenants',
      '-q',
      `search=${prefix}`,
      '-q',
      'limit=2',
      '--paginate',
    );
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    const items = listed.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(items.map((item) => item.slug).sort()).toEqual(slugs.sort());
    // Three pages of at most two, each asked for with the cursor the one before gave.
    expect(requests).toHaveLength(3);
    expect(requests[0]).toBe(`GET /v1/tenants?search=${prefix}&limit=2`);
    expect(requests[1]).toMatch(new RegExp(`^GET /v1/tenants\\?search=${prefix}&limit=2&cursor=.+`));
  });

  test('writes a CSV answer raw to stdout', async () => {
    const prefix = uniqueSlug('csv');
    const tenant = await createTenant(t, { slug: `${prefix}-a`, name: 'CSV, "quoted"' });
    const csv = await cli('api', 'GET', '/v1/tenants', '-q', `search=${prefix}`, '-H', 'Accept: text/csv');
    expect(csv.stderr).toBe('');
    expect(csv.code).toBe(0);
    const lines = csv.stdout.trimEnd().split(/\r?\n/);
    expect(lines[0]).toMatch(/^id,slug,name,/);
    expect(lines.slice(1)).toEqual([
      expect.stringContaining(`${tenant.id},${tenant.slug},"CSV, ""quoted"""`),
    ]);
  });

  test('refuses a path of no operation, or a query it does not take, without any request', async () => {
    requests.length = 0;
    const unknown = await cli('api', 'GET', '/v1/tennants/acme');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(
      /^error: no operation of the API is GET \/v1\/tennants\/acme; the nearest: GET \/v1\/tenants\/\{id\}/,
    );
    const query = await cli('api', 'GET', '/v1/plans', '-q', 'state=active');
    expect(query.code).toBe(2);
    expect(query.stderr).toMatch(/takes no query parameter "state"/);
    expect(requests).toEqual([]);
  });
});
