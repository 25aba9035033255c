// The reference app, run the way its README says: `tenantry serve` on PostgreSQL with the app's
// role and migrations, the app's plans applied and its pool tables migrated with the CLI, tenants
// in every placement, and `examples/minutes` in a process of its own beside it. PostgreSQL only:
// the app connects to the vendor's database server as its own role, which PGlite cannot serve.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { example, type MinutesStack, startMinutesStack, stop } from './minutes-stack.ts';
import { E2E_TIMEOUT_MS, freePort, until } from './tenantry-process.ts';

let stack: MinutesStack;
let minutes: ChildProcess | undefined;
let url: string;
let token: string;
let appUrl: string;

const cli = (...args: string[]) => stack.cli(...args);

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

beforeAll(async () => {
  stack = await startMinutesStack();
  ({ url, token } = stack);
}, E2E_TIMEOUT_MS);

afterAll(() => stack.close());

test('the minutes app keeps every placement’s tenants apart, gates a feature, enforces its monthly limit and records meetings as usage', async () => {
  await stack.tenantry('plans', 'apply', join(example, 'plans.yaml'));
  // Before any tenant exists, so the one target is the pool schema; later tenants are migrated as
  // they are provisioned. The last JSON line is the run's report.
  const report = await stack.migrateApp();
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
      'data-planes:connect',
      'agents:read',
      'agent-jobs:write',
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
  minutes = await stack.startMinutes({ PORT: String(appPort), TENANTRY_TOKEN: appKey.secret });

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
