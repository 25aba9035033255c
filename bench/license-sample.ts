import type { LicenseClaims } from '@tenantry/core';

/**
 * The claims of a license for a large plan, `features` features and `limits` limits, issued at
 * `now` (seconds) for a year: what bench:license and bench:license-guard sign and verify.
 */
export function claimsOfALargePlan(
  now: number,
  size: { readonly features: number; readonly limits: number },
): LicenseClaims {
  const features: Record<string, boolean> = {};
  for (let i = 0; i < size.features; i++) features[`feature_${i}`] = i % 3 !== 0;
  const limits: LicenseClaims['entitlements']['limits'] = {};
  for (let i = 0; i < size.limits; i++) {
    limits[`meter_${i}`] = {
      kind: i % 2 === 0 ? 'metered' : 'gauge',
      limit: i % 5 === 0 ? null : 1000 * i,
      enforcement: i % 4 === 0 ? 'soft' : 'hard',
      thresholds: [80, 100],
    };
  }
  return {
    iss: 'Acme Software',
    jti: 'lic_bench0001',
    customer: { id: 'cus_bench', name: 'Ministry of Benchmarks' },
    edition: 'enterprise',
    seats: 500,
    plan: { key: 'enterprise', version: 7 },
    entitlements: { features, limits, config: { retention_days: 365, region: 'eu', sso_enforced: true } },
    iat: now,
    nbf: now,
    exp: now + 365 * 86_400,
    grace_days: 14,
    // An air-gapped install's license: no check-ins to expect and no install binding, so the
    // benchmarks that open it run with nothing but the license, as such an install does.
    offline_days: null,
    phone_home: false,
    install: null,
    seq: 3,
  };
}
