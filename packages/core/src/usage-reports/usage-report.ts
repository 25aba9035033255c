import { base64url, CompactSign, calculateJwkThumbprint, type JWK } from 'jose';
import { z } from 'zod';
import { canonicalJson } from '../canonical-json.ts';
import { InstantInput } from '../instant.ts';
import {
  type LicenseKeyring,
  type LicenseRefusalCode,
  licenseKeyring,
  MAX_LICENSE_BYTES,
  type VerifiedLicense,
  verifyLicense,
  verifySignedJws,
} from '../licenses/index.ts';
import { err, ok, type Result } from '../result.ts';
import { MAX_CLOCK_SKEW_MS, MAX_USAGE_BATCH, UsageEventInput } from '../usage/index.ts';
import { dottedPath, fromZodIssues } from '../validation-issue.ts';

/**
 * The `typ` header of a usage report, so that no other JWS passes for one: not a license, not a
 * check-in answer, whatever key signed them.
 */
export const USAGE_REPORT_TYPE = 'tenantry-usage-report+jwt';

/** The most events one report carries: what one `POST /v1/usage` request may carry. */
export const MAX_REPORT_EVENTS = MAX_USAGE_BATCH;

/**
 * The longest report token accepted: {@link MAX_REPORT_EVENTS} events of about 1 KiB each, in
 * base64url, plus the license it carries. A period with more usage is exported as several reports.
 */
export const MAX_USAGE_REPORT_BYTES = 16 * 1024 * 1024;

const Text = z.string().min(1).max(200);
const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 digest in lowercase hex');

/** The install's public key as a report carries it: an Ed25519 JWK, nothing else. */
export const InstallPublicKey = z.strictObject({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string().min(1).max(100),
});

/** The install's public key, as {@link InstallPublicKey} parses it. */
export type InstallPublicKey = z.infer<typeof InstallPublicKey>;

/**
 * A usage event in a report: the shape and bounds of an event sent to `POST /v1/usage`, less the
 * tenant (the report's license names the customer) and with its value always stated, so that the
 * totals can be checked against it.
 */
export const UsageReportEvent = UsageEventInput.omit({ tenant: true }).extend({
  value: z.number().finite().min(0),
});

/** A usage event in a report, as {@link UsageReportEvent} parses it. */
export type UsageReportEvent = z.infer<typeof UsageReportEvent>;

const MeterTotal = z.strictObject({
  /** The sum of the meter's event values, added in the order of `events`. */
  sum: z.number().finite().min(0),
  /** How many events the meter has. */
  count: z.int().min(1),
});

/**
 * What a usage report's JWS signs. The install signs it with its own key, whose public half is
 * `install_key` (the header's `kid` is that key's RFC 7638 thumbprint); `license` is the license
 * the install runs with, signed by the vendor, and names the customer: the vendor's signature vouches
 * for the customer, the install's for the usage. Reports are chained per install: `seq` counts
 * 1, 2, 3…, `previous` is the {@link reportDigest} of the report before, and `period.from` is the
 * previous report's `period.to`, so a missing, replayed or re-ordered report shows.
 */
export const UsageReportClaims = z
  .strictObject({
    report_id: Text,
    install_id: Text,
    install_key: InstallPublicKey,
    /** The license token the install runs with. */
    license: z.string().min(1).max(MAX_LICENSE_BYTES),
    seq: z.int().min(1),
    /** {@link reportDigest} of the report with `seq - 1`; `null` for the first report. */
    previous: Sha256Hex.nullable(),
    /** The usage covered: events with `from <= time < to`. */
    period: z.strictObject({ from: InstantInput, to: InstantInput }),
    created_at: InstantInput,
    events: z.array(UsageReportEvent).max(MAX_REPORT_EVENTS),
    /** Per meter, for a person reading the report; checked against `events` (see {@link usageReportTotals}). */
    totals: z.record(z.string().min(1).max(63), MeterTotal),
  })
  .superRefine((claims, ctx) => {
    if ((claims.seq === 1) !== (claims.previous === null)) {
      ctx.addIssue({
        code: 'custom',
        path: ['previous'],
        input: claims.previous,
        message:
          claims.seq === 1
            ? 'must be null in the first report (seq 1)'
            : `must be the digest of report ${claims.seq - 1}, not null`,
      });
    }
    const from = Date.parse(claims.period.from);
    const to = Date.parse(claims.period.to);
    if (to <= from) {
      ctx.addIssue({
        code: 'custom',
        path: ['period', 'to'],
        input: claims.period.to,
        message: `must be after period.from (${claims.period.from})`,
      });
    }
    if (Date.parse(claims.created_at) < to) {
      ctx.addIssue({
        code: 'custom',
        path: ['created_at'],
        input: claims.created_at,
        message: `must not be before period.to (${claims.period.to}): a report covers a period that has ended`,
      });
    }
  });

