import { err, ok, type RateLimitDefinition, type Result, windowSeconds } from '@tenantry/core';

/** How the control plane limits the requests to its own API; see docs/rate-limits.md. */
export interface RateLimitSettings {
  /** Each API key's bucket; `null` = keys are not limited. */
  readonly key: RateLimitDefinition | null;
  /**
   * A tenant's bucket when its plan sets no {@link CONTROL_PLANE_RATE_LIMIT}; `null` = such
   * tenants are limited by their callers' keys only.
   */
  readonly tenant: RateLimitDefinition | null;
  /**
   * How many control-plane processes share the limits: each process enforces this share
   * (1 / processes) of every limit in its own memory, so that N processes behind a load balancer
   * that spreads requests evenly together allow what the limit says.
   */
  readonly processes: number;
}

/**
 * The name of the plan rate limit that sizes a tenant's bucket on the control plane's own API
 * (`rate_limits: { tenantry_api: { requests: 50, per: 1s } }`). Other names are the vendor's,
 * counted by its app through the SDK.
 */
export const CONTROL_PLANE_RATE_LIMIT = 'tenantry_api';

/**
 * Defaults: far above what an app's SDK sends (it checks entitlements and leases locally), so
 * that only a runaway loop or a flood meets them; a vendor sizes tenants through their plans.
 */
export const DEFAULT_RATE_LIMITS: RateLimitSettings = {
  key: { requests: 10_000, per_seconds: 1, burst: 20_000 },
  tenant: { requests: 1000, per_seconds: 1, burst: 2000 },
  processes: 1,
};

const SPEC = /^([0-9]{1,10})\/([0-9a-z]{1,10})(?:,([0-9]{1,10}))?$/;

/**
 * A limit as the environment writes it: `<requests>/<window>[,<burst>]` (`1000/1s,2000`), or
 * `off`. The window is written as in plan files (`1s`, `1m`, `1h`, `1d`).
 */
function parseRateLimitSpec(name: string, raw: string): Result<RateLimitDefinition | null, string> {
  if (raw === 'off') return ok(null);
  const match = SPEC.exec(raw);
  const requests = Number(match?.[1]);
  const seconds = match?.[2] === undefined ? undefined : windowSeconds(match[2]);
  const burst = match?.[3] === undefined ? requests : Number(match[3]);
  if (!match || seconds === undefined || seconds > 86_400 || requests < 1 || burst < 1) {
    return err(
      `${name} must be "<requests>/<window>[,<burst>]" with a window such as 1s, 1m, 1h or 1d (e.g. "1000/1s,2000"), or "off"; not "${raw}"`,
    );
  }
  return ok({ requests, per_seconds: seconds, burst });
}

/**
 * The settings from `TENANTRY_RATE_LIMIT_KEY`, `TENANTRY_RATE_LIMIT_TENANT` and
 * `TENANTRY_RATE_LIMIT_PROCESSES`, each falling back on {@link DEFAULT_RATE_LIMITS}.
 */
export function rateLimitSettings(
  env: Record<string, string | undefined>,
): Result<RateLimitSettings, string> {
  const key = env.TENANTRY_RATE_LIMIT_KEY
    ? parseRateLimitSpec('TENANTRY_RATE_LIMIT_KEY', env.TENANTRY_RATE_LIMIT_KEY)
    : ok(DEFAULT_RATE_LIMITS.key);
  if (!key.ok) return key;
  const tenant = env.TENANTRY_RATE_LIMIT_TENANT
    ? parseRateLimitSpec('TENANTRY_RATE_LIMIT_TENANT', env.TENANTRY_RATE_LIMIT_TENANT)
    : ok(DEFAULT_RATE_LIMITS.tenant);
  if (!tenant.ok) return tenant;
  const rawProcesses = env.TENANTRY_RATE_LIMIT_PROCESSES || '1';
  const processes = Number(rawProcesses);
  if (!/^[0-9]{1,4}$/.test(rawProcesses) || processes < 1) {
    return err(`TENANTRY_RATE_LIMIT_PROCESSES must be a whole number from 1 to 9999, not "${rawProcesses}"`);
  }
  return ok({ key: key.value, tenant: tenant.value, processes });
}
