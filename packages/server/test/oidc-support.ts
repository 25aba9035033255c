import { createServer } from 'node:net';
import type { FastifyRequest, InjectOptions } from 'fastify';
import * as client from 'openid-client';
import { expect } from 'vitest';
import { followTenantChanges } from '../src/changes/index.ts';
import { buildApp } from '../src/http/app.ts';
import { newId } from '../src/ids.ts';
import type { AccessPolicy, IdentitySource, Membership, SignedInSession } from '../src/oidc/index.ts';
import { systemContext } from '../src/request-context.ts';
import { createServices } from '../src/services.ts';
import type { WebhookSettings } from '../src/webhooks/index.ts';
import { createTestDatabase, SETTINGS, type TestApp, TestClock } from './harness.ts';

/** The cookie the stand-in sign-in keeps its session id in. */
const SESSION_COOKIE = 'test_session';

/**
 * A stand-in for the accounts feature's sessions and the members feature's memberships and staff, with
 * exactly their public shapes (IdentitySource): sessions by a cookie, memberships and policies
 * set by the test. Tenant names and states are read live from the tenants table, as the members
 * feature does, so suspending a tenant through the API shows here at once.
 */
export class StandInIdentity implements IdentitySource {
  readonly sessions = new Map<string, SignedInSession>();
  readonly members = new Map<string, { tenantId: string; role: string; permissions: string[] }[]>();
  readonly policies = new Map<string, AccessPolicy>();
  #t: TestApp | undefined;

  attach(t: TestApp): void {
    this.#t = t;
  }

  async currentSession(request: FastifyRequest): Promise<SignedInSession | undefined> {
    const cookies = String(request.headers.cookie ?? '');
    const id = /(?:^|;\s*)test_session=([^;]+)/.exec(cookies)?.[1];
    return id === undefined ? undefined : this.sessions.get(id);
  }

  async membershipsOf(userId: string): Promise<readonly Membership[]> {
    const mine = this.members.get(userId) ?? [];
    if (mine.length === 0 || !this.#t) return [];
    const tenants = await this.#t.services.database.db
      .selectFrom('tenants')
      .select(['id', 'slug', 'name', 'state'])
      .where(
        'id',
        'in',
        mine.map((m) => m.tenantId),
      )
      .execute();
    return mine.flatMap((m) => {
      const tenant = tenants.find((row) => row.id === m.tenantId);
      return tenant
        ? [
            {
              tenantId: tenant.id,
              tenantSlug: tenant.slug,
              tenantName: tenant.name,
              tenantState: tenant.state,
              role: m.role,
              permissions: m.permissions,
            },
          ]
        : [];
    });
  }

  async accessPolicyOf(tenantId: string): Promise<AccessPolicy> {
    return this.policies.get(tenantId) ?? { mfa_required: false, ip_allow_list: [] };
  }

  /** Staff are read live from `staff_members`, as the members feature's staff service does. */
  async staffRoleOf(userId: string): Promise<string | undefined> {
    if (!this.#t) return undefined;
    const row = await this.#t.services.database.db
      .selectFrom('staff_members')
      .select('role')
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row?.role;
  }

  /** Signs `userId` in; returns the session cookie. */
  signIn(userId: string, options: { mfa?: boolean } = {}): string {
    const sessionId = newId('ses');
    this.sessions.set(sessionId, {
      sessionId,
      userId,
      email: `${userId}@example.com`,
      mfaVerifiedAt: options.mfa ? new Date() : null,
      createdAt: new Date(),
    });
    return `${SESSION_COOKIE}=${sessionId}`;
  }

  addMember(userId: string, tenantId: string, role: string, permissions: string[]): void {
    this.members.set(userId, [...(this.members.get(userId) ?? []), { tenantId, role, permissions }]);
  }

  removeMember(userId: string, tenantId: string): void {
    this.members.set(
      userId,
      (this.members.get(userId) ?? []).filter((m) => m.tenantId !== tenantId),
    );
  }
}

/** A control plane listening on a loopback port (openid-client speaks HTTP to it), with the stand-in identity. */
export interface OidcTestApp extends TestApp {
  readonly issuer: string;
  readonly identity: StandInIdentity;
}

/** A free loopback port, so that the issuer URL is known before the services are built. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/**
 * `real`: the provider signs in on the hosted pages' sessions and the members feature's
 * memberships, as in production, instead of the stand-in. `webhooks`: as the test app's (a local
 * receiver's host allowed).
 */
export async function startOidcTestApp(
  options: { real?: boolean; webhooks?: WebhookSettings } = {},
): Promise<OidcTestApp> {
  const db = await createTestDatabase();
  const clock = new TestClock(Date.now());
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const identity = new StandInIdentity();
  const services = createServices(
    db.database,
    {
      ...SETTINGS,
      database: db.target,
      publicUrl: issuer,
      webhooks: options.webhooks,
      ...(options.real ? {} : { identity }),
    },
    clock,
  );
  const created = await services.apiKeys.create(systemContext('test'), { name: 'test' });
  const app = await buildApp(services, { logger: false });
  await app.listen({ port, host: '127.0.0.1' });
  // As the server does: every change announced drops the tenant's cached snapshot at once.
  const unfollow = await followTenantChanges(services.database, (id) => services.entitlements.invalidate(id));
  const t: OidcTestApp = {
    app,
    services,
    clock,
    db,
    token: created.secret,
    issuer,
    identity,
    async request(req) {
      const response = await app.inject({
        ...req,
        headers: { authorization: `Bearer ${created.secret}`, ...req.headers },
      } as InjectOptions);
      const type = String(response.headers['content-type'] ?? '');
      return {
        status: response.statusCode,
        body: type.includes('json') ? response.json() : response.body,
        headers: response.headers as Record<string, unknown>,
      };
    },
    async close() {
      await unfollow();
      await app.close();
      await db.drop();
    },
  };
  identity.attach(t);
  return t;
}

/** A user row, as the accounts feature would write at sign-up. */
export async function createUser(
  t: TestApp,
  email: string,
  name: string | null = 'Ann Example',
): Promise<string> {
  const id = newId('usr');
  await t.services.database.db
    .insertInto('users')
    .values({ id, email, email_key: email.toLowerCase(), name, email_verified_at: new Date() })
    .execute();
  return id;
}

/** A browser without a screen: a cookie jar and redirects followed by hand. */
export class Browser {
  readonly #cookies = new Map<string, string>();

  constructor(cookie?: string) {
    if (cookie) this.setCookie(cookie);
  }

  setCookie(cookie: string): void {
    const [pair = ''] = cookie.split(';');
    const at = pair.indexOf('=');
    const name = pair.slice(0, at).trim();
    const value = pair.slice(at + 1).trim();
    // An expired cookie (the provider clears its interaction cookies) leaves the jar.
    if (/expires=Thu, 01 Jan 1970/i.test(cookie) || value === '') this.#cookies.delete(name);
    else this.#cookies.set(name, value);
  }

  get cookieHeader(): string {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async send(url: string, init: RequestInit = {}): Promise<Response> {
    const response = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), cookie: this.cookieHeader },
    });
    for (const cookie of response.headers.getSetCookie()) this.setCookie(cookie);
    return response;
  }

  /**
   * Follows redirects from `url` until one leads to `stopAt` (the app's redirect URI, which is
   * not listening) or a page answers; returns where it stopped.
   */
  async follow(url: string, stopAt: string): Promise<{ url: string; status: number; body: string }> {
    let next = url;
    for (let hops = 0; hops < 20; hops++) {
      if (next.startsWith(stopAt)) return { url: next, status: 303, body: '' };
      const response = await this.send(next);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        next = new URL(location, next).href;
        continue;
      }
      return { url: next, status: response.status, body: await response.text() };
    }
    throw new Error('too many redirects');
  }
}

