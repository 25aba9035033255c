import { CompactSign, type JWK } from 'jose';
import type { z } from 'zod';
import { canonicalJson } from '../canonical-json.ts';
import { err, ok, type Result } from '../result.ts';
import { dottedPath, fromZodIssues } from '../validation-issue.ts';
import type { LicenseKeyring } from './license-keyring.ts';
import { type LicenseRefusal, verifySignedJws } from './verify-license.ts';

/**
 * Seconds the `iat` of a check-in answer or a revocation list may lie ahead of the verifier's
 * clock: installs' clocks drift. Beyond it the token is refused, so a forged clock cannot be read
 * from it.
 */
export const CHECK_IN_CLOCK_SKEW_SECONDS = 300;

/**
 * Signs claims that travel beside a license (a check-in answer, a revocation list, a module
 * signature): parsed strictly first, then a compact JWS of their canonical JSON, EdDSA, with the
 * `typ` that keeps each kind of token from passing for another.
 */
export async function signClaims<Schema extends z.ZodType>(
  schema: Schema,
  typ: string,
  claims: z.infer<Schema>,
  key: { readonly kid: string; readonly privateJwk: JWK },
): Promise<string> {
  const payload = new TextEncoder().encode(canonicalJson(schema.parse(claims)));
  return new CompactSign(payload)
    .setProtectedHeader({ alg: 'EdDSA', typ, kid: key.kid })
    .sign(key.privateJwk);
}

/**
 * Verifies a token {@link signClaims} made, with the header and signature checks of a license
 * (`verifySignedJws`), then its claims against `schema`; `name` is what refusals call the token.
 */
export async function verifySignedClaims<Schema extends z.ZodType>(
  token: string,
  keyring: LicenseKeyring,
  expected: {
    readonly typ: string;
    readonly name: string;
    readonly schema: Schema;
    readonly maxBytes?: number;
  },
): Promise<Result<{ readonly claims: z.infer<Schema>; readonly kid: string }, LicenseRefusal>> {
  const signed = await verifySignedJws(token, keyring, expected);
  if (!signed.ok) return signed;
  const parsed = expected.schema.safeParse(signed.value.payload);
  if (!parsed.success) {
    const [described] = fromZodIssues(parsed.error.issues);
    const path = described === undefined ? '' : ` ${dottedPath(described.path)}`;
    return err({
      code: 'invalid_claim',
      message: `${expected.name} claim${path} is invalid: ${described?.message ?? 'unknown fault'}`,
    });
  }
  return ok({ claims: parsed.data, kid: signed.value.kid });
}

/** A refusal when `iat` lies ahead of `now` by more than {@link CHECK_IN_CLOCK_SKEW_SECONDS}, else null. */
export function signedAfterNow(iat: number, now: Date, what: string): LicenseRefusal | null {
  if (iat <= Math.floor(now.getTime() / 1000) + CHECK_IN_CLOCK_SKEW_SECONDS) return null;
  return { code: 'not_yet_valid', message: `${what} at ${new Date(iat * 1000).toISOString()}, after now` };
}
