import { CompactSign, type JWK } from 'jose';
import { canonicalJson } from '../canonical-json.ts';
import { ok, type Result } from '../result.ts';
import { LICENSE_TYPE, type LicenseClaims } from './license-claims.ts';
import { type ClaimsRefusal, parseClaims } from './verify-license.ts';

/**
 * Signs `claims` as a license: a compact JWS, EdDSA, `typ` {@link LICENSE_TYPE}, named by `kid`.
 * The claims are checked first with the verifier's own rules, so that nothing is issued that a
 * release would refuse; the payload is canonical JSON, so the same claims always sign the same
 * bytes. Throws when `privateJwk` is not an Ed25519 private key: that is the caller's setup.
 */
export async function signLicense(
  claims: LicenseClaims,
  key: { readonly kid: string; readonly privateJwk: JWK },
): Promise<Result<string, ClaimsRefusal>> {
  const parsed = parseClaims(claims);
  if (!parsed.ok) return parsed;
  const payload = new TextEncoder().encode(canonicalJson(parsed.value));
  const token = await new CompactSign(payload)
    .setProtectedHeader({ alg: 'EdDSA', typ: LICENSE_TYPE, kid: key.kid })
    .sign(key.privateJwk);
  return ok(token);
}
