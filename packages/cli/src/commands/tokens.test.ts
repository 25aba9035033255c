import { describe, expect, it } from 'vitest';
import { json, localApiPerTest, problem } from '../../test/local-api.ts';
import { runCaptured } from '../../test/run-captured.ts';

const { api, run, url } = localApiPerTest();

const TOKEN = {
  access_token: 'eyJhbGciOiJFUzI1NiJ9.eyJ0aWQiOiJ0ZW5fMSJ9.c2ln',
  token_type: 'Bearer',
  expires_in: 600,
  expires_at: '2026-11-22T10:10:00.000Z',
};

function key(kid: string, status: string, extra: Record<string, unknown> = {}) {
  return {
    kid,
    algorithm: 'ES256',
    status,
    published: true,
    created_at: '2026-11-01T00:00:00.000Z',
    activated_at: status === 'next' ? null : '2026-11-02T00:00:00.000Z',
    retired_at: null,
    published_until: null,
    public_jwk: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', kid, alg: 'ES256', use: 'sig' },
    ...extra,
  };
}

describe('tokens mint', () => {
  it('posts the subject, every --role and --ttl to the tenant, and prints the token', async () => {
    api.handler = (_req, res) => json(res, 200, TOKEN);
    const result = await run([
      'tokens',
      'mint',
      '--tenant',
      'acme corp',
      '--subject',
      'alice@example.com',
      '--role',
      'admin',
      '--role',
      'billing',
      '--permission',
      'meetings:read',
      '--permission',
      'meetings:write',
      '--ttl',
      '600',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        `token:   ${TOKEN.access_token}`,
        'type:    Bearer',
        'expires: 2026-11-22 10:10 UTC (in 600 s)',
        '',
      ].join('\n'),
    );
    expect(api.seen).toHaveLength(1);
    expect(api.seen[0]).toMatchObject({ method: 'POST', url: '/v1/tenants/acme%20corp/tokens' });
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({
      subject: 'alice@example.com',
      roles: ['admin', 'billing'],
      permissions: ['meetings:read', 'meetings:write'],
      ttl_seconds: 600,
    });
    expect(api.seen[0]?.headers.authorization).toBe('Bearer tk_secret');
    expect(api.seen[0]?.headers['idempotency-key']).toEqual(expect.any(String));
  });

  it('leaves the roles and permissions empty and the life to the server when not given; --json prints the API answer', async () => {
    api.handler = (_req, res) => json(res, 200, TOKEN);
    const result = await run(['tokens', 'mint', '--tenant', 'acme', '--subject', 'svc', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(TOKEN);
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({ subject: 'svc', roles: [], permissions: [] });
  });

  it.each([
    [['--ttl', '59'], '--ttl'],
    [['--ttl', '3601'], '--ttl'],
    [['--ttl', 'soon'], '--ttl'],
  ])('refuses %j before asking the server, exit 2', async (extra, option) => {
    const result = await run(['tokens', 'mint', '--tenant', 'acme', '--subject', 'a', ...extra]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(option);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(api.seen).toHaveLength(0);
  });

  it('needs --tenant and --subject', async () => {
    for (const args of [
      ['tokens', 'mint', '--subject', 'a'],
      ['tokens', 'mint', '--tenant', 'acme'],
    ]) {
      const result = await run(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/--tenant|--subject/);
    }
    expect(api.seen).toHaveLength(0);
  });

  it("prints the server's refusal on one line, exit 2", async () => {
    api.handler = (_req, res) =>
      problem(res, 409, 'tenant_inactive', 'tenant "acme" is suspended and may not be given access tokens', {
        state: 'suspended',
      });
    const result = await run(['tokens', 'mint', '--tenant', 'acme', '--subject', 'a']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      'error: tenant "acme" is suspended and may not be given access tokens [tenant_inactive]\n',
    );
  });
});

describe('signing-keys', () => {
  it('list prints every key with its status and publication', async () => {
    api.handler = (_req, res) =>
      json(res, 200, {
        data: [
          key('kid-next', 'next'),
          key('kid-active', 'active'),
          key('kid-old', 'retired', {
            retired_at: '2026-11-03T00:00:00.000Z',
            published_until: '2026-11-03T01:00:00.000Z',
          }),
          key('kid-gone', 'retired', {
            published: false,
            retired_at: '2026-10-03T00:00:00.000Z',
            published_until: '2026-10-03T01:00:00.000Z',
          }),
        ],
      });
    const result = await run(['signing-keys', 'list']);
    expect(result.code).toBe(0);
    expect(api.seen.map((s) => [s.method, s.url])).toEqual([['GET', '/v1/signing-keys']]);
    const lines = result.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^KID\s+STATUS\s+PUBLISHED\s+CREATED\s+ACTIVATED\s+RETIRED$/);
    expect(lines[1]).toMatch(/^kid-next\s+next\s+yes\s+2026-11-01 00:00 UTC\s+-\s+-$/);
    expect(lines[2]).toMatch(/^kid-active\s+active\s+yes\s/);
    expect(lines[3]).toMatch(/^kid-old\s+retired\s+until 2026-11-03 01:00 UTC\s/);
    expect(lines[4]).toMatch(/^kid-gone\s+retired\s+no\s/);
  });

  it('rotate posts the reason and says what changed; --json prints the answer', async () => {
    const rotation = {
      active: key('kid-b', 'active'),
      retired: key('kid-a', 'retired', {
        retired_at: '2026-11-22T10:00:00.000Z',
        published_until: '2026-11-22T11:00:00.000Z',
      }),
      next: key('kid-c', 'next'),
    };
    api.handler = (_req, res) => json(res, 200, rotation);
    const result = await run(['signing-keys', 'rotate', '--reason', 'yearly']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        'signing with kid-b from now on',
        'retired kid-a; it stays published until 2026-11-22 11:00 UTC',
        'published kid-c as the next key',
        '',
      ].join('\n'),
    );
    expect(api.seen[0]).toMatchObject({ method: 'POST', url: '/v1/signing-keys/rotate' });
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({ reason: 'yearly' });

    const plain = await run(['signing-keys', 'rotate', '--json']);
    expect(JSON.parse(plain.stdout)).toEqual(rotation);
    expect(JSON.parse(api.seen[1]?.body ?? '')).toEqual({});
  });

  it('without a token, says so and asks nothing', async () => {
    const { code, stderr } = await runCaptured(['signing-keys', 'rotate'], { TENANTRY_URL: url() });
    expect(code).toBe(2);
    expect(stderr).toContain('TENANTRY_TOKEN');
    expect(api.seen).toHaveLength(0);
  });
});
