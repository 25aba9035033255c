import { createAccessTokenVerifier } from '@tenantry/sdk';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizationRequest,
  Browser,
  createUser,
  type OidcTestApp,
  REDIRECT_URI,
  registerApp,
  signInThroughApp,
  startOidcTestApp,
} from '../../test/oidc-support.ts';
import { act, applyPlans, auditRows, provisionedTenant } from '../../test/tenant-support.ts';

/*
 * The whole Authorization Code + PKCE flow over HTTP, with openid-client as the vendor's app and
 * a cookie jar as the browser, against a control plane listening on a loopback port. The hosted
 * sign-in and the memberships are a stand-in with their features' exact shapes (oidc-support.ts).
 */

let t: OidcTestApp;

beforeAll(async () => {
  t = await startOidcTestApp();
  await applyPlans(t);
});

afterAll(() => t.close());

/** A user who is a member of a new active tenant; returns both and a browser signed in as the user. */
async function member(role = 'member', permissions = ['meetings:read', 'meetings:write']) {
  const tenant = await provisionedTenant(t);
  const user = await createUser(t, `${tenant.slug}@example.com`);
  t.identity.addMember(user, tenant.id, role, permissions);
  return { tenant, user, browser: new Browser(t.identity.signIn(user)) };
}

/** Where the browser ends when it follows the authorization request. */
async function land(config: client.Configuration, browser: Browser, extra: Record<string, string> = {}) {
  const request = await authorizationRequest(config, extra);
  return { ...(await browser.follow(request.url.href, REDIRECT_URI)), request };
}

/** The error the token endpoint answered with, as openid-client reports it. */
async function refusal(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    // A refused client authentication comes as a 401 challenge, the rest as an OAuth error body.
    const challenge =
      error instanceof client.WWWAuthenticateChallengeError ? error.cause[0]?.parameters.error : undefined;
    return (
      challenge ??
      (error as { error?: string }).error ??
      `${String(error)} ${JSON.stringify((error as { cause?: unknown }).cause)}`
    );
  }
  throw new Error('expected a refusal');
}

