// Test support for the access-token tests (not exported by the SDK): a real control plane on a
// real port, two tenants, and ways to make tokens the control plane would never mint.
import { createServer } from 'node:net';
import { generateKeyPair, type JWTPayload, SignJWT, UnsecuredJWT } from 'jose';
import { startTestApp, type TestApp } from '../../server/test/harness.ts';
import { applyPlans, provisionedTenant } from '../../server/test/tenant-support.ts';

/** A control plane listening on a real port, with two active tenants. */
export interface ControlPlaneFixture {
  readonly t: TestApp;
  /** Its base URL. */
  readonly url: string;
  /** The `iss` of its tokens (the test app's public URL, which is not `url`). */
  readonly issuer: string;
  readonly tenantA: { readonly id: string; readonly slug: string };
  readonly tenantB: { readonly id: string; readonly slug: string };
  /** Mints a token through the API, as the vendor's backend would. */
  mint(tenant: string, subject: string, roles?: string[]): Promise<string>;
  /** A token minted two hours ago with the default life: expired now. */
  mintExpired(tenant: string, subject: string): Promise<string>;
  /** Rotates the signing key through the API. */
  rotate(): Promise<{ active: { kid: string }; retired: { kid: string } }>;
  close(): Promise<void>;
}

/**
 * Starts a control plane for SDK tests. Its test clock is set to the wall clock, since the app's
 * verifier checks expiry against real time.
 */
export async function startControlPlane(): Promise<ControlPlaneFixture> {
  const t = await startTestApp();
  try {
    t.clock.advance(Date.now() - t.clock.now().getTime());
    await applyPlans(t);
    const a = await provisionedTenant(t);
    const b = await provisionedTenant(t);
    const url = await t.app.listen({ port: 0, host: '127.0.0.1' });
    const mint = async (tenant: string, subject: string, roles: string[] = []) => {
      const minted = await t.request({
        method: 'POST',
        url: `/v1/tenants/${tenant}/tokens`,
        payload: { subject, roles },
      });
      if (minted.status !== 200) throw new Error(`mint failed: ${JSON.stringify(minted.body)}`);
      return minted.body.access_token as string;
    };
    return {
      t,
      url,
      issuer: t.services.tokens.issuer,
      tenantA: { id: a.id, slug: a.slug },
      tenantB: { id: b.id, slug: b.slug },
      mint,
      async mintExpired(tenant, subject) {
        t.clock.advance(-2 * 3_600_000);
        try {
          return await mint(tenant, subject);
        } finally {
          t.clock.advance(2 * 3_600_000);
        }
      },
      async rotate() {
        const rotated = await t.request({ method: 'POST', url: '/v1/signing-keys/rotate', payload: {} });
        if (rotated.status !== 200) throw new Error(`rotate failed: ${JSON.stringify(rotated.body)}`);
        return rotated.body;
      },
      close: () => t.close(),
    };
  } catch (error) {
    await t.close();
    throw error;
  }
}

/** Claims of a token for `tenantId` that would pass if it were signed by the control plane. */
export function claimsFor(fixture: ControlPlaneFixture, tenantId: string): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: fixture.issuer,
    aud: 'tenantry',
    sub: 'mallory',
    tid: tenantId,
    roles: ['admin'],
    iat: now,
    exp: now + 600,
  };
}

/** A token with those claims signed by a key of the test's own, under `kid`. */
export async function forgedToken(claims: JWTPayload, kid = 'forged-key'): Promise<string> {
  const { privateKey } = await generateKeyPair('ES256');
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' }).sign(privateKey);
}

/** A token with those claims and no signature at all (`alg: none`). */
export function unsignedToken(claims: JWTPayload): string {
  return new UnsecuredJWT(claims).encode();
}

/**
 * A token signed with the control plane's own active key: for tokens the
 * API would never mint (claims missing or of the wrong shape, another `typ`).
 */
export async function signedByControlPlane(
  fixture: ControlPlaneFixture,
  claims: JWTPayload,
  header: { typ?: string } = { typ: 'at+jwt' },
): Promise<string> {
  const { signingKeys, database } = fixture.t.services;
  await signingKeys.ensureKeys();
  const { kid, key } = await database.db.transaction().execute((tx) => signingKeys.activeKey(tx));
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid, ...header }).sign(key);
}

/** A URL on which nothing listens: connections are refused. */
export async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || address === null) throw new Error('no port');
  return `http://127.0.0.1:${address.port}`;
}
