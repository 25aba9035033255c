import { type CryptoKey, generateKeyPair, SignJWT } from 'jose';
import type { TestApp } from './harness.ts';

/** The claims of a user access token, as the OpenID provider will mint them. */
export interface UserClaims {
  readonly sub: string;
  readonly tid?: string;
  readonly staff?: boolean;
  readonly roles?: readonly string[];
  readonly perms?: readonly string[];
}

/**
 * A user access token signed with the control plane's active signing key, as the OpenID provider
 * (another part of issue 14) will mint them: ES256, typ at+jwt, aud tenantry, the control plane as
 * issuer. Until that provider lands, tests mint user tokens here.
 */
export async function userToken(t: TestApp, claims: UserClaims, ttlSeconds = 900): Promise<string> {
  await t.services.signingKeys.ensureKeys();
  return t.services.database.db.transaction().execute(async (tx) => {
    const key = await t.services.signingKeys.activeKey(tx);
    return sign(t, claims, ttlSeconds, key.key, key.kid);
  });
}

/** A token shaped like {@link userToken}'s, with the active key's kid, signed by a key of the attacker's. */
export async function forgedUserToken(t: TestApp, claims: UserClaims): Promise<string> {
  const { keys } = await t.services.signingKeys.jwks();
  const own = await generateKeyPair('ES256');
  return sign(t, claims, 900, own.privateKey, keys[0]?.kid ?? 'none');
}

/** The claims of {@link userToken} with `alg: none` and no signature. */
export function unsignedUserToken(t: TestApp, claims: UserClaims): string {
  const now = Math.floor(t.clock.now().getTime() / 1000);
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'at+jwt' })}.${part({
    ...claims,
    iss: t.services.tokens.issuer,
    aud: 'tenantry',
    iat: now,
    exp: now + 900,
  })}.`;
}

function sign(
  t: TestApp,
  claims: UserClaims,
  ttlSeconds: number,
  key: CryptoKey,
  kid: string,
): Promise<string> {
  const iat = Math.floor(t.clock.now().getTime() / 1000);
  const { sub, ...rest } = claims;
  return new SignJWT({ roles: [], perms: [], ...rest })
    .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
    .setIssuer(t.services.tokens.issuer)
    .setAudience('tenantry')
    .setSubject(sub)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttlSeconds)
    .sign(key);
}
