import { base64url, compactVerify } from 'jose';
import { err, ok, type Result } from '../result.ts';
import { describeValue, dottedPath, fromZodIssues } from '../validation-issue.ts';
import { LICENSE_TYPE, LicenseClaims } from './license-claims.ts';
import type { LicenseKeyring } from './license-keyring.ts';

/** The longest token accepted: a license with hundreds of entitlements is a few KiB. */
export const MAX_LICENSE_BYTES = 64 * 1024;

const DAY_SECONDS = 86_400;

/** Why a license is refused; one code per kind of fault, stable for callers and docs. */
export type LicenseRefusalCode =
  | 'oversized'
  | 'malformed'
  | 'bad_header'
  | 'unsigned'
  | 'alg_hmac'
  | 'alg_not_allowed'
  | 'wrong_type'
  | 'embedded_key'
  | 'unexpected_header'
  | 'missing_kid'
  | 'unknown_kid'
  | 'bad_signature'
  | 'bad_payload'
  | 'missing_claim'
  | 'unexpected_claim'
  | 'invalid_claim'
  | 'not_yet_valid';

/** A refused license: a stable code and one line saying what is wrong. */
export interface LicenseRefusal {
  readonly code: LicenseRefusalCode;
  readonly message: string;
}

/** The refusals a license's claims alone can earn, before or after signing. */
export type ClaimsRefusal = LicenseRefusal & {
  readonly code: 'missing_claim' | 'unexpected_claim' | 'invalid_claim';
};

/**
 * A license whose signature and claims hold. Expiry is a status, not a refusal: the install keeps
 * running through the grace days, with a notice, and only then stops.
 * - `valid`: before `exp`; `days_left` counts the days to `exp`, a started day counting as one;
 * - `in_grace`: from `exp` to `exp` + `grace_days`; `days_left` counts the days to the grace's end;
 * - `expired`: past the grace; `days_left` is 0.
 */
export interface VerifiedLicense {
  readonly claims: LicenseClaims;
  readonly kid: string;
  readonly status: 'valid' | 'in_grace' | 'expired';
  readonly days_left: number;
}

// Header members that bring their own key or a place to fetch one: a license names its key by kid
// and the keyring alone says what that key is.
const KEY_CARRYING = ['jwk', 'jku', 'x5u', 'x5c', 'x5t', 'x5t#S256'];
const HEADER_MEMBERS = new Set(['alg', 'typ', 'kid']);
const BASE64URL = /^[A-Za-z0-9_-]+$/;
// An Ed25519 signature is 64 bytes: 86 characters, the last with 4 spare bits that must be 0, or
// a token would have 16 spellings for one signature and a changed character would go unnoticed.
const ED25519_SIGNATURE = /^[A-Za-z0-9_-]{85}[AQgw]$/;

/**
 * Verifies a license offline: the header first (EdDSA only, the license `typ`, a kid the keyring
 * knows, no key of its own), then the signature with the keyring's key for that kid, then the
 * claims, strictly, then time against `options.now`. Pure: the keys and the time are given.
 */
export async function verifyLicense(
  token: string,
  keyring: LicenseKeyring,
  options: { readonly now: Date },
): Promise<Result<VerifiedLicense, LicenseRefusal>> {
  const signed = await verifySignedJws(token, keyring, { typ: LICENSE_TYPE, name: 'license' });
  if (!signed.ok) return signed;
  const { kid, payload } = signed.value;
  const parsed = parseClaims(payload);
  if (!parsed.ok) return parsed;
  const claims = parsed.value;

  const now = Math.floor(options.now.getTime() / 1000);
  if (now < claims.nbf) {
    return refuse(
      'not_yet_valid',
      `license is not valid before ${new Date(claims.nbf * 1000).toISOString()}`,
    );
  }
  const graceEnd = claims.exp + claims.grace_days * DAY_SECONDS;
  if (now < claims.exp) return ok({ claims, kid, status: 'valid', days_left: daysUntil(now, claims.exp) });
  if (now < graceEnd) return ok({ claims, kid, status: 'in_grace', days_left: daysUntil(now, graceEnd) });
  return ok({ claims, kid, status: 'expired', days_left: 0 });
}

/**
 * The checks every JWS signed with a license key passes before its claims are read: its size and
 * shape, the header (EdDSA only, exactly the `typ` expected, a kid the keyring knows, no key of
 * its own), then the signature with the keyring's key for that kid; returns the key id and the
 * payload as an object. `typ` keeps one kind of token from passing for another (a check-in
 * response for a license); `name` says what the refusal messages call the token; `maxBytes`
 * (default {@link MAX_LICENSE_BYTES}) bounds its length, for tokens that carry more than a license.
 */
