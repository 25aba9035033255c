import { decodeJwt, SignJWT } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyAccess, invitedMember } from '../../test/member-support.ts';
import {
  authorizationRequest,
  type Browser,
  type OidcTestApp,
  REDIRECT_URI,
  registerApp,
  sessionBrowser,
  signInThroughApp,
  startOidcTestApp,
} from '../../test/oidc-support.ts';
import { applyPlans, auditRows, provisionedTenant } from '../../test/tenant-support.ts';

/*
 * The vendor's staff signing in to the operator organisation through the provider, wired as in
 * production: staff added over /v1/staff, memberships made by invitation, hosted-pages sessions;
 * the staff token then used on /v1 as the user-token gate admits it.
 */

const ACCESS = `
permissions:
  meetings:read: Read meetings
roles:
  admin: [meetings:read]
  viewer: [meetings:read]
`;

let t: OidcTestApp;

beforeAll(async () => {
  t = await startOidcTestApp({ real: true });
  await applyPlans(t);
  await applyAccess(t, ACCESS);
});

afterAll(() => t.close());

let count = 0;
/** An email no other test uses. */
function email(label: string): string {
  count += 1;
  return `${label}-${count}-${Date.now()}@example.com`;
}

/** `email` made staff with `role` over the API; returns the user id. */
async function staff(address: string, role: 'admin' | 'support' | 'finance'): Promise<string> {
  const added = await t.request({ method: 'POST', url: '/v1/staff', payload: { email: address, role } });
  expect(added.status, JSON.stringify(added.body)).toBe(200);
  return added.body.user_id;
}

/** `email` made a member of `tenantId` by an invitation accepted over the API; returns the user id. */
async function member(tenantId: string, address: string): Promise<string> {
  return (await invitedMember(t, tenantId, 'viewer', address)).user_id;
}

/** Where the browser ends when it follows the app's authorization request. */
async function land(config: client.Configuration, browser: Browser, extra: Record<string, string> = {}) {
  const request = await authorizationRequest(config, extra);
  return { ...(await browser.follow(request.url.href, REDIRECT_URI)), request };
}

