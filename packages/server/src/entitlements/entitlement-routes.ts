import { TENANT_STATES } from '@tenantry/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { notFound, sendProblem, Timestamp } from '../http/index.ts';
import type { Services } from '../services.ts';

const ConfigValue = z.union([z.string(), z.number(), z.boolean()]);

const Limit = z.object({
  kind: z.enum(['seats', 'metered', 'gauge']),
  limit: z.number().nullable().describe('null: unlimited'),
  used: z.number().nullable().describe('null: not known yet'),
  remaining: z.number().nullable(),
  enforcement: z.enum(['hard', 'soft']),
  thresholds: z.array(z.number()).readonly(),
  resets_at: Timestamp.nullable(),
  per_subject: z
    .number()
    .int()
    .optional()
    .describe('Gauges capped per subject: the most one subject may hold at once'),
});

/** A tenant's entitlement snapshot, as the API answers it. */
export const Snapshot = z
  .object({
    tenant_id: z.string(),
    state: z.enum(TENANT_STATES),
    active: z.boolean().describe('false: the tenant may do nothing; `reason` says why'),
    reason: z.string().nullable(),
    plan: z.object({ key: z.string(), version: z.number().int() }).nullable(),
    seats: z.number().int(),
    period: z.object({ start: Timestamp, end: Timestamp }),
    trial_ends_at: Timestamp.nullable(),
    features: z.record(z.string(), z.boolean()),
    limits: z.record(z.string(), Limit),
    config: z.record(z.string(), ConfigValue),
    meter_features: z
      .record(z.string(), z.string())
      .optional()
      .describe('The feature each meter tied to one needs; absent when none is tied'),
    revoked_subjects: z
      .record(z.string(), Timestamp)
      .optional()
      .describe(
        'Users removed from the tenant within the longest access-token life (`usr_…` → when): their tokens issued before then no longer count; absent when none',
      ),
    version: z.string().describe('Changes whenever anything above changes; also the ETag'),
  })
  .meta({ id: 'EntitlementSnapshot' });

/** `/v1/tenants/{id}/entitlements`: what a tenant may do now. */
export const entitlementRoutes: FastifyPluginAsyncZod<Pick<Services, 'entitlements'>> = async (
  app,
  services,
) => {
  // The JSON of each snapshot, made once: the service hands out the same cached object until the
  // snapshot changes, and a changed snapshot is a new object (the old one's entry goes with it).
  const json = new WeakMap<object, string>();
  const serialize = (snapshot: object): string => {
    let body = json.get(snapshot);
    if (body === undefined) {
      body = JSON.stringify(snapshot);
      json.set(snapshot, body);
    }
    return body;
  };

  app.get(
    '/tenants/:id/entitlements',
    {
      // A tenant's billing readers see their own plan, limits and usage (the tenant portal).
      config: { scope: 'entitlements:read', permission: 'billing:read' },
      schema: {
        tags: ['Entitlements'],
        operationId: 'getTenantEntitlements',
        summary: "A tenant's entitlement snapshot",
        description: 'Send the ETag back in `If-None-Match` to get 304 while nothing has changed.',
        params: z.object({ id: z.string().describe('Tenant id or slug') }),
        headers: z.object({ 'if-none-match': z.string().optional() }),
        response: { 200: Snapshot, 304: z.undefined(), ...notFound },
      },
    },
    async (request, reply) => {
      const result = await services.entitlements.get(request.params.id);
      if (!result.ok) return sendProblem(reply, result.error);
      const { snapshot, etag } = result.value;
      reply.header('etag', etag).header('cache-control', 'private, no-cache');
      const match = request.headers['if-none-match'];
      if (match?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag)) {
        return reply.code(304).send();
      }
      // The snapshot is built by typed code from stored, validated data; checking it against the
      // schema again on every read is the largest cost of this hot path, so it is sent as is, as
      // JSON made once per snapshot.
      return reply.type('application/json; charset=utf-8').serializer(serialize).send(snapshot);
    },
  );
};
