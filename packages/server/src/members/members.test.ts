import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { ACCESS, applyAccess, invitedMember } from '../../test/member-support.ts';
import {
  act,
  applyPlans,
  auditCount,
  auditRows,
  provisionedTenant,
  query,
} from '../../test/tenant-support.ts';
import { forgedUserToken, unsignedUserToken, userToken } from '../../test/user-tokens.ts';

const PLANS = `
currency: usd
meters:
  meetings:
    aggregation: count
features:
  custom_roles: {}
  ip_allow_list: {}
  member_seats: {}
plans:
  starter:
    name: Starter
  team:
    name: Team
    features: [member_seats]
    limits:
      seats: { value: 2 }
  enterprise:
    name: Enterprise
    features: [custom_roles, ip_allow_list]
`;

let t: TestApp;
let counter = 0;

beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t, PLANS);
  await applyAccess(t);
});
afterAll(() => t.close());

function email(): string {
  counter += 1;
  return `Person.${counter}@Example.com`;
}

/** The token in an invitation link. */
function tokenOf(url: string): string {
  return new URL(url).searchParams.get('token') ?? '';
}

async function invite(tenant: string, role: string, address = email(), headers?: Record<string, string>) {
  return t.request({
    method: 'POST',
    url: `/v1/tenants/${tenant}/invitations`,
    payload: { email: address, role },
    ...(headers ? { headers } : {}),
  });
}

/** A new member of `tenant` with `role`, through an invitation accepted over the API. */
function member(tenant: string, role: string) {
  return invitedMember(t, tenant, role, email());
}

async function memberToken(tenantId: string, role: string) {
  const m = await member(tenantId, role);
  return { member: m, token: await userToken(t, { sub: m.user_id, tid: tenantId }) };
}

const as = (token: string) => ({ authorization: `Bearer ${token}` });

