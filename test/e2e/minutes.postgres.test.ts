// The reference app, run the way its README says: `tenantry serve` on PostgreSQL with the app's
// role and migrations, the app's plans applied and its pool tables migrated with the CLI, tenants
// in every placement, and `examples/minutes` in a process of its own beside it. PostgreSQL only:
// the app connects to the vendor's database server as its own role, which PGlite cannot serve.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { adminUrl, createTestDatabase, type TestDatabase } from '../../packages/server/test/harness.ts';
import { bin, E2E_TIMEOUT_MS, freePort, type ServeProcess, startServe, until } from './tenantry-process.ts';

const run = promisify(execFile);
const example = join(import.meta.dirname, '..', '..', 'examples', 'minutes');
const appRole = `minutes_app_${randomBytes(4).toString('hex')}`;
const appPassword = randomBytes(12).toString('hex');

let database: TestDatabase;
let databaseUrl: string;
let server: ServeProcess | undefined;
let minutes: ChildProcess | undefined;
let spool: string;
let url: string;
let appUrl: string;
// The operator's key, in the earlier (checksum-less) format a person makes with openssl: such
// bootstrap tokens stay valid. The app itself runs on an app key made from it below.
const token = `tnt_op_${randomBytes(24).toString('base64url')}`;

async function cli(...args: string[]): Promise<any> {
  const { stdout } = await run(process.execPath, [bin, ...args, '--json'], {
    env: { ...process.env, TENANTRY_URL: url, TENANTRY_TOKEN: token },
  });
  return JSON.parse(stdout);
}

