import { type DomainError, fail, ok, type RateLimitDefinition, type Result } from '@tenantry/core';
import { type Kysely, sql } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import type { TenantRecord } from '../tenants/index.ts';
import { effectiveRateLimits } from './tenant-rate-limits.ts';

/** The share of a tenant's rate limit one app instance holds, as the API shows it. */
export interface RateLimitShareView {
  tenant_id: string;
  name: string;
  instance_id: string;
  /** The tenant's rate limit: its plan's after overrides. */
  limit: RateLimitDefinition;
  /** The fraction of the limit this instance may allow (0 to 1); 0 while the others hold it all. */
  share: number;
  /** Instances holding a share now, this one included. */
  holders: number;
  expires_at: string;
  released_at: string | null;
}

/** How long a share lasts when the instance does not say; the SDK renews at a third of it. */
const DEFAULT_SHARE_TTL_SECONDS = 15;

/** Shares are whole billionths, rounded down, so that float sums of granted shares never pass 1. */
const GRAIN = 1e9;

function rateLimitNotFound(
  tenantId: string,
  name: string,
): { readonly ok: false; readonly error: DomainError } {
  return fail('rate_limit_not_found', `the plan of tenant ${tenantId} has no rate limit "${name}"`, {
    details: { rate_limit: name },
  });
}

/**
 * One budget for a tenant's rate limit across every instance of the vendor's app: each instance
 * leases a share (a fraction of the rate and burst) and counts its requests against a local
 * token bucket of that size. A grant is the instance's fair part (1 / holders) of what the other
 * holders leave free, so the open shares never add up to more than the limit; an instance that
 * holds more than its fair part is brought down to it when it renews, which frees room for one
 * that joined. Grants for one tenant and limit take turns; a share lapses when not renewed.
 */
export class RateLimitShareService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;

  constructor(db: Kysely<Schema>, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  /**
   * Takes or renews the instance's share of the tenant's rate limit `name`. Takes the tenant's
   * record the route already read, so that a renewal (every few seconds per instance) reads it once.
   */
  async lease(
    tenant: TenantRecord,
    input: { name: string; instance_id: string; ttl_seconds?: number | undefined },
  ): Promise<Result<RateLimitShareView, DomainError>> {
    const tenantId = tenant.id;
    const limits = effectiveRateLimits(tenant);
    // Own names only: a name such as "constructor" is no rate limit of the plan.
    const limit = limits !== undefined && Object.hasOwn(limits, input.name) ? limits[input.name] : undefined;
    if (limit === undefined) return rateLimitNotFound(tenantId, input.name);
    return this.#db.transaction().execute(async (tx) => {
      await sql`select pg_advisory_xact_lock(hashtext(${`rate:${tenantId}:${input.name}`}))`.execute(tx);
      const now = this.#clock.now();
      const others = await tx
        .selectFrom('rate_limit_shares')
        .select(['share'])
        .where('tenant_id', '=', tenantId)
        .where('name', '=', input.name)
        .where('instance_id', '<>', input.instance_id)
        .where('released_at', 'is', null)
        .where('expires_at', '>', now)
        .execute();
      const taken = others.reduce((sum, row) => sum + Number(row.share), 0);
      const fair = 1 / (others.length + 1);
      const share = Math.floor(Math.max(0, Math.min(fair, 1 - taken)) * GRAIN) / GRAIN;
      const expiresAt = new Date(now.getTime() + (input.ttl_seconds ?? DEFAULT_SHARE_TTL_SECONDS) * 1000);
      await tx
        .insertInto('rate_limit_shares')
        .values({
          tenant_id: tenantId,
          name: input.name,
          instance_id: input.instance_id,
          share,
          expires_at: expiresAt,
          released_at: null,
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) =>
          oc
            .columns(['tenant_id', 'name', 'instance_id'])
            .doUpdateSet({ share, expires_at: expiresAt, released_at: null, updated_at: now }),
        )
        .execute();
      return ok({
        tenant_id: tenantId,
        name: input.name,
        instance_id: input.instance_id,
        limit,
        share,
        holders: others.length + 1,
        expires_at: expiresAt.toISOString(),
        released_at: null,
      });
    });
  }

  /** Gives the instance's share back at once, for the other instances to take when they renew. */
  async release(
    tenantId: string,
    input: { name: string; instance_id: string },
  ): Promise<Result<{ released: boolean }, DomainError>> {
    const now = this.#clock.now();
    const released = await this.#db
      .updateTable('rate_limit_shares')
      .set({ released_at: now, share: 0, updated_at: now })
      .where('tenant_id', '=', tenantId)
      .where('name', '=', input.name)
      .where('instance_id', '=', input.instance_id)
      .where('released_at', 'is', null)
      .executeTakeFirst();
    return ok({ released: released.numUpdatedRows > 0n });
  }
}
