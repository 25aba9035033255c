import { KEY_PATTERN, MAX_RATE_REQUESTS, MAX_RATE_WINDOW_SECONDS } from '@tenantry/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { notFound, sendProblem, Timestamp } from '../http/index.ts';
import type { TenantService } from '../tenants/index.ts';
import { tenantNotFound } from '../tenants/index.ts';
import type { RateLimitShareService } from './rate-limit-shares.ts';

const TenantParams = z.object({ id: z.string().describe('Tenant id or slug') });
const Name = z
  .string()
  .regex(KEY_PATTERN)
  .describe("The rate limit's name in the tenant's plan (`rate_limits.<name>`)");
const InstanceId = z.string().min(1).max(200).describe('The app instance, as it names itself');

const RateLimitShare = z
  .object({
    tenant_id: z.string(),
    name: z.string(),
    instance_id: z.string(),
    limit: z.object({
      requests: z.number().int().min(1).max(MAX_RATE_REQUESTS),
      per_seconds: z.number().int().min(1).max(MAX_RATE_WINDOW_SECONDS),
      burst: z.number().int().min(1).max(MAX_RATE_REQUESTS),
    }),
    share: z
      .number()
      .min(0)
      .max(1)
      .describe('The fraction of the rate and burst this instance may allow; 0 while the others hold it all'),
    holders: z.number().int().min(1).describe('Instances holding a share now, this one included'),
    expires_at: Timestamp,
    released_at: Timestamp.nullable(),
  })
  .meta({ id: 'RateLimitShare' });

/** The routes by which app instances share a tenant's rate limits. */
export const rateLimitShareRoutes: FastifyPluginAsyncZod<{
  rateLimitShares: RateLimitShareService;
  tenants: TenantService;
}> = async (app, { rateLimitShares, tenants }) => {
  app.post(
    '/tenants/:id/rate-limit-shares',
    {
      config: { scope: 'leases:write' },
      schema: {
        tags: ['Usage'],
        operationId: 'leaseRateLimitShare',
        summary: "Take or renew an app instance's share of a tenant's rate limit",
        description:
          'The SDK counts requests against a rate limit of the tenant’s plan in a token bucket in each app instance; ' +
          'each instance leases a share of the rate (its fair part, 1 / holders, of what the others leave free), so ' +
          'that the instances together allow no more than the plan says. Renew before `expires_at`; an instance above ' +
          'its fair part is brought down to it when it renews. 404 `rate_limit_not_found` when the plan, after ' +
          'overrides, has no rate limit of that name.',
        params: TenantParams,
        body: z.strictObject({
          name: Name,
          instance_id: InstanceId,
          ttl_seconds: z.number().int().min(5).max(300).optional().describe('Default 15'),
        }),
        response: { 200: RateLimitShare, ...notFound },
      },
    },
    async (request, reply) => {
      const tenant = await tenants.record(request.params.id);
      if (!tenant) return sendProblem(reply, tenantNotFound(request.params.id).error);
      const leased = await rateLimitShares.lease(tenant, request.body);
      return leased.ok ? leased.value : sendProblem(reply, leased.error);
    },
  );

  app.post(
    '/tenants/:id/rate-limit-shares/release',
    {
      config: { scope: 'leases:write' },
      schema: {
        tags: ['Usage'],
        operationId: 'releaseRateLimitShare',
        summary: "Give back an app instance's share of a tenant's rate limit",
        description: '`released` is false when the instance held no open share.',
        params: TenantParams,
        body: z.strictObject({ name: Name, instance_id: InstanceId }),
        response: { 200: z.object({ released: z.boolean() }), ...notFound },
      },
    },
    async (request, reply) => {
      const tenant = await tenants.record(request.params.id);
      if (!tenant) return sendProblem(reply, tenantNotFound(request.params.id).error);
      const released = await rateLimitShares.release(tenant.id, request.body);
      return released.ok ? released.value : sendProblem(reply, released.error);
    },
  );
};
