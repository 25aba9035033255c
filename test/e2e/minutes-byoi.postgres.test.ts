// The reference app serving BYOI tenants, each in its customer's own database, beside a pool
// tenant in the vendor's: the tenants made through the API with `placement: 'byoi'`, their
// customers' connections given (PUT /v1/tenants/{id}/data-connection), provisioned to active by the
// running control plane (the app's schema made and its migrations run in the customer's database,
// with the tenant's own binding key), and served by `examples/minutes` in a process of its own with
// nothing but its app key to find them. Each customer's database is a database of its own login
// role on the local server, standing for the customer's server: the role is neither SUPERUSER,
// nor BYPASSRLS, nor CREATEROLE; the customer's DBA made it a member of the binding's role, as
// docs/byoi.md says. PostgreSQL only: several databases and roles.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { byoiBindingKey, parseBindingKey } from '@tenantry/sdk';
import pg from 'pg';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  dropTestDataPlanes,
  type TestDataPlane,
  testDataPlane,
} from '../../packages/server/test/data-plane-support.ts';
import { withAdmin } from '../../packages/server/test/postgres-admin.ts';
import { type AgentProcess, startAgent } from './agent-support.ts';
import { example, type MinutesStack, startMinutesStack, stop } from './minutes-stack.ts';
import { E2E_TIMEOUT_MS, freePort, until } from './tenantry-process.ts';

let stack: MinutesStack;
let minutes: ChildProcess | undefined;
let appUrl: string;

const cli = (...args: string[]) => stack.cli(...args);

