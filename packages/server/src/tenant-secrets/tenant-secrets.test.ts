import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import {
  act,
  applyPlans,
  auditCount,
  auditRows,
  provisionedTenant,
  query,
} from '../../test/tenant-support.ts';
import { buildApp } from '../http/app.ts';
import { systemContext } from '../request-context.ts';

let t: TestApp;
beforeEach(async () => {
  t = await startTestApp();
  await applyPlans(t);
});
afterEach(() => t.close());

/** A key holding exactly these scopes. */
async function keyWith(...scopes: string[]): Promise<string> {
  const created = await t.services.apiKeys.create(systemContext('test'), {
    name: scopes.join(' '),
    scopes: scopes as never,
  });
  return created.secret;
}

async function appKey(): Promise<string> {
  return (await t.services.apiKeys.create(systemContext('test'), { name: 'app', preset: 'app' })).secret;
}

function put(tenant: string, name: string, payload: unknown, token?: string) {
  return t.request({
    method: 'PUT',
    url: `/v1/tenants/${tenant}/secrets/${name}`,
    payload: payload as Record<string, unknown>,
    ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
  });
}

function reveal(tenant: string, name: string, token: string) {
  return t.request({
    method: 'GET',
    url: `/v1/tenants/${tenant}/secrets/${name}/value`,
    headers: { authorization: `Bearer ${token}` },
  });
}

async function set(tenant: string, name: string, value: string) {
  const answer = await put(tenant, name, { value });
  expect([200, 201], JSON.stringify(answer.body)).toContain(answer.status);
  return answer.body;
}

/** Cancels and deletes a tenant through the API. */
async function deleteTenant(id: string): Promise<void> {
  expect((await act(t, id, 'cancel')).status).toBe(200);
  const deleted = await t.request({ method: 'DELETE', url: `/v1/tenants/${id}` });
  expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
}

async function count(table: 'tenant_secrets' | 'tenant_data_keys'): Promise<number> {
  const [row] = await query<{ n: number }>(t, `select count(*)::int as n from tenantry.${table}`);
  return Number(row?.n);
}

