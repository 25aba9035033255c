import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { API_OPERATIONS } from '@tenantry/core/api';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { json, localApiPerTest, problem } from '../../test/local-api.ts';
import { toYaml } from '../output.ts';
import { type ApiArguments, resolveApiCall } from './api-call.ts';

const { api, run } = localApiPerTest();

function resolve(method: string, path: string, more: Partial<ApiArguments> = {}) {
  return resolveApiCall({ method, path, query: [], data: [], headers: [], paginate: false, ...more });
}

describe('tenantry api: the call checked against the contract', () => {
  it('finds the operation of a path given with its parameters inline, the most literal template first', () => {
    const suspend = resolve('post', '/v1/tenants/acme/suspend');
    expect([suspend.operation.id, suspend.method, suspend.params, suspend.url, suspend.body]).toEqual([
      'suspendTenant',
      'POST',
      { id: 'acme' },
      '/v1/tenants/acme/suspend',
      {},
    ]);
    // "upcoming" is a literal segment of one template and an {invoice_id} of another: the literal wins.
    expect(resolve('GET', '/v1/tenants/acme/invoices/upcoming').operation.id).toBe('previewInvoice');
    expect(resolve('GET', '/v1/tenants/acme/invoices/inv_1').params).toEqual({
      id: 'acme',
      invoice_id: 'inv_1',
    });
    // Without the leading slash, and with the query inline and as -q (the latter wins).
    expect(resolve('get', 'v1/tenants?limit=5&state=active', { query: ['limit=7'] }).url).toBe(
      '/v1/tenants?limit=7&state=active',
    );
  });

  it('decodes percent-encoded parameters and encodes them again, so any value reaches the API intact', () => {
    const name = "x'; $(rm -rf ~)\n/..";
    const call = resolve('GET', `/v1/tenants/${encodeURIComponent(name)}`);
    expect(call.params).toEqual({ id: name });
    expect(call.url).toBe(`/v1/tenants/${encodeURIComponent(name)}`);
    expect(() => resolve('GET', '/v1/tenants/50%zz')).toThrow(/not percent-encoded correctly/);
  });

  it('knows every operation of the API, and every one resolves to itself', () => {
    expect(API_OPERATIONS.length).toBeGreaterThan(100);
    for (const operation of API_OPERATIONS) {
      const path = operation.path.replace(/\{(\w+)\}/g, (_, name: string) => `x_${name}`);
      const data = operation.body === 'required' ? { json: { text: '{}', source: 'test' } } : {};
      expect(resolve(operation.method, path, data).operation).toBe(operation);
    }
  });

  it('refuses a path no operation has, naming the nearest ones', () => {
    expect(() => resolve('GET', '/v1/tenats/acme')).toThrow(
      'no operation of the API is GET /v1/tenats/acme; the nearest: GET /v1/tenants/{id},',
    );
    expect(() => resolve('GET', '/v1/tenants/acme/')).toThrow(/no operation of the API/);
    expect(() => resolve('GET', 'https://evil.example/v1/tenants')).toThrow(/give the path only/);
  });

  it('refuses a method the path does not take, and one HTTP does not have here', () => {
    expect(() => resolve('DELETE', '/v1/plans')).toThrow('/v1/plans takes no DELETE; it takes GET');
    expect(() => resolve('TRACE', '/v1/plans')).toThrow('unknown method TRACE');
  });

  it('refuses a template left unfilled, a query parameter, body or media type the operation does not take', () => {
    expect(() => resolve('GET', '/v1/tenants/{id}')).toThrow('fill in {id} of GET /v1/tenants/{id}');
    expect(() => resolve('GET', '/v1/plans', { query: ['serach=x'] })).toThrow(
      'GET /v1/plans takes no query parameter "serach"',
    );
    expect(() => resolve('GET', '/v1/tenants/acme', { data: ['name=x'] })).toThrow(
      'GET /v1/tenants/{id} takes no body; give its query with -q key=value',
    );
    expect(() => resolve('PUT', '/v1/settings/branding')).toThrow(
      'PUT /v1/settings/branding takes a JSON body',
    );
    // A POST without one sends `{}`, as every command does: the API names the fields it misses.
    expect(resolve('POST', '/v1/tenants').body).toEqual({});
    expect(() => resolve('GET', '/v1/plans', { headers: ['Accept: text/csv'] })).toThrow(
      'GET /v1/plans answers application/json, not text/csv',
    );
    expect(resolve('GET', '/v1/tenants', { headers: ['Accept: text/csv'] }).accept).toBe('text/csv');
  });

  it('refuses headers the command sets itself: the token never comes from -H', () => {
    expect(() => resolve('GET', '/v1/plans', { headers: ['Authorization: Bearer x'] })).toThrow(
      '-H Authorization: the command sets it; use --token or TENANTRY_TOKEN',
    );
    expect(() => resolve('POST', '/v1/tenants/a/suspend', { headers: ['idempotency-key:k'] })).toThrow(
      /use --idempotency-key/,
    );
    expect(() => resolve('GET', '/v1/plans', { headers: ['no-colon'] })).toThrow(/give name:value/);
  });

  it('builds a body from -d fields: key=value a string, key:=json any JSON value', () => {
    const call = resolve('POST', '/v1/tenants', {
      data: ['slug=acme', 'name=Acme = Co', 'seats:=5', 'trial:=false', 'overrides:={"a":[1]}'],
    });
    expect(call.body).toEqual({
      slug: 'acme',
      name: 'Acme = Co',
      seats: 5,
      trial: false,
      overrides: { a: [1] },
    });
    expect(() => resolve('POST', '/v1/tenants', { data: ['seats:=five'] })).toThrow(/not JSON/);
    expect(() =>
      resolve('POST', '/v1/tenants', { data: ['a=b'], json: { text: '{}', source: '--data-json' } }),
    ).toThrow(/not both/);
    expect(() => resolve('POST', '/v1/tenants', { json: { text: '{nope', source: 'f.json' } })).toThrow(
      /^f\.json is not JSON/,
    );
  });

  it('takes --paginate only for a list read by cursor, --idempotency-key only for a POST', () => {
    expect(resolve('GET', '/v1/tenants', { paginate: true }).operation.paginated).toBe(true);
    expect(() => resolve('GET', '/v1/plans', { paginate: true })).toThrow(
      'GET /v1/plans is not a list read by cursor; drop --paginate',
    );
    expect(() => resolve('GET', '/v1/plans', { idempotencyKey: 'k' })).toThrow(/goes with a POST/);
  });
});