/** Sends the picker's form (its own CSRF token) choosing `organization`. */
function choose(browser: Browser, page: string, organization: string) {
  const action = /<form method="post" action="([^"]+)"/.exec(page)?.[1] ?? '';
  const csrf = /name="csrf_token" value="([^"]+)"/.exec(page)?.[1] ?? '';
  return browser.send(`${t.issuer}${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ organization, csrf_token: csrf }).toString(),
  });
}

/** A /v1 request with a user's access token instead of the operator key. */
function withToken(token: string, method: 'GET' | 'POST', url: string, payload?: unknown) {
  return t.request({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

describe('staff signing in to the operator organisation', () => {
  it('offers a staff admin the operator organisation in the picker, and its token opens operator routes', async () => {
    const tenant = await provisionedTenant(t);
    const address = email('admin');
    const user = await staff(address, 'admin');
    expect(await member(tenant.id, address)).toBe(user);
    const browser = await sessionBrowser(t, user);
    const { config } = await registerApp(t);

    const picker = await land(config, browser);
    expect(picker.status).toBe(200);
    expect(picker.body).toContain(`value="${tenant.id}"`);
    expect(picker.body).toContain('value="operator">Operator (vendor staff)</button>');
    const chosen = await choose(browser, picker.body, 'operator');
    expect(chosen.status).toBe(303);
    const landed = await browser.follow(
      new URL(chosen.headers.get('location') ?? '', t.issuer).href,
      REDIRECT_URI,
    );
    const tokens = await client.authorizationCodeGrant(config, new URL(landed.url), {
      pkceCodeVerifier: picker.request.verifier,
      expectedState: picker.request.state,
    });

    const claims = decodeJwt(tokens.access_token);
    expect(claims).toMatchObject({ sub: user, staff: true, roles: ['admin'], aud: 'tenantry' });
    expect(claims.tid).toBeUndefined();
    expect(claims.perms).toBeUndefined();
    const idToken = tokens.claims();
    expect(idToken).toMatchObject({ sub: user, staff: true, org_slug: 'operator' });
    expect(idToken?.org_id).toBeUndefined();

    const listed = await withToken(tokens.access_token, 'GET', '/v1/tenants');
    expect(listed.status, JSON.stringify(listed.body)).toBe(200);
    expect(listed.body.data.map((row: { id: string }) => row.id)).toContain(tenant.id);

    // Recorded outside any tenant's log: the jti, never the token.
    const issued = (await auditRows(t)).filter(
      (row) => row.action === 'access_token.issued' && row.target_id === claims.jti,
    );
    expect(issued).toHaveLength(1);
    expect(issued[0]).toMatchObject({ tenant_id: null, actor_type: 'user', actor_id: user });
    expect(JSON.stringify(issued[0])).not.toContain(tokens.access_token.split('.')[2]);

    // Signing in again without asking keeps the grant's organisation: the operator one.
    const again = await signInThroughApp(config, browser);
    expect(decodeJwt(again.access_token)).toMatchObject({ staff: true, roles: ['admin'] });
    // The switcher takes the staff member to their tenant: a tenant token, no staff claim.
    const switching = await land(config, browser, { prompt: 'select_account' });
    const switched = await choose(browser, switching.body, tenant.id);
    const back = await browser.follow(
      new URL(switched.headers.get('location') ?? '', t.issuer).href,
      REDIRECT_URI,
    );
    const tenantTokens = await client.authorizationCodeGrant(config, new URL(back.url), {
      pkceCodeVerifier: switching.request.verifier,
      expectedState: switching.request.state,
    });
    const tenantClaims = decodeJwt(tenantTokens.access_token);
    expect(tenantClaims).toMatchObject({ tid: tenant.id, roles: ['viewer'] });
    expect(tenantClaims.staff).toBeUndefined();
  });

  it('takes organization=operator without the picker; a support token reads but is refused a write route', async () => {
    const user = await staff(email('support'), 'support');
    const { config } = await registerApp(t, 'public');
    const tokens = await signInThroughApp(config, await sessionBrowser(t, user), {
      organization: 'operator',
    });
    expect(decodeJwt(tokens.access_token)).toMatchObject({ sub: user, staff: true, roles: ['support'] });

    expect((await withToken(tokens.access_token, 'GET', '/v1/tenants')).status).toBe(200);
    const target = email('target');
    const refused = await withToken(tokens.access_token, 'POST', '/v1/staff', {
      email: target,
      role: 'admin',
    });
    expect(refused.status, JSON.stringify(refused.body)).toBe(403);
    expect(refused.body).toMatchObject({ code: 'insufficient_scope', required_scope: 'staff:write' });
    // Nothing written: the would-be staff member is not there.
    const list = await t.request({ method: 'GET', url: '/v1/staff' });
    expect(list.body.data.map((row: { email: string }) => row.email)).not.toContain(target);
  });

  it('never offers or gives the operator organisation to a user who is not staff', async () => {
    const a = await provisionedTenant(t);
    const b = await provisionedTenant(t);
    const address = email('member');
    const user = await member(a.id, address);
    await member(b.id, address);
    const browser = await sessionBrowser(t, user);
    const { config } = await registerApp(t);

    const picker = await land(config, browser);
    expect(picker.status).toBe(200);
    expect(picker.body).toContain(`value="${a.id}"`);
    expect(picker.body).not.toContain('value="operator"');
    expect(picker.body).not.toContain('Operator (vendor staff)');
    // A forged pick of the operator organisation is refused on the picker.
    const forged = await choose(browser, picker.body, 'operator');
    expect(forged.status).toBe(403);
    expect(await forged.text()).toContain('That organisation is not one you may sign in to.');

    // Asked for by the app: refused back to the app, never a tenant in its place.
    const asked = await land(config, browser, { organization: 'operator' });
    const answer = new URL(asked.url);
    expect(answer.origin + answer.pathname).toBe(REDIRECT_URI);
    expect(answer.searchParams.get('error')).toBe('access_denied');
    expect(answer.searchParams.get('code')).toBeNull();

    // A staff token's shape forged by hand is not one the provider signed: refused on /v1.
    const { privateKey } = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
    ]);
    const forgedToken = await new SignJWT({ staff: true, roles: ['admin'] })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'forged' })
      .setSubject(user)
      .setIssuer(t.issuer)
      .setAudience('tenantry')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    const denied = await withToken(forgedToken, 'GET', '/v1/tenants');
    expect(denied.status).toBe(401);
    expect(denied.body.code).toBe('invalid_access_token');
  });

  it("refuses a removed staff member's refresh and their token at once, and records the refusal", async () => {
    const user = await staff(email('leaver'), 'admin');
    const { config } = await registerApp(t);
    // offline_access is granted with prompt=consent, as OpenID Connect asks.
    const tokens = await signInThroughApp(config, await sessionBrowser(t, user), {
      organization: 'operator',
      prompt: 'consent',
    });
    const refreshToken = tokens.refresh_token ?? '';
    expect(refreshToken).not.toBe('');

    // A role change shows on the next refresh; refreshing works while they are staff.
    await staff(String(tokens.claims()?.email), 'finance');
    const refreshed = await client.refreshTokenGrant(config, refreshToken);
    expect(decodeJwt(refreshed.access_token)).toMatchObject({ staff: true, roles: ['finance'] });

    const removed = await t.request({ method: 'DELETE', url: `/v1/staff/${user}` });
    expect(removed.status, JSON.stringify(removed.body)).toBe(200);
    await expect(
      client.refreshTokenGrant(config, refreshed.refresh_token ?? refreshToken),
    ).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    const refusals = (await auditRows(t)).filter(
      (row) => row.action === 'refresh_token.refused' && row.actor_id === user,
    );
    expect(refusals).toHaveLength(1);
    expect(refusals[0]?.tenant_id).toBeNull();
    // The unexpired access token is refused too: the gate reads the staff role live.
    const after = await withToken(refreshed.access_token, 'GET', '/v1/tenants');
    expect(after.status).toBe(401);
    expect(after.body).toMatchObject({ code: 'invalid_access_token', reason: 'not_staff' });
    // And signing in to the operator organisation again is refused.
    const again = await land(config, await sessionBrowser(t, user), { organization: 'operator' });
    expect(new URL(again.url).searchParams.get('error')).toBe('access_denied');
  });
});
