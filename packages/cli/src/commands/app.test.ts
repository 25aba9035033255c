import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { json, LocalApi } from '../../test/local-api.ts';
import { runCaptured } from '../../test/run-captured.ts';

/**
 * `app migrate` needs a real PostgreSQL (the same server the server suite uses) for the targets;
 * the control plane that lists them is the CLI tests' local stand-in.
 */
// As a deployment sets it: the runner installs the tenant binding and keeps schema tenants' tables to it.
const bindingKey = randomBytes(32).toString('hex');
const adminUrl = process.env.TENANTRY_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

let api: LocalApi;
let apiUrl: string;
let dir: string;
let database: string;
let databaseUrl: string;
/** Two `schema` tenants made as the provisioner makes them: a NOLOGIN role owning a schema. */
let tenants: Array<{ id: string; slug: string; role: string }>;

async function admin<T>(fn: (client: pg.Client) => Promise<T>, url = adminUrl): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

beforeEach(async () => {
  const suffix = randomBytes(5).toString('hex');
  database = `tenantry_cli_${suffix}`;
  await admin((c) => c.query(`create database ${database}`));
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  databaseUrl = url.toString();
  tenants = ['a', 'b'].map((n) => ({
    id: `ten_cli${suffix}${n}`,
    slug: `acme-${n}`,
    role: `tenantry_ten_cli${suffix}${n}`,
  }));
  await admin(async (c) => {
    for (const t of tenants) {
      await c.query(`create role ${t.role} nologin`);
      await c.query(`grant ${t.role} to current_user`);
      await c.query(`create schema ${t.id} authorization ${t.role}`);
    }
  }, databaseUrl);
  api = new LocalApi();
  api.handler = (req, res) => {
    const query = new URL(req.url, 'http://x').searchParams;
    if (req.headers.authorization !== 'Bearer tk_secret') return json(res, 401, {});
    const data =
      query.get('placement') === 'schema'
        ? tenants.map((t) => ({
            id: t.id,
            slug: t.slug,
            state: 'active',
            placement: 'schema',
            resources: { placement: 'schema', data_plane: 'dpl_default', schema: t.id, role: t.role },
          }))
        : [];
    json(res, 200, { data, next_cursor: null });
  };
  apiUrl = await api.start();
  dir = await mkdtemp(join(tmpdir(), 'tenantry-cli-app-'));
  await writeFile(join(dir, '0001_meetings.sql'), 'create table meetings (id bigint primary key);\n');
  await writeFile(join(dir, '0002_minutes.sql'), 'create table minutes (id bigint primary key);\n');
});

afterEach(async () => {
  await api.stop();
  await rm(dir, { recursive: true, force: true });
  await admin(async (c) => {
    await c.query(`drop database if exists ${database} with (force)`);
    for (const t of tenants) await c.query(`drop role if exists ${t.role}`);
  });
});

/** Runs the CLI; `tty` makes stdout a terminal, as a person running it would have. */
function run(args: string[], options: { tty?: boolean; env?: Record<string, string> } = {}) {
  return runCaptured(
    args,
    { TENANTRY_URL: apiUrl, TENANTRY_TOKEN: 'tk_secret', TENANTRY_BINDING_KEY: bindingKey, ...options.env },
    options,
  );
}

async function migrate(extra: string[] = [], options: { tty?: boolean; env?: Record<string, string> } = {}) {
  return run(['app', 'migrate', '--dir', dir, '--database-url', databaseUrl, ...extra], options);
}

