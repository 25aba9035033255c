import type { JWK } from 'jose';
import { z } from 'zod';
import { err, ok, type Result } from '../result.ts';
import { LICENSE_ID_PATTERN } from './license-claims.ts';
import type { LicenseKeyring } from './license-keyring.ts';
import { signClaims, signedAfterNow, verifySignedClaims } from './signed-claims.ts';
import type { LicenseRefusal } from './verify-license.ts';

/**
 * The `typ` header of a revocation list: signed with a license key like a license, so its own
 * `typ` keeps a list from passing for a license or a check-in answer, and either for a list.
 */
export const REVOCATION_LIST_TYPE = 'tenantry-revocations+jwt';

/**
 * The longest list accepted: each revocation is some 80 bytes once encoded, so about 12,000 of
 * them (one of 10,000 verifies in some 25 ms). A list is one file per vendor, carried by hand into
 * air-gapped sites, and only ever grows.
 */
export const MAX_REVOCATION_LIST_BYTES = 1024 * 1024;

/**
 * What a revocation list signs: every license the vendor's control plane has revoked, of all its
 * customers. One list per vendor rather than per customer: an air-gapped site imports one file
 * whatever licenses it holds, and the list names license ids and times only, nothing about whom
 * they were issued to.
 */
export const RevocationListClaims = z.strictObject({
  /** When the control plane signed it (NumericDate). */
  iat: z.int().min(0),
  /** Grows with each revocation: a list with a lower `seq` than one already seen is a rollback. */
  seq: z.int().min(0),
  revoked: z.array(
    z.strictObject({
      license_id: z.string().regex(LICENSE_ID_PATTERN),
      /** NumericDate. */
      revoked_at: z.int().min(0),
    }),
  ),
});

/** The claims of a revocation list, as {@link RevocationListClaims} parses them. */
export type RevocationListClaims = z.infer<typeof RevocationListClaims>;

/** Signs a revocation list: a compact JWS, EdDSA, `typ` {@link REVOCATION_LIST_TYPE}, canonical JSON. */
export async function signRevocationList(
  claims: RevocationListClaims,
  key: { readonly kid: string; readonly privateJwk: JWK },
): Promise<string> {
  return signClaims(RevocationListClaims, REVOCATION_LIST_TYPE, claims, key);
}

/**
 * Verifies a revocation list offline with the license keyring and the same header and signature
 * checks as a license, then its claims, strictly; a list signed later than `now` (beyond
 * `CHECK_IN_CLOCK_SKEW_SECONDS`) is refused, so a forged clock cannot be read from it.
 * Whether a list is older than one already seen is the install's to say: it keeps the `seq`.
 */
export async function verifyRevocationList(
  token: string,
  keyring: LicenseKeyring,
  options: { readonly now: Date },
): Promise<Result<{ readonly claims: RevocationListClaims; readonly kid: string }, LicenseRefusal>> {
  const verified = await verifySignedClaims(token, keyring, {
    typ: REVOCATION_LIST_TYPE,
    name: 'revocation list',
    schema: RevocationListClaims,
    maxBytes: MAX_REVOCATION_LIST_BYTES,
  });
  if (!verified.ok) return verified;
  const late = signedAfterNow(verified.value.claims.iat, options.now, 'revocation list was signed');
  return late === null ? ok(verified.value) : err(late);
}