describe('discovery', () => {
  it('publishes the provider at /.well-known/openid-configuration under the control plane as issuer', async () => {
    const response = await fetch(`${t.issuer}/.well-known/openid-configuration`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as Record<string, unknown>;
    expect(document).toMatchObject({
      issuer: t.issuer,
      authorization_endpoint: `${t.issuer}/oidc/auth`,
      token_endpoint: `${t.issuer}/oidc/token`,
      jwks_uri: `${t.issuer}/oidc/jwks`,
      code_challenge_methods_supported: ['S256'],
      response_types_supported: ['code'],
    });
    // The provider's JWKS is the control plane's: the next key is published before it signs.
    const jwks = await (await fetch(String(document.jwks_uri))).json();
    const published = await (await fetch(`${t.issuer}/.well-known/jwks.json`)).json();
    expect(jwks).toEqual(published);
    expect((jwks as { keys: unknown[] }).keys).toHaveLength(2);
  });
});

describe('the code flow with PKCE', () => {
  it('signs a member in and gives the app an access token the SDK verifies, and an ID token', async () => {
    const { tenant, user, browser } = await member();
    const { config, id } = await registerApp(t);
    const tokens = await signInThroughApp(config, browser);

    expect(decodeProtectedHeader(tokens.access_token)).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
    const verified = await createAccessTokenVerifier({ url: t.issuer }).verify(tokens.access_token);
    expect(verified).toMatchObject({ tenantId: tenant.id, subject: user, roles: ['member'] });
    const claims = decodeJwt(tokens.access_token);
    expect(claims).toMatchObject({
      iss: t.issuer,
      aud: 'tenantry',
      sub: user,
      tid: tenant.id,
      roles: ['member'],
      perms: ['meetings:read', 'meetings:write'],
      client_id: id,
    });
    // 15 minutes, as the tokens API's default.
    expect(Number(claims.exp) - Number(claims.iat)).toBe(900);
    expect(tokens.expires_in).toBe(900);
    // The ID token: standard claims and the organisation, signed ES256 for this client.
    expect(tokens.claims()).toMatchObject({
      iss: t.issuer,
      aud: id,
      sub: user,
      email: `${tenant.slug}@example.com`,
      email_verified: true,
      name: 'Ann Example',
      org_id: tenant.id,
      org_slug: tenant.slug,
      org_name: 'Acme',
    });
    expect(decodeProtectedHeader(tokens.id_token ?? '')).toMatchObject({ alg: 'ES256' });

    // Recorded in the tenant's audit log: the jti, never the token.
    const issued = (await auditRows(t, tenant.id)).filter((row) => row.action === 'access_token.issued');
    expect(issued).toHaveLength(1);
    expect(issued[0]).toMatchObject({
      target_id: claims.jti,
      actor_type: 'user',
      actor_id: user,
    });
    expect(JSON.stringify(issued[0])).not.toContain(tokens.access_token.split('.')[2]);
  });

  it('serves a public client (no secret) with PKCE alike', async () => {
    const { tenant, browser } = await member();
    const { config } = await registerApp(t, 'public');
    const tokens = await signInThroughApp(config, browser);
    expect(decodeJwt(tokens.access_token).tid).toBe(tenant.id);
  });

  it('refuses the code with a PKCE verifier that does not match', async () => {
    const { browser } = await member();
    const { config } = await registerApp(t);
    const { url, request } = await land(config, browser);
    const error = await refusal(
      client.authorizationCodeGrant(config, new URL(url), {
        pkceCodeVerifier: client.randomPKCECodeVerifier(),
        expectedState: request.state,
      }),
    );
    expect(error).toBe('invalid_grant');
  });

  it('refuses an authorization request without PKCE', async () => {
    const { browser } = await member();
    const { config } = await registerApp(t);
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      state: 's',
    });
    const landed = await browser.follow(url.href, REDIRECT_URI);
    const answer = new URL(landed.url).searchParams;
    expect(answer.get('error')).toBe('invalid_request');
    expect(answer.get('error_description')).toMatch(/PKCE/);
    expect(answer.has('code')).toBe(false);
  });

  it('refuses a code used twice', async () => {
    const { browser } = await member();
    const { config } = await registerApp(t);
    const { url, request } = await land(config, browser);
    const checks = { pkceCodeVerifier: request.verifier, expectedState: request.state };
    await client.authorizationCodeGrant(config, new URL(url), checks);
    expect(await refusal(client.authorizationCodeGrant(config, new URL(url), checks))).toBe('invalid_grant');
  });

  it('never redirects to a URI the client did not register, even one that starts like it', async () => {
    const { browser } = await member();
    const { config } = await registerApp(t);
    for (const redirect of ['https://evil.example/callback', `${REDIRECT_URI}/../evil`, `${REDIRECT_URI}x`]) {
      const { url } = await authorizationRequest(config, { redirect_uri: redirect });
      const response = await browser.send(url.href);
      expect(response.status, redirect).toBe(400);
      expect(response.headers.get('location')).toBeNull();
      expect(await response.text()).toContain('redirect_uri');
    }
  });

  it('refuses an unknown client', async () => {
    const response = await fetch(
      `${t.issuer}/oidc/auth?client_id=cli_00000000000000000000000000&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(REDIRECT_URI)}&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`,
      { redirect: 'manual' },
    );
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('invalid_client');
  });

  it('sends a browser with no Tenantry session to the hosted sign-in, and back to the interaction after', async () => {
    const { user } = await member();
    const { config } = await registerApp(t);
    const browser = new Browser();
    const { url } = await land(config, browser);
    const target = new URL(url);
    expect(target.pathname).toBe('/sign-in');
    const back = target.searchParams.get('return_to') ?? '';
    expect(back).toMatch(/^\/oidc\/interaction\/[\w-]+$/);
    // Signed in (the hosted pages' job), the browser goes back and the flow completes.
    browser.setCookie(t.identity.signIn(user));
    const landed = await browser.follow(`${t.issuer}${back}`, REDIRECT_URI);
    expect(new URL(landed.url).searchParams.has('code')).toBe(true);
  });

  it('refuses an interaction page without the interaction cookie of its own sign-in', async () => {
    const { browser, user } = await member();
    const { config } = await registerApp(t);
    const request = await authorizationRequest(config);
    const first = await browser.send(request.url.href);
    const interaction = new URL(first.headers.get('location') ?? '', t.issuer).href;
    // Another browser (signed in as the same user, without the interaction cookie) cannot take it over.
    const thief = await new Browser(t.identity.signIn(user)).send(interaction);
    expect(thief.status).toBe(400);
    expect(await thief.text()).toContain('This sign-in has expired');
  });
});

