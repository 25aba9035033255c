import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { json, localApiPerTest, problem } from '../../test/local-api.ts';

const { api, run } = localApiPerTest();

const MEMBER = {
  id: 'mem_1',
  tenant_id: 'ten_1',
  user_id: 'usr_1',
  email: 'ann@example.com',
  name: null,
  role: 'admin',
  permissions: ['members:read'],
  created_at: '2026-11-01T09:00:00.000Z',
  updated_at: '2026-11-01T09:00:00.000Z',
};

describe('access', () => {
  let dir: string;
  let file: string;
  const source = 'permissions:\n  meetings:read: Read meetings\nroles:\n  viewer: [meetings:read]\n';

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tenantry-cli-'));
    file = join(dir, 'access.yaml');
    await writeFile(file, source);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('PUTs the file and says which version it made; errors point at file:line:column, exit 2', async () => {
    api.handler = (_req, res) =>
      json(res, 200, { dry_run: false, change: 'created', version: 2, previous_version: 1 });
    const applied = await run(['access', 'apply', file]);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toBe('applied v1 → v2\n');
    expect(api.seen[0]).toMatchObject({ method: 'PUT', url: '/v1/access' });
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({ source, filename: file, dry_run: false });

    api.handler = (_req, res) =>
      problem(res, 400, 'validation_failed', 'the access file has 1 error', {
        errors: [
          {
            path: 'roles.viewer.0',
            message: '"x:y" is not a permission declared under permissions',
            line: 4,
            column: 12,
          },
        ],
      });
    const refused = await run(['access', 'apply', file]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe(
      `${file}:4:12: roles.viewer.0: "x:y" is not a permission declared under permissions\n`,
    );
  });

  it('shows each permission with the roles that hold it', async () => {
    api.handler = (_req, res) =>
      json(res, 200, {
        version: 3,
        checksum: 'abc',
        created_at: '2026-11-01T09:00:00.000Z',
        permissions: { 'meetings:read': 'Read meetings', 'meetings:write': 'Write meetings' },
        roles: {
          owner: ['meetings:read', 'meetings:write'],
          admin: ['meetings:read'],
          billing: [],
          member: [],
          viewer: [],
        },
        tenant_admin_permissions: { 'members:read': 'List members' },
      });
    const shown = await run(['access', 'show']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('v3');
    expect(shown.stdout).toMatch(/meetings:read\s+owner, admin\s+Read meetings/);
    expect(shown.stdout).toMatch(/meetings:write\s+owner\s+Write meetings/);
  });
});

describe('members', () => {
  it('lists, invites (printing the link) and removes', async () => {
    api.handler = (req, res) => {
      if (req.method === 'GET') return json(res, 200, { data: [MEMBER] });
      if (req.method === 'POST')
        return json(res, 201, {
          invitation: {
            id: 'ivt_1',
            tenant_id: 'ten_1',
            user_id: 'usr_2',
            email: 'bob@example.com',
            role: 'viewer',
            status: 'open',
            expires_at: '2026-11-08T09:00:00.000Z',
            accepted_at: null,
            created_at: '2026-11-01T09:00:00.000Z',
          },
          invitation_url: 'https://cp.example/sign-in/invitation?token=abc',
        });
      json(res, 200, MEMBER);
    };
    const listed = await run(['members', 'list', 'acme']);
    expect(listed.stdout).toMatch(/mem_1\s+ann@example.com\s+-?\s*admin/);
    const invited = await run([
      'members',
      'invite',
      'acme',
      '--email',
      'bob@example.com',
      '--role',
      'viewer',
    ]);
    expect(invited.code).toBe(0);
    expect(invited.stdout).toContain('https://cp.example/sign-in/invitation?token=abc');
    const removed = await run(['members', 'remove', 'acme', 'mem_1']);
    expect(removed.stdout).toBe('removed ann@example.com (mem_1) from acme\n');
    expect(api.seen.map((s) => [s.method, s.url])).toEqual([
      ['GET', '/v1/tenants/acme/members'],
      ['POST', '/v1/tenants/acme/invitations'],
      ['DELETE', '/v1/tenants/acme/members/mem_1'],
    ]);
    expect(JSON.parse(api.seen[1]?.body ?? '')).toEqual({ email: 'bob@example.com', role: 'viewer' });
  });

  it('refuses a missing --role before calling the API, exit 2', async () => {
    const result = await run(['members', 'invite', 'acme', '--email', 'bob@example.com']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--role/);
    expect(api.seen).toEqual([]);
  });
});