export async function verifySignedJws(
  token: string,
  keyring: LicenseKeyring,
  expected: { readonly typ: string; readonly name: string; readonly maxBytes?: number },
): Promise<Result<{ readonly kid: string; readonly payload: Record<string, unknown> }, LicenseRefusal>> {
  const name = expected.name;
  const maxBytes = expected.maxBytes ?? MAX_LICENSE_BYTES;
  if (token.length > maxBytes) {
    return refuse('oversized', `${name} is ${token.length} characters long, more than ${maxBytes}`);
  }
  const parts = token.split('.');
  if (parts.length !== 3) {
    return refuse('malformed', `${name} has ${parts.length} part(s), not 3 (header.payload.signature)`);
  }
  const [headerPart = '', payloadPart = '', signaturePart = ''] = parts;
  for (const [partName, part] of [
    ['header', headerPart],
    ['payload', payloadPart],
  ] as const) {
    if (!BASE64URL.test(part)) return refuse('malformed', `${name} ${partName} is empty or not base64url`);
  }

  const header = decodeJson(headerPart);
  if (!isObject(header)) return refuse('bad_header', `${name} header is not a JSON object`);
  const alg = header.alg;
  if (alg !== 'EdDSA') return refuseAlg(alg, name);
  if (header.typ !== expected.typ) {
    return refuse(
      'wrong_type',
      header.typ === undefined
        ? `${name} header has no typ: a ${name}'s is "${expected.typ}"`
        : `${name} typ is ${describeValue(header.typ)}, not "${expected.typ}"`,
    );
  }
  const carried = KEY_CARRYING.filter((member) => Object.hasOwn(header, member));
  if (carried.length > 0) {
    return refuse(
      'embedded_key',
      `${name} header carries its own key (${carried.join(', ')}): only the keyring's keys count`,
    );
  }
  const extra = Object.keys(header).filter((member) => !HEADER_MEMBERS.has(member));
  if (extra.length > 0) {
    return refuse(
      'unexpected_header',
      `${name} header has member(s) a ${name} never carries: ${extra.join(', ')}`,
    );
  }
  const kid = header.kid;
  if (typeof kid !== 'string' || kid === '')
    return refuse('missing_kid', `${name} header names no key (kid)`);
  const key = keyring.keys.get(kid);
  if (key === undefined)
    return refuse('unknown_kid', `${name} is signed by key ${describeValue(kid)}, which is not trusted here`);

  if (!ED25519_SIGNATURE.test(signaturePart)) {
    return refuse('bad_signature', `${name} signature is not an Ed25519 signature in base64url`);
  }
  let payloadBytes: Uint8Array;
  try {
    ({ payload: payloadBytes } = await compactVerify(token, key, { algorithms: ['EdDSA'] }));
  } catch {
    return refuse('bad_signature', `${name} signature does not verify with key "${kid}"`);
  }

  const payload = parseJson(payloadBytes);
  if (!isObject(payload)) return refuse('bad_payload', `${name} payload is not a JSON object`);
  return ok({ kid, payload });
}

/** `value` as {@link LicenseClaims}, or the first fault, naming the claim's path. */
export function parseClaims(value: unknown): Result<LicenseClaims, ClaimsRefusal> {
  const parsed = LicenseClaims.safeParse(value, { reportInput: true });
  if (parsed.success) return ok(parsed.data);
  const [issue] = parsed.error.issues;
  const [described] = issue === undefined ? [] : fromZodIssues([issue]);
  if (issue === undefined || described === undefined)
    return refuse('invalid_claim', 'license claims are invalid');
  const path = dottedPath(described.path);
  if (issue.code === 'unrecognized_keys') {
    return refuse('unexpected_claim', `license claim ${path} is not part of the license format`);
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) {
    return refuse('missing_claim', `license claim ${path} is missing`);
  }
  return refuse('invalid_claim', `license claim ${path} is invalid: ${described.message}`);
}

function refuseAlg(alg: unknown, name: string): { readonly ok: false; readonly error: LicenseRefusal } {
  if (alg === 'none') return refuse('unsigned', `${name} is unsigned (alg "none"): only EdDSA is accepted`);
  if (typeof alg === 'string' && /^HS\d+$/.test(alg)) {
    return refuse(
      'alg_hmac',
      `${name} uses HMAC (alg "${alg}"), a shared secret, not a signature: only EdDSA is accepted`,
    );
  }
  if (alg === undefined)
    return refuse('alg_not_allowed', `${name} header names no alg: only EdDSA is accepted`);
  return refuse('alg_not_allowed', `${name} uses alg ${describeValue(alg)}: only EdDSA is accepted`);
}

function daysUntil(now: number, end: number): number {
  return Math.ceil((end - now) / DAY_SECONDS);
}

function decodeJson(part: string): unknown {
  try {
    return parseJson(base64url.decode(part));
  } catch {
    return undefined;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(utf8.decode(bytes));
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function refuse<C extends LicenseRefusalCode>(
  code: C,
  message: string,
): { readonly ok: false; readonly error: LicenseRefusal & { readonly code: C } } {
  return err({ code, message });
}