function lines(stdout: string): any[] {
  return stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

async function tablesOf(schema: string): Promise<string[]> {
  const rows = await admin(
    (c) => c.query(`select tablename from pg_tables where schemaname = '${schema}' order by 1`),
    databaseUrl,
  );
  return rows.rows.map((r) => r.tablename);
}

describe('app migrate', () => {
  it('prints one JSON line per target as it finishes, then the report, when stdout is not a terminal', async () => {
    const result = await migrate();
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const printed = lines(result.stdout);
    const report = printed.at(-1);
    // Targets run concurrently: each line comes when its target finishes, in no fixed order.
    const targets = printed.slice(0, -1);
    expect(targets).toHaveLength(3);
    const pool = targets.find((line) => line.target === 'pool');
    const [a, b] = targets.filter((line) => line.target !== 'pool');
    expect(pool).toMatchObject({
      type: 'target',
      target: 'pool',
      slug: null,
      placement: 'pool',
      schema: 'public',
      status: 'applied',
      dry_run: false,
      from_version: 0,
      to_version: 2,
      error: null,
    });
    expect(pool.applied.map((m: { name: string }) => m.name)).toEqual(['0001_meetings', '0002_minutes']);
    expect([a.target, b.target].sort()).toEqual(tenants.map((t) => t.id).sort());
    expect(a).toMatchObject({
      slug: expect.stringMatching(/^acme-/),
      placement: 'schema',
      status: 'applied',
    });
    expect(report).toMatchObject({
      type: 'report',
      dry_run: false,
      migrations: 2,
      latest_version: 2,
      targets: 3,
      applied: 3,
      up_to_date: 0,
      failed: 0,
      skipped: 0,
      migrations_applied: 6,
    });
    for (const t of tenants)
      expect(await tablesOf(t.id)).toEqual(['meetings', 'minutes', 'tenantry_migrations']);
    expect(api.seen.map((s) => new URL(s.url, 'http://x').searchParams.get('placement'))).toEqual([
      'schema',
      'database',
    ]);
  });

  it('prints a report for people on a terminal', async () => {
    expect((await migrate()).code).toBe(0);
    const again = await migrate([], { tty: true });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(
      /^3 targets, latest version 2, in \d+\.\d s: 0 applied \(0 migrations\), 3 up to date, 0 failed, 0 skipped\n$/,
    );
  });

  it('--dry-run reports what would apply and changes nothing', async () => {
    const result = await migrate(['--dry-run', '--json']);
    expect(result.code).toBe(0);
    const all = lines(result.stdout);
    expect(all.at(-1)).toMatchObject({ type: 'report', dry_run: true, applied: 3, migrations_applied: 6 });
    expect(all.slice(0, 3).every((l) => l.dry_run === true && l.to_version === 0)).toBe(true);
    for (const t of tenants) expect(await tablesOf(t.id)).toEqual([]);
    expect(await tablesOf('public')).toEqual([]);
  });

  describe('a failing target', () => {
    /** The first tenant in the run's order already has a `minutes` table. */
    async function breakFirstTenant(): Promise<string> {
      const first = [...tenants].sort((x, y) => x.id.localeCompare(y.id))[0] as (typeof tenants)[number];
      await admin((c) => c.query(`create table ${first.id}.minutes (id int)`), databaseUrl);
      return first.id;
    }

    it('exits 2 after the report; by default the targets after it are not started', async () => {
      const broken = await breakFirstTenant();
      const result = await migrate(['--concurrency', '1']);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe('error: 1 of 3 targets failed, 1 not started\n');
      const [pool, failed, skipped, report] = lines(result.stdout);
      expect(pool.status).toBe('applied');
      expect(failed).toMatchObject({
        target: broken,
        status: 'failed',
        from_version: 0,
        to_version: 0,
        error: {
          code: 'migration_failed',
          message: '0002_minutes.sql: relation "minutes" already exists',
          migration: { version: 2, name: '0002_minutes' },
        },
      });
      expect(skipped).toMatchObject({ status: 'skipped', from_version: null });
      expect(report).toMatchObject({ applied: 1, failed: 1, skipped: 1 });
      // Rolled back whole: the tenant has only the table that was in its way.
      expect(await tablesOf(broken)).toEqual(['minutes']);
    });

    it('shows the failures as a table on a terminal, and --keep-going migrates the rest', async () => {
      const broken = await breakFirstTenant();
      const result = await migrate(['--concurrency', '1', '--keep-going'], { tty: true });
      expect(result.code).toBe(2);
      expect(result.stderr).toBe('error: 1 of 3 targets failed\n');
      const slug = tenants.find((t) => t.id === broken)?.slug;
      const text = result.stdout.split('\n');
      expect(text[0]).toMatch(
        /^3 targets, latest version 2, in \d+\.\d s: 2 applied \(4 migrations\), 0 up to date, 1 failed, 0 skipped$/,
      );
      expect(text.slice(1)).toEqual([
        '',
        `FAILED${' '.repeat(`${slug} (${broken})`.length - 4)}VERSION  ERROR`,
        `${slug} (${broken})  0        0002_minutes.sql: relation "minutes" already exists`,
        '',
      ]);
      const other = tenants.find((t) => t.id !== broken)?.id ?? '';
      expect(await tablesOf(other)).toEqual(['meetings', 'minutes', 'tenantry_migrations']);
    });
  });

  it('refuses what it cannot run with one line on stderr and exit code 2', async () => {
    const noUrl = await run(['app', 'migrate', '--dir', dir]);
    expect(noUrl).toMatchObject({ code: 2, stdout: '' });
    expect(noUrl.stderr).toBe('error: no database to migrate; pass --database-url or set DATABASE_URL\n');

    const fromEnv = await run(['app', 'migrate', '--dir', dir, '--dry-run'], {
      env: { DATABASE_URL: databaseUrl },
    });
    expect(fromEnv.code).toBe(0);

    const zero = await migrate(['--concurrency', '0']);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain("option '--concurrency <n>' argument '0' is invalid");

    await writeFile(join(dir, '0004_gap.sql'), 'select 1;');
    const gap = await migrate();
    expect(gap.code).toBe(2);
    expect(gap.stderr).toContain('0004_gap.sql: version 3 is missing');
    expect(gap.stdout).toBe('');

    const noToken = await migrate([], { env: { TENANTRY_TOKEN: '' } });
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toBe('error: no API token; set TENANTRY_TOKEN or pass --token\n');
    expect(await tablesOf('public')).toEqual([]);
  });

  it('--pool-only migrates the pool schema with the tenant binding and asks no control plane', async () => {
    let asked = 0;
    api.handler = (_req, res) => {
      asked += 1;
      json(res, 500, {});
    };
    const noKey = await migrate(['--pool-only'], { env: { TENANTRY_BINDING_KEY: '' } });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain(
      '--pool-only installs the tenant binding the app runs with: set TENANTRY_BINDING_KEY',
    );
    expect(await tablesOf('public')).toEqual([]);

    // No token and no URL either: a self-hosted operator has neither.
    const result = await migrate(['--pool-only'], { env: { TENANTRY_TOKEN: '', TENANTRY_URL: '' } });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(lines(result.stdout).at(-1)).toMatchObject({ type: 'report', targets: 1, applied: 1, failed: 0 });
    expect(await tablesOf('public')).toEqual(['meetings', 'minutes', 'tenantry_migrations']);
    // The schema tenants the control plane would have listed are left alone.
    for (const t of tenants) expect(await tablesOf(t.id)).toEqual([]);
    expect(asked).toBe(0);
    const installed = await admin(
      (c) =>
        c.query<{ fn: string | null }>(`select to_regprocedure('tenantry.current_tenant()')::text as fn`),
      databaseUrl,
    );
    expect(installed.rows[0]?.fn).toBe('tenantry.current_tenant()');
  });
});

describe('app rollout', () => {
  /** The reports the control plane got, as `target stage`. */
  let reports: string[];
  let runsCreated: unknown[];

  beforeEach(() => {
    reports = [];
    runsCreated = [];
    const tenantsHandler = api.handler;
    api.handler = (req, res) => {
      if (req.method === 'POST' && req.url === '/v1/migration-runs') {
        runsCreated.push(JSON.parse(req.body));
        return json(res, 201, { id: 'mgr_01jz0000000000000000000000' });
      }
      const report = /^\/v1\/migration-runs\/mgr_\w+\/targets\/(\w+)$/.exec(req.url);
      if (req.method === 'POST' && report) {
        reports.push(`${report[1]} ${JSON.parse(req.body).stage}`);
        return json(res, 200, {});
      }
      // The coordinator reads the run back for retried targets: each target at its last reported stage.
      if (req.method === 'GET' && /^\/v1\/migration-runs\/mgr_\w+$/.test(req.url)) {
        const stages = new Map(reports.map((r) => r.split(' ') as [string, string]));
        return json(res, 200, {
          id: 'mgr_01jz0000000000000000000000',
          targets: [...stages].map(([target, stage]) => ({ target, stage })),
        });
      }
      tenantsHandler(req, res);
    };
  });

  async function rollout(extra: string[] = [], options: { tty?: boolean } = {}) {
    return run(['app', 'rollout', '--dir', dir, '--database-url', databaseUrl, ...extra], options);
  }

  it('prints a summary per stage for people on a terminal, and why each target that did not end well', async () => {
    const b = tenants[1] as (typeof tenants)[number];
    await admin((c) => c.query(`create table "${b.id}".minutes (x int)`), databaseUrl);
    const result = await rollout([], { tty: true });
    expect(result.code).toBe(2);
    const text = result.stdout.split('\n');
    expect(text[0]).toMatch(
      /^run mgr_01jz0000000000000000000000: failed, 3 targets to version 2 in [\d.]+ s$/,
    );
    expect(text.slice(1, 4).map((l) => l.split(/\s+/).join(' '))).toEqual([
      'STAGE TARGETS',
      'verified 2',
      'failed 1',
    ]);
    expect(result.stdout).toMatch(
      new RegExp(
        `${b.slug} \\(${b.id}\\)\\s+failed\\s+0\\s+0002_minutes.sql: relation "minutes" already exists`,
      ),
    );
    expect(result.stderr).toBe('error: 1 of 3 targets failed, 0 skipped\n');
  });

  it('skips the target whose backup check fails, with its reason, and exits non-zero after the summary', async () => {
    const [a, b] = tenants as [(typeof tenants)[number], (typeof tenants)[number]];
    const check = `if [ "$TENANTRY_TENANT_SLUG" = "${b.slug}" ]; then echo "no snapshot since Monday" >&2; exit 3; fi`;
    const result = await rollout(['--backup-check', check]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('error: 0 of 3 targets failed, 1 skipped\n');
    const report = lines(result.stdout).at(-1);
    expect(report).toMatchObject({
      type: 'report',
      run_id: 'mgr_01jz0000000000000000000000',
      state: 'failed',
    });
    expect(report.counts).toMatchObject({ verified: 2, skipped: 1 });
    expect(report.targets.find((x: { target: string }) => x.target === b.id)).toMatchObject({
      stage: 'skipped',
      error: {
        code: 'backup_not_confirmed',
        message: 'no recent backup confirmed: no snapshot since Monday (exit code 3)',
      },
    });
    expect(await tablesOf(a.id)).toEqual(['meetings', 'minutes', 'tenantry_migrations']);
    expect(await tablesOf(b.id)).toEqual([]);
    expect(reports).toContain(`${a.id} applying`);
    expect(reports).toContain(`${a.id} verified`);
    expect(reports).toContain(`${b.id} skipped`);
    expect(reports).not.toContain(`${b.id} prechecked`);
  });

  it('rolls back the target whose --verify-sql is not true', async () => {
    const [a, b] = tenants as [(typeof tenants)[number], (typeof tenants)[number]];
    const verify = join(dir, 'verify.sql.txt');
    await writeFile(verify, `select current_schema() <> '${a.id}' as ok`);
    const result = await rollout(['--verify-sql', verify, '--canary', b.slug]);
    expect(result.code).toBe(2);
    const report = lines(result.stdout).at(-1);
    expect(
      report.targets.map((x: { target: string; stage: string; canary: boolean }) => [
        x.target,
        x.stage,
        x.canary,
      ]),
    ).toEqual([
      [b.id, 'verified', true],
      ['pool', 'verified', false],
      [a.id, 'failed', false],
    ]);
    expect(runsCreated).toEqual([
      expect.objectContaining({ canary: b.slug, dry_run: false, target_version: 2 }),
    ]);
    expect(await tablesOf(a.id)).toEqual([]);
  });

  it('changes nothing in a dry run and exits 0 when every target passes', async () => {
    // The backup hook is the vendor's script: it gets neither the control plane's key nor the
    // databases' URL nor the binding key, which it has no use for (it confirms only with none set).
    const check =
      'test -z "$TENANTRY_TOKEN" && test -z "$DATABASE_URL" && test -z "$TENANTRY_BINDING_KEY" && test -n "$TENANTRY_TARGET"';
    const result = await run(
      ['app', 'rollout', '--dir', dir, '--dry-run', '--canary', '50%', '--backup-check', check],
      { env: { DATABASE_URL: databaseUrl } },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(lines(result.stdout).at(-1)).toMatchObject({
      state: 'succeeded',
      dry_run: true,
      counts: { dry_run: 3 },
    });
    for (const t of tenants) expect(await tablesOf(t.id)).toEqual([]);
  });

  /** Lists one byoi_agent tenant; `agents` answers the control plane's agent routes, or null for the rest. */
  function withAgentTenant(agents: (req: { method: string; url: string; body: string }) => unknown) {
    const listing = api.handler;
    api.handler = (req, res) => {
      const url = new URL(req.url, 'http://x');
      if (url.pathname.startsWith('/v1/agents')) return json(res, 200, agents(req));
      if (url.searchParams.get('placement') !== 'byoi_agent') return listing(req, res);
      json(res, 200, {
        data: [
          {
            id: 'ten_agent',
            slug: 'onprem',
            state: 'active',
            placement: 'byoi_agent',
            resources: { placement: 'byoi_agent', data_plane: 'dpl_agent', agent: 'agt_one', schema: 'app' },
          },
        ],
        next_cursor: null,
      });
    };
  }

  it('migrates a byoi_agent tenant through its agent’s migrate job, says its post-check is the agent’s, and --no-byoi leaves it out', async () => {
    const sent: unknown[] = [];
    withAgentTenant((req) => {
      if (req.method === 'GET' && req.url.startsWith('/v1/agents?'))
        return {
          data: [
            { id: 'agt_one', tenant_id: 'ten_agent', state: 'active', created_at: '2026-11-01T00:00:00Z' },
          ],
          next_cursor: null,
        };
      const job = { id: 'agj_one', agent_id: 'agt_one', tenant_id: 'ten_agent', type: 'migrate' };
      if (req.method === 'POST') {
        sent.push(JSON.parse(req.body));
        return { ...job, state: 'queued', output: null, error: null };
      }
      return {
        ...job,
        state: 'succeeded',
        error: null,
        output: {
          schema: 'app',
          status: 'applied',
          dry_run: false,
          from_version: 0,
          to_version: 2,
          applied: [
            { version: 1, name: '0001_meetings', duration_ms: 3 },
            { version: 2, name: '0002_minutes', duration_ms: 2 },
          ],
        },
      };
    });
    const placements = () =>
      api.seen.flatMap((s) => new URL(s.url, 'http://x').searchParams.getAll('placement'));

    const verify = join(dir, 'verify.sql.txt');
    await writeFile(verify, 'select true');
    const result = await rollout(['--verify-sql', verify], { tty: true });

    expect(placements()).toEqual(['schema', 'database', 'byoi', 'byoi_agent']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      '1 byoi_agent target was migrated by its agent: the schema check and verification query do not run there',
    );
    expect(sent).toEqual([
      {
        type: 'migrate',
        input: { schema: 'app', dry_run: false },
        idempotency_key: 'migration-run:mgr_01jz0000000000000000000000:ten_agent',
      },
    ]);
    expect(reports).toEqual(
      expect.arrayContaining(['ten_agent prechecked', 'ten_agent applying', 'ten_agent applied']),
    );

    const asLines = await rollout();
    expect(lines(asLines.stdout).at(-1).targets).toContainEqual(
      expect.objectContaining({
        target: 'ten_agent',
        placement: 'byoi_agent',
        stage: 'applied',
        version_before: 0,
        version_after: 2,
        post_checks: 'agent',
        agent_job: { agent_id: 'agt_one', job_id: 'agj_one' },
      }),
    );

    api.seen.length = 0;
    const vendorOnly = await rollout(['--no-byoi']);
    expect(vendorOnly.code).toBe(0);
    expect(placements()).toEqual(['schema', 'database']);
    expect(api.seen.some((s) => s.url.startsWith('/v1/agents'))).toBe(false);
  });

  it('fails a byoi_agent tenant whose agent refuses the job with the refusal’s code, and one whose agent has another release’s migrations with agent_version_mismatch', async () => {
    let answer: Record<string, unknown> = {};
    withAgentTenant((req) => {
      if (req.method === 'GET' && req.url.startsWith('/v1/agents?'))
        return {
          data: [
            { id: 'agt_one', tenant_id: 'ten_agent', state: 'active', created_at: '2026-11-01T00:00:00Z' },
          ],
          next_cursor: null,
        };
      return { id: 'agj_one', agent_id: 'agt_one', tenant_id: 'ten_agent', type: 'migrate', ...answer };
    });
    const agentTarget = async () => {
      const result = await rollout();
      expect(result.code).toBe(2);
      return lines(result.stdout)
        .at(-1)
        .targets.find((x: { target: string }) => x.target === 'ten_agent');
    };

    answer = {
      state: 'refused',
      output: null,
      error: { code: 'not_allowed', message: 'the customer allows noop, health_check only' },
    };
    expect(await agentTarget()).toMatchObject({
      stage: 'failed',
      error: {
        code: 'not_allowed',
        message:
          'the agent refused the migrate job (agent agt_one, job agj_one): the customer allows noop, health_check only',
      },
    });

    // The agent's folder stops at 0001: it committed version 1, the run's is 2.
    answer = {
      state: 'succeeded',
      error: null,
      output: {
        schema: 'app',
        status: 'applied',
        dry_run: false,
        from_version: 0,
        to_version: 1,
        applied: [{ version: 1, name: '0001_meetings', duration_ms: 3 }],
      },
    };
    const behind = await agentTarget();
    expect(behind).toMatchObject({
      stage: 'failed',
      version_before: 0,
      version_after: 1,
      error: { code: 'agent_version_mismatch' },
    });
    expect(behind.error.message).toContain("it brought the schema to version 1, the run's is 2");
  });

  it('fails a byoi_agent tenant with no active agent (agent_not_enrolled), never skipping it silently', async () => {
    withAgentTenant(() => ({ data: [], next_cursor: null }));

    const result = await rollout();

    expect(result.code).toBe(2);
    expect(result.stderr).toBe('error: 1 of 4 targets failed, 0 skipped\n');
    expect(lines(result.stdout).at(-1).targets).toContainEqual(
      expect.objectContaining({
        target: 'ten_agent',
        placement: 'byoi_agent',
        stage: 'failed',
        agent_job: null,
        error: expect.objectContaining({
          code: 'agent_not_enrolled',
          message: expect.stringContaining('/v1/tenants/ten_agent/agent-enrolments'),
        }),
      }),
    );
    expect(reports).toContain('ten_agent failed');
  });

  it('refuses bad input with one line on stderr and exit code 2, recording no run', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--canary', '0%'], /^error: --canary 0%: a percentage is above 0 and at most 100/],
      [['--canary', '101%'], /^error: --canary 101%/],
      [['--canary', 'nobody'], /^error: canary nobody: no target of this run is that tenant/],
      [
        ['--verify-sql', join(dir, 'missing.sql')],
        /^error: --verify-sql .*missing\.sql: cannot read it \(ENOENT\)/,
      ],
    ];
    for (const [extra, message] of cases) {
      const result = await rollout(extra);
      expect(result.code, extra.join(' ')).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    }
    const missing = await run(['app', 'rollout', '--dir', join(dir, 'nope'), '--database-url', databaseUrl]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^error: cannot read the migrations folder/);
    expect(runsCreated).toEqual([]);
    for (const t of tenants) expect(await tablesOf(t.id)).toEqual([]);
  });
});