/** The claims of a usage report, as {@link UsageReportClaims} parses them. */
export type UsageReportClaims = z.infer<typeof UsageReportClaims>;

/** Why a usage report is refused; one code per kind of fault, stable for callers and docs. */
export type UsageReportRefusalCode =
  | LicenseRefusalCode
  | 'bad_install_key'
  | 'foreign_key'
  | 'license_refused'
  | 'install_not_licensed'
  | 'event_outside_period'
  | 'duplicate_event'
  | 'totals_mismatch';

/** A refused usage report: a stable code and one line saying what is wrong. */
export interface UsageReportRefusal {
  readonly code: UsageReportRefusalCode;
  readonly message: string;
}

/** A usage report whose signatures, chain of trust and content hold. */
export interface VerifiedUsageReport {
  readonly claims: UsageReportClaims;
  /** The embedded license, verified against the vendor's keyring at `now`. */
  readonly license: VerifiedLicense;
  /** RFC 7638 thumbprint of the install key that signed the report. */
  readonly key_thumbprint: string;
  /** {@link reportDigest} of the token: what the next report's `previous` must be. */
  readonly digest: string;
}

/** Per meter, the sum of the values (added in the order given) and the number of events. */
export function usageReportTotals(
  events: readonly Pick<UsageReportEvent, 'meter' | 'value'>[],
): Record<string, { sum: number; count: number }> {
  const totals: Record<string, { sum: number; count: number }> = {};
  for (const event of events) {
    const total = totals[event.meter] ?? { sum: 0, count: 0 };
    totals[event.meter] = { sum: total.sum + event.value, count: total.count + 1 };
  }
  return totals;
}

