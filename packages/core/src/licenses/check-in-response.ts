import type { JWK } from 'jose';
import { z } from 'zod';
import { err, ok, type Result } from '../result.ts';
import { LICENSE_ID_PATTERN } from './license-claims.ts';
import type { LicenseKeyring } from './license-keyring.ts';
import { signClaims, signedAfterNow, verifySignedClaims } from './signed-claims.ts';
import type { LicenseRefusal } from './verify-license.ts';

/**
 * The `typ` header of the control plane's answer to a check-in: signed with a license key like a
 * license, so its own `typ` keeps an answer from passing for a license, and a license for an answer.
 */
export const CHECK_IN_RESPONSE_TYPE = 'tenantry-check-in+jwt';

/** What the control plane signs in answer to a check-in: where the presented license stands now. */
export const CheckInResponseClaims = z.strictObject({
  /** The license the install presented. */
  license_id: z.string().regex(LICENSE_ID_PATTERN),
  /** `superseded`: a newer license was issued (see `newest`); `expired`: past its `exp`, grace not counted. */
  status: z.enum(['active', 'superseded', 'revoked', 'expired']),
  /** The tenant's newest active license (a license token), or `null` when it has none. */
  newest: z.string().min(1).nullable(),
  /** The install that checked in, as it named itself. */
  install_id: z.string().min(1).max(200),
  /** When the control plane answered (NumericDate). */
  iat: z.int().min(0),
  /** The seats the presented license grants; `null` = unlimited. */
  seats_licensed: z.int().min(0).nullable(),
  /** When the presented license was revoked (NumericDate), so the install can say when; `null` unless `revoked`. */
  revoked_at: z.int().min(0).nullable(),
});

/** The claims of a check-in answer, as {@link CheckInResponseClaims} parses them. */
export type CheckInResponseClaims = z.infer<typeof CheckInResponseClaims>;

/** Signs a check-in answer: a compact JWS, EdDSA, `typ` {@link CHECK_IN_RESPONSE_TYPE}, canonical JSON. */
export async function signCheckInResponse(
  claims: CheckInResponseClaims,
  key: { readonly kid: string; readonly privateJwk: JWK },
): Promise<string> {
  return signClaims(CheckInResponseClaims, CHECK_IN_RESPONSE_TYPE, claims, key);
}

/**
 * Verifies a check-in answer offline with the same keyring as licenses and the same header and
 * signature checks, then its claims, strictly; an answer issued later than `now` (beyond
 * `CHECK_IN_CLOCK_SKEW_SECONDS`) is refused, so a forged clock cannot be read from it.
 * It does not say how old an answer may be: that is the install's policy (its `offline_days`).
 */
export async function verifyCheckInResponse(
  token: string,
  keyring: LicenseKeyring,
  options: { readonly now: Date },
): Promise<Result<{ readonly claims: CheckInResponseClaims; readonly kid: string }, LicenseRefusal>> {
  const verified = await verifySignedClaims(token, keyring, {
    typ: CHECK_IN_RESPONSE_TYPE,
    name: 'check-in response',
    schema: CheckInResponseClaims,
  });
  if (!verified.ok) return verified;
  const late = signedAfterNow(verified.value.claims.iat, options.now, 'check-in response was issued');
  return late === null ? ok(verified.value) : err(late);
}
