import { base64url, decodeProtectedHeader, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  type ControlPlaneFixture,
  claimsFor,
  deadUrl,
  forgedToken,
  signedByControlPlane,
  startControlPlane,
  unsignedToken,
} from '../../test/control-plane-fixture.ts';
import { ControlPlaneUnreachableError } from '../control-plane/index.ts';
import {
  AccessTokenError,
  type AccessTokenErrorReason,
  type AccessTokenVerifier,
  createAccessTokenVerifier,
} from './access-token-verifier.ts';

let cp: ControlPlaneFixture;
let verifier: AccessTokenVerifier;
beforeAll(async () => {
  cp = await startControlPlane();
  verifier = createAccessTokenVerifier({ url: cp.url, issuer: cp.issuer });
});
afterAll(() => cp.close());

async function refusal(token: string, by: AccessTokenVerifier = verifier): Promise<AccessTokenErrorReason> {
  const error = await by.verify(token).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'the token was accepted').toBeInstanceOf(AccessTokenError);
  return (error as AccessTokenError).reason;
}

describe('createAccessTokenVerifier', () => {
  test('a minted token gives its tenant, subject and roles', async () => {
    const token = await cp.mint(cp.tenantA.slug, 'alice', ['admin', 'member']);
    expect(await verifier.verify(token)).toEqual({
      tenantId: cp.tenantA.id,
      subject: 'alice',
      roles: ['admin', 'member'],
      // A minted token carries no permissions (the OpenID provider's do), and its issue time.
      permissions: [],
      issuedAt: expect.any(Number),
    });
    expect((await verifier.verify(await cp.mint(cp.tenantB.id, 'bob'))).tenantId).toBe(cp.tenantB.id);
  });

  test('the JWKS is found under the control plane URL; the issuer defaults to it', () => {
    const plain = createAccessTokenVerifier({ url: `${cp.url}/` });
    expect(plain.jwksUrl).toBe(`${cp.url}/.well-known/jwks.json`);
    expect(plain.issuer).toBe(cp.url);
    expect(plain.audience).toBe('tenantry');
  });

  test('an expired token is refused', async () => {
    expect(await refusal(await cp.mintExpired(cp.tenantA.id, 'alice'))).toBe('expired');
  });

  test('a token signed by a key the control plane does not publish is refused', async () => {
    expect(await refusal(await forgedToken(claimsFor(cp, cp.tenantA.id)))).toBe('unknown_key');
  });

  test("a token signed by another key under a published key's kid is refused", async () => {
    const genuine = await cp.mint(cp.tenantA.id, 'alice');
    const { kid } = decodeProtectedHeader(genuine);
    expect(await refusal(await forgedToken(claimsFor(cp, cp.tenantA.id), kid))).toBe('bad_signature');
  });

  test('a genuine token whose tenant was changed is refused: the signature covers the claims', async () => {
    const [header, payload, signature] = (await cp.mint(cp.tenantA.id, 'alice')).split('.');
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload ?? '')));
    const altered = base64url.encode(JSON.stringify({ ...claims, tid: cp.tenantB.id }));
    expect(await refusal(`${header}.${altered}.${signature}`)).toBe('bad_signature');
  });

  test('an unsigned token (alg none) is refused', async () => {
    expect(await refusal(unsignedToken(claimsFor(cp, cp.tenantA.id)))).toBe('algorithm_not_allowed');
  });

  test('a token signed HS256 with the public key as the secret is refused', async () => {
    const jwks = (await (await fetch(verifier.jwksUrl)).json()) as { keys: { kid: string }[] };
    const [published] = jwks.keys;
    const publicKey = new TextEncoder().encode(JSON.stringify(published));
    const token = await new SignJWT(claimsFor(cp, cp.tenantA.id))
      .setProtectedHeader({ alg: 'HS256', kid: published?.kid ?? '', typ: 'at+jwt' })
      .sign(publicKey);
    expect(await refusal(token)).toBe('algorithm_not_allowed');
  });

  test('a token for another issuer or audience is refused', async () => {
    const token = await cp.mint(cp.tenantA.id, 'alice');
    expect(
      await refusal(token, createAccessTokenVerifier({ url: cp.url, issuer: 'https://elsewhere' })),
    ).toBe('wrong_issuer');
    expect(
      await refusal(
        token,
        createAccessTokenVerifier({ url: cp.url, issuer: cp.issuer, audience: 'billing' }),
      ),
    ).toBe('wrong_audience');
    const foreign = await signedByControlPlane(cp, {
      ...claimsFor(cp, cp.tenantA.id),
      iss: 'https://elsewhere',
    });
    expect(await refusal(foreign)).toBe('wrong_issuer');
  });

  test('tokens signed by the control plane with missing or malformed claims are refused', async () => {
    const claims = claimsFor(cp, cp.tenantA.id);
    const { tid: _tid, ...noTenant } = claims;
    const { exp: _exp, ...noExpiry } = claims;
    const { sub: _sub, ...noSubject } = claims;
    const cases: [Record<string, unknown>, AccessTokenErrorReason, { typ?: string }?][] = [
      [noTenant, 'missing_claim'],
      [noExpiry, 'missing_claim'],
      [noSubject, 'missing_claim'],
      [{ ...claims, tid: 'acme' }, 'invalid_claim'],
      [{ ...claims, tid: 42 }, 'invalid_claim'],
      [{ ...claims, roles: 'admin' }, 'invalid_claim'],
      [{ ...claims, roles: [1] }, 'invalid_claim'],
      [{ ...claims, nbf: claims.exp }, 'not_yet_valid'],
      [claims, 'wrong_type', { typ: 'JWT' }],
      [claims, 'wrong_type', {}],
    ];
    for (const [payload, reason, header] of cases) {
      expect(await refusal(await signedByControlPlane(cp, payload, header)), JSON.stringify(payload)).toBe(
        reason,
      );
    }
    // The same signing path with good claims is accepted, so the refusals above are the claims'.
    expect((await verifier.verify(await signedByControlPlane(cp, claims))).tenantId).toBe(cp.tenantA.id);
  });

  test('what is not a JWT at all is refused as malformed', async () => {
    for (const token of ['', 'abc', 'a.b.c', 'bm90IGpzb24.e30.c2ln', 'x'.repeat(10_000)]) {
      expect(await refusal(token), token.slice(0, 20)).toBe('malformed');
    }
  });

  test('keys that cannot be fetched are not a token problem: ControlPlaneUnreachableError', async () => {
    const token = await cp.mint(cp.tenantA.id, 'alice');
    const offline = createAccessTokenVerifier({ url: await deadUrl(), issuer: cp.issuer });
    await expect(offline.verify(token)).rejects.toBeInstanceOf(ControlPlaneUnreachableError);
    // A server that answers, but not with a key set (here: a route that needs a key).
    const wrongPlace = createAccessTokenVerifier({ url: `${cp.url}/v1`, issuer: cp.issuer });
    await expect(wrongPlace.verify(token)).rejects.toBeInstanceOf(ControlPlaneUnreachableError);
  });

  test('after a rotation, new tokens verify at once and earlier ones still do, without a new verifier', async () => {
    const before = await cp.mint(cp.tenantA.id, 'alice');
    expect((await verifier.verify(before)).tenantId).toBe(cp.tenantA.id);
    const rotated = await cp.rotate();
    const after = await cp.mint(cp.tenantB.id, 'bob');
    expect(decodeProtectedHeader(after).kid).toBe(rotated.active.kid);
    expect(decodeProtectedHeader(before).kid).toBe(rotated.retired.kid);
    expect((await verifier.verify(after)).tenantId).toBe(cp.tenantB.id);
    expect((await verifier.verify(before)).tenantId).toBe(cp.tenantA.id);
  });
});