/** A browser holding a hosted-pages session of `userId` (SessionService), its MFA passed when `mfa`. */
export async function sessionBrowser(
  t: TestApp,
  userId: string,
  options: { mfa?: boolean } = {},
): Promise<Browser> {
  const sessions = t.services.sessions;
  const db = t.services.database.db;
  const started = await db
    .transaction()
    .execute((tx) => sessions.start(tx, { userId, pendingMfa: false, userAgent: 'test', ip: '127.0.0.1' }));
  if (options.mfa) {
    await db
      .updateTable('sessions')
      .set({ mfa_verified_at: new Date() })
      .where('id', '=', started.id)
      .execute();
  }
  return new Browser(`${sessions.cookieName}=${started.secret}`);
}

/** The redirect URI of the test's app: never reached, the browser stops before it. */
export const REDIRECT_URI = 'http://localhost:3000/callback';

/** Registers a client and discovers the provider as openid-client does. */
export async function registerApp(
  t: OidcTestApp,
  kind: 'confidential' | 'public' = 'confidential',
): Promise<{ id: string; config: client.Configuration }> {
  const created = await t.request({
    method: 'POST',
    url: '/v1/oidc-clients',
    payload: { name: 'Minutes', redirect_uris: [REDIRECT_URI], kind },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const config = await client.discovery(
    new URL(t.issuer),
    created.body.id,
    created.body.client_secret ?? undefined,
    kind === 'public' ? client.None() : client.ClientSecretBasic(created.body.client_secret),
    { execute: [client.allowInsecureRequests] },
  );
  return { id: created.body.id, config };
}

/** An authorization request as the app makes it: PKCE S256, state, and the URL to send the user to. */
export async function authorizationRequest(
  config: client.Configuration,
  extra: Record<string, string> = {},
): Promise<{ url: URL; verifier: string; state: string }> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid email profile offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...extra,
  });
  return { url, verifier, state };
}

/** The full sign-in: the browser goes through the provider and comes back with a code; the app exchanges it. */
export async function signInThroughApp(
  config: client.Configuration,
  browser: Browser,
  extra: Record<string, string> = {},
) {
  const request = await authorizationRequest(config, extra);
  const landed = await browser.follow(request.url.href, REDIRECT_URI);
  expect(landed.url.startsWith(REDIRECT_URI), `${landed.status} ${landed.body}`).toBe(true);
  return client.authorizationCodeGrant(config, new URL(landed.url), {
    pkceCodeVerifier: request.verifier,
    expectedState: request.state,
  });
}
