import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { json, LocalApi, problem } from '../test/local-api.ts';
import { runCaptured } from '../test/run-captured.ts';
import { ApiClient, ApiError } from './api-client.ts';

const TENANT = {
  id: 'ten_01ACME',
  slug: 'acme',
  name: 'Acme',
  state: 'active',
  state_reason: null,
  placement: 'schema',
  region: 'eu-west',
  plan: { id: 'pln_1', key: 'pro', version: 2 },
  seats: 5,
  overrides: {},
  trial_ends_at: null,
  billing_anchor: '2025-01-01T00:00:00.000Z',
  current_period: { start: '2025-01-01T00:00:00.000Z', end: '2025-02-01T00:00:00.000Z' },
  scheduled_change: null,
  resources: { placement: 'schema', data_plane: 'dpl_default', schema: 't_acme', role: 'tenantry_acme' },
  data_plane: 'dpl_default',
  data_plane_health: 'healthy',
  provisioning: { state: 'succeeded', step: null, error: null },
  metadata: {},
  created_at: '2025-01-01T09:30:00.000Z',
  updated_at: '2025-01-02T10:00:00.000Z',
  deleted_at: null,
};

const GLOBEX = {
  ...TENANT,
  id: 'ten_02GLOBEX',
  slug: 'globex-corporation',
  name: 'Globex',
  state: 'trialing',
  placement: 'pool',
  resources: { placement: 'pool', data_plane: 'dpl_default' },
  region: null,
  plan: { id: 'pln_0', key: 'free', version: 1 },
  created_at: '2025-01-03T08:00:00.000Z',
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let api: LocalApi;
let url: string;

beforeEach(async () => {
  api = new LocalApi();
  url = await api.start();
});

afterEach(async () => {
  await api.stop();
});

function run(
  args: string[],
  env: Record<string, string> = { TENANTRY_URL: url, TENANTRY_TOKEN: 'tk_secret' },
) {
  return runCaptured(args, env);
}

describe('requests', () => {
  it('sends the token as a bearer credential, and no idempotency key on GET', async () => {
    api.handler = (_req, res) => json(res, 200, TENANT);
    const result = await run(['tenants', 'show', 'acme']);
    expect(result.code).toBe(0);
    expect(api.seen).toHaveLength(1);
    expect(api.seen[0]?.method).toBe('GET');
    expect(api.seen[0]?.url).toBe('/v1/tenants/acme');
    expect(api.seen[0]?.headers.authorization).toBe('Bearer tk_secret');
    expect(api.seen[0]?.headers['idempotency-key']).toBeUndefined();
  });

  it('prefers --url and --token over the environment, even after the subcommand', async () => {
    api.handler = (_req, res) => json(res, 200, { data: [] });
    const result = await run(['plans', 'list', '--url', url, '--token', 'tk_flag'], {
      TENANTRY_URL: 'http://127.0.0.1:1',
      TENANTRY_TOKEN: 'tk_env',
    });
    expect(result.code).toBe(0);
    expect(api.seen[0]?.headers.authorization).toBe('Bearer tk_flag');
  });

  it('gives every POST a fresh idempotency key and the JSON body', async () => {
    api.handler = (_req, res) => json(res, 201, TENANT);
    const args = ['tenants', 'create', '--slug', 'acme', '--name', 'Acme', '--plan', 'pro', '--seats', '5'];
    expect((await run([...args, '--placement', 'schema', '--trial-days', '0'])).code).toBe(0);
    expect((await run(args)).code).toBe(0);
    const [first, second] = api.seen;
    expect(first?.method).toBe('POST');
    expect(first?.headers['idempotency-key']).toMatch(UUID);
    expect(second?.headers['idempotency-key']).toMatch(UUID);
    expect(first?.headers['idempotency-key']).not.toBe(second?.headers['idempotency-key']);
    expect(JSON.parse(first?.body ?? '')).toEqual({
      slug: 'acme',
      name: 'Acme',
      plan: 'pro',
      placement: 'schema',
      trial_days: 0,
      seats: 5,
    });
    expect(JSON.parse(second?.body ?? '')).toEqual({ slug: 'acme', name: 'Acme', plan: 'pro', seats: 5 });
  });

  it('retries a POST once after a dropped connection, with the same idempotency key', async () => {
    api.handler = (req, res) => {
      // The first attempt "reaches" the server, then the connection dies before any answer.
      if (req === api.seen[0]) res.socket?.destroy();
      else json(res, 200, { ...TENANT, state: 'suspended', state_reason: 'unpaid' });
    };
    const result = await run(['tenants', 'suspend', 'acme', '--reason', 'unpaid']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('acme (ten_01ACME) is now suspended (unpaid)\n');
    expect(api.seen).toHaveLength(2);
    const [first, second] = api.seen;
    expect(first?.headers['idempotency-key']).toMatch(UUID);
    expect(second?.headers['idempotency-key']).toBe(first?.headers['idempotency-key']);
    expect(second?.body).toBe(first?.body);
    expect(JSON.parse(second?.body ?? '')).toEqual({ reason: 'unpaid' });
  });

  it('gives up after one retry and says the control plane cannot be reached', async () => {
    api.handler = (_req, res) => res.socket?.destroy();
    const result = await run(['keys', 'create', '--name', 'ci']);
    expect(result.code).toBe(2);
    expect(api.seen).toHaveLength(2);
    expect(result.stderr).toMatch(
      new RegExp(
        `^error: cannot reach the control plane at ${url} \\(.+\\); is 'tenantry serve' running\\?\\n$`,
      ),
    );
  });

  it('reports a server that is not running, naming the URL and the reason', async () => {
    await api.stop();
    const result = await run(['tenants', 'list']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `error: cannot reach the control plane at ${url} (ECONNREFUSED); is 'tenantry serve' running?\n`,
    );
  });
});

describe('problems', () => {
  it('prints a problem as one line with its detail and code', async () => {
    api.handler = (_req, res) =>
      problem(res, 409, 'illegal_transition', 'tenant acme is cancelled and cannot be suspended', {
        allowed_actions: ['delete'],
      });
    const result = await run(['tenants', 'suspend', 'acme']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      'error: tenant acme is cancelled and cannot be suspended [illegal_transition]\n',
    );
  });

  it('exposes the problem on ApiError for library callers', async () => {
    api.handler = (_req, res) => problem(res, 404, 'tenant_not_found', 'no tenant "nope"');
    const client = new ApiClient({ baseUrl: `${url}/`, token: 't' });
    const error = await client.get('/v1/tenants/{id}', { path: { id: 'nope' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({
      status: 404,
      code: 'tenant_not_found',
      detail: 'no tenant "nope"',
      errors: [],
    });
    expect(api.seen[0]?.url).toBe('/v1/tenants/nope');
  });

  it('prints one line per field error when validation fails without line numbers', async () => {
    api.handler = (_req, res) =>
      problem(res, 400, 'validation_failed', 'the request is not valid', {
        errors: [
          { path: 'slug', message: 'must be lowercase letters, digits and hyphens' },
          { path: 'name', message: 'is required' },
        ],
      });
    const result = await run(['tenants', 'create', '--slug', 'Acme!', '--name', 'x', '--plan', 'pro']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('slug: must be lowercase letters, digits and hyphens\nname: is required\n');
  });

  it('prints an answer that is not a problem as one line named by its status', async () => {
    api.handler = (_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>bad gateway</html>');
    };
    const result = await run(['plans', 'list']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`error: HTTP 502 Bad Gateway from ${url} [http_502]\n`);
  });
});

describe('plans apply', () => {
  let dir: string;
  let file: string;
  const source = 'plans:\n  pro:\n    limits:\n      seats: { value: -5 }\n';

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tenantry-cli-'));
    file = join(dir, 'plans.yaml');
    await writeFile(file, source);
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('points validation errors at file:line:column', async () => {
    api.handler = (_req, res) =>
      problem(res, 400, 'validation_failed', 'plans.yaml has 2 errors', {
        errors: [
          { path: 'plans.pro.limits.seats.value', message: 'must be at least 0', line: 4, column: 24 },
          { path: 'plans.pro.name', message: 'is required', line: 2, column: 3 },
        ],
      });
    const result = await run(['plans', 'apply', file]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `${file}:4:24: plans.pro.limits.seats.value: must be at least 0\n${file}:2:3: plans.pro.name: is required\n`,
    );
    expect(api.seen[0]?.url).toBe('/v1/plans/apply');
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({ source, filename: file, dry_run: false });
  });

  it('prints a line per plan, in the conditional for a dry run', async () => {
    api.handler = (req, res) => {
      const dryRun = (JSON.parse(req.body) as { dry_run: boolean }).dry_run;
      json(res, 200, {
        dry_run: dryRun,
        plans: [
          { key: 'free', id: 'pln_0', change: 'unchanged', version: 1, previous_version: 1 },
          { key: 'pro', id: 'pln_1', change: 'updated', version: 2, previous_version: 1 },
          { key: 'team', id: 'pln_2', change: 'created', version: 1, previous_version: null },
        ],
      });
    };
    const applied = await run(['plans', 'apply', file]);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toBe('unchanged free v1\nupdated pro v1 → v2\ncreated team v1\n');
    const dry = await run(['plans', 'apply', file, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toBe(
      'unchanged free v1\nwould update pro v1 → v2\nwould create team v1\ndry run: nothing was stored\n',
    );
    expect(JSON.parse(api.seen[1]?.body ?? '')).toMatchObject({ dry_run: true });
  });

  it("prints a dry run's impact: the counts, then each tenant over a new limit or paying more", async () => {
    api.handler = (_req, res) => {
      json(res, 200, {
        dry_run: true,
        plans: [{ key: 'pro', id: 'pln_1', change: 'updated', version: 2, previous_version: 1 }],
        impact: {
          adoption: 'grandfathered',
          plans: [
            {
              key: 'pro',
              version: 2,
              tenants: 3000,
              examined: 2000,
              over_limit: {
                count: 1,
                tenants: [
                  {
                    id: 'ten_1',
                    slug: 'busy',
                    name: 'Busy',
                    version: 1,
                    limits: [{ key: 'meetings', used: 30, current: 100, new: 20 }],
                  },
                ],
              },
              pays_more: {
                count: 1,
                tenants: [
                  {
                    id: 'ten_1',
                    slug: 'busy',
                    name: 'Busy',
                    version: 1,
                    seats: 8,
                    currency: 'usd',
                    current: '40',
                    new: '60',
                  },
                ],
              },
            },
          ],
        },
      });
    };
    const dry = await run(['plans', 'apply', file, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toBe(
      [
        'would update pro v1 → v2',
        'impact if tenants were moved to the new versions (applying moves nobody; see change-plan):',
        '  pro v2: 3000 tenants (2000 examined), 1 over a limit, 1 paying more',
        '    busy (v1): meetings 30 used, limit 100 → 20',
        '    busy (v1): 40 → 60 usd at 8 seats',
        'dry run: nothing was stored',
        '',
      ].join('\n'),
    );
  });
});

describe('output', () => {
  it('prints a list as an aligned table', async () => {
    api.handler = (_req, res) => json(res, 200, { data: [TENANT, GLOBEX], next_cursor: null });
    const result = await run(['tenants', 'list', '--state', 'active', '--limit', '2']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(api.seen[0]?.url).toBe('/v1/tenants?state=active&limit=2');
    expect(result.stdout).toBe(
      [
        'ID            SLUG                NAME    STATE     PLAN     PLACEMENT  REGION   CREATED',
        'ten_01ACME    acme                Acme    active    pro v2   schema     eu-west  2025-01-01 09:30 UTC',
        'ten_02GLOBEX  globex-corporation  Globex  trialing  free v1  pool       -        2025-01-03 08:00 UTC',
        '',
      ].join('\n'),
    );
  });

  it('prints the raw API JSON with --json', async () => {
    const body = { data: [TENANT], next_cursor: 'c2' };
    api.handler = (_req, res) => json(res, 200, body);
    const result = await run(['tenants', 'list', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(body);
    expect(result.stdout).toBe(`${JSON.stringify(body, null, 2)}\n`);
  });

  it('follows next_cursor with --all and hints at more pages without it', async () => {
    api.handler = (req, res) =>
      req.url.includes('cursor=c2')
        ? json(res, 200, { data: [GLOBEX], next_cursor: null })
        : json(res, 200, { data: [TENANT], next_cursor: 'c2' });
    const all = await run(['tenants', 'list', '--all']);
    expect(all.code).toBe(0);
    expect(api.seen.map((s) => s.url)).toEqual(['/v1/tenants', '/v1/tenants?cursor=c2']);
    expect(
      all.stdout
        .trimEnd()
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s+/)[0]),
    ).toEqual(['ten_01ACME', 'ten_02GLOBEX']);
    const one = await run(['tenants', 'list']);
    expect(one.stdout.trimEnd().split('\n')).toHaveLength(2);
    expect(one.stderr).toBe('more tenants: pass --all, or --cursor c2\n');
  });

  it('prints one object as an aligned key: value block', async () => {
    api.handler = (_req, res) => json(res, 200, TENANT);
    const result = await run(['tenants', 'show', 'ten_01ACME']);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines).toContain('id:           ten_01ACME');
    expect(lines).toContain('plan:         pro v2');
    expect(lines).toContain('state:        active');
    expect(lines).toContain('resources:    schema=t_acme, role=tenantry_acme');
    expect(lines).toContain('data plane:   dpl_default (healthy)');
    expect(lines).toContain('provisioning: succeeded');
    expect(lines.every((line) => /^[a-z ]+: {1,}\S/.test(line))).toBe(true);
  });

  it('shows a new key’s secret once, with a warning', async () => {
    api.handler = (_req, res) =>
      json(res, 201, {
        id: 'key_1',
        name: 'ci',
        kind: 'operator',
        display_prefix: 'tk_abc',
        created_at: '2025-01-01T00:00:00.000Z',
        revoked_at: null,
        secret: 'tk_abc_very_secret',
      });
    const result = await run(['keys', 'create', '--name', 'ci']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('secret:  tk_abc_very_secret\n');
    expect(result.stdout).toContain('will not be shown again');
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({ name: 'ci' });
  });
});
