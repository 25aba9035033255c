import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fastifyTenantContext } from '@tenantry/sdk/fastify';
import Fastify, { type FastifyInstance } from 'fastify';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyAccess, invitedMember } from '../../server/test/member-support.ts';
import {
  type OidcTestApp,
  registerApp,
  sessionBrowser,
  signInThroughApp,
  startOidcTestApp,
} from '../../server/test/oidc-support.ts';
import { act, applyPlans, provisionedTenant } from '../../server/test/tenant-support.ts';
import { until } from '../../server/test/until.ts';
import { runAsTenant } from './context/index.ts';
import type { EntitlementSource } from './entitlement-source.ts';
import { type ControlPlaneTenantry, Tenantry } from './tenantry.ts';

/*
 * allowed() beside can(): the vendor's app signs its users in through Tenantry's OpenID provider
 * and checks their permissions locally, from the verified access token and the tenant's
 * entitlement snapshot, which names members removed since and the tenant's state.
 */

let t: OidcTestApp;
let tenantry: ControlPlaneTenantry;
let app: FastifyInstance;
let directory: string;

beforeAll(async () => {
  t = await startOidcTestApp({ real: true });
  await applyPlans(t);
  await applyAccess(t);
  directory = await mkdtemp(join(tmpdir(), 'tenantry-allowed-'));
  tenantry = await Tenantry.open({
    url: t.issuer,
    token: t.token,
    usage: { spoolDirectory: join(directory, 'spool') },
  });
  app = Fastify();
  await app.register(async (api) => {
    await api.register(fastifyTenantContext, tenantry.requestContext);
    api.get<{ Querystring: { p: string } }>('/allowed', async (request) => ({
      allowed: tenantry.allowed(request.query.p),
    }));
  });
});

afterAll(async () => {
  await app.close();
  await tenantry.close();
  await t.close();
  await rm(directory, { recursive: true, force: true });
});

async function member(tenantId: string, role: string, email: string): Promise<string> {
  return (await invitedMember(t, tenantId, role, email)).user_id;
}

/** An access token for `userId`, through the whole sign-in. */
async function signIn(userId: string): Promise<string> {
  const { config } = await registerApp(t);
  const tokens = await signInThroughApp(config, await sessionBrowser(t, userId));
  return tokens.access_token;
}

async function allowed(token: string, permission: string): Promise<boolean | number> {
  const response = await app.inject({
    method: 'GET',
    url: `/allowed?p=${encodeURIComponent(permission)}`,
    headers: { authorization: `Bearer ${token}` },
  });
  return response.statusCode === 200 ? response.json().allowed : response.statusCode;
}

describe('allowed(permission)', () => {
  it("answers from the token's permissions: a viewer may read and not write", async () => {
    const tenant = await provisionedTenant(t);
    const viewer = await signIn(await member(tenant.id, 'viewer', `${tenant.slug}-v@example.com`));
    const writer = await signIn(await member(tenant.id, 'member', `${tenant.slug}-m@example.com`));
    expect(await allowed(viewer, 'meetings:read')).toBe(true);
    expect(await allowed(viewer, 'meetings:write')).toBe(false);
    expect(await allowed(writer, 'meetings:write')).toBe(true);
    expect(await allowed(writer, 'releases:approve')).toBe(false);
  });

  it("refuses a removed member's unexpired token as soon as the snapshot says so; others keep theirs", async () => {
    const tenant = await provisionedTenant(t);
    const leaving = await member(tenant.id, 'member', `${tenant.slug}-l@example.com`);
    const staying = await member(tenant.id, 'member', `${tenant.slug}-s@example.com`);
    const leavingToken = await signIn(leaving);
    const stayingToken = await signIn(staying);
    expect(await allowed(leavingToken, 'meetings:write')).toBe(true);

    const removed = await t.request({ method: 'DELETE', url: `/v1/tenants/${tenant.id}/members/${leaving}` });
    expect(removed.status).toBe(200);
    // The token still verifies (it has not expired); the stream brings the snapshot naming the user.
    await until('the app refuses the removed member', async () =>
      (await allowed(leavingToken, 'meetings:write')) === false ? true : undefined,
    );
    expect(await allowed(stayingToken, 'meetings:write')).toBe(true);
  });

  it('refuses every permission of a suspended tenant', async () => {
    const tenant = await provisionedTenant(t);
    const token = await signIn(await member(tenant.id, 'admin', `${tenant.slug}-a@example.com`));
    expect(await allowed(token, 'meetings:write')).toBe(true);
    expect((await act(t, tenant.id, 'suspend', { reason: 'unpaid' })).status).toBe(200);
    await until('the app refuses the suspended tenant', async () =>
      (await allowed(token, 'meetings:write')) === false ? true : undefined,
    );
  });

  it('refuses a forged token before any permission is read', async () => {
    const tenant = await provisionedTenant(t);
    const key = new TextEncoder().encode('x'.repeat(32));
    const forged = await new SignJWT({ tid: tenant.id, perms: ['meetings:write'] })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .setIssuer(t.issuer)
      .setAudience('tenantry')
      .setSubject('usr_x')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(key);
    expect(await allowed(forged, 'meetings:write')).toBe(401);
  });

  it('reads permissions of a context made by hand, which a removal refuses whatever its age', () => {
    const tenantId = 'ten_hand';
    const snapshot = {
      tenant_id: tenantId,
      active: true,
      revoked_subjects: { usr_gone: new Date().toISOString() },
    };
    const source = { snapshot: () => snapshot } as unknown as EntitlementSource;
    // Tenantry's constructor is protected: the check itself is what a subclass would reach.
    const bare = new (Tenantry as unknown as new (s: EntitlementSource) => Tenantry)(source);
    runAsTenant({ tenantId, subject: 'usr_here', roles: [], permissions: ['meetings:read'] }, () => {
      expect(bare.allowed('meetings:read')).toBe(true);
      expect(bare.allowed('meetings:write')).toBe(false);
    });
    runAsTenant({ tenantId, subject: 'usr_gone', roles: [], permissions: ['meetings:read'] }, () => {
      expect(bare.allowed('meetings:read')).toBe(false);
    });
    runAsTenant(
      {
        tenantId,
        subject: 'usr_gone',
        roles: [],
        permissions: ['meetings:read'],
        issuedAt: Date.now() / 1000 + 60,
      },
      () => {
        // Issued after the removal (the user was invited back): it counts.
        expect(bare.allowed('meetings:read')).toBe(true);
      },
    );
  });
});