describe('setting, listing, rotating, reading and deleting', () => {
  test('a secret is created, listed without its value, rotated to a new version and read by the app, each step recorded', async () => {
    const tenant = await provisionedTenant(t);
    const created = await put(tenant.slug, 'openai.api_key', { value: 'sk-first-value' });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.stringMatching(/^sec_[0-9a-z]{26}$/),
      tenant_id: tenant.id,
      name: 'openai.api_key',
      version: 1,
      created_at: expect.any(String),
      rotated_at: null,
    });

    const listed = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/secrets` });
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual({ data: [created.body], next_cursor: null });

    t.clock.advance(60_000);
    const rotated = await put(tenant.id, 'openai.api_key', { value: 'sk-second-value' });
    expect(rotated.status).toBe(200);
    expect(rotated.body).toMatchObject({
      id: created.body.id,
      version: 2,
      created_at: created.body.created_at,
    });
    expect(Date.parse(rotated.body.rotated_at)).toBe(t.clock.now().getTime());

    const app = await appKey();
    const read = await reveal(tenant.id, 'openai.api_key', app);
    expect(read.status).toBe(200);
    expect(read.body).toEqual({ name: 'openai.api_key', version: 2, value: 'sk-second-value' });
    expect(read.headers['cache-control']).toBe('no-store');

    const appKeyId = (await t.services.apiKeys.list()).find((k) => k.name === 'app')?.id;
    const audit = (await auditRows(t, tenant.id)).filter((row) => row.action.startsWith('tenant_secret.'));
    expect(audit.map((row) => [row.action, row.target_type, row.target_id, row.data])).toEqual([
      ['tenant_secret.set', 'tenant_secret', created.body.id, { name: 'openai.api_key', version: 1 }],
      ['tenant_secret.rotated', 'tenant_secret', created.body.id, { name: 'openai.api_key', version: 2 }],
      ['tenant_secret.read', 'tenant_secret', created.body.id, { name: 'openai.api_key', version: 2 }],
    ]);
    expect(audit[2]?.actor_id).toBe(appKeyId);
    const events = await query<{ type: string; data: unknown; tenant_id: string }>(
      t,
      `select type, data, tenant_id from tenantry.domain_events where type like 'tenant_secret.%' order by position`,
    );
    expect(events).toEqual([
      { type: 'tenant_secret.set', data: { name: 'openai.api_key', version: 1 }, tenant_id: tenant.id },
      { type: 'tenant_secret.rotated', data: { name: 'openai.api_key', version: 2 }, tenant_id: tenant.id },
    ]);

    const deleted = await t.request({
      method: 'DELETE',
      url: `/v1/tenants/${tenant.id}/secrets/openai.api_key`,
    });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ name: 'openai.api_key', version: 2 });
    const gone = await reveal(tenant.id, 'openai.api_key', app);
    expect([gone.status, gone.body.code]).toEqual([404, 'tenant_secret_not_found']);
    expect(await count('tenant_secrets')).toBe(0);
    expect((await auditRows(t, tenant.id)).at(-1)).toMatchObject({
      action: 'tenant_secret.deleted',
      data: { name: 'openai.api_key', version: 2 },
    });
  });

  test('lists page by name', async () => {
    const tenant = await provisionedTenant(t);
    for (const name of ['c', 'a', 'b']) await set(tenant.id, name, `value of ${name}`);
    const first = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/secrets?limit=2` });
    expect(first.body.data.map((s: { name: string }) => s.name)).toEqual(['a', 'b']);
    expect(first.body.next_cursor).toBe('b');
    const second = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/secrets?limit=2&cursor=b`,
    });
    expect([second.body.data.map((s: { name: string }) => s.name), second.body.next_cursor]).toEqual([
      ['c'],
      null,
    ]);
  });

  test("two first secrets of one tenant at once share the tenant's one data key", async () => {
    const tenant = await provisionedTenant(t);
    const answers = await Promise.all(
      ['one', 'two', 'three'].map((name) => put(tenant.id, name, { value: name })),
    );
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201]);
    expect(await count('tenant_data_keys')).toBe(1);
    const app = await appKey();
    for (const name of ['one', 'two', 'three'])
      expect((await reveal(tenant.id, name, app)).body.value).toBe(name);
  });

  test('writes of one new name at once make version 1 and rotations after it, none refused', async () => {
    const tenant = await provisionedTenant(t);
    const answers = await Promise.all(['v1', 'v2', 'v3'].map((value) => put(tenant.id, 'same', { value })));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 201]);
    expect(answers.map((a) => a.body.version).sort()).toEqual([1, 2, 3]);
    // The value read is the one whose write became version 3.
    const last = answers.find((a) => a.body.version === 3);
    const read = (await reveal(tenant.id, 'same', await appKey())).body;
    expect(read.version).toBe(3);
    expect(read.value).toBe(['v1', 'v2', 'v3'][answers.indexOf(last as (typeof answers)[number])]);
  });
});

describe('bad input changes nothing', () => {
  test.each([
    ['an upper-case name', 'Upper', { value: 'x' }, 'name'],
    ['a name with a slash', 'a%2Fb', { value: 'x' }, 'name'],
    ['a name starting with a dot', '.hidden', { value: 'x' }, 'name'],
    // The router refuses a path parameter past 100 characters before the route runs.
    ['a name of 101 characters', 'a'.repeat(101), { value: 'x' }, 'params'],
    ['an empty value', 'ok', { value: '' }, 'value'],
    // 8 193 characters, 16 386 bytes: the limit counts bytes of UTF-8, not characters.
    ['a value over 16 KiB of UTF-8', 'ok', { value: 'é'.repeat(8193) }, 'value'],
    ['a value that is not a string', 'ok', { value: 42 }, 'value'],
    ['no value', 'ok', {}, 'value'],
    ['an unknown member', 'ok', { value: 'x', version: 3 }, ''],
  ])('%s is refused naming the field', async (_case, name, payload, field) => {
    const tenant = await provisionedTenant(t);
    const before = await auditCount(t);
    const answer = await put(tenant.id, name, payload);
    expect([answer.status, answer.body.code]).toEqual([400, 'validation_failed']);
    if (field !== '') expect(answer.body.errors.map((e: { path: string }) => e.path)).toContain(field);
    // The problem says what is wrong with the value, never the value itself.
    if (
      typeof (payload as { value?: unknown }).value === 'string' &&
      (payload as { value: string }).value.length > 1
    )
      expect(JSON.stringify(answer.body)).not.toContain('éé');
    expect([await count('tenant_secrets'), await count('tenant_data_keys'), await auditCount(t)]).toEqual([
      0,
      0,
      before,
    ]);
  });

  test('a value of exactly 16 KiB is taken', async () => {
    const tenant = await provisionedTenant(t);
    expect((await put(tenant.id, 'pem', { value: 'k'.repeat(16 * 1024) })).status).toBe(201);
  });

  test('an unknown tenant is 404; a deleted one takes no secret; an unknown name is 404', async () => {
    const answer = await put('ten_00000000000000000000000000', 'x', { value: 'v' });
    expect([answer.status, answer.body.code]).toEqual([404, 'tenant_not_found']);
    const tenant = await provisionedTenant(t);
    const missing = await t.request({ method: 'DELETE', url: `/v1/tenants/${tenant.id}/secrets/nothing` });
    expect([missing.status, missing.body.code]).toEqual([404, 'tenant_secret_not_found']);
    await deleteTenant(tenant.id);
    const before = await auditCount(t);
    const refused = await put(tenant.id, 'x', { value: 'v' });
    expect([refused.status, refused.body.code]).toEqual([409, 'tenant_deleted']);
    expect([await count('tenant_secrets'), await count('tenant_data_keys'), await auditCount(t)]).toEqual([
      0,
      0,
      before,
    ]);
  });
});

describe('who may do what', () => {
  test('the app key reads values and nothing else; a key without secrets:decrypt never reads one', async () => {
    const tenant = await provisionedTenant(t);
    await set(tenant.id, 'aws.secret', 'aws-value-1');
    const app = await appKey();
    expect((await reveal(tenant.id, 'aws.secret', app)).status).toBe(200);
    for (const request of [
      { method: 'PUT', url: `/v1/tenants/${tenant.id}/secrets/aws.secret`, payload: { value: 'attacker' } },
      { method: 'GET', url: `/v1/tenants/${tenant.id}/secrets` },
      { method: 'DELETE', url: `/v1/tenants/${tenant.id}/secrets/aws.secret` },
    ]) {
      const refused = await t.request({ ...request, headers: { authorization: `Bearer ${app}` } });
      expect([request.method, refused.status, refused.body.code]).toEqual([
        request.method,
        403,
        'insufficient_scope',
      ]);
    }
    // The operator's restricted keys that write and list do not decrypt.
    for (const key of [await keyWith('secrets:write', 'secrets:read'), await keyWith('tenants:read')]) {
      const refused = await reveal(tenant.id, 'aws.secret', key);
      expect([refused.status, refused.body.required_scope]).toEqual([403, 'secrets:decrypt']);
      expect(JSON.stringify(refused.body)).not.toContain('aws-value-1');
    }
    const reads = (await auditRows(t, tenant.id)).filter((row) => row.action === 'tenant_secret.read');
    expect(reads).toHaveLength(1);
  });

  test("another tenant's path never reaches a tenant's secret", async () => {
    const a = await provisionedTenant(t);
    const b = await provisionedTenant(t);
    await set(a.id, 'openai.api_key', 'sk-of-a');
    const app = await appKey();
    const across = await reveal(b.id, 'openai.api_key', app);
    expect([across.status, across.body.code]).toEqual([404, 'tenant_secret_not_found']);
    const listed = await t.request({ method: 'GET', url: `/v1/tenants/${b.id}/secrets` });
    expect(listed.body.data).toEqual([]);
    const deleted = await t.request({ method: 'DELETE', url: `/v1/tenants/${b.id}/secrets/openai.api_key` });
    expect(deleted.status).toBe(404);
    expect((await reveal(a.id, 'openai.api_key', app)).body.value).toBe('sk-of-a');
  });
});

test('the value is in no answer but the app read, in no log line, audit entry or event, and not in clear in the database', async () => {
  const lines: string[] = [];
  const logged = await buildApp(t.services, {
    logger: {
      level: 'trace',
      redact: ['req.headers.authorization'],
      stream: new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    },
  });
  try {
    // Short and distinctive: an excerpt of a few characters of the body would hold it.
    const value = 'XSECRETX-live-0123456789';
    const tenant = await provisionedTenant(t);
    const app = await appKey();
    const answers: string[] = [];
    const send = async (method: string, url: string, token: string, payload?: unknown) => {
      const response = await logged.inject({
        method: method as 'GET',
        url,
        headers: { authorization: `Bearer ${token}` },
        ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      });
      answers.push(response.body);
      return response;
    };
    await send('PUT', `/v1/tenants/${tenant.id}/secrets/key`, t.token, { value });
    await send('PUT', `/v1/tenants/${tenant.id}/secrets/key`, t.token, { value: `${value}-2` });
    await send('PUT', `/v1/tenants/${tenant.id}/secrets/Bad`, t.token, { value });
    await send('PUT', `/v1/tenants/${tenant.id}/secrets/key`, t.token, { value, extra: value });
    // A body that is not JSON (the value unquoted, as a shell script might send it): the problem
    // says why, without quoting the body back.
    const malformed = await logged.inject({
      method: 'PUT',
      url: `/v1/tenants/${tenant.id}/secrets/key`,
      headers: { authorization: `Bearer ${t.token}`, 'content-type': 'application/json' },
      payload: `{"value": ${value}}`,
    });
    expect(malformed.json()).toMatchObject({ status: 400, code: 'malformed_request' });
    answers.push(malformed.body);
    await send('GET', `/v1/tenants/${tenant.id}/secrets`, t.token);
    const read = await send('GET', `/v1/tenants/${tenant.id}/secrets/key/value`, app);
    expect(read.json().value).toBe(`${value}-2`);
    const rows = await query(t, 'select * from tenantry.tenant_secrets');
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain('XSECRETX');
    await send('DELETE', `/v1/tenants/${tenant.id}/secrets/key`, t.token);
    expect(lines.length).toBeGreaterThan(10);
    expect(lines.filter((line) => line.includes('XSECRETX'))).toEqual([]);
    expect(answers.filter((body) => body.includes('XSECRETX'))).toEqual([read.body]);
    const stored = await query(
      t,
      `select (select coalesce(json_agg(a), '[]') from tenantry.audit_events a)::text as audit,
              (select coalesce(json_agg(e), '[]') from tenantry.domain_events e)::text as events,
              (select coalesce(json_agg(k), '[]') from tenantry.tenant_data_keys k)::text as keys`,
    );
    expect(JSON.stringify(stored)).not.toContain('XSECRETX');
    expect(JSON.stringify(stored)).toContain('tenant_secret.read');
  } finally {
    await logged.close();
  }
});
