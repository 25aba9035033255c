import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyAccess, invitedMember } from '../../test/member-support.ts';
import {
  type OidcTestApp,
  registerApp,
  sessionBrowser,
  signInThroughApp,
  startOidcTestApp,
} from '../../test/oidc-support.ts';
import { act, applyPlans, auditRows, provisionedTenant } from '../../test/tenant-support.ts';
import { until } from '../../test/until.ts';

/*
 * The provider wired as in production: signed in on a hosted-pages session (SessionService),
 * into memberships made by invitation (MemberService), under the tenant's access policy.
 */

let t: OidcTestApp;

beforeAll(async () => {
  t = await startOidcTestApp({ real: true });
  await applyPlans(t);
  await applyAccess(t);
});

afterAll(() => t.close());

/** A member of `tenantId` with `role`, by an invitation accepted over the API; returns the user id. */
async function member(tenantId: string, role: string, email: string): Promise<string> {
  return (await invitedMember(t, tenantId, role, email)).user_id;
}

describe('with the hosted sign-in and the members feature', () => {
  it("gives a member's app a token with the role's permissions, and refuses its refresh once the member is removed", async () => {
    const tenant = await provisionedTenant(t);
    const user = await member(tenant.id, 'viewer', `${tenant.slug}@example.com`);
    const { config } = await registerApp(t, 'public');
    const tokens = await signInThroughApp(config, await sessionBrowser(t, user), { prompt: 'consent' });
    expect(decodeJwt(tokens.access_token)).toMatchObject({
      sub: user,
      tid: tenant.id,
      roles: ['viewer'],
      perms: ['meetings:read'],
    });
    expect(tokens.claims()).toMatchObject({ email: `${tenant.slug}@example.com`, org_id: tenant.id });

    const removed = await t.request({ method: 'DELETE', url: `/v1/tenants/${tenant.id}/members/${user}` });
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    await expect(client.refreshTokenGrant(config, tokens.refresh_token ?? '')).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    const refused = (await auditRows(t, tenant.id)).filter((row) => row.action === 'refresh_token.refused');
    expect(refused).toHaveLength(1);
  });

  it("names a removed member in the tenant's snapshot at once, for apps to refuse their unexpired tokens", async () => {
    const tenant = await provisionedTenant(t);
    const user = await member(tenant.id, 'member', `${tenant.slug}-snap@example.com`);
    const other = await member(tenant.id, 'member', `${tenant.slug}-stays@example.com`);
    const before = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
    expect(before.body.revoked_subjects).toBeUndefined();
    const removed = await t.request({ method: 'DELETE', url: `/v1/tenants/${tenant.id}/members/${user}` });
    expect(removed.status).toBe(200);
    // The removal announces the tenant's entitlements changed (on commit, through the database):
    // the cached snapshot goes, with no waiting for its age.
    const after = await until('the snapshot names the removed member', async () => {
      const shown = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
      return shown.body.revoked_subjects === undefined ? undefined : shown;
    });
    expect(Object.keys(after.body.revoked_subjects)).toEqual([user]);
    expect(Date.parse(after.body.revoked_subjects[user])).toBeGreaterThanOrEqual(t.clock.now().getTime());
    expect(after.body.version).not.toBe(before.body.version);
    expect(after.body.revoked_subjects[other]).toBeUndefined();
    // Another tenant's snapshot does not name them.
    const elsewhere = await provisionedTenant(t);
    const theirs = await t.request({ method: 'GET', url: `/v1/tenants/${elsewhere.id}/entitlements` });
    expect(theirs.body.revoked_subjects).toBeUndefined();
    // An hour on (the longest access-token life), the name has left the snapshot.
    t.clock.advance(3_600_000 + 60_000);
    const later = await t.request({ method: 'GET', url: `/v1/tenants/${tenant.id}/entitlements` });
    expect(later.body.revoked_subjects).toBeUndefined();
  });

  it("applies the tenant's MFA policy to the hosted session", async () => {
    const tenant = await provisionedTenant(t, { plan: 'pro' });
    const user = await member(tenant.id, 'member', `${tenant.slug}@example.com`);
    const policy = await t.request({
      method: 'PUT',
      url: `/v1/tenants/${tenant.id}/access-policy`,
      payload: { mfa_required: true, ip_allow_list: [] },
    });
    expect(policy.status, JSON.stringify(policy.body)).toBe(200);
    const { config } = await registerApp(t);
    const browser = await sessionBrowser(t, user);
    const request = client.buildAuthorizationUrl(config, {
      redirect_uri: 'http://localhost:3000/callback',
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const landed = await browser.follow(request.href, 'http://localhost:3000/callback');
    expect(new URL(landed.url).pathname).toBe('/mfa');
    const tokens = await signInThroughApp(config, await sessionBrowser(t, user, { mfa: true }));
    expect(decodeJwt(tokens.access_token).tid).toBe(tenant.id);
  });

  it('refuses sign-in to a cancelled tenant', async () => {
    const tenant = await provisionedTenant(t);
    const user = await member(tenant.id, 'member', `${tenant.slug}@example.com`);
    expect((await act(t, tenant.id, 'cancel', { reason: 'gone' })).status).toBe(200);
    const { config } = await registerApp(t);
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: 'http://localhost:3000/callback',
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const landed = await (await sessionBrowser(t, user)).follow(url.href, 'http://localhost:3000/callback');
    expect(new URL(landed.url).searchParams.get('error')).toBe('access_denied');
  });
});
