import { applyOverrides, type RateLimitDefinition, type TenantOverrides } from '@tenantry/core';
import type { TenantRecord, TenantService } from '../tenants/index.ts';
import { CONTROL_PLANE_RATE_LIMIT } from './rate-limit-settings.ts';
import type { TenantRateLimitLookup } from './request-limiter.ts';

/**
 * A tenant's limit on the control plane's API: the `tenantry_api` rate limit of its plan version
 * after its overrides, or `fallback` when they set none. Read from the tenant's record rather
 * than its entitlement snapshot, which leaves out the plan of a tenant that is not active: a
 * suspended or provisioning tenant keeps its plan's limit on the API. An unknown tenant has no
 * bucket: its routes answer 404, and the caller's key still counts the requests.
 */
export function tenantRateLimits(
  tenants: TenantService,
  fallback: RateLimitDefinition | null,
): TenantRateLimitLookup {
  return async (ref) => {
    const record = await tenants.record(ref);
    if (record === undefined) return undefined;
    const planned = effectiveRateLimits(record)?.[CONTROL_PLANE_RATE_LIMIT];
    return { tenantId: record.id, limit: planned ?? fallback };
  };
}

/** The tenant's rate limits by name: its plan version's after its overrides. */
export function effectiveRateLimits(
  record: TenantRecord,
): Readonly<Record<string, RateLimitDefinition>> | undefined {
  return applyOverrides(record.definition, record.overrides as TenantOverrides).rate_limits;
}