/** The control plane's API as the operator. */
async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${stack.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${stack.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** Calls the minutes app as `accessToken`'s tenant and subject. */
async function call(
  accessToken: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any; headers: Record<string, string> }> {
  const response = await fetch(`${appUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${accessToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text ? JSON.parse(text) : null,
    headers: Object.fromEntries(response.headers),
  };
}

/** What is in `table` of the customer's database, read as its superuser (behind every policy). */
async function inCustomer(customer: TestDataPlane, text: string): Promise<any[]> {
  const { host, port, database } = customer.connection;
  const client = new pg.Client({ host, port, database, user: 'postgres' });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  stack = await startMinutesStack();
  await stack.tenantry('plans', 'apply', join(example, 'plans.yaml'));
  expect(await stack.migrateApp()).toMatchObject({ type: 'report', applied: 1, failed: 0 });
  const appKey = await cli('keys', 'create', '--name', 'minutes', '--preset', 'app');
  const appPort = await freePort();
  appUrl = `http://127.0.0.1:${appPort}`;
  minutes = await stack.startMinutes({ PORT: String(appPort), TENANTRY_TOKEN: appKey.secret });
}, E2E_TIMEOUT_MS);

const customers: TestDataPlane[] = [];
let agent: AgentProcess | undefined;
let agentDir: string | undefined;

afterAll(async () => {
  await agent?.stop();
  if (agentDir !== undefined) rmSync(agentDir, { recursive: true, force: true });
  await stop(minutes);
  await stack?.close();
  // The binding's role is the server's, not the customer's: out of it before the customer's roles
  // are dropped (which drops the roles granted to them).
  await withAdmin(async (client) => {
    for (const { connection } of customers)
      await client.query(`revoke tenantry_binder from ${connection.user}`);
  });
  await dropTestDataPlanes();
});

test('the minutes app serves BYOI tenants from their customers’ databases beside a pool tenant, each seeing only its own meetings, with the plan’s feature and monthly limit', async () => {
  const tenants: Record<string, { id: string; token: string; customer?: TestDataPlane }> = {};
  const mint = async (slug: string, subject: string) =>
    (
      await cli(
        'tokens',
        'mint',
        '--tenant',
        slug,
        '--subject',
        subject,
        ...['meetings:read', 'meetings:write', 'analytics:read'].flatMap((p) => ['--permission', p]),
      )
    ).access_token as string;

  const poolSlug = `minutes-pool-${randomBytes(3).toString('hex')}`;
  await cli('tenants', 'create', '--slug', poolSlug, '--name', poolSlug, '--plan', 'team');
  const pool = await until(`${poolSlug} leaves provisioning`, async () => {
    const shown = await cli('tenants', 'show', poolSlug);
    return shown.state === 'provisioning' ? undefined : shown;
  });
  expect(pool.state).toBe('active');
  tenants.pool = { id: pool.id, token: await mint(poolSlug, 'alice@pool') };

  for (const [name, plan] of [
    ['byoiFree', 'free'],
    ['byoiTeam', 'team'],
  ] as const) {
    const slug = `minutes-${name.toLowerCase()}-${randomBytes(3).toString('hex')}`;
    const created = await api('POST', '/v1/tenants', {
      slug,
      name: slug,
      plan,
      placement: 'byoi',
      app_schema: 'minutes',
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id: string = created.body.id;
    await until(`${slug} waits for its connection`, async () => {
      const shown = await api('GET', `/v1/tenants/${id}`);
      return shown.body.provisioning?.step === 'connection' ? shown : undefined;
    });
    // The customer's DBA: a login role owning a database, with no power beyond it, made a member of
    // the binding's role (which exists on this shared server already) so it may install the
    // binding, which holds this tenant's own key only.
    const customer = await testDataPlane('customer');
    customers.push(customer);
    const role = await withAdmin(async (client) => {
      await client.query(`grant tenantry_binder to ${customer.connection.user}`);
      return (
        await client.query('select rolsuper, rolbypassrls, rolcreaterole from pg_roles where rolname = $1', [
          customer.connection.user,
        ])
      ).rows[0];
    });
    expect(role).toEqual({ rolsuper: false, rolbypassrls: false, rolcreaterole: false });
    const put = await api('PUT', `/v1/tenants/${id}/data-connection`, customer.connection);
    expect(put.status, JSON.stringify(put.body)).toBe(201);
    expect(JSON.stringify(put.body)).not.toContain(customer.connection.password);
    const tenant = await until(`${slug} leaves provisioning`, async () => {
      const shown = await api('GET', `/v1/tenants/${id}`);
      return shown.body.state === 'provisioning' ? undefined : shown.body;
    });
    expect(tenant.state, JSON.stringify(tenant.provisioning)).toBe('active');
    expect(tenant.placement).toBe('byoi');
    // The app's tables were made in the customer's database by the control plane's provisioning.
    expect(
      (
        await inCustomer(
          customer,
          `select table_name from information_schema.tables where table_schema = 'minutes' order by 1`,
        )
      ).map((r) => r.table_name),
    ).toEqual(['action_items', 'meetings', 'minutes', 'tenantry_migrations', 'users']);
    tenants[name] = { id, token: await mint(slug, `alice@${name}`), customer };
  }

  const ids: Record<string, string> = {};
  for (const [name, { id, token }] of Object.entries(tenants)) {
    expect((await call(token, 'GET', '/v1/me')).body).toMatchObject({
      tenant_id: id,
      subject: `alice@${name}`,
    });
    const meeting = await call(token, 'POST', '/v1/meetings', { title: `Kick-off (${name})` });
    expect(meeting.status, JSON.stringify(meeting.body)).toBe(201);
    ids[name] = meeting.body.id;
    expect(
      (await call(token, 'PUT', `/v1/meetings/${meeting.body.id}/minutes`, { body: 'We agreed.' })).status,
    ).toBe(200);
    expect(
      (
        await call(token, 'POST', `/v1/meetings/${meeting.body.id}/action-items`, {
          description: 'Send the notes',
        })
      ).status,
    ).toBe(201);
  }

  // Each tenant lists its own meeting only, and another's is not found, whatever the placement.
  for (const [name, { token }] of Object.entries(tenants)) {
    const list = await call(token, 'GET', '/v1/meetings');
    expect(list.body.meetings.map((m: { id: string }) => m.id)).toEqual([ids[name]]);
    for (const [other, otherId] of Object.entries(ids)) {
      if (other === name) continue;
      const peek = await call(token, 'GET', `/v1/meetings/${otherId}`);
      expect(peek.status).toBe(404);
      expect(peek.body.code).toBe('meeting_not_found');
    }
    expect((await call(token, 'GET', `/v1/meetings/${ids[name]}`)).body).toMatchObject({
      minutes: { body: 'We agreed.' },
      action_items: [{ description: 'Send the notes' }],
    });
    // The summary, computed by the app itself where it reaches the tenant's data.
    expect((await call(token, 'GET', '/v1/summary')).body).toEqual({
      meetings: 1,
      with_minutes: 1,
      open_action_items: 1,
      latest_held_at: expect.any(String),
      computed_by: 'minutes',
    });
  }

  // The rows are where the placement says: each BYOI tenant's in its customer's database, bound to
  // it; none in the vendor's pool.
  for (const name of ['byoiFree', 'byoiTeam'] as const) {
    const { id, customer } = tenants[name] as { id: string; customer: TestDataPlane };
    expect(await inCustomer(customer, 'select tenant_id, id from minutes.meetings')).toEqual([
      { tenant_id: id, id: ids[name] },
    ]);
  }
  // The customers' databases hold their tenants' own binding keys, never the vendor's, which the
  // customer (its DBA, or its role as the binding's member) could read there.
  const keyQuery = 'select encode(ikey, $$hex$$) as ikey from tenantry_private.binding_key';
  const client = new pg.Client({ connectionString: stack.databaseUrl });
  await client.connect();
  const pooled = (await client.query('select tenant_id from public.meetings')).rows;
  const vendorKey = (await client.query(keyQuery)).rows;
  await client.end();
  expect(pooled).toEqual([{ tenant_id: tenants.pool?.id }]);
  const keys = new Set(
    [
      vendorKey,
      await inCustomer(tenants.byoiFree?.customer as TestDataPlane, keyQuery),
      await inCustomer(tenants.byoiTeam?.customer as TestDataPlane, keyQuery),
    ].map((rows) => rows[0]?.ikey ?? 'none'),
  );
  expect(keys.size).toBe(3);
  expect(keys.has('none')).toBe(false);

  // The plan's feature: the Team plan has analytics, the Free plan does not.
  const free = tenants.byoiFree as { token: string };
  const denied = await call(free.token, 'GET', '/v1/analytics');
  expect(denied.status).toBe(403);
  expect(denied.body.code).toBe('feature_not_in_plan');
  const analytics = await call(tenants.byoiTeam?.token ?? '', 'GET', '/v1/analytics');
  expect(analytics.status).toBe(200);
  expect(analytics.body).toMatchObject({ months: [{ meetings: 1, open_items: 1 }] });

  // The Free plan's 3 meetings a month: two more pass, the fourth gets a clear problem.
  for (const title of ['Standup', 'Retro']) {
    expect((await call(free.token, 'POST', '/v1/meetings', { title })).status).toBe(201);
  }
  const refused = await call(free.token, 'POST', '/v1/meetings', { title: 'One too many' });
  expect(refused.status).toBe(429);
  expect(refused.body.code).toBe('meeting_limit_reached');
}, 900_000); // E2E_TIMEOUT_MS, a safety net only (a literal keeps the formatter's layout of this call)

test('a byoi_agent tenant is provisioned by its agent in its customer’s database; minutes serves its summary through the agent and refuses its meetings clearly, spending nothing', async () => {
  const slug = `minutes-agent-${randomBytes(3).toString('hex')}`;
  const created = await api('POST', '/v1/tenants', {
    slug,
    name: slug,
    plan: 'free',
    placement: 'byoi_agent',
    app_schema: 'minutes',
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id: string = created.body.id;
  const enrolment = await api('POST', `/v1/tenants/${id}/agent-enrolments`, {});
  expect(enrolment.status, JSON.stringify(enrolment.body)).toBe(201);

  // The customer's environment: its database (a role as for BYOI) and `tenantry agent` with the
  // app's migrations. The binding key the agent installs with is the tenant's own, which the
  // vendor hands the customer, never the vendor's (which the stack put in this process's env).
  const customer = await testDataPlane('customer');
  customers.push(customer);
  await withAdmin((client) => client.query(`grant tenantry_binder to ${customer.connection.user}`));
  const { host, port, database, user, password } = customer.connection;
  const vendorKey = process.env.TENANTRY_BINDING_KEY as string;
  agentDir = mkdtempSync(join(tmpdir(), 'minutes-agent-'));
  process.env.TENANTRY_BINDING_KEY = byoiBindingKey(parseBindingKey(vendorKey), id).toString('hex');
  process.env.TENANTRY_AGENT_TOKEN = enrolment.body.token;
  process.env.TENANTRY_AGENT_DATABASE_URL = `postgres://${user}:${password}@${host}:${port}/${database}`;
  try {
    agent = startAgent([
      '--url',
      stack.url,
      '--credential-file',
      join(agentDir, 'credential.json'),
      '--migrations',
      join(example, 'migrations'),
      // The vendor's job types, as the minutes package ships them: its summary job.
      '--jobs',
      join(example, 'src', 'agent-jobs.ts'),
    ]);
  } finally {
    process.env.TENANTRY_BINDING_KEY = vendorKey;
    delete process.env.TENANTRY_AGENT_TOKEN;
    delete process.env.TENANTRY_AGENT_DATABASE_URL;
  }
  const tenant = await until(`${slug} leaves provisioning`, async () => {
    const shown = await api('GET', `/v1/tenants/${id}`);
    return shown.body.state === 'provisioning' ? undefined : shown.body;
  });
  expect(tenant.state, `${JSON.stringify(tenant.provisioning)}\n${agent.output()}`).toBe('active');
  // The agent made the app's tables in the customer's database; the vendor's pool holds none of it.
  expect(
    (
      await inCustomer(
        customer,
        `select table_name from information_schema.tables where table_schema = 'minutes' order by 1`,
      )
    ).map((r) => r.table_name),
  ).toEqual(['action_items', 'meetings', 'minutes', 'tenantry_migrations', 'users']);
  // The binding there is the tenant's own key, not the vendor's.
  const keyQuery = 'select encode(ikey, $$hex$$) as ikey from tenantry_private.binding_key';
  const vendor = new pg.Client({ connectionString: stack.databaseUrl });
  await vendor.connect();
  const vendorIkey = (await vendor.query(keyQuery)).rows[0]?.ikey;
  await vendor.end();
  const customerIkey = (await inCustomer(customer, keyQuery))[0]?.ikey;
  expect(customerIkey).toEqual(expect.any(String));
  expect(customerIkey).not.toBe(vendorIkey);

  const token = (
    await cli(
      'tokens',
      'mint',
      '--tenant',
      slug,
      '--subject',
      'alice@agent',
      '--permission',
      'meetings:read',
      '--permission',
      'meetings:write',
    )
  ).access_token as string;
  // Who the user is needs no data: answered.
  expect((await call(token, 'GET', '/v1/me')).body).toMatchObject({ tenant_id: id, subject: 'alice@agent' });
  // Their meetings are in their environment: a clear refusal, not a failure, and no meeting counted.
  for (const [method, path, body] of [
    ['GET', '/v1/meetings', undefined],
    ['POST', '/v1/meetings', { title: 'Kick-off' }],
    ['GET', '/v1/meetings/any', undefined],
  ] as const) {
    const refused = await call(token, method, path, body);
    expect(refused.status, JSON.stringify(refused.body)).toBe(409);
    expect(refused.body).toMatchObject({ code: 'meetings_in_customer_environment' });
  }
  expect((await call(token, 'GET', '/v1/me')).body.meetings).toMatchObject({ used: 0 });

  // The customer's own meetings, kept in its database (as the customer's app would write them).
  await inCustomer(
    customer,
    `insert into minutes.meetings (tenant_id, id, title, held_at, created_by) values
       ('${id}', 'm1', 'Board: confidential', '2026-11-02T09:00:00Z', 'ceo@customer'),
       ('${id}', 'm2', 'Audit', '2026-11-20T14:30:00Z', 'cfo@customer');
     insert into minutes.minutes (tenant_id, meeting_id, body, updated_by) values ('${id}', 'm1', 'secret body', 'ceo@customer');
     insert into minutes.action_items (tenant_id, id, meeting_id, description, done) values
       ('${id}', 'a1', 'm1', 'Sign', false), ('${id}', 'a2', 'm1', 'File', true), ('${id}', 'a3', 'm2', 'Pay', false)`,
  );
  // Its summary comes through its agent, which ran the SQL in the customer's environment under the
  // tenant's binding and sent back only the declared counts and date.
  const summary = await call(token, 'GET', '/v1/summary');
  expect(summary.status, `${JSON.stringify(summary.body)}\n${agent.output()}`).toBe(200);
  expect(summary.body).toEqual({
    meetings: 2,
    with_minutes: 1,
    open_action_items: 2,
    latest_held_at: '2026-11-20T14:30:00Z',
    computed_by: 'agent',
  });
  // What reached the control plane for it: the counts, never a title, a body or a person.
  const vendorDb = new pg.Client({ connectionString: stack.databaseUrl });
  await vendorDb.connect();
  const stored = (
    await vendorDb.query(
      `select input, output, error from tenantry.agent_jobs where type = 'minutes_summary'`,
    )
  ).rows;
  await vendorDb.end();
  expect(stored).toEqual([
    {
      input: { schema: 'minutes' },
      output: { meetings: 2, with_minutes: 1, open_action_items: 2, latest_held_at: '2026-11-20T14:30:00Z' },
      error: null,
    },
  ]);
  expect(JSON.stringify(stored)).not.toMatch(/confidential|secret body|customer/);

  // A schema name that is not one is refused by the job's input schema in the customer's
  // environment: nothing runs there, and the tables are as they were.
  const hostile = await api('POST', `/v1/tenants/${id}/agent-jobs`, {
    type: 'minutes_summary',
    input: { schema: 'minutes"; drop table minutes.meetings; --' },
    wait_seconds: 30,
  });
  expect(hostile.body).toMatchObject({ state: 'refused', error: { code: 'invalid_input' } });
  expect(await inCustomer(customer, 'select count(*)::int as n from minutes.meetings')).toEqual([{ n: 2 }]);

  // Another tenant's user asks for a summary: its own, never this tenant's.
  const otherSlug = `minutes-other-${randomBytes(3).toString('hex')}`;
  await cli('tenants', 'create', '--slug', otherSlug, '--name', otherSlug, '--plan', 'free');
  await until(`${otherSlug} leaves provisioning`, async () => {
    const shown = await cli('tenants', 'show', otherSlug);
    return shown.state === 'provisioning' ? undefined : shown;
  });
  const otherToken = (
    await cli(
      'tokens',
      'mint',
      '--tenant',
      otherSlug,
      '--subject',
      'eve@other',
      '--permission',
      'meetings:read',
    )
  ).access_token as string;
  expect((await call(otherToken, 'GET', '/v1/summary')).body).toMatchObject({
    meetings: 0,
    computed_by: 'minutes',
  });

  // With the agent stopped, the summary says the customer's environment did not answer, and when.
  await agent.stop();
  const offline = await call(token, 'GET', '/v1/summary');
  expect(offline.status).toBe(503);
  expect(offline.body).toMatchObject({ code: 'customer_environment_unreachable' });
  expect(offline.headers['retry-after']).toBe('15');
}, 900_000); // E2E_TIMEOUT_MS, a safety net only (a literal keeps the formatter's layout of this call)
