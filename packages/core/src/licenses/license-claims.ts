import { z } from 'zod';
import type { EntitlementSnapshot, LimitEntitlement } from '../entitlements/index.ts';
import { ConfigValueSchema, KEY_PATTERN, ThresholdsSchema } from '../plans/index.ts';
import { copyRateLimits, MAX_RATE_REQUESTS, MAX_RATE_WINDOW_SECONDS } from '../rate-limits/index.ts';

/** The `typ` header of a license's JWS, so that no other JWT signed with a license key passes for one. */
export const LICENSE_TYPE = 'tenantry-license+jwt';

/** A license id: `lic_` and up to 64 letters, digits, `_` or `-`. */
export const LICENSE_ID_PATTERN = /^lic_[A-Za-z0-9_-]{1,64}$/;

const Key = z.string().regex(KEY_PATTERN);
const Text = z.string().min(1).max(200);
/** RFC 7519 NumericDate, in whole seconds. */
const NumericDate = z.int().min(0);

// The limit as a snapshot states it, less what only a running SaaS tenant knows (usage, reset).
const LicenseLimitSchema = z.strictObject({
  kind: z.enum(['seats', 'metered', 'gauge']),
  limit: z.int().min(0).nullable(),
  enforcement: z.enum(['hard', 'soft']),
  thresholds: ThresholdsSchema,
  per_subject: z.int().min(1).optional(),
});

const LicenseEntitlementsSchema = z.strictObject({
  features: z.record(Key, z.boolean()),
  limits: z.record(Key, LicenseLimitSchema),
  config: z.record(Key, ConfigValueSchema),
  meter_features: z.record(Key, Key).optional(),
  // Optional, like meter_features: a license of a plan without rate limits signs what it did before.
  rate_limits: z
    .record(
      Key,
      z.strictObject({
        requests: z.int().min(1).max(MAX_RATE_REQUESTS),
        per_seconds: z.int().min(1).max(MAX_RATE_WINDOW_SECONDS),
        burst: z.int().min(1).max(MAX_RATE_REQUESTS),
      }),
    )
    .optional(),
});

/**
 * What a license's JWS signs. Every member is required (extra members are refused), so that a
 * license means the same to every release that accepts it.
 */
export const LicenseClaims = z
  .strictObject({
    /** Who issued it: the vendor. */
    iss: Text,
    /** The license id. */
    jti: z.string().regex(LICENSE_ID_PATTERN),
    customer: z.strictObject({ id: Text, name: Text }),
    edition: Key,
    /** Seats the install may have; `null` = unlimited. */
    seats: z.int().min(0).nullable(),
    /** The plan version the entitlements were resolved from. */
    plan: z.strictObject({ key: Key, version: z.int().min(1) }),
    /** The same entitlement content as the SaaS snapshot of that plan version and overrides. */
    entitlements: LicenseEntitlementsSchema,
    iat: NumericDate,
    nbf: NumericDate,
    exp: NumericDate,
    /** Days after `exp` the install keeps running, with a notice. */
    grace_days: z.int().min(0),
    /** Days the install may go without a check-in; `0` = must check in to run; `null` = never needs to (air-gapped). */
    offline_days: z.int().min(0).nullable(),
    /** Whether the install must report to the vendor when it checks in. */
    phone_home: z.boolean(),
    /** The install the license is bound to, or `null` for any install. */
    install: Text.nullable(),
    /** Grows with each license issued to the customer: a newer license replaces an older one. */
    seq: z.int().min(1),
  })
  .superRefine((claims, ctx) => {
    if (claims.exp <= claims.nbf) {
      ctx.addIssue({
        code: 'custom',
        path: ['exp'],
        input: claims.exp,
        message: `exp (${claims.exp}) must be after nbf (${claims.nbf})`,
      });
    }
  });

/** The claims of a license, as {@link LicenseClaims} parses them. */
export type LicenseClaims = z.infer<typeof LicenseClaims>;

/** The entitlement content of a license. */
export type LicenseEntitlements = LicenseClaims['entitlements'];

/**
 * A license's entitlements from a tenant's snapshot: one source of truth, so a self-hosted install
 * is entitled to exactly what the same plan version and overrides give a SaaS tenant. Usage and
 * reset times stay behind: they belong to the SaaS tenant, not to the license.
 */
export function licenseEntitlements(
  snapshot: Pick<EntitlementSnapshot, 'features' | 'limits' | 'config' | 'meter_features' | 'rate_limits'>,
): LicenseEntitlements {
  const limits: Record<string, LicenseEntitlements['limits'][string]> = {};
  for (const [key, limit] of Object.entries(snapshot.limits)) limits[key] = licenseLimit(limit);
  return {
    features: { ...snapshot.features },
    limits,
    config: { ...snapshot.config },
    ...(snapshot.meter_features === undefined ? {} : { meter_features: { ...snapshot.meter_features } }),
    ...(snapshot.rate_limits === undefined ? {} : { rate_limits: copyRateLimits(snapshot.rate_limits) }),
  };
}

function licenseLimit(limit: LimitEntitlement): LicenseEntitlements['limits'][string] {
  return {
    kind: limit.kind,
    limit: limit.limit,
    enforcement: limit.enforcement,
    thresholds: [...limit.thresholds],
    ...(limit.per_subject === undefined ? {} : { per_subject: limit.per_subject }),
  };
}