describe('tenants that may not act and members who left', () => {
  it('denies sign-in to a member of a suspended tenant', async () => {
    const { tenant, browser } = await member();
    const { config } = await registerApp(t);
    expect((await act(t, tenant.id, 'suspend', { reason: 'test' })).status).toBe(200);
    const { url } = await land(config, browser);
    const answer = new URL(url).searchParams;
    expect(answer.get('error')).toBe('access_denied');
    expect(answer.has('code')).toBe(false);
  });

  it('refuses the code of a tenant suspended between sign-in and the code exchange', async () => {
    const { tenant, browser } = await member();
    const { config } = await registerApp(t);
    const { url, request } = await land(config, browser);
    expect((await act(t, tenant.id, 'suspend', { reason: 'test' })).status).toBe(200);
    const error = await refusal(
      client.authorizationCodeGrant(config, new URL(url), {
        pkceCodeVerifier: request.verifier,
        expectedState: request.state,
      }),
    );
    expect(error).toBe('invalid_grant');
  });

  it('refreshes while the user is a member, and refuses the refresh token at once after removal', async () => {
    const { tenant, user, browser } = await member();
    const { config } = await registerApp(t, 'public');
    // offline_access is granted only with prompt=consent (OpenID Connect Core §11).
    const tokens = await signInThroughApp(config, browser, { prompt: 'consent' });
    expect(tokens.refresh_token).toBeTruthy();
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token ?? '');
    expect(decodeJwt(refreshed.access_token)).toMatchObject({ tid: tenant.id, sub: user });
    // A public client's refresh token rotates: the old one is spent.
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);

    t.identity.removeMember(user, tenant.id);
    expect(await refusal(client.refreshTokenGrant(config, refreshed.refresh_token ?? ''))).toBe(
      'invalid_grant',
    );
    const refused = (await auditRows(t, tenant.id)).filter((row) => row.action === 'refresh_token.refused');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ actor_type: 'user', actor_id: user });
  });

  it('refuses the refresh token of a suspended or cancelled tenant', async () => {
    const { tenant, browser } = await member();
    const { config } = await registerApp(t);
    const tokens = await signInThroughApp(config, browser, { prompt: 'consent' });
    expect((await act(t, tenant.id, 'suspend', { reason: 'unpaid' })).status).toBe(200);
    expect(await refusal(client.refreshTokenGrant(config, tokens.refresh_token ?? ''))).toBe('invalid_grant');
    // Resumed, the same grant serves again: the refusal was the tenant's state, checked live.
    expect((await act(t, tenant.id, 'resume')).status).toBe(200);
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token ?? '');
    expect(decodeJwt(refreshed.access_token).tid).toBe(tenant.id);
    expect((await act(t, tenant.id, 'cancel', { reason: 'gone' })).status).toBe(200);
    expect(
      await refusal(client.refreshTokenGrant(config, refreshed.refresh_token ?? tokens.refresh_token ?? '')),
    ).toBe('invalid_grant');
  });

  it('refuses every token of a client once the client is deleted', async () => {
    const { browser } = await member();
    const { config, id } = await registerApp(t);
    const tokens = await signInThroughApp(config, browser, { prompt: 'consent' });
    expect((await t.request({ method: 'DELETE', url: `/v1/oidc-clients/${id}` })).status).toBe(200);
    expect(await refusal(client.refreshTokenGrant(config, tokens.refresh_token ?? ''))).toBe(
      'invalid_client',
    );
    const left = await t.services.database.db
      .selectFrom('oidc_payloads')
      .select('model')
      .where('grant_id', 'is not', null)
      .where((eb) => eb(eb.ref('payload', '->>').key('clientId'), '=', id))
      .execute();
    expect(left).toEqual([]);
  });
});

