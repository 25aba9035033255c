// The offline round trip, end to end, across two processes that share no database and never talk:
// A, the vendor's control plane with the minutes plans, issues a license; B, examples/minutes
// self-hosted with only that license file, the vendor's public keys and its own database, runs
// while A is down; its usage report, exported from its state directory, is imported into A and
// counted as the tenant's usage. PostgreSQL only: B's data layer needs roles and row-level
// security that PGlite cannot serve.
import { type ChildProcess, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { adminUrl, createTestDatabase, type TestDatabase } from '../../packages/server/test/harness.ts';
import {
  bin,
  E2E_TIMEOUT_MS,
  freePort,
  type ServeProcess,
  startProcess,
  startServe,
} from './tenantry-process.ts';

const run = promisify(execFile);
const example = join(import.meta.dirname, '..', '..', 'examples', 'minutes');
const suffix = randomBytes(4).toString('hex');
const appRole = `minutes_b_app_${suffix}`;
const appPassword = randomBytes(12).toString('hex');
/** B's own database: a name A never hears of. */
const databaseB = `minutes_selfhosted_b_${suffix}`;
/** B's tenant binding key: its operator's, which A never has. */
const bindingKey = randomBytes(32).toString('hex');

let database: TestDatabase;
let serveEnv: Record<string, string>;
let server: ServeProcess | undefined;
let minutes: ServeProcess | undefined;
let work: string;
let url: string;
const token = `tnt_op_${randomBytes(24).toString('base64url')}`;

/** An environment with nothing of A in it: no control plane's URL, token or database. */
function withoutControlPlane(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env))
    if (!name.startsWith('TENANTRY_') && name !== 'DATABASE_URL') env[name] = value;
  return { ...env, ...extra };
}

/** The `tenantry` CLI as the vendor's operator, against A. */
async function cli(...args: string[]): Promise<any> {
  const { stdout } = await run(process.execPath, [bin, ...args, '--json'], {
    env: { ...process.env, TENANTRY_URL: url, TENANTRY_TOKEN: token },
  });
  return JSON.parse(stdout);
}

async function asAdmin<T = unknown>(
  sql: string,
  values: unknown[] = [],
  on = adminUrl,
): Promise<pg.QueryResult<T & pg.QueryResultRow>> {
  const client = new pg.Client({ connectionString: on });
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end();
  }
}

function urlOf(database: string, user?: { name: string; password: string }): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  if (user !== undefined) {
    url.username = user.name;
    url.password = user.password;
  }
  return url.toString();
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function startA(): Promise<void> {
  server = await startServe(serveEnv);
}

async function stopA(): Promise<void> {
  await stop(server?.child);
  server = undefined;
}

/** B: the minutes app on the license, the keys, its state directory and its own database. */
async function startB(appUrl: string): Promise<ServeProcess> {
  return startProcess(
    process.execPath,
    [join(example, 'src', 'server.ts')],
    {
      env: withoutControlPlane({
        PORT: new URL(appUrl).port,
        MINUTES_LICENSE_FILE: join(work, 'license.jwt'),
        MINUTES_LICENSE_KEYS: join(work, 'license-keys.json'),
        MINUTES_STATE_DIR: join(work, 'state'),
        MINUTES_DATABASE_URL: urlOf(databaseB, { name: appRole, password: appPassword }),
        TENANTRY_BINDING_KEY: bindingKey,
      }),
    },
    'minutes listening on',
  );
}