/** SHA-256 of a report token's text, in lowercase hex: the link from the next report. */
export async function reportDigest(token: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/**
 * Signs a usage report with the install's key: a compact JWS, EdDSA, `typ` {@link USAGE_REPORT_TYPE},
 * `kid` the thumbprint of `install_key`, payload canonical JSON. The claims are checked first with
 * the verifier's own rules (format, events inside the period, unique ids, totals), so an install
 * never writes a report the control plane would refuse for its content. Throws when `privateJwk`
 * is not the Ed25519 private key of `claims.install_key`: that is the caller's setup.
 */
export async function signUsageReport(
  claims: UsageReportClaims,
  installKey: { readonly privateJwk: JWK },
): Promise<Result<string, UsageReportRefusal>> {
  const parsed = parseReportClaims(claims);
  if (!parsed.ok) return parsed;
  const { privateJwk } = installKey;
  if (privateJwk.x !== parsed.value.install_key.x) {
    throw new Error('signUsageReport: the private key is not the one whose public half is install_key');
  }
  const payload = new TextEncoder().encode(canonicalJson(parsed.value));
  return ok(
    await new CompactSign(payload)
      .setProtectedHeader({
        alg: 'EdDSA',
        typ: USAGE_REPORT_TYPE,
        kid: await calculateJwkThumbprint(parsed.value.install_key),
      })
      .sign(privateJwk),
  );
}

/**
 * Verifies a usage report offline. First the JWS as licenses are checked (size, EdDSA only, the
 * report `typ`, no key in the header), signed by the key its claims name as the install's (the
 * header's `kid` is its thumbprint); then, when the install's key is already pinned
 * (`installKey`), that it is that key; then the claims, strictly; then the embedded license
 * against the vendor's `licenseKeyring` at `now` (an expired license still vouches for the usage
 * it ran with; one not yet valid, or bound to another install, does not); then the content:
 * events inside the period, unique ids, totals that agree, and a creation time not ahead of `now`.
 * The chain (`seq`, `previous`) is the importer's to check: it alone knows the reports before.
 */
export async function verifyUsageReport(
  token: string,
  options: {
    readonly licenseKeyring: LicenseKeyring;
    readonly now: Date;
    readonly installKey?: InstallPublicKey;
  },
): Promise<Result<VerifiedUsageReport, UsageReportRefusal>> {
  // The payload is read once before its signature is checked, only to find the key to check it
  // with; nothing in it is trusted until the signature holds.
  const claimed = token.length > MAX_USAGE_REPORT_BYTES ? undefined : claimedInstallKey(token);
  const keyring = claimed === undefined ? undefined : await installKeyring(claimed);
  const signed = await verifySignedJws(token, keyring?.keyring ?? { keys: new Map() }, {
    typ: USAGE_REPORT_TYPE,
    name: 'usage report',
    maxBytes: MAX_USAGE_REPORT_BYTES,
  });
  if (!signed.ok) {
    if (signed.error.code !== 'unknown_kid') return signed;
    if (keyring === undefined) {
      return refuse(
        'bad_install_key',
        'usage report claim install_key is missing or not an Ed25519 public key',
      );
    }
    return refuse(
      'bad_install_key',
      `usage report header kid is not the thumbprint of its install_key (${keyring.thumbprint})`,
    );
  }
  if (options.installKey !== undefined && options.installKey.x !== claimed?.x) {
    return refuse(
      'foreign_key',
      `usage report is signed by install key ${keyring?.thumbprint}, not by the key this install pinned (${await calculateJwkThumbprint(options.installKey)})`,
    );
  }
  const parsed = parseReportClaims(signed.value.payload);
  if (!parsed.ok) return parsed;
  const claims = parsed.value;

  const license = await verifyLicense(claims.license, options.licenseKeyring, { now: options.now });
  if (!license.ok) {
    return refuse('license_refused', `usage report's license is refused: ${license.error.message}`);
  }
  const bound = license.value.claims.install;
  if (bound !== null && bound !== claims.install_id) {
    return refuse(
      'install_not_licensed',
      `usage report is from install "${claims.install_id}", but its license is bound to install "${bound}"`,
    );
  }
  if (Date.parse(claims.created_at) > options.now.getTime() + MAX_CLOCK_SKEW_MS) {
    return refuse('not_yet_valid', `usage report was created at ${claims.created_at}, after now`);
  }
  return ok({
    claims,
    license: license.value,
    key_thumbprint: signed.value.kid,
    digest: await reportDigest(token),
  });
}

/** `value` as {@link UsageReportClaims} whose content agrees with itself, or the first fault. */
function parseReportClaims(value: unknown): Result<UsageReportClaims, UsageReportRefusal> {
  const parsed = UsageReportClaims.safeParse(value, { reportInput: true });
  if (!parsed.success) {
    const [issue] = parsed.error.issues;
    const [described] = issue === undefined ? [] : fromZodIssues([issue]);
    if (issue === undefined || described === undefined)
      return refuse('invalid_claim', 'usage report claims are invalid');
    const path = dottedPath(described.path);
    if (issue.code === 'unrecognized_keys') {
      return refuse('unexpected_claim', `usage report claim ${path} is not part of the report format`);
    }
    if (issue.code === 'invalid_type' && issue.input === undefined) {
      return refuse('missing_claim', `usage report claim ${path} is missing`);
    }
    return refuse('invalid_claim', `usage report claim ${path} is invalid: ${described.message}`);
  }
  const claims = parsed.data;
  const from = Date.parse(claims.period.from);
  const to = Date.parse(claims.period.to);
  const seen = new Set<string>();
  for (const [index, event] of claims.events.entries()) {
    const time = Date.parse(event.time);
    if (time < from || time >= to) {
      return refuse(
        'event_outside_period',
        `usage report event ${index} ("${event.id}") at ${event.time} is outside the period ${claims.period.from} – ${claims.period.to}`,
      );
    }
    if (seen.has(event.id)) {
      return refuse('duplicate_event', `usage report event id "${event.id}" appears more than once`);
    }
    seen.add(event.id);
  }
  const expected = usageReportTotals(claims.events);
  for (const meter of new Set([...Object.keys(expected), ...Object.keys(claims.totals)])) {
    const stated = claims.totals[meter];
    const counted = expected[meter];
    if (stated?.sum !== counted?.sum || stated?.count !== counted?.count) {
      return refuse(
        'totals_mismatch',
        `usage report totals for meter "${meter}" say ${describeTotal(stated)}, its events add up to ${describeTotal(counted)}`,
      );
    }
  }
  return ok(claims);
}

function describeTotal(total: { sum: number; count: number } | undefined): string {
  return total === undefined ? 'nothing' : `${total.sum} in ${total.count} event(s)`;
}

/** The `install_key` claim of a token's payload, read before its signature is checked. */
function claimedInstallKey(token: string): InstallPublicKey | undefined {
  const payloadPart = token.split('.')[1];
  if (payloadPart === undefined) return undefined;
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(base64url.decode(payloadPart)));
  } catch {
    return undefined;
  }
  if (typeof payload !== 'object' || payload === null) return undefined;
  const parsed = InstallPublicKey.safeParse((payload as { install_key?: unknown }).install_key);
  return parsed.success ? parsed.data : undefined;
}

/** A keyring holding the install's key alone, named by its thumbprint, if it is a valid Ed25519 key. */
async function installKeyring(
  key: InstallPublicKey,
): Promise<{ readonly keyring: LicenseKeyring; readonly thumbprint: string } | undefined> {
  const thumbprint = await calculateJwkThumbprint(key);
  const keyring = licenseKeyring([{ ...key, kid: thumbprint }]);
  return keyring.ok ? { keyring: keyring.value, thumbprint } : undefined;
}

function refuse(
  code: UsageReportRefusalCode,
  message: string,
): { readonly ok: false; readonly error: UsageReportRefusal } {
  return err({ code, message });
}
