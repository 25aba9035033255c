import type { ConfigValue, EntitlementSnapshot, LimitEntitlement } from '@tenantry/core';
import type { TenantContextOptions } from './adapters/index.ts';
import type { AcquireResult, ConsumeResult } from './entitlements/index.ts';
import type { RateLimitOptions, RateLimitResult } from './rate-limits/index.ts';
import type { UsageRecord } from './usage/index.ts';

/**
 * Where a {@link Tenantry}'s entitlements come from and where its usage goes: the one interface
 * between the app's code path and how the app is delivered, as a Kysely dialect is between
 * queries and a database. Two implement it: the control plane (SaaS and BYOI: snapshots streamed,
 * quotas leased, usage sent) and a license (self-hosted: entitlements from the verified license,
 * limits counted and usage kept in a local ledger). Tenantry itself never asks which it has.
 *
 * Every method takes the tenant the current request runs as; a source that serves one tenant
 * only refuses any other.
 */
export interface EntitlementSource {
  /** How requests get their tenant: from an access token, or as the license's customer. */
  readonly requestContext: TenantContextOptions;
  can(tenantId: string, feature: string): boolean;
  limit(tenantId: string, key: string): LimitEntitlement | undefined;
  config(tenantId: string, key: string): ConfigValue | undefined;
  /** The tenant's whole entitlement snapshot, as the checks above read it. */
  snapshot(tenantId: string): EntitlementSnapshot;
  consume(tenantId: string, meter: string, units: number): Promise<ConsumeResult>;
  acquire(tenantId: string, meter: string, options: { readonly subject?: string }): Promise<AcquireResult>;
  /** Counts a request against the tenant's rate limit `name`, in this instance's bucket. */
  rateLimit(tenantId: string, name: string, options: RateLimitOptions): Promise<RateLimitResult>;
  /** Records usage of `record.tenant`; returns the event's id. */
  record(record: UsageRecord & { readonly tenant: string }): string;
  /** Resolves once the usage recorded so far is stored (sent, spooled or in the ledger). */
  flush(): Promise<void>;
  /** Gives back what is held (leases, slots), stores the usage recorded, stops timers. */
  close(): Promise<void>;
}
