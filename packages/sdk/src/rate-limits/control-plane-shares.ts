import {
  type ControlPlaneClient,
  ControlPlaneError,
  ControlPlaneUnreachableError,
} from '../control-plane/index.ts';
import type { RateLimitShares, ShareLease } from './rate-limiter.ts';

/**
 * This instance's shares of tenants' rate limits, leased from the control plane
 * (`POST /v1/tenants/{id}/rate-limit-shares`, scope `leases:write`, which an app key holds).
 */
export class ControlPlaneShares implements RateLimitShares {
  readonly #client: ControlPlaneClient;
  readonly #instanceId: string;
  readonly ttlMs: number;

  constructor(client: ControlPlaneClient, instanceId: string, ttlSeconds = 15) {
    this.#client = client;
    this.#instanceId = instanceId;
    this.ttlMs = ttlSeconds * 1000;
  }

  async lease(tenantId: string, name: string): Promise<ShareLease> {
    const { body } = await this.#client.post('/v1/tenants/{id}/rate-limit-shares', {
      path: { id: tenantId },
      body: { name, instance_id: this.#instanceId, ttl_seconds: this.ttlMs / 1000 },
    });
    return { share: body.share, expiresAt: Date.parse(body.expires_at) };
  }

  async release(tenantId: string, name: string): Promise<void> {
    try {
      await this.#client.post('/v1/tenants/{id}/rate-limit-shares/release', {
        path: { id: tenantId },
        body: { name, instance_id: this.#instanceId },
      });
    } catch (error) {
      // The control plane is away, or the tenant is gone: the share lapses by itself at its expiry.
      if (!(error instanceof ControlPlaneUnreachableError || error instanceof ControlPlaneError)) throw error;
    }
  }
}
