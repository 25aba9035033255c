import { describe, expect, it } from 'vitest';
import { parseAccessFile } from './access-file.ts';
import { ipAllowed, parseCidr } from './cidr.ts';
import { OPERATOR_ROLE_SCOPES } from './operator-roles.ts';
import { TENANT_ADMIN_PERMISSIONS } from './permissions.ts';
import { permissionsOf, unknownPermissions } from './permissions-of.ts';

const FILE = {
  permissions: {
    'meetings:read': 'Read meetings',
    'meetings:write': 'Create and edit meetings',
    'releases:approve': 'Approve releases',
  },
  roles: {
    admin: ['meetings:read', 'meetings:write', 'releases:approve'],
    member: ['meetings:read', 'meetings:write'],
    viewer: ['meetings:read'],
  },
};

function catalogue() {
  const parsed = parseAccessFile(FILE);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.error));
  return parsed.value;
}

describe('parseAccessFile', () => {
  it('resolves every built-in role: the owner holds every vendor permission, unlisted roles none', () => {
    const c = catalogue();
    expect(c.roles.owner).toEqual(['meetings:read', 'meetings:write', 'releases:approve']);
    expect(c.roles.viewer).toEqual(['meetings:read']);
    expect(c.roles.billing).toEqual([]);
  });

  it('reports every problem with its path, and resolves nothing', () => {
    const parsed = parseAccessFile({
      permissions: { 'Meetings:read': 'x', 'members:read': 'mine', 'ok:fine': 'y' },
      roles: { owner: ['ok:fine'], member: ['ok:fine', 'nope:never', 'ok:fine'], guest: [] },
      extra: 1,
    });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    const paths = parsed.error.map((i) => i.path.join('.'));
    expect(paths).toEqual(
      expect.arrayContaining(['permissions.Meetings:read', 'roles.guest', 'extra', 'roles.owner']),
    );
    expect(parsed.error.find((i) => i.path.join('.') === 'roles.owner')?.message).toMatch(/every permission/);
  });

  it('refuses reserved tenant-admin names, undeclared and repeated permissions in roles', () => {
    const parsed = parseAccessFile({
      permissions: { 'members:read': 'mine', 'ok:fine': 'y' },
      roles: { member: ['ok:fine', 'nope:never', 'ok:fine'] },
    });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.error.map((i) => [i.path.join('.'), i.message])).toEqual([
      ['permissions.members:read', expect.stringMatching(/reserved/)],
      ['roles.member.1', '"nope:never" is not a permission declared under permissions'],
      ['roles.member.2', '"ok:fine" is listed twice'],
    ]);
  });

  it('takes an empty file as no vendor permissions', () => {
    const parsed = parseAccessFile(null);
    expect(parsed.ok && parsed.value.roles.owner).toEqual([]);
  });
});

describe('permissionsOf', () => {
  const admin = Object.keys(TENANT_ADMIN_PERMISSIONS);
  it('gives the owner everything, an admin all but billing:write, billing the billing ones', () => {
    const c = catalogue();
    const owner = permissionsOf('owner', c, []);
    expect(owner.ok && owner.value).toEqual([...admin, ...c.roles.owner].sort());
    const adm = permissionsOf('admin', c, []);
    expect(adm.ok && adm.value).not.toContain('billing:write');
    expect(adm.ok && adm.value).toContain('members:write');
    const billing = permissionsOf('billing', c, []);
    expect(billing.ok && billing.value).toEqual(['billing:read', 'billing:write']);
    const viewer = permissionsOf('viewer', c, []);
    expect(viewer.ok && viewer.value).toEqual(['meetings:read']);
  });

  it('gives a custom role what it lists that still exists, and refuses an unknown role', () => {
    const c = catalogue();
    const custom = [{ key: 'auditor', permissions: ['audit:read', 'meetings:read', 'gone:away'] }];
    const got = permissionsOf('auditor', c, custom);
    expect(got.ok && got.value).toEqual(['audit:read', 'meetings:read']);
    const unknown = permissionsOf('nobody', c, custom);
    expect(unknown.ok ? null : unknown.error.code).toBe('role_not_found');
    expect(unknownPermissions(['audit:read', 'meetings:read', 'x:y'], c)).toEqual(['x:y']);
  });
});

describe('operator roles', () => {
  it('support reads only; finance holds billing, usage reads and tenant reads', () => {
    expect(OPERATOR_ROLE_SCOPES.support.every((s) => s.endsWith(':read'))).toBe(true);
    expect(OPERATOR_ROLE_SCOPES.support).toContain('tenants:read');
    expect(OPERATOR_ROLE_SCOPES.finance).toEqual([
      'billing:read',
      'billing:write',
      'usage:read',
      'tenants:read',
    ]);
    expect(OPERATOR_ROLE_SCOPES.admin).toContain('keys:manage');
  });
});

describe('CIDR allow-lists', () => {
  it.each([
    ['10.1.2.3', ['10.0.0.0/8'], true],
    ['11.0.0.1', ['10.0.0.0/8'], false],
    ['192.168.1.1', ['192.168.1.1'], true],
    ['192.168.1.2', ['192.168.1.1/32'], false],
    ['::ffff:10.0.0.9', ['10.0.0.0/24'], true],
    ['2001:db8::1', ['2001:db8::/32'], true],
    ['2001:db9::1', ['2001:db8::/32'], false],
    ['::1', ['::1/128'], true],
    ['10.0.0.1', ['2001:db8::/32'], false],
    ['anything', [], true],
    ['not-an-ip', ['0.0.0.0/0'], false],
    ['1.2.3.4', ['0.0.0.0/0'], true],
    ['fe80::1', ['::/0'], true],
  ] as const)('%s against %j → %s', (ip, cidrs, allowed) => {
    expect(ipAllowed(ip, cidrs)).toBe(allowed);
  });

  it.each([
    '10.0.0.0/33',
    '10.0.0.1/8',
    '256.0.0.0/8',
    '10.0.0/8',
    '010.0.0.0/8',
    'fe80::1::2/64',
    '2001:db8::/129',
    'x',
    '1.2.3.4/-1',
    '1.2.3.4/8/8',
  ])('%s is not a CIDR block', (text) => {
    expect(parseCidr(text)).toBeUndefined();
  });

  it('reads full and compressed IPv6 alike', () => {
    expect(parseCidr('2001:0db8:0000:0000:0000:0000:0000:0000/32')).toEqual(parseCidr('2001:db8::/32'));
  });
});