async function call(appUrl: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${appUrl}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

beforeAll(async () => {
  database = await createTestDatabase();
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  serveEnv = {
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    DATABASE_URL: (database.target as { url: string }).url,
    TENANTRY_MASTER_KEY: randomBytes(32).toString('base64'),
    TENANTRY_BOOTSTRAP_TOKEN: token,
    TENANTRY_PUBLIC_URL: url,
  };
  await startA();
  work = mkdtempSync(join(tmpdir(), 'minutes-selfhosted-'));
  // B's database, on the customer's server: its own, with the app's own login role.
  await asAdmin(`create database ${databaseB}`);
  await asAdmin(`create role ${appRole} login password '${appPassword}'`);
}, E2E_TIMEOUT_MS);

afterAll(async () => {
  await stop(minutes?.child);
  await stopA();
  await database.drop();
  await asAdmin(`drop database if exists ${databaseB} with (force)`);
  await asAdmin(`drop role if exists ${appRole}`);
  rmSync(work, { recursive: true, force: true });
});

test('examples/minutes runs self-hosted from a license alone, and its usage is billed by a control plane that never talked to it', async () => {
  // A: the vendor's plans, a customer on the Free plan, a license signing key, the license.
  await run(process.execPath, [bin, 'plans', 'apply', join(example, 'plans.yaml')], {
    env: { ...process.env, TENANTRY_URL: url, TENANTRY_TOKEN: token },
  });
  const slug = `customer-${suffix}`;
  const tenant = await cli(
    'tenants',
    'create',
    '--slug',
    slug,
    '--name',
    'Self-hosted Customer',
    '--plan',
    'free',
  );
  await cli('license', 'keygen');
  const licenseFile = join(work, 'license.jwt');
  const issued = await cli('license', 'issue', '--tenant', slug, '--expires', '365', '--out', licenseFile);
  expect(issued).toMatchObject({ tenant_id: tenant.id, seq: 1, plan: { key: 'free' } });
  const keys = await run(process.execPath, [bin, 'license', 'keys', '--jwks'], {
    env: { ...process.env, TENANTRY_URL: url, TENANTRY_TOKEN: token },
  });
  writeFileSync(join(work, 'license-keys.json'), keys.stdout);
  // A is down for everything B does: nothing B does can reach it.
  await stopA();

  // B's operator: the pool tables and the tenant binding, with no control plane.
  await asAdmin(
    `alter default privileges in schema public grant select, insert, update, delete on tables to ${appRole}`,
    [],
    urlOf(databaseB),
  );
  const migrated = await run(
    process.execPath,
    [
      bin,
      'app',
      'migrate',
      '--pool-only',
      '--dir',
      join(example, 'migrations'),
      '--database-url',
      urlOf(databaseB),
      '--json',
    ],
    { env: withoutControlPlane({ TENANTRY_BINDING_KEY: bindingKey }) },
  );
  expect(JSON.parse(migrated.stdout.trim().split('\n').at(-1) ?? '{}')).toMatchObject({
    type: 'report',
    targets: 1,
    applied: 1,
    failed: 0,
  });

  const appUrl = `http://127.0.0.1:${await freePort()}`;
  // A license whose payload was changed (Free made Team) does not start the app: one line says why.
  const genuine = readFileSync(licenseFile, 'utf8');
  const [header, payload, signature] = genuine.trim().split('.');
  const claims = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString());
  claims.plan.key = 'team';
  writeFileSync(
    licenseFile,
    `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}\n`,
  );
  const tampered = await startB(appUrl).then(
    async (started) => {
      await stop(started.child);
      return 'started';
    },
    (error: Error) => error.message,
  );
  expect(tampered).toMatch(/exited with 1:\nminutes: license refused: [^\n]*signature[^\n]*\n$/);
  writeFileSync(licenseFile, genuine);
  minutes = await startB(appUrl);
  // Every request is the license's customer: no access token exists without a control plane.
  const me = await call(appUrl, 'GET', '/v1/me');
  expect(me.status).toBe(200);
  expect(me.body).toMatchObject({
    tenant_id: tenant.id,
    plan: { key: 'free' },
    meetings: { limit: 3, used: 0 },
  });
  // The unlicensed feature is off.
  const denied = await call(appUrl, 'GET', '/v1/analytics');
  expect(denied.status).toBe(403);
  expect(denied.body.code).toBe('feature_not_in_plan');
  // The Free plan's 3 meetings a month, counted locally: the fourth is refused.
  for (const title of ['Kick-off', 'Standup', 'Retro']) {
    const created = await call(appUrl, 'POST', '/v1/meetings', { title });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  }
  const refused = await call(appUrl, 'POST', '/v1/meetings', { title: 'One too many' });
  expect(refused.status).toBe(429);
  expect(refused.body.code).toBe('meeting_limit_reached');
  expect(refused.body.detail).toContain('allows 3 meetings a month');
  expect((await call(appUrl, 'GET', '/v1/meetings')).body.meetings).toHaveLength(3);
  await stop(minutes.child);

  // The customer upgrades: A moves the tenant to Team and issues the license again (seq 2, one
  // seat), which the customer puts in place of the old one. A is down again before B starts.
  await startA();
  await cli('tenants', 'change-plan', slug, '--plan', 'team', '--at', 'now');
  const upgraded = await cli(
    'license',
    'issue',
    '--tenant',
    slug,
    '--expires',
    '365',
    '--seats',
    '1',
    '--out',
    licenseFile,
  );
  expect(upgraded).toMatchObject({ seq: 2, plan: { key: 'team' }, seats: 1 });
  await stopA();
  // A second user of the app, as the customer's own sign-up would add: two users, one seat.
  await asAdmin(
    `insert into users (tenant_id, id, name) values ($1, 'bob', 'Bob')`,
    [tenant.id],
    urlOf(databaseB),
  );

  minutes = await startB(appUrl);
  // Seats over the license: a warning with both numbers, and the app runs on.
  expect(minutes.output()).toContain('2 seats in use, more than the 1');
  expect((await call(appUrl, 'GET', '/v1/me')).body).toMatchObject({
    plan: { key: 'team' },
    meetings: { limit: 100, used: 3 },
  });
  // The licensed feature answers, from the data B kept.
  const analytics = await call(appUrl, 'GET', '/v1/analytics');
  expect(analytics.status, JSON.stringify(analytics.body)).toBe(200);
  expect(analytics.body).toMatchObject({ retention_days: 365, months: [{ meetings: 3, open_items: 0 }] });
  expect((await call(appUrl, 'POST', '/v1/meetings', { title: 'Planning' })).status).toBe(201);
  await stop(minutes.child);

  // B's operator exports the usage, with no control plane; the file travels to the vendor.
  const reportFile = join(work, 'usage-report.jwt');
  const exported = await run(
    process.execPath,
    [bin, 'usage', 'export', '--state-dir', join(work, 'state'), '--out', reportFile, '--json'],
    { env: withoutControlPlane({}) },
  );
  expect(JSON.parse(exported.stdout)).toMatchObject({ seq: 1, events: 4 });

  // A imports it into the tenant: the 4 meetings B allowed (the refused one is not among them)
  // are its usage, as SaaS usage would be; importing again changes nothing.
  await startA();
  const imported = await cli('usage', 'import', reportFile, '--tenant', slug);
  expect(imported).toMatchObject([{ already_imported: false, accepted: 4, duplicates: 0 }]);
  const again = await cli('usage', 'import', reportFile, '--tenant', slug);
  expect(again).toMatchObject([{ already_imported: true }]);
  const usage = await cli('usage', 'show', slug, '--meter', 'meetings');
  expect(usage.total).toBe(4);
}, 900_000); // E2E_TIMEOUT_MS, a safety net only (a literal keeps the formatter's layout of this call)