describe('the access file', () => {
  test('is refused with every error on its line, and nothing stored', async () => {
    const before = await auditCount(t);
    const refused = await t.request({
      method: 'PUT',
      url: '/v1/access',
      payload: {
        filename: 'access.yaml',
        source:
          'permissions:\n  members:read: mine\n  Bad:name: x\nroles:\n  member: [nope:never]\n  owner: []\n',
      },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('validation_failed');
    const byPath = Object.fromEntries(refused.body.errors.map((e: any) => [e.path, e]));
    expect(byPath['permissions.Bad:name']).toMatchObject({ line: 3 });
    expect(byPath['roles.owner'].message).toMatch(/every permission/);
    expect(await auditCount(t)).toBe(before);
    const shown = await t.request({ method: 'GET', url: '/v1/access' });
    expect(shown.body.version).toBe(1);
  });

  test('is versioned: the same file changes nothing, a new one is a new audited version (JSON too)', async () => {
    const same = await t.request({ method: 'PUT', url: '/v1/access', payload: { source: ACCESS } });
    expect(same.body).toMatchObject({ change: 'unchanged', version: 1 });
    const json = JSON.stringify({
      permissions: { 'meetings:read': 'Read meetings', 'meetings:write': 'Create and edit meetings' },
      roles: {
        admin: ['meetings:read', 'meetings:write'],
        member: ['meetings:read', 'meetings:write'],
        viewer: ['meetings:read'],
      },
    });
    const dry = await t.request({
      method: 'PUT',
      url: '/v1/access',
      payload: { source: json, dry_run: true },
    });
    expect(dry.body).toMatchObject({ dry_run: true, change: 'unchanged' });
    const shown = await t.request({ method: 'GET', url: '/v1/access' });
    expect(shown.body.roles.owner).toEqual(['meetings:read', 'meetings:write']);
    expect(shown.body.tenant_admin_permissions['members:write']).toBeTruthy();
    const rows = (await auditRows(t)).filter((r) => r.action === 'access.applied');
    expect(rows).toHaveLength(1);
  });
});

describe('invitations', () => {
  test('make the user, store only a hash of the token, and let the invited user join once', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    const address = email();
    const invited = await invite(tenant.id, 'viewer', `  ${address} `);
    expect(invited.status, JSON.stringify(invited.body)).toBe(201);
    const token = tokenOf(invited.body.invitation_url);
    expect(invited.body.invitation_url).toMatch(/^http:\/\/localhost:8080\/sign-in\/invitation\?token=/);
    expect(Buffer.from(token, 'base64url').length).toBeGreaterThanOrEqual(16);
    expect(invited.body.invitation).toMatchObject({ email: address, role: 'viewer', status: 'open' });
    const stored = await query<{ token_hash: string }>(
      t,
      `select token_hash from tenantry.invitations where id = '${invited.body.invitation.id}'`,
    );
    expect(stored[0]?.token_hash).not.toContain(token);
    const audit = JSON.stringify(await auditRows(t, tenant.id));
    expect(audit).toContain('member.invited');
    expect(audit).not.toContain(token);
    const events = await query<{ type: string; data: unknown }>(
      t,
      `select type, data from tenantry.domain_events where tenant_id = '${tenant.id}' and type like 'member.%'`,
    );
    expect(JSON.stringify(events)).not.toContain(token);

    const accepted = await t.request({
      method: 'POST',
      url: '/v1/invitations/accept',
      payload: { token, user_id: invited.body.invitation.user_id },
    });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
    expect(accepted.body).toMatchObject({ role: 'viewer', permissions: ['meetings:read'], email: address });
    const users = await query<{ email_verified_at: Date | null }>(
      t,
      `select email_verified_at from tenantry.users where id = '${accepted.body.user_id}'`,
    );
    expect(users[0]?.email_verified_at).not.toBeNull();

    const again = await t.request({
      method: 'POST',
      url: '/v1/invitations/accept',
      payload: { token, user_id: invited.body.invitation.user_id },
    });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('invitation_used');

    const listed = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/members` });
    expect(listed.body.data.map((m: any) => m.email)).toEqual([address]);
    const invitations = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.slug}/invitations` });
    expect(invitations.body.data[0]).toMatchObject({ status: 'accepted' });
    const types = (
      await query<{ type: string }>(
        t,
        `select type from tenantry.domain_events where tenant_id = '${tenant.id}' and type like 'member.%' order by occurred_at, id`,
      )
    ).map((e) => e.type);
    expect(types).toEqual(['member.invited', 'member.joined']);
  });

  test('are single use under concurrent acceptance too', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    const invited = await invite(tenant.id, 'member');
    const payload = { token: tokenOf(invited.body.invitation_url), user_id: invited.body.invitation.user_id };
    const answers = await Promise.all(
      [0, 1, 2].map(() => t.request({ method: 'POST', url: '/v1/invitations/accept', payload })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409, 409]);
    expect(answers.filter((a) => a.status === 409).map((a) => a.body.code)).toEqual([
      'invitation_used',
      'invitation_used',
    ]);
    const members = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/members` });
    expect(members.body.data).toHaveLength(1);
  });

  test('refuse an expired link, an unknown one and another user, changing nothing', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    const invited = await invite(tenant.id, 'member');
    const token = tokenOf(invited.body.invitation_url);
    const other = await invite(tenant.id, 'member');
    const before = await auditCount(t);
    const mismatch = await t.request({
      method: 'POST',
      url: '/v1/invitations/accept',
      payload: { token, user_id: other.body.invitation.user_id },
    });
    expect(mismatch.status).toBe(403);
    expect(mismatch.body.code).toBe('invitation_mismatch');
    const unknown = await t.request({
      method: 'POST',
      url: '/v1/invitations/accept',
      payload: { token: `${token.slice(0, -2)}xx`, user_id: invited.body.invitation.user_id },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.code).toBe('invitation_not_found');
    t.clock.advance(169 * 3_600_000);
    const expired = await t.request({
      method: 'POST',
      url: '/v1/invitations/accept',
      payload: { token, user_id: invited.body.invitation.user_id },
    });
    expect(expired.status).toBe(409);
    expect(expired.body.code).toBe('invitation_expired');
    expect(await auditCount(t)).toBe(before);
    expect((await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/members` })).body.data).toEqual(
      [],
    );
  });

  test.each([
    [{ email: 'not-an-email', role: 'member' }, 400, 'validation_failed', 'email'],
    [{ email: 'a@example.com', role: 'wizard' }, 404, 'role_not_found', 'role'],
    [
      { email: 'a@example.com', role: 'member', expires_in_hours: 0 },
      400,
      'validation_failed',
      'expires_in_hours',
    ],
    [{ email: 'a@example.com', role: 'member', extra: 1 }, 400, 'validation_failed', 'extra'],
  ])('%j is refused (%i %s) naming %s, and nothing is written', async (payload, status, code, path) => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    const before = await auditCount(t);
    const users = await query(t, 'select id from tenantry.users');
    const refused = await t.request({ method: 'POST', url: `/v1/tenants/${tenant.id}/invitations`, payload });
    expect(refused.status).toBe(status);
    expect(refused.body.code).toBe(code);
    expect(refused.body.errors.map((e: any) => e.path)).toContain(path);
    expect(await auditCount(t)).toBe(before);
    expect(await query(t, 'select id from tenantry.users')).toHaveLength(users.length);
  });

  test('sent again to the same person replace the older link, which then holds no seat', async () => {
    const tenant = await provisionedTenant(t, { plan: 'team' });
    const address = email();
    const first = await invite(tenant.id, 'member', address);
    const second = await invite(tenant.id, 'viewer', address.toLowerCase());
    expect(second.status).toBe(201);
    expect(second.body.invitation.user_id).toBe(first.body.invitation.user_id);
    const old = await t.request({
      method: 'POST',
      url: '/v1/invitations/accept',
      payload: { token: tokenOf(first.body.invitation_url), user_id: first.body.invitation.user_id },
    });
    expect(old.body.code).toBe('invitation_revoked');
    // Two seats: the replaced link holds none, so another person still fits.
    expect((await invite(tenant.id, 'member')).status).toBe(201);
    const listed = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/invitations` });
    expect(listed.body.data.map((i: any) => i.status).sort()).toEqual(['open', 'open', 'revoked']);
  });

  test('refuse a user who is already a member', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    const address = email();
    const first = await invite(tenant.id, 'member', address);
    await t.request({
      method: 'POST',
      url: '/v1/invitations/accept',
      payload: { token: tokenOf(first.body.invitation_url), user_id: first.body.invitation.user_id },
    });
    const again = await invite(tenant.id, 'admin', address.toUpperCase());
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('already_member');
  });
});

describe('member seats', () => {
  test('on a plan counting seats from members, members and open invitations stop at the hard limit', async () => {
    const tenant = await provisionedTenant(t, { plan: 'team', seats: 1 });
    await member(tenant.id, 'owner');
    const open = await invite(tenant.id, 'member');
    expect(open.status).toBe(201);
    const before = await auditCount(t);
    const users = await query(t, 'select id from tenantry.users');
    const past = await invite(tenant.id, 'member');
    expect(past.status).toBe(409);
    expect(past.body).toMatchObject({ code: 'seat_limit_reached', limit: 2, used: 2 });
    expect(await auditCount(t)).toBe(before);
    // The user the refused invitation would have made was rolled back with it.
    expect(await query(t, 'select id from tenantry.users')).toHaveLength(users.length);
    // Re-inviting the open invitation's person replaces it and so fits: still one seat each.
    const reinvite = await invite(tenant.id, 'member', open.body.invitation.email);
    expect(reinvite.status).toBe(201);
    expect((await invite(tenant.id, 'member')).body.code).toBe('seat_limit_reached');
    // Revoking the open invitation frees its seat, and its link stops working.
    const revoked = await t.request({
      method: 'DELETE',
      url: `/v1/tenants/${tenant.id}/invitations/${reinvite.body.invitation.id}`,
    });
    expect(revoked.status).toBe(200);
    expect(revoked.body.status).toBe('revoked');
    const refused = await t.request({
      method: 'POST',
      url: '/v1/invitations/accept',
      payload: { token: tokenOf(reinvite.body.invitation_url), user_id: reinvite.body.invitation.user_id },
    });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('invitation_revoked');
    const twice = await t.request({
      method: 'DELETE',
      url: `/v1/tenants/${tenant.id}/invitations/${reinvite.body.invitation.id}`,
    });
    expect(twice.body.code).toBe('invitation_revoked');
    expect((await invite(tenant.id, 'member')).status).toBe(201);
    // A plan without member_seats counts none.
    const starter = await provisionedTenant(t, { plan: 'starter' });
    for (let i = 0; i < 3; i++) expect((await invite(starter.id, 'member')).status).toBe(201);
  });
});

describe('roles', () => {
  test('change and removal keep an owner, and are audited with their events', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    const owner = await member(tenant.id, 'owner');
    const demote = await t.request({
      method: 'PATCH',
      url: `/v1/tenants/${tenant.id}/members/${owner.id}`,
      payload: { role: 'admin' },
    });
    expect(demote.status).toBe(409);
    expect(demote.body.code).toBe('last_owner');
    const removeOwner = await t.request({
      method: 'DELETE',
      url: `/v1/tenants/${tenant.id}/members/${owner.id}`,
    });
    expect(removeOwner.body.code).toBe('last_owner');
    const viewer = await member(tenant.id, 'viewer');
    const promoted = await t.request({
      method: 'PATCH',
      url: `/v1/tenants/${tenant.id}/members/${viewer.user_id}`,
      payload: { role: 'billing' },
    });
    expect(promoted.status).toBe(200);
    expect(promoted.body.permissions).toEqual(['billing:read', 'billing:write']);
    const removed = await t.request({
      method: 'DELETE',
      url: `/v1/tenants/${tenant.id}/members/${viewer.id}`,
    });
    expect(removed.status).toBe(200);
    const missing = await t.request({
      method: 'DELETE',
      url: `/v1/tenants/${tenant.id}/members/${viewer.id}`,
    });
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('member_not_found');
    const types = (
      await query<{ type: string }>(
        t,
        `select type from tenantry.domain_events where tenant_id = '${tenant.id}' and type like 'member.%' order by occurred_at, id`,
      )
    ).map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['member.role_changed', 'member.removed']));
  });

  test('custom roles need the plan feature, known permissions, and cannot go while held', async () => {
    const starter = await provisionedTenant(t, { plan: 'starter' });
    const refused = await t.request({
      method: 'POST',
      url: `/v1/tenants/${starter.id}/roles`,
      payload: { key: 'auditor', name: 'Auditor', permissions: ['audit:read'] },
    });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'feature_disabled', feature: 'custom_roles' });

    const tenant = await provisionedTenant(t, { plan: 'enterprise' });
    const unknown = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/roles`,
      payload: { key: 'auditor', name: 'Auditor', permissions: ['audit:read', 'rockets:launch'] },
    });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors).toEqual([
      { path: 'permissions.1', message: expect.stringContaining('rockets:launch') },
    ]);
    const builtIn = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/roles`,
      payload: { key: 'admin', name: 'Admin', permissions: [] },
    });
    expect(builtIn.status).toBe(400);
    const created = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/roles`,
      payload: { key: 'auditor', name: 'Auditor', permissions: ['audit:read', 'meetings:read'] },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const taken = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/roles`,
      payload: { key: 'auditor', name: 'Again', permissions: [] },
    });
    expect(taken.body.code).toBe('role_exists');
    const auditor = await member(tenant.id, 'auditor');
    expect(auditor.permissions).toEqual(['audit:read', 'meetings:read']);
    const updated = await t.request({
      method: 'PATCH',
      url: `/v1/tenants/${tenant.id}/roles/auditor`,
      payload: { permissions: ['audit:read'] },
    });
    expect(updated.body.permissions).toEqual(['audit:read']);
    // The auditor's token holds what the role holds now: audit:read still, meetings:read no more.
    const listed = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/members` });
    expect(listed.body.data.find((m: any) => m.user_id === auditor.user_id).permissions).toEqual([
      'audit:read',
    ]);
    const auditorToken = as(await userToken(t, { sub: auditor.user_id, tid: tenant.id }));
    const audit = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/audit`,
      headers: auditorToken,
    });
    expect(audit.status, JSON.stringify(audit.body)).toBe(200);
    const members = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/members`,
      headers: auditorToken,
    });
    expect(members.status).toBe(403);
    expect(members.body.code).toBe('insufficient_permission');
    const inUse = await t.request({ method: 'DELETE', url: `/v1/tenants/${tenant.id}/roles/auditor` });
    expect(inUse.status).toBe(409);
    expect(inUse.body.code).toBe('role_in_use');
    await t.request({ method: 'DELETE', url: `/v1/tenants/${tenant.id}/members/${auditor.id}` });
    expect(
      (await t.request({ method: 'DELETE', url: `/v1/tenants/${tenant.id}/roles/auditor` })).status,
    ).toBe(200);
    const actions = (await auditRows(t, tenant.id)).map((r) => r.action);
    expect(actions).toEqual(expect.arrayContaining(['role.created', 'role.updated', 'role.deleted']));
  });

  test("membershipsOf lists a user's tenants with role and permissions", async () => {
    const a = await provisionedTenant(t, { plan: 'starter' });
    const b = await provisionedTenant(t, { plan: 'starter' });
    const address = email();
    for (const [tenant, role] of [
      [a, 'viewer'],
      [b, 'admin'],
    ] as const) {
      const invited = await invite(tenant.id, role, address);
      await t.request({
        method: 'POST',
        url: '/v1/invitations/accept',
        payload: { token: tokenOf(invited.body.invitation_url), user_id: invited.body.invitation.user_id },
      });
    }
    const user =
      (
        await query<{ id: string }>(
          t,
          `select id from tenantry.users where email_key = '${address.toLowerCase()}'`,
        )
      )[0]?.id ?? '';
    const memberships = await t.services.members.membershipsOf(user);
    // Sorted by slug, for a stable switcher.
    const expected = [
      { slug: a.slug, id: a.id, role: 'viewer' },
      { slug: b.slug, id: b.id, role: 'admin' },
    ].sort((x, y) => x.slug.localeCompare(y.slug));
    expect(memberships.map((m) => [m.tenantId, m.role])).toEqual(expected.map((e) => [e.id, e.role]));
    expect(memberships.find((m) => m.tenantId === b.id)?.permissions).toContain('members:write');
    expect(memberships.find((m) => m.tenantId === a.id)).toMatchObject({
      tenantSlug: a.slug,
      tenantState: 'active',
    });
  });
});

