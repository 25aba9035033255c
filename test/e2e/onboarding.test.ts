// Tenantry used the way a new user would: `tenantry serve` in its own process on a free port
// with an empty database, driven with the `tenantry` CLI, then restarted.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../../packages/server/test/harness.ts';
import { bin, E2E_TIMEOUT_MS, freePort, type ServeProcess, startServe, until } from './tenantry-process.ts';

const run = promisify(execFile);
const planFile = join(import.meta.dirname, '..', '..', 'examples', 'plans', 'remote-desktop.yaml');

let dataDir: string;
let database: TestDatabase | undefined;
let serverEnv: Record<string, string>;
let server: ServeProcess | undefined;
let url: string;
let token: string;

async function stopServe(): Promise<void> {
  const running = server;
  server = undefined;
  if (!running) return;
  const exited = new Promise((resolve) => running.child.once('exit', resolve));
  running.child.kill('SIGTERM');
  await exited;
}

/** Runs the CLI against the server; returns stdout, or stderr and the exit code on failure. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
      env: { ...process.env, TENANTRY_URL: url, TENANTRY_TOKEN: token },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function json(...args: string[]): Promise<any> {
  const result = await cli(...args, '--json');
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout);
}

function waitUntilProvisioned(slug: string): Promise<any> {
  return until(`${slug} leaves provisioning`, async () => {
    const tenant = await json('tenants', 'show', slug);
    return tenant.state === 'provisioning' ? undefined : tenant;
  });
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'tenantry-e2e-'));
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  serverEnv = {
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    TENANTRY_DATA_DIR: join(dataDir, 'data'),
  };
  if (process.env.TENANTRY_TEST_BACKEND === 'postgres') {
    database = await createTestDatabase();
    // The server under test migrates on its own: give it the URL and close the harness's pool.
    serverEnv.DATABASE_URL = (database.target as { url: string }).url;
  }
});

afterAll(async () => {
  await stopServe();
  await database?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('a new user runs Tenantry from an empty database to tenants in every placement, and a restart keeps it all', {
  timeout: E2E_TIMEOUT_MS,
}, async () => {
  server = await startServe(serverEnv);
  const printed = /TENANTRY_TOKEN=(tnt_sk_[0-9A-Za-z]{36})\b/.exec(server.output());
  expect(printed, 'the first start prints a generated operator key').not.toBeNull();
  token = printed?.[1] ?? '';

  const applied = await cli('plans', 'apply', planFile);
  expect(applied.code).toBe(0);
  expect(applied.stdout).toContain('created professional v1');
  expect((await cli('plans', 'apply', planFile)).stdout).toContain('unchanged professional v1');

  const slugs = { pool: 'acme-pool', schema: 'acme-schema', database: 'acme-db' } as const;
  for (const [placement, slug] of Object.entries(slugs)) {
    const created = await json(
      'tenants',
      'create',
      '--slug',
      slug,
      '--name',
      `Acme ${placement}`,
      '--plan',
      'business',
      '--placement',
      placement,
      '--seats',
      '4',
    );
    expect(created.state).toBe('provisioning');
    const ready = await waitUntilProvisioned(slug);
    expect(ready.state, JSON.stringify(ready)).toBe('active');
    expect(ready.placement).toBe(placement);
  }

  const before = await json('tenants', 'entitlements', 'acme-schema');
  expect(before.active).toBe(true);
  expect(before.features.sso).toBe(true);
  expect(before.limits.concurrent_sessions.limit).toBe(80);
  expect(before.config.recording_retention_days).toBe(90);

  // A downgrade waits for the end of the billing period unless asked otherwise.
  const scheduled = await json('tenants', 'change-plan', 'acme-schema', '--plan', 'professional');
  expect(scheduled.plan.key).toBe('business');
  expect(scheduled.scheduled_change.plan.key).toBe('professional');
  await json('tenants', 'change-plan', 'acme-schema', '--plan', 'professional', '--at', 'now');
  const after = await json('tenants', 'entitlements', 'acme-schema');
  expect(after.plan).toEqual({ key: 'professional', version: 1 });
  expect(after.features.sso).toBe(false);
  expect(after.limits.concurrent_sessions.limit).toBe(20);
  expect(after.version).not.toBe(before.version);

  expect((await json('tenants', 'suspend', 'acme-pool', '--reason', 'invoice overdue')).state).toBe(
    'suspended',
  );
  const suspended = await json('tenants', 'entitlements', 'acme-pool');
  expect(suspended).toMatchObject({ active: false, reason: 'tenant_suspended', features: {} });
  const refused = await cli('tenants', 'suspend', 'acme-pool');
  expect(refused.code).toBe(2);
  expect(refused.stderr.trim().split('\n')).toHaveLength(1);
  expect(refused.stderr).toContain('illegal_transition');
  expect((await json('tenants', 'resume', 'acme-pool')).state).toBe('active');

  // The draft invoice of the current period: 4 seats of the Business plan at 29.00.
  const draft = await json('invoices', 'preview', '--tenant', 'acme-db');
  expect(draft).toMatchObject({ status: 'draft', currency: 'usd', number: null });
  expect(draft.lines.find((line: { kind: string }) => line.kind === 'per_seat')).toMatchObject({
    quantity: '4',
    amount: '116.00',
  });

  await stopServe();
  server = await startServe(serverEnv);
  expect(server.output()).not.toContain('TENANTRY_TOKEN=');

  const listed = await json('tenants', 'list');
  expect(listed.data.map((t: { slug: string }) => t.slug).sort()).toEqual([
    'acme-db',
    'acme-pool',
    'acme-schema',
  ]);
  const kept = await json('tenants', 'show', 'acme-schema');
  expect(kept).toMatchObject({ state: 'active', plan: { key: 'professional', version: 1 }, seats: 4 });
  expect((await json('tenants', 'entitlements', 'acme-schema')).version).toBe(after.version);
  const plans = await json('plans', 'list');
  expect(plans.data.map((p: { key: string }) => p.key).sort()).toEqual([
    'business',
    'enterprise',
    'free',
    'professional',
  ]);
});