describe('the organisation picker and switcher', () => {
  /** A user who is a member of two tenants. */
  async function twoTenants() {
    const a = await provisionedTenant(t, { name: 'Alpha' });
    const b = await provisionedTenant(t, { name: 'Beta' });
    const user = await createUser(t, `${a.slug}-${b.slug}@example.com`);
    t.identity.addMember(user, a.id, 'admin', ['meetings:read', 'meetings:write']);
    t.identity.addMember(user, b.id, 'viewer', ['meetings:read']);
    return { a, b, user, browser: new Browser(t.identity.signIn(user)) };
  }

  /** The picker's form: its action and CSRF token. */
  function form(page: string) {
    const action = /<form method="post" action="([^"]+)"/.exec(page)?.[1] ?? '';
    const csrf = /name="csrf_token" value="([^"]+)"/.exec(page)?.[1] ?? '';
    return { action, csrf };
  }

  async function choose(browser: Browser, page: string, organization: string, csrf?: string) {
    const { action, csrf: token } = form(page);
    return browser.send(`${t.issuer}${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ organization, csrf_token: csrf ?? token }).toString(),
    });
  }

  it('asks a member of several tenants which one, and gives a token for the chosen tenant', async () => {
    const { a, b, browser } = await twoTenants();
    const { config } = await registerApp(t);
    const picker = await land(config, browser);
    expect(picker.status).toBe(200);
    expect(picker.body).toContain('Which organisation do you want to sign in to?');
    expect(picker.body).toContain(`value="${a.id}"`);
    expect(picker.body).toContain(`value="${b.id}"`);

    const chosen = await choose(browser, picker.body, b.id);
    expect(chosen.status).toBe(303);
    const landed = await browser.follow(
      new URL(chosen.headers.get('location') ?? '', t.issuer).href,
      REDIRECT_URI,
    );
    const tokens = await client.authorizationCodeGrant(config, new URL(landed.url), {
      pkceCodeVerifier: picker.request.verifier,
      expectedState: picker.request.state,
    });
    expect(decodeJwt(tokens.access_token)).toMatchObject({
      tid: b.id,
      roles: ['viewer'],
      perms: ['meetings:read'],
    });
    expect(tokens.claims()?.org_id).toBe(b.id);

    // Signing in again without asking keeps the tenant of the grant: no picker.
    const again = await signInThroughApp(config, browser);
    expect(decodeJwt(again.access_token).tid).toBe(b.id);

    // The switcher: prompt=select_account shows the picker again; the other tenant gets its token.
    const switching = await land(config, browser, { prompt: 'select_account' });
    expect(switching.body).toContain('Which organisation');
    const switched = await choose(browser, switching.body, a.id);
    const back = await browser.follow(
      new URL(switched.headers.get('location') ?? '', t.issuer).href,
      REDIRECT_URI,
    );
    const other = await client.authorizationCodeGrant(config, new URL(back.url), {
      pkceCodeVerifier: switching.request.verifier,
      expectedState: switching.request.state,
    });
    expect(decodeJwt(other.access_token)).toMatchObject({ tid: a.id, roles: ['admin'] });
  });

  it('takes the organisation the app names (id or slug) without the picker', async () => {
    const { a, b, browser } = await twoTenants();
    const { config } = await registerApp(t);
    const bySlug = await signInThroughApp(config, browser, { organization: a.slug });
    expect(decodeJwt(bySlug.access_token).tid).toBe(a.id);
    const byId = await signInThroughApp(config, browser, { organization: b.id });
    expect(decodeJwt(byId.access_token).tid).toBe(b.id);
  });

  it('refuses the picker form without its CSRF token, with another session’s, or naming a tenant not the user’s', async () => {
    const { browser, user } = await twoTenants();
    const stranger = await provisionedTenant(t);
    const { config } = await registerApp(t);
    const picker = await land(config, browser);

    const missing = await choose(browser, picker.body, stranger.id, '');
    expect(missing.status).toBe(403);
    // A token made for another session of the same user does not pass either.
    const otherSession = new Browser(t.identity.signIn(user));
    const elsewhere = await land(config, otherSession);
    const foreign = await choose(browser, picker.body, stranger.id, form(elsewhere.body).csrf);
    expect(foreign.status).toBe(403);
    // A valid form naming a tenant the user is not a member of.
    const forged = await choose(browser, picker.body, stranger.id);
    expect(forged.status).toBe(403);
    expect(await forged.text()).toContain('not one you may sign in to');
    expect(forged.headers.get('location')).toBeNull();
  });

  it('leaves tenants that may not act out of the picker', async () => {
    const { a, b, browser } = await twoTenants();
    expect((await act(t, b.id, 'suspend', { reason: 'test' })).status).toBe(200);
    const { config } = await registerApp(t);
    // One acting tenant left: no picker, its token.
    const tokens = await signInThroughApp(config, browser);
    expect(decodeJwt(tokens.access_token).tid).toBe(a.id);
  });
});

describe("the tenant's access policy", () => {
  it('sends a session without MFA to the MFA challenge when the tenant requires it', async () => {
    const { tenant, user, browser } = await member();
    t.identity.policies.set(tenant.id, { mfa_required: true, ip_allow_list: [] });
    const { config } = await registerApp(t);
    const { url } = await land(config, browser);
    const target = new URL(url);
    expect(target.pathname).toBe('/mfa');
    expect(target.searchParams.get('return_to')).toMatch(/^\/oidc\/interaction\//);
    // With MFA passed, the sign-in completes.
    const tokens = await signInThroughApp(config, new Browser(t.identity.signIn(user, { mfa: true })));
    expect(decodeJwt(tokens.access_token).tid).toBe(tenant.id);
  });

  it('refuses sign-in from outside the IP allow-list with a clear page, and allows it from inside', async () => {
    const { tenant, browser } = await member();
    t.identity.policies.set(tenant.id, {
      mfa_required: false,
      ip_allow_list: ['10.0.0.0/8', '2001:db8::/32'],
    });
    const { config } = await registerApp(t);
    const refused = await land(config, browser);
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('allows sign-in only from its own networks');
    expect(refused.body).toContain('127.0.0.1');
    t.identity.policies.set(tenant.id, { mfa_required: false, ip_allow_list: ['127.0.0.0/8'] });
    const tokens = await signInThroughApp(config, browser);
    expect(decodeJwt(tokens.access_token).tid).toBe(tenant.id);
  });
});

describe('signing key rotation', () => {
  it('signs with the new active key after a rotation; tokens of the old key still verify', async () => {
    const { browser } = await member();
    const { config } = await registerApp(t);
    const verifier = createAccessTokenVerifier({ url: t.issuer });
    const before = await signInThroughApp(config, browser);
    const oldKid = decodeProtectedHeader(before.access_token).kid;
    const rotated = await t.request({ method: 'POST', url: '/v1/signing-keys/rotate', payload: {} });
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
    expect(rotated.body.retired.kid).toBe(oldKid);

    const after = await signInThroughApp(config, browser);
    expect(decodeProtectedHeader(after.access_token).kid).toBe(rotated.body.active.kid);
    expect(decodeProtectedHeader(after.id_token ?? '').kid).toBe(rotated.body.active.kid);
    await expect(verifier.verify(after.access_token)).resolves.toMatchObject({
      subject: decodeJwt(after.access_token).sub,
    });
    await expect(verifier.verify(before.access_token)).resolves.toMatchObject({
      subject: decodeJwt(before.access_token).sub,
    });
  });
});
