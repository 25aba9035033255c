import { randomInt } from 'node:crypto';
import { formatTenantKey, TENANT_KEY_RANDOM_CHARS } from '@tenantry/core';
import { describe, expect, it } from 'vitest';
import { json, localApiPerTest } from '../../test/local-api.ts';

const { api, run } = localApiPerTest();

const SECRET = formatTenantKey(
  'mins_live_',
  Array.from({ length: TENANT_KEY_RANDOM_CHARS }, () => randomInt(62)),
);

const KEY = {
  id: 'tak_01jd0000000000000000000000',
  tenant_id: 'ten_1',
  name: 'ci',
  prefix: 'mins_live_',
  last_four: SECRET.slice(-4),
  permissions: ['meetings:read', 'meetings:write'],
  created_at: '2026-11-22T10:00:00.000Z',
  expires_at: null,
  revoked_at: null,
  rolled_to: null,
  last_used_at: null,
};

describe('tenant-keys create', () => {
  it('sends the name, every --permission and the expiry, and prints the key once', async () => {
    api.handler = (_req, res) => json(res, 201, { ...KEY, secret: SECRET });
    const result = await run([
      'tenant-keys',
      'create',
      'acme',
      '--name',
      'ci',
      '--permission',
      'meetings:write',
      '--permission',
      'meetings:read',
      '--expires',
      '2027-12-31',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(api.seen[0]?.url).toBe('/v1/tenants/acme/api-keys');
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({
      name: 'ci',
      permissions: ['meetings:write', 'meetings:read'],
      expires_at: '2027-12-31T00:00:00Z',
    });
    expect(result.stdout).toContain(SECRET);
    expect(result.stdout).toContain('will not be shown again');
  });

  it.each([
    [['--permission', 'meetings'], '--permission'],
    [['--permission', 'a:b', '--expires', 'soon'], '--expires'],
    [[], '--permission'],
  ])('refuses %j in one line, exit 2, before sending anything', async (args, named) => {
    const result = await run(['tenant-keys', 'create', 'acme', '--name', 'x', ...args]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(named);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(api.seen).toHaveLength(0);
  });

  it("passes the control plane's problem on: one line, the field named", async () => {
    api.handler = (_req, res) =>
      json(res, 404, {
        type: 'https://tenantry.dev/docs/errors#tenant_not_found',
        title: 'No such tenant',
        status: 404,
        code: 'tenant_not_found',
        detail: 'no tenant has the id or slug "nope"',
      });
    const result = await run(['tenant-keys', 'create', 'nope', '--name', 'x', '--permission', 'a:b']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('nope');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('tenant-keys list, roll, revoke', () => {
  it('lists keys by prefix and last four, never the key', async () => {
    api.handler = (_req, res) => json(res, 200, { data: [KEY], next_cursor: null });
    const result = await run(['tenant-keys', 'list', 'acme', '--limit', '5']);
    expect(result.code).toBe(0);
    expect(api.seen[0]?.url).toBe('/v1/tenants/acme/api-keys?limit=5');
    expect(result.stdout).toContain(`mins_live_…${SECRET.slice(-4)}`);
    expect(result.stdout).toContain('meetings:read meetings:write');
  });

  it('rolls with the overlap given, and prints the successor once', async () => {
    api.handler = (_req, res) => json(res, 201, { ...KEY, id: 'tak_2', secret: SECRET });
    const result = await run(['tenant-keys', 'roll', 'acme', KEY.id, '--overlap', '2h']);
    expect(result.code).toBe(0);
    expect(api.seen[0]?.url).toBe(`/v1/tenants/acme/api-keys/${KEY.id}/roll`);
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({ overlap_seconds: 7200 });
    expect(result.stdout).toContain(`rolled ${KEY.id} to tak_2`);
    expect(result.stdout).toContain(SECRET);
  });

  it('refuses an overlap past 30 days before sending anything', async () => {
    const result = await run(['tenant-keys', 'roll', 'acme', KEY.id, '--overlap', '31d']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--overlap');
    expect(api.seen).toHaveLength(0);
  });

  it('revokes', async () => {
    api.handler = (_req, res) => json(res, 200, { ...KEY, revoked_at: '2026-11-22T11:00:00.000Z' });
    const result = await run(['tenant-keys', 'revoke', 'acme', KEY.id]);
    expect(result.code).toBe(0);
    expect(api.seen[0]?.url).toBe(`/v1/tenants/acme/api-keys/${KEY.id}/revoke`);
    expect(result.stdout).toContain(`revoked ${KEY.id} (ci) of ten_1`);
  });
});

describe('tenant-keys verify-format', () => {
  it('says offline whether a string is a tenant key', async () => {
    const good = await run(['tenant-keys', 'verify-format', SECRET]);
    expect(good.code).toBe(0);
    expect(good.stdout).toContain('prefix mins_live_');
    const tampered = `${SECRET.slice(0, -1)}${SECRET.endsWith('a') ? 'b' : 'a'}`;
    const bad = await run(['tenant-keys', 'verify-format', tampered]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('checksum');
    expect(api.seen).toHaveLength(0);
  });
});
