import {
  CloudUsageEvent,
  type DomainError,
  InstantInput,
  MAX_USAGE_BATCH,
  type Result,
  UsageEventInput,
} from '@tenantry/core';
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { conflict, notFound, parseJsonBodies, sendProblem, Timestamp } from '../http/index.ts';
import type { Services } from '../services.ts';
import { tenantNotFound as tenantNotFoundError } from '../tenants/index.ts';
import { SLOT_HOLDER_TTL } from './slots.ts';

const CLOUDEVENT = 'application/cloudevents+json';
const CLOUDEVENTS_BATCH = 'application/cloudevents-batch+json';

/** An event as `POST /v1/events` takes it, for the OpenAPI document (core's schema, named). */
const NewUsageEvent = UsageEventInput.meta({
  id: 'NewUsageEvent',
  description:
    '`(tenant, id)` is counted once, however often it is sent. `tenant` is a tenant id (`ten_…`) or slug; ' +
    '`value` may be left out for `count` meters (it is 1).',
});

const CloudEvent = CloudUsageEvent.meta({
  id: 'UsageCloudEvent',
  description: 'A CloudEvents 1.0 event: `source` is the tenant, `type` the meter, `data.value` the value.',
});

const IngestResult = z
  .object({
    accepted: z.number().int().describe('New events stored'),
    duplicates: z.number().int().describe('Events whose (tenant, id) was already stored; not counted again'),
    rejected: z.array(z.object({ index: z.number().int(), id: z.string().nullable(), reason: z.string() })),
  })
  .meta({ id: 'IngestResult' });

const UsageEvent = z
  .object({
    tenant_id: z.string(),
    id: z.string(),
    meter: z.string(),
    value: z.number(),
    time: Timestamp,
    subject: z.string().nullable(),
    properties: z.record(z.string(), z.unknown()).nullable(),
    received_at: Timestamp,
    voided_at: Timestamp.nullable(),
    void_reason: z.string().nullable(),
  })
  .meta({ id: 'UsageEvent' });

const UsageReport = z
  .object({
    tenant_id: z.string(),
    meter: z.string(),
    aggregation: z.string(),
    unit: z
      .string()
      .nullable()
      .describe(
        "The values' unit: the meter's; a time-weighted meter's in its billing unit, as invoiced (`GB-month`; value-hours, e.g. `session-hour`, for a unit that is not a length of time)",
      ),
    from: Timestamp,
    to: Timestamp,
    window: z.enum(['hour', 'day', 'month']),
    series: z.array(
      z.object({ start: Timestamp, end: Timestamp, value: z.number(), subject: z.string().optional() }),
    ),
    total: z.number(),
    subjects: z.array(z.object({ subject: z.string(), value: z.number() })).optional(),
    level: z
      .number()
      .optional()
      .describe(
        "Gauges only: the level now, as limits count it (every subject's last value plus the open slots)",
      ),
  })
  .meta({ id: 'UsageReport' });

const Lease = z
  .object({
    id: z.string(),
    tenant_id: z.string(),
    meter: z.string(),
    instance_id: z.string(),
    granted: z.number(),
    consumed: z.number(),
    returned: z.number(),
    expires_at: Timestamp,
    released_at: Timestamp.nullable(),
    period: z.object({ start: Timestamp, end: Timestamp }),
    limit: z.number().nullable(),
    enforcement: z.enum(['hard', 'soft']),
    overage: z.boolean(),
  })
  .meta({ id: 'Lease' });

const SlotHolder = z
  .object({
    id: z.string(),
    instance_id: z.string(),
    ttl_seconds: z.number().int(),
    expires_at: Timestamp,
  })
  .meta({ id: 'SlotHolder' });

const Slot = z
  .object({
    id: z.string(),
    tenant_id: z.string(),
    meter: z.string(),
    subject: z.string().nullable(),
    holder_id: z.string(),
    acquired_at: Timestamp,
    expires_at: Timestamp.describe(
      "The holder's expiry: the slot stops counting then unless a heartbeat renews it",
    ),
    limit: z.number().nullable().describe("The tenant's pool; null when unlimited"),
    per_subject: z
      .number()
      .nullable()
      .describe('The most one subject may hold at once; null when not capped'),
    used: z.number().describe("The gauge's level with this slot"),
    subject_used: z.number().nullable().describe("The subject's open slots with this one"),
    enforcement: z.enum(['hard', 'soft']),
    overage: z.boolean(),
  })
  .meta({ id: 'Slot' });