async function asAdmin(sql: string, url = adminUrl): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Calls the minutes app as `accessToken`'s tenant and subject. */
async function call(
  accessToken: string | null,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${appUrl}${path}`, {
    method,
    headers: {
      ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** The database URL with the app's own role in place of the administrator. */
function asAppRole(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  url.username = appRole;
  url.password = appPassword;
  return url.toString();
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

beforeAll(async () => {
  // The tenant binding key, as a vendor sets it for the control plane, `tenantry app migrate` and
  // the app alike: every process below inherits it.
  process.env.TENANTRY_BINDING_KEY = randomBytes(32).toString('hex');
  database = await createTestDatabase();
  databaseUrl = (database.target as { url: string }).url;
  // What the vendor does once, as in the README: the app's own login role, which owns nothing and
  // bypasses nothing, may read and write the pool tables the migrations will create.
  await asAdmin(`create role ${appRole} login password '${appPassword}'`);
  await asAdmin(
    `alter default privileges in schema public grant select, insert, update, delete on tables to ${appRole}`,
    databaseUrl,
  );
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  server = await startServe({
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
    // As a deployment on PostgreSQL gives it: the key that seals secrets at rest.
    TENANTRY_MASTER_KEY: randomBytes(32).toString('base64'),
    TENANTRY_BOOTSTRAP_TOKEN: token,
    TENANTRY_PUBLIC_URL: url,
    TENANTRY_APP_ROLE: appRole,
    TENANTRY_APP_MIGRATIONS: join(example, 'migrations'),
  });
  spool = mkdtempSync(join(tmpdir(), 'minutes-spool-'));
}, E2E_TIMEOUT_MS);

afterAll(async () => {
  await stop(minutes);
  await stop(server?.child);
  await database.drop();
  await asAdmin(`drop role if exists ${appRole}`);
  rmSync(spool, { recursive: true, force: true });
});

test('the minutes app keeps every placement’s tenants apart, gates a feature, enforces its monthly limit and records meetings as usage', async () => {
  await run(process.execPath, [bin, 'plans', 'apply', join(example, 'plans.yaml')], {
    env: { ...process.env, TENANTRY_URL: url, TENANTRY_TOKEN: token },
  });
  // Before any tenant exists, so the one target is the pool schema; later tenants are migrated as
  // they are provisioned. The last JSON line is the run's report.
  const migrated = await run(
    process.execPath,
    [bin, 'app', 'migrate', '--dir', join(example, 'migrations'), '--database-url', databaseUrl, '--json'],
    { env: { ...process.env, TENANTRY_URL: url, TENANTRY_TOKEN: token } },
  );
  const report = JSON.parse(migrated.stdout.trim().split('\n').at(-1) ?? '{}');
  expect(report).toMatchObject({ type: 'report', targets: 1, applied: 1, failed: 0 });

  const tenants: Record<string, { id: string; token: string }> = {};
  for (const [placement, plan] of [
    ['pool', 'free'],
    ['schema', 'team'],
    ['database', 'free'],
  ] as const) {
    const slug = `minutes-${placement}-${randomBytes(3).toString('hex')}`;
    const created = await cli(
      'tenants',
      'create',
      '--slug',
      slug,
      '--name',
      slug,
      '--plan',
      plan,
      '--placement',
      placement,
    );
    const tenant =
      created.state === 'provisioning'
        ? await until(`${slug} leaves provisioning`, async () => {
            const shown = await cli('tenants', 'show', slug);
            return shown.state === 'provisioning' ? undefined : shown;
          })
        : created;
    expect(tenant.state, JSON.stringify(tenant)).toBe('active');
    // A member's permissions (../../examples/minutes/access.yaml), which the routes check.
    const minted = await cli(
      'tokens',
      'mint',
      '--tenant',
      slug,
      '--subject',
      `alice@${placement}`,
      ...['meetings:read', 'meetings:write', 'analytics:read'].flatMap((p) => ['--permission', p]),
    );
    tenants[placement] = { id: tenant.id, token: minted.access_token };
  }

  // The app holds an app key, not the operator's: only what the SDK calls.
  const appKey = await cli('keys', 'create', '--name', 'minutes', '--preset', 'app');
  expect(appKey).toMatchObject({
    kind: 'restricted',
    scopes: [
      'tenants:read',
      'entitlements:read',
      'usage:write',
      'leases:write',
      'secrets:decrypt',
      'tenant-keys:verify',
    ],
  });
  const asApp = (path: string, init: RequestInit = {}) =>
    fetch(`${url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${appKey.secret}`, ...init.headers },
    });
  const escalation = await asApp('/v1/api-keys', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'more' }),
  });
  expect(escalation.status).toBe(403);
  expect(((await escalation.json()) as { code: string }).code).toBe('insufficient_scope');
  expect((await asApp(`/v1/tenants/${tenants.pool?.id}/invoices`)).status).toBe(403);

  const appPort = await freePort();
  appUrl = `http://127.0.0.1:${appPort}`;
  minutes = spawn(process.execPath, [join(example, 'src', 'server.ts')], {
    env: {
      ...process.env,
      PORT: String(appPort),
      TENANTRY_URL: url,
      TENANTRY_TOKEN: appKey.secret,
      MINUTES_DATABASE_URL: asAppRole(databaseUrl),
      MINUTES_SPOOL_DIR: spool,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  minutes.stdout?.on('data', (chunk) => (output += chunk));
  minutes.stderr?.on('data', (chunk) => (output += chunk));
  await until('the minutes app listens', async () => {
    expect(minutes?.exitCode, output).toBeNull();
    return output.includes('minutes listening on') || undefined;
  });

  // The tenant comes from the token only.
  expect((await call(null, 'GET', '/v1/meetings')).status).toBe(401);
  const forged = await fetch(`${appUrl}/v1/meetings`, { headers: { 'x-tenant-id': tenants.pool?.id ?? '' } });
  expect(forged.status).toBe(401);

  const ids: Record<string, string> = {};
  for (const [placement, { id, token: accessToken }] of Object.entries(tenants)) {
    const me = await call(accessToken, 'GET', '/v1/me');
    expect(me.body).toMatchObject({ tenant_id: id, subject: `alice@${placement}` });
    const meeting = await call(accessToken, 'POST', '/v1/meetings', { title: `Kick-off (${placement})` });
    expect(meeting.status, JSON.stringify(meeting.body)).toBe(201);
    ids[placement] = meeting.body.id;
    expect(
      (await call(accessToken, 'PUT', `/v1/meetings/${meeting.body.id}/minutes`, { body: 'We agreed.' }))
        .status,
    ).toBe(200);
    expect(
      (
        await call(accessToken, 'POST', `/v1/meetings/${meeting.body.id}/action-items`, {
          description: 'Send the notes',
          assignee: 'bob',
        })
      ).status,
    ).toBe(201);
  }

  // Each tenant sees its own meeting and nobody else's, whatever the placement.
  for (const [placement, { token: accessToken }] of Object.entries(tenants)) {
    const list = await call(accessToken, 'GET', '/v1/meetings');
    expect(list.body.meetings.map((m: { id: string }) => m.id)).toEqual([ids[placement]]);
    for (const [other, otherId] of Object.entries(ids)) {
      if (other === placement) continue;
      const peek = await call(accessToken, 'GET', `/v1/meetings/${otherId}`);
      expect(peek.status).toBe(404);
      expect(peek.body.code).toBe('meeting_not_found');
    }
    const own = await call(accessToken, 'GET', `/v1/meetings/${ids[placement]}`);
    expect(own.body).toMatchObject({
      minutes: { body: 'We agreed.' },
      action_items: [{ description: 'Send the notes' }],
    });
  }

  // A token without meetings:write (a viewer's) reads but is refused writing, naming the permission.
  const viewer = await cli(
    'tokens',
    'mint',
    '--tenant',
    tenants.pool?.id ?? '',
    '--subject',
    'victor@pool',
    '--permission',
    'meetings:read',
  );
  expect((await call(viewer.access_token, 'GET', '/v1/meetings')).status).toBe(200);
  const readOnly = await call(viewer.access_token, 'POST', '/v1/meetings', { title: 'Not mine to make' });
  expect(readOnly.status).toBe(403);
  expect(readOnly.body).toMatchObject({ code: 'permission_denied', permission: 'meetings:write' });
  expect((await call(viewer.access_token, 'GET', '/v1/analytics')).body.permission).toBe('analytics:read');

  // The plan feature: the Team plan has analytics, the Free plan does not.
  const free = tenants.pool as { id: string; token: string };
  const team = tenants.schema as { id: string; token: string };
  const denied = await call(free.token, 'GET', '/v1/analytics');
  expect(denied.status).toBe(403);
  expect(denied.body.code).toBe('feature_not_in_plan');
  const analytics = await call(team.token, 'GET', '/v1/analytics');
  expect(analytics.status).toBe(200);
  expect(analytics.body).toMatchObject({ retention_days: 365, months: [{ meetings: 1, open_items: 1 }] });

  // The Free plan's 3 meetings a month: two more pass, the fourth gets a clear problem.
  for (const title of ['Standup', 'Retro']) {
    expect((await call(free.token, 'POST', '/v1/meetings', { title })).status).toBe(201);
  }
  const refused = await call(free.token, 'POST', '/v1/meetings', { title: 'One too many' });
  expect(refused.status).toBe(429);
  expect(refused.body.code).toBe('meeting_limit_reached');
  expect(refused.body.detail).toContain('allows 3 meetings a month');

  // Stopping the app sends the usage it recorded: 3 meetings for the free pool tenant, the
  // refused one not among them; 1 for the team tenant.
  await stop(minutes);
  const used = async (tenantId: string) => {
    const response = await fetch(`${url}/v1/tenants/${tenantId}/usage?meter=meetings`, {
      headers: { authorization: `Bearer ${token}` },
    });
    return ((await response.json()) as { total: number }).total;
  };
  expect(await used(free.id)).toBe(3);
  expect(await used(team.id)).toBe(1);
}, 900_000); // E2E_TIMEOUT_MS, a safety net only (a literal keeps the formatter's layout of this call)