describe('tenantry api against a control plane', () => {
  it('refuses an unknown path without a request, exit 2', async () => {
    const result = await run(['api', 'GET', '/v1/tennants']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^error: no operation of the API is GET \/v1\/tennants; the nearest: GET \/v1\/tenants,/,
    );
    expect(api.seen).toEqual([]);
  });

  it('POSTs -d fields as JSON under the given Idempotency-Key, a fresh one without, and prints the answer', async () => {
    api.handler = (_req, res) => json(res, 200, { id: 'ten_1', state: 'suspended' });
    const given = await run([
      'api',
      'POST',
      '/v1/tenants/acme/suspend',
      '-d',
      'reason=fraud',
      '--idempotency-key',
      'k-1',
    ]);
    expect(given.stderr).toBe('');
    expect(given.code).toBe(0);
    expect(JSON.parse(given.stdout)).toEqual({ id: 'ten_1', state: 'suspended' });
    const fresh = await run(['api', 'POST', '/v1/tenants/acme/suspend']);
    expect(fresh.code).toBe(0);
    expect(api.seen.map((s) => [s.method, s.url, s.body])).toEqual([
      ['POST', '/v1/tenants/acme/suspend', '{"reason":"fraud"}'],
      ['POST', '/v1/tenants/acme/suspend', '{}'],
    ]);
    expect(api.seen[0]?.headers['idempotency-key']).toBe('k-1');
    expect(api.seen[1]?.headers['idempotency-key']).toMatch(/^[0-9a-f-]{36}$/);
    expect(api.seen[0]?.headers.authorization).toBe('Bearer tk_secret');
  });

  it('reads the body from --data-file and prints the answer as YAML that reads back the same', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tenantry-api-'));
    try {
      const file = join(dir, 'body.json');
      await writeFile(file, '{"name":"Acme","seats":3}');
      const answer = {
        id: 'ten_1',
        name: 'Acme',
        seats: 3,
        tags: ['a', 'true'],
        plan: { key: 'pro' },
        region: null,
      };
      api.handler = (_req, res) => json(res, 200, answer);
      const result = await run(['api', 'PATCH', '/v1/tenants/acme', '--data-file', file, '--output', 'yaml']);
      expect(result.code).toBe(0);
      expect(api.seen[0]?.body).toBe('{"name":"Acme","seats":3}');
      expect(parse(result.stdout)).toEqual(answer);
      const missing = await run(['api', 'PATCH', '/v1/tenants/acme', '--data-file', join(dir, 'none.json')]);
      expect(missing.stderr).toMatch(/^error: cannot read .*none\.json \(ENOENT\)/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("prints a problem's detail and code on stderr and exits 2", async () => {
    api.handler = (_req, res) => problem(res, 404, 'tenant_not_found', 'no tenant acme');
    const result = await run(['api', 'GET', '/v1/tenants/acme']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe('error: no tenant acme [tenant_not_found]\n');
  });

  it('--paginate follows next_cursor from the first page (or -q cursor) and prints one item per line', async () => {
    const pages: Record<string, unknown> = {
      '/v1/tenants?state=active&limit=2': { data: [{ id: 't1' }, { id: 't2' }], next_cursor: 'c2' },
      '/v1/tenants?state=active&limit=2&cursor=c2': { data: [{ id: 't3' }, { id: 't4' }], next_cursor: 'c3' },
      '/v1/tenants?state=active&limit=2&cursor=c3': { data: [{ id: 't5' }], next_cursor: null },
    };
    api.handler = (req, res) => json(res, pages[req.url] === undefined ? 404 : 200, pages[req.url] ?? {});
    const all = await run(['api', 'GET', '/v1/tenants', '-q', 'state=active', '-q', 'limit=2', '--paginate']);
    expect(all.stderr).toBe('');
    expect(
      all.stdout
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line).id),
    ).toEqual(['t1', 't2', 't3', 't4', 't5']);
    const rest = await run([
      'api',
      'GET',
      '/v1/tenants?state=active&limit=2&cursor=c2',
      '--paginate',
      '--output',
      'yaml',
    ]);
    expect(rest.stdout).toBe('---\nid: t3\n---\nid: t4\n---\nid: t5\n');
  });

  it('writes a CSV answer raw to stdout, and a PDF only to a file', async () => {
    api.handler = (req, res) => {
      const type = req.headers.accept?.startsWith('text/csv') ? 'text/csv; charset=utf-8' : 'application/pdf';
      res.writeHead(200, { 'content-type': type });
      res.end(
        type === 'application/pdf'
          ? Buffer.from([0x25, 0x50, 0x44, 0x46, 0xff, 0x00])
          : 'id,slug\nten_1,acmé\n',
      );
    };
    const csv = await run(['api', 'GET', '/v1/tenants', '-H', 'Accept: text/csv']);
    expect(csv.code).toBe(0);
    expect(csv.stdout).toBe('id,slug\nten_1,acmé\n');
    expect(api.seen[0]?.headers.accept).toBe('text/csv, application/problem+json');

    const refused = await run(['api', 'GET', '/v1/invoices/inv_1', '-H', 'accept:application/pdf']);
    expect(refused.stderr).toBe('error: application/pdf is not text: write it to a file with --out <file>\n');
    expect(api.seen).toHaveLength(1);
    const dir = await mkdtemp(join(tmpdir(), 'tenantry-api-'));
    try {
      const out = join(dir, 'inv_1.pdf');
      const pdf = await run([
        'api',
        'GET',
        '/v1/invoices/inv_1',
        '-H',
        'accept:application/pdf',
        '--out',
        out,
      ]);
      expect(pdf.code).toBe(0);
      expect([...(await readFile(out))]).toEqual([0x25, 0x50, 0x44, 0x46, 0xff, 0x00]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('toYaml', () => {
  it('writes any JSON value as YAML that reads back as the same value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const canonical = JSON.parse(JSON.stringify(value)) as unknown;
        expect(parse(toYaml(canonical))).toEqual(canonical);
      }),
      { numRuns: 100 },
    );
    // Strings that YAML would otherwise read as booleans, numbers or null stay strings.
    const tricky = { yes: 'no', n: '1.0', nil: 'null', date: '2026-12-06', 'a b': {}, list: [[2, 'x']] };
    expect(parse(toYaml(tricky))).toEqual(tricky);
  });
});