const ReleasedSlot = Slot.pick({
  id: true,
  tenant_id: true,
  meter: true,
  subject: true,
  holder_id: true,
  acquired_at: true,
})
  .extend({ released_at: Timestamp })
  .meta({ id: 'ReleasedSlot' });

const TenantParams = z.object({ id: z.string().describe('Tenant id or slug') });
const HolderParams = z.object({ holder_id: z.string() });
// Subjects are stored as usage events store them; no control characters, so logs stay readable.
const Subject = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^\p{Cc}]+$/u, { error: 'must not contain control characters' });
const LeaseParams = TenantParams.extend({ lease_id: z.string() });
const Units = z.number().finite().min(0).max(1e12);
const Ttl = z
  .number()
  .int()
  .min(1)
  .max(3600)
  .default(60)
  .describe('Seconds until the lease expires unless renewed');

/** `/v1/events` (ingestion), `/v1/tenants/{id}/usage|leases|slots|events` and `/v1/slot-holders`: metering. */
export const usageRoutes: FastifyPluginAsyncZod<Pick<Services, 'tenants' | 'usage'>> = async (
  app,
  services,
) => {
  parseJsonBodies(app, [CLOUDEVENT, CLOUDEVENTS_BATCH]);

  app.post(
    '/events',
    {
      config: {
        scope: 'usage:write',
        // What each event must be; the route checks the events one by one (see body below).
        documentedBody: {
          'application/json': z.union([NewUsageEvent, z.array(NewUsageEvent).max(MAX_USAGE_BATCH)]),
          [CLOUDEVENT]: CloudEvent,
          [CLOUDEVENTS_BATCH]: z.array(CloudEvent).max(MAX_USAGE_BATCH),
        },
      },
      bodyLimit: 32 * 1024 * 1024,
      schema: {
        tags: ['Usage'],
        operationId: 'ingestEvents',
        summary: 'Ingest usage events',
        description:
          `One event or a JSON array of up to ${MAX_USAGE_BATCH}: \`{id, tenant, meter, value, time, subject?, properties?}\`. ` +
          `CloudEvents are accepted as \`${CLOUDEVENT}\` or \`${CLOUDEVENTS_BATCH}\` (\`source\` is the tenant, \`type\` the meter, ` +
          '`data.value` the value). `(tenant, id)` is counted once, however often it is sent. The answer comes once the batch is ' +
          'durable; valid events of a partly bad batch are kept and each bad one is listed by its index.',
        // The size of a batch and each event are checked by the handler, which can say what is
        // wrong and keep the good events of a partly bad batch: a union that fails both ways only
        // says "Invalid input". The document shows the events' schema (config.documentedBody).
        body: z.union([z.array(z.unknown()), z.record(z.string(), z.unknown())]),
        response: { 200: IngestResult },
      },
    },
    async (request, reply) => {
      const type = String(request.headers['content-type'] ?? '');
      const format = type.startsWith('application/cloudevents') ? 'cloudevents' : 'tenantry';
      const batch = Array.isArray(request.body) ? request.body : [request.body];
      if (batch.length > MAX_USAGE_BATCH) {
        return sendProblem(reply, {
          code: 'validation_failed',
          detail: `a batch holds at most ${MAX_USAGE_BATCH} events; nothing was stored`,
          errors: [
            {
              path: '(body)',
              message: `a batch holds at most ${MAX_USAGE_BATCH} events, and this one has ${batch.length}`,
            },
          ],
        });
      }
      const result = await services.usage.ingest.ingest(batch, format);
      if (result.rejected.length > 0 && result.accepted + result.duplicates === 0) {
        return sendProblem(reply, {
          code: 'validation_failed',
          detail: `every event was rejected (${result.rejected.length}); nothing was stored`,
          errors: result.rejected.map((r) => ({ path: `[${r.index}]`, message: r.reason })),
          details: { rejected: result.rejected },
        });
      }
      return result;
    },
  );

  app.post(
    '/tenants/:id/events/:event_id/void',
    {
      config: { scope: 'usage:void' },
      schema: {
        tags: ['Usage'],
        operationId: 'voidUsageEvent',
        summary: 'Void a usage event',
        description: 'The event is kept, marked void, and stops counting. Nothing is ever deleted.',
        params: TenantParams.extend({ event_id: z.string() }),
        body: z.strictObject({ reason: z.string().trim().min(1).max(1000) }),
        response: { 200: UsageEvent, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await services.usage.service.void(
        request.ctx,
        request.params.id,
        request.params.event_id,
        request.body.reason,
      );
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/tenants/:id/usage',
    {
      // A tenant's billing readers see the series behind the usage their entitlements already show
      // them (the portal's usage page draws the same charts as the operator's).
      config: { scope: 'usage:read', permission: 'billing:read' },
      schema: {
        tags: ['Usage'],
        operationId: 'getTenantUsage',
        summary: "A tenant's usage of a meter",
        description:
          'Read from hourly rollups. `from` and `to` are whole hours; the default range is the current billing period.',
        params: TenantParams,
        querystring: z.strictObject({
          meter: z.string().min(1),
          from: InstantInput.optional(),
          to: InstantInput.optional(),
          window: z.enum(['hour', 'day', 'month']).default('day'),
          group_by: z.enum(['subject']).optional(),
        }),
        response: { 200: UsageReport, ...notFound },
      },
    },
    async (request, reply) => {
      const { meter, from, to, window, group_by } = request.query;
      const result = await services.usage.service.query(request.params.id, {
        meter,
        from: from === undefined ? undefined : new Date(from),
        to: to === undefined ? undefined : new Date(to),
        window,
        groupBy: group_by,
      });
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/tenants/:id/leases',
    {
      config: { scope: 'leases:write' },
      schema: {
        tags: ['Usage'],
        operationId: 'createLease',
        summary: 'Lease units of a limit',
        description:
          'An app instance takes a block of units of a metered limit to spend locally; with a hard limit the grant never ' +
          'lets usage plus the units on open leases pass the limit. It may grant fewer than asked; when nothing is left ' +
          'the answer is 409 `limit_exhausted` with `meter`, `limit` and `used`. Gauges are held with slots instead.',
        params: TenantParams,
        body: z.strictObject({
          meter: z.string().min(1),
          units: Units.positive(),
          instance_id: z.string().min(1).max(200),
          ttl_seconds: Ttl,
        }),
        response: { 201: Lease, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      return forTenant(reply, request.params.id, 201, (id) => services.usage.leases.grant(id, request.body));
    },
  );

  app.post(
    '/tenants/:id/leases/:lease_id/renew',
    {
      config: { scope: 'leases:write' },
      schema: {
        tags: ['Usage'],
        operationId: 'renewLease',
        summary: 'Report consumption, extend a lease, and optionally take more units',
        params: LeaseParams,
        body: z.strictObject({
          consumed: Units.describe('Units consumed so far, in total'),
          units: Units.default(0),
          ttl_seconds: Ttl,
        }),
        response: { 200: Lease, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      return forTenant(reply, request.params.id, 200, (id) =>
        services.usage.leases.renew(id, request.params.lease_id, request.body),
      );
    },
  );

  app.post(
    '/tenants/:id/leases/:lease_id/release',
    {
      config: { scope: 'leases:write' },
      schema: {
        tags: ['Usage'],
        operationId: 'releaseLease',
        summary: 'Release a lease, returning the units it did not consume',
        params: LeaseParams,
        body: z.strictObject({ consumed: Units.describe('Units consumed, in total') }),
        response: { 200: Lease, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      return forTenant(reply, request.params.id, 200, (id) =>
        services.usage.leases.release(id, request.params.lease_id, request.body),
      );
    },
  );

  app.post(
    '/slot-holders',
    {
      config: { scope: 'leases:write' },
      schema: {
        tags: ['Usage'],
        operationId: 'createSlotHolder',
        summary: 'Create a slot holder',
        description:
          'An app instance holds its slots under a holder and keeps it alive with heartbeats. When a holder misses its ' +
          'heartbeat for `ttl_seconds`, its slots stop counting at once (an instance that died gives its slots back).',
        body: z.strictObject({
          instance_id: z.string().min(1).max(200).describe('The instance, for people reading the slots'),
          ttl_seconds: z
            .number()
            .int()
            .min(SLOT_HOLDER_TTL.min)
            .max(SLOT_HOLDER_TTL.max)
            .default(SLOT_HOLDER_TTL.default)
            .describe('Seconds the holder lives without a heartbeat'),
        }),
        response: { 201: SlotHolder },
      },
    },
    async (request, reply) => reply.code(201).send(await services.usage.slots.createHolder(request.body)),
  );

  app.post(
    '/slot-holders/:holder_id/heartbeat',
    {
      config: { scope: 'leases:write' },
      schema: {
        tags: ['Usage'],
        operationId: 'heartbeatSlotHolder',
        summary: "Keep a slot holder's slots for another TTL",
        description:
          'A holder that has already lapsed is not revived (its slots may have gone to others): the answer is 409 ' +
          '`slot_holder_expired`, its slots are released, and the instance creates a new holder.',
        params: HolderParams,
        response: { 200: SlotHolder, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await services.usage.slots.heartbeat(request.params.holder_id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.delete(
    '/slot-holders/:holder_id',
    {
      config: { scope: 'leases:write' },
      schema: {
        tags: ['Usage'],
        operationId: 'deleteSlotHolder',
        summary: 'Delete a slot holder, releasing every slot it holds',
        params: HolderParams,
        response: {
          200: z
            .object({ id: z.string(), released_slots: z.number().int() })
            .meta({ id: 'DeletedSlotHolder' }),
          ...notFound,
        },
      },
    },
    async (request, reply) => {
      const result = await services.usage.slots.deleteHolder(request.params.holder_id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/tenants/:id/slots',
    {
      config: { scope: 'leases:write' },
      schema: {
        tags: ['Usage'],
        operationId: 'acquireSlot',
        summary: 'Acquire a slot of a gauge',
        description:
          'Opens one unit of a gauge limit (a session, a connected device) for the tenant, counted across every app ' +
          "instance. With a hard limit it is refused (409 `limit_exhausted`) when the tenant's open slots reached the " +
          "limit, or the subject's reached the plan's cap per subject; a soft limit admits it with `overage`.",
        params: TenantParams,
        body: z.strictObject({
          meter: z.string().min(1),
          subject: Subject.optional().describe(
            'Who holds the slot (a user, a workspace); required when capped per subject',
          ),
          holder_id: z.string().min(1),
        }),
        response: { 201: Slot, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      return forTenant(reply, request.params.id, 201, (id) => services.usage.slots.acquire(id, request.body));
    },
  );

  app.delete(
    '/tenants/:id/slots/:slot_id',
    {
      config: { scope: 'leases:write' },
      schema: {
        tags: ['Usage'],
        operationId: 'releaseSlot',
        summary: 'Release a slot',
        description:
          'The level drops at once. A slot already released, or reclaimed with its lapsed holder, is 404.',
        params: TenantParams.extend({ slot_id: z.string() }),
        response: { 200: ReleasedSlot, ...notFound },
      },
    },
    async (request, reply) => {
      return forTenant(reply, request.params.id, 200, (id) =>
        services.usage.slots.release(id, request.params.slot_id),
      );
    },
  );

  /**
   * Runs `run` with the id of the tenant `ref` names (an id or a slug), and answers its result
   * with `status`, or its error as a problem.
   */
  async function forTenant<T>(
    reply: FastifyReply,
    ref: string,
    status: 200 | 201,
    run: (tenantId: string) => Promise<Result<T, DomainError>>,
  ): Promise<FastifyReply> {
    const tenant = await services.tenants.record(ref);
    if (!tenant) return tenantNotFound(reply, ref);
    const result = await run(tenant.id);
    return result.ok ? reply.code(status).send(result.value) : sendProblem(reply, result.error);
  }
};

function tenantNotFound(reply: FastifyReply, ref: string): FastifyReply {
  return sendProblem(reply, tenantNotFoundError(ref).error);
}
