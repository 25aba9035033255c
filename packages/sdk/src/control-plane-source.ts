import type { ConfigValue, EntitlementSnapshot, LimitEntitlement } from '@tenantry/core';
import type { TenantContextOptions } from './adapters/index.ts';
import type { AccessTokenVerifier } from './context/index.ts';
import type { EntitlementSource } from './entitlement-source.ts';
import type { AcquireResult, ConsumeResult, Entitlements } from './entitlements/index.ts';
import type { RateLimiter, RateLimitOptions, RateLimitResult } from './rate-limits/index.ts';
import type { UsageRecord, UsageRecorder } from './usage/index.ts';

/**
 * Entitlements and usage through the control plane (SaaS and BYOI): snapshots streamed and held
 * in memory, limited meters leased, usage sent (or spooled while it is away).
 */
export class ControlPlaneSource implements EntitlementSource {
  readonly entitlements: Entitlements;
  readonly usage: UsageRecorder;
  readonly rateLimits: RateLimiter;
  readonly requestContext: TenantContextOptions;

  constructor(parts: {
    entitlements: Entitlements;
    usage: UsageRecorder;
    rateLimits: RateLimiter;
    verifier: AccessTokenVerifier;
  }) {
    this.entitlements = parts.entitlements;
    this.usage = parts.usage;
    this.rateLimits = parts.rateLimits;
    // Each request's tenant from its access token, with its snapshot loaded before the handler
    // runs, so the synchronous checks can answer.
    this.requestContext = {
      verifier: parts.verifier,
      onTenant: async (context) => {
        await this.entitlements.load(context.tenantId);
      },
    };
  }

  can(tenantId: string, feature: string): boolean {
    return this.entitlements.can(tenantId, feature);
  }

  limit(tenantId: string, key: string): LimitEntitlement | undefined {
    return this.entitlements.limit(tenantId, key);
  }

  config(tenantId: string, key: string): ConfigValue | undefined {
    return this.entitlements.config(tenantId, key);
  }

  snapshot(tenantId: string): EntitlementSnapshot {
    return this.entitlements.snapshot(tenantId);
  }

  consume(tenantId: string, meter: string, units: number): Promise<ConsumeResult> {
    return this.entitlements.consume(tenantId, meter, units);
  }

  acquire(tenantId: string, meter: string, options: { readonly subject?: string }): Promise<AcquireResult> {
    return this.entitlements.acquire(tenantId, meter, options);
  }

  async rateLimit(tenantId: string, name: string, options: RateLimitOptions): Promise<RateLimitResult> {
    // The tenant's rate limits are in its snapshot, loaded for a request's tenant already.
    await this.entitlements.load(tenantId);
    return this.rateLimits.check(tenantId, name, options);
  }

  record(record: UsageRecord & { readonly tenant: string }): string {
    return this.usage.record(record);
  }

  flush(): Promise<void> {
    return this.usage.flush();
  }

  async close(): Promise<void> {
    await this.rateLimits.close();
    await this.entitlements.close();
    await this.usage.close();
  }
}