describe('the access policy', () => {
  test('names every entry that is not a CIDR block, and stores nothing', async () => {
    const tenant = await provisionedTenant(t, { plan: 'enterprise' });
    const before = await auditCount(t);
    const refused = await t.request({
      method: 'PUT',
      url: `/v1/tenants/${tenant.id}/access-policy`,
      payload: {
        mfa_required: true,
        ip_allow_list: ['10.0.0.0/8', 'office', '10.0.0.1/8', '2001:db8::/129'],
      },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.errors.map((e: any) => e.path)).toEqual([
      'ip_allow_list.1',
      'ip_allow_list.2',
      'ip_allow_list.3',
    ]);
    expect(refused.body.errors[0].message).toContain('"office"');
    expect(await auditCount(t)).toBe(before);
    const shown = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/access-policy` });
    expect(shown.body).toMatchObject({ mfa_required: false, ip_allow_list: [], updated_at: null });
  });

  test('takes v4 and v6 blocks on plans with the feature, and only MFA on others', async () => {
    const tenant = await provisionedTenant(t, { plan: 'enterprise' });
    const set = await t.request({
      method: 'PUT',
      url: `/v1/tenants/${tenant.slug}/access-policy`,
      payload: { mfa_required: true, ip_allow_list: ['203.0.113.0/24', '2001:db8::/32'] },
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(await t.services.accessPolicies.accessPolicyOf(tenant.id)).toEqual({
      mfa_required: true,
      ip_allow_list: ['203.0.113.0/24', '2001:db8::/32'],
    });
    const events = await query<{ data: any }>(
      t,
      `select data from tenantry.domain_events where tenant_id = '${tenant.id}' and type = 'access_policy.updated'`,
    );
    expect(events[0]?.data).toMatchObject({
      mfa_required: true,
      ip_allow_list: ['203.0.113.0/24', '2001:db8::/32'],
    });

    const starter = await provisionedTenant(t, { plan: 'starter' });
    const refused = await t.request({
      method: 'PUT',
      url: `/v1/tenants/${starter.id}/access-policy`,
      payload: { mfa_required: true, ip_allow_list: ['203.0.113.0/24'] },
    });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'feature_disabled', feature: 'ip_allow_list' });
    const mfaOnly = await t.request({
      method: 'PUT',
      url: `/v1/tenants/${starter.id}/access-policy`,
      payload: { mfa_required: true },
    });
    expect(mfaOnly.body).toMatchObject({ mfa_required: true, ip_allow_list: [] });
  });
});

describe('user access tokens', () => {
  test("an admin's token manages its own tenant's members within its own permissions", async () => {
    const tenant = await provisionedTenant(t, { plan: 'enterprise' });
    await member(tenant.id, 'owner');
    const { token } = await memberToken(tenant.id, 'admin');
    const listed = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.slug}/members`,
      headers: as(token),
    });
    expect(listed.status, JSON.stringify(listed.body)).toBe(200);
    const invited = await invite(tenant.id, 'member', email(), as(token));
    expect(invited.status).toBe(201);
    const audit = (await auditRows(t, tenant.id)).find(
      (r) => r.action === 'member.invited' && r.actor_type === 'user',
    );
    expect(audit).toBeDefined();
    // Owner holds billing:write, which an admin lacks: no escalation by invitation or role change.
    const escalate = await invite(tenant.id, 'owner', email(), as(token));
    expect(escalate.status).toBe(403);
    expect(escalate.body).toMatchObject({
      code: 'insufficient_permission',
      missing_permissions: ['billing:write'],
    });
    const role = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/roles`,
      payload: { key: 'payer', name: 'Payer', permissions: ['billing:write'] },
      headers: as(token),
    });
    expect(role.status).toBe(403);
    expect(role.body.code).toBe('insufficient_permission');
  });

  test("a billing reader's token reads its own tenant's entitlements and usage (the portal), no other tenant's, and not while the tenant is suspended", async () => {
    const tenant = await provisionedTenant(t, { plan: 'enterprise' });
    const other = await provisionedTenant(t, { plan: 'enterprise' });
    await member(tenant.id, 'owner');
    const { token: billing } = await memberToken(tenant.id, 'billing');
    const { token: viewer } = await memberToken(tenant.id, 'viewer');
    const read = (id: string, token: string) =>
      t.request({ method: 'GET', url: `/v1/tenants/${id}/entitlements`, headers: as(token) });
    const own = await read(tenant.slug, billing);
    expect(own.status, JSON.stringify(own.body)).toBe(200);
    expect(own.body).toMatchObject({ tenant_id: tenant.id, state: 'active' });
    // Attacks: another tenant's snapshot, and a role without billing:read.
    expect((await read(other.id, billing)).body.code).toBe('insufficient_permission');
    const refused = await read(tenant.id, viewer);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'insufficient_permission' });
    // The usage series behind the snapshot's limits (the portal's charts): the same rule.
    const usage = (id: string, token: string) =>
      t.request({ method: 'GET', url: `/v1/tenants/${id}/usage?meter=meetings`, headers: as(token) });
    const series = await usage(tenant.slug, billing);
    expect(series.status, JSON.stringify(series.body)).toBe(200);
    expect(series.body).toMatchObject({ meter: 'meetings', total: 0 });
    expect((await usage(other.id, billing)).body).toMatchObject({
      code: 'insufficient_permission',
      required_permission: 'billing:read',
    });
    expect((await usage(tenant.id, viewer)).body).toMatchObject({
      code: 'insufficient_permission',
      required_permission: 'billing:read',
    });
    const suspended = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/suspend`,
      payload: {},
    });
    expect(suspended.status, JSON.stringify(suspended.body)).toBe(200);
    const inactive = await read(tenant.id, billing);
    expect(inactive.status).toBe(409);
    expect(inactive.body).toMatchObject({ code: 'tenant_inactive', state: 'suspended' });
  });

  test("a member's token is held to the tenant's IP allow-list, and its POSTs honour Idempotency-Key", async () => {
    const tenant = await provisionedTenant(t, { plan: 'enterprise' });
    await member(tenant.id, 'owner');
    const { token } = await memberToken(tenant.id, 'admin');
    const set = await t.request({
      method: 'PUT',
      url: `/v1/tenants/${tenant.id}/access-policy`,
      payload: { mfa_required: false, ip_allow_list: ['203.0.113.0/24', '2001:db8::/32'] },
      headers: as(token),
      remoteAddress: '203.0.113.9',
    });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    const outside = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/members`,
      headers: as(token),
    });
    expect(outside.status).toBe(403);
    expect(outside.body).toMatchObject({ code: 'ip_not_allowed', ip: '127.0.0.1' });
    for (const remoteAddress of ['203.0.113.200', '2001:db8::7']) {
      const inside = await t.request({
        method: 'GET',
        url: `/v1/tenants/${tenant.id}/members`,
        headers: as(token),
        remoteAddress,
      });
      expect(inside.status, remoteAddress).toBe(200);
    }
    const headers = { ...as(token), 'idempotency-key': 'invite-once' };
    const payload = { email: email(), role: 'viewer' };
    const url = `/v1/tenants/${tenant.id}/invitations`;
    const first = await t.request({ method: 'POST', url, payload, headers, remoteAddress: '203.0.113.9' });
    const again = await t.request({ method: 'POST', url, payload, headers, remoteAddress: '203.0.113.9' });
    expect(first.status).toBe(201);
    expect(again.body.invitation.id).toBe(first.body.invitation.id);
  });

  test("another tenant's token is refused on this tenant's path", async () => {
    const a = await provisionedTenant(t, { plan: 'starter' });
    const b = await provisionedTenant(t, { plan: 'starter' });
    const { token } = await memberToken(a.id, 'owner');
    for (const ref of [b.id, b.slug]) {
      const refused = await t.request({
        method: 'GET',
        url: `/v1/tenants/${ref}/members`,
        headers: as(token),
      });
      expect(refused.status).toBe(403);
      expect(refused.body.code).toBe('insufficient_permission');
    }
    const before = await auditCount(t);
    const write = await invite(b.id, 'member', email(), as(token));
    expect(write.status).toBe(403);
    expect(await auditCount(t)).toBe(before);
  });

  test('a member without the permission is refused, and a member token reaches no operator route', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    const { token } = await memberToken(tenant.id, 'viewer');
    const refused = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/members`,
      headers: as(token),
    });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({
      code: 'insufficient_permission',
      required_permission: 'members:read',
    });
    const operator = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}`, headers: as(token) });
    expect(operator.status).toBe(403);
    const accept = await t.request({
      method: 'POST',
      url: '/v1/invitations/accept',
      payload: { token: 'x', user_id: 'usr_x' },
      headers: as(token),
    });
    expect(accept.status).toBe(403);
  });

  test("a removed member's unexpired token stops working at once", async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    await member(tenant.id, 'owner');
    const { member: admin, token } = await memberToken(tenant.id, 'admin');
    expect(
      (await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/members`, headers: as(token) }))
        .status,
    ).toBe(200);
    await t.request({ method: 'DELETE', url: `/v1/tenants/${tenant.id}/members/${admin.id}` });
    const refused = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/members`,
      headers: as(token),
    });
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ code: 'invalid_access_token', reason: 'not_a_member' });
  });

  test("a suspended tenant's members are refused", async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    const { token } = await memberToken(tenant.id, 'owner');
    await act(t, tenant.id, 'suspend');
    const refused = await t.request({
      method: 'GET',
      url: `/v1/tenants/${tenant.id}/members`,
      headers: as(token),
    });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'tenant_inactive', state: 'suspended' });
  });

  test('forged, unsigned, expired and wrongly aimed tokens are refused', async () => {
    const tenant = await provisionedTenant(t, { plan: 'starter' });
    const owner = await member(tenant.id, 'owner');
    const claims = { sub: owner.user_id, tid: tenant.id };
    const url = `/v1/tenants/${tenant.id}/members`;
    const forged = await t.request({ method: 'GET', url, headers: as(await forgedUserToken(t, claims)) });
    expect(forged.status).toBe(401);
    expect(forged.body.code).toBe('invalid_access_token');
    const unsigned = await t.request({ method: 'GET', url, headers: as(unsignedUserToken(t, claims)) });
    expect(unsigned.status).toBe(401);
    const short = await userToken(t, claims, 60);
    t.clock.advance(61_000);
    const expired = await t.request({ method: 'GET', url, headers: as(short) });
    expect(expired.status).toBe(401);
    expect(expired.body.reason).toBe('expired');
    const notUser = await t.request({
      method: 'GET',
      url,
      headers: as(await userToken(t, { sub: 'someone', tid: tenant.id })),
    });
    expect(notUser.status).toBe(401);
    const good = await t.request({ method: 'GET', url, headers: as(await userToken(t, claims)) });
    expect(good.status).toBe(200);
  });
});

describe('staff', () => {
  test('hold the scopes of their operator role, live', async () => {
    const before = await auditCount(t);
    const added = await t.request({
      method: 'POST',
      url: '/v1/staff',
      payload: { email: 'support@vendor.example', role: 'support' },
    });
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    expect(added.body.scopes).toContain('tenants:read');
    expect(added.body.scopes).not.toContain('tenants:write');
    expect(await auditCount(t)).toBe(before + 1);
    const token = await userToken(t, { sub: added.body.user_id, staff: true });
    const read = await t.request({ method: 'GET', url: '/v1/tenants', headers: as(token) });
    expect(read.status).toBe(200);
    const write = await t.request({
      method: 'POST',
      url: '/v1/tenants',
      payload: { slug: 'staff-made', name: 'X', plan: 'starter' },
      headers: as(token),
    });
    expect(write.status).toBe(403);
    expect(write.body).toMatchObject({ code: 'insufficient_scope', required_scope: 'tenants:write' });
    const listed = await t.request({ method: 'GET', url: '/v1/staff' });
    expect(listed.body.data.map((s: any) => s.email)).toContain('support@vendor.example');
    const removed = await t.request({ method: 'DELETE', url: `/v1/staff/${added.body.user_id}` });
    expect(removed.status).toBe(200);
    const after = await t.request({ method: 'GET', url: '/v1/tenants', headers: as(token) });
    expect(after.status).toBe(401);
    expect(after.body.reason).toBe('not_staff');
    const again = await t.request({ method: 'DELETE', url: `/v1/staff/${added.body.user_id}` });
    expect(again.body.code).toBe('staff_member_not_found');
  });

  test('a finance token reaches billing but not tenant writes; a bad role is refused', async () => {
    const added = await t.request({
      method: 'POST',
      url: '/v1/staff',
      payload: { email: 'money@vendor.example', role: 'finance' },
    });
    const token = await userToken(t, { sub: added.body.user_id, staff: true });
    expect(await t.services.staff.staffScopesOf(added.body.user_id)).toEqual(
      new Set(['billing:read', 'billing:write', 'usage:read', 'tenants:read']),
    );
    const keys = await t.request({ method: 'GET', url: '/v1/api-keys', headers: as(token) });
    expect(keys.status).toBe(403);
    const bad = await t.request({
      method: 'POST',
      url: '/v1/staff',
      payload: { email: 'x@vendor.example', role: 'god' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].path).toBe('role');
    const before = await auditCount(t);
    const badEmail = await t.request({
      method: 'POST',
      url: '/v1/staff',
      payload: { email: 'not-an-email', role: 'finance' },
    });
    expect(badEmail.status).toBe(400);
    expect(badEmail.body).toMatchObject({ code: 'validation_failed', errors: [{ path: 'email' }] });
    expect(await auditCount(t)).toBe(before);
  });
});
