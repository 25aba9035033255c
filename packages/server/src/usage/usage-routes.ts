import { MAX_USAGE_BATCH } from '@tenantry/core';
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { parseJsonBodies } from '../http/json-body.ts';
import { sendProblem } from '../http/problem.ts';
import { problems, Timestamp } from '../http/schemas.ts';
import type { Services } from '../services.ts';
import { tenantNotFound as tenantNotFoundError } from '../tenants/tenant-service.ts';

const CLOUDEVENT = 'application/cloudevents+json';
const CLOUDEVENTS_BATCH = 'application/cloudevents-batch+json';

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
    from: Timestamp,
    to: Timestamp,
    window: z.enum(['hour', 'day', 'month']),
    series: z.array(
      z.object({ start: Timestamp, end: Timestamp, value: z.number(), subject: z.string().optional() }),
    ),
    total: z.number(),
    subjects: z.array(z.object({ subject: z.string(), value: z.number() })).optional(),
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

const TenantParams = z.object({ id: z.string().describe('Tenant id or slug') });
const LeaseParams = TenantParams.extend({ lease_id: z.string() });
const Units = z.number().finite().min(0).max(1e12);
const Ttl = z
  .number()
  .int()
  .min(1)
  .max(3600)
  .default(60)
  .describe('Seconds until the lease expires unless renewed');

/** `/v1/events` (ingestion) and `/v1/tenants/{id}/usage|leases|events`: metering. */
export const usageRoutes: FastifyPluginAsyncZod<{ services: Services }> = async (app, { services }) => {
  parseJsonBodies(app, [CLOUDEVENT, CLOUDEVENTS_BATCH]);

  app.post(
    '/events',
    {
      bodyLimit: 32 * 1024 * 1024,
      schema: {
        tags: ['Usage'],
        summary: 'Ingest usage events',
        description:
          `One event or a JSON array of up to ${MAX_USAGE_BATCH}: \`{id, tenant, meter, value, time, subject?, properties?}\`. ` +
          `CloudEvents are accepted as \`${CLOUDEVENT}\` or \`${CLOUDEVENTS_BATCH}\` (\`source\` is the tenant, \`type\` the meter, ` +
          '`data.value` the value). `(tenant, id)` is counted once, however often it is sent. The answer comes once the batch is ' +
          'durable; valid events of a partly bad batch are kept and each bad one is listed by its index.',
        // The size of a batch is checked by the handler, which can say what is wrong: a union
        // that fails both ways only says "Invalid input".
        body: z.union([z.array(z.unknown()), z.record(z.string(), z.unknown())]),
        response: { 200: IngestResult, ...problems },
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
      schema: {
        tags: ['Usage'],
        summary: 'Void a usage event',
        description: 'The event is kept, marked void, and stops counting. Nothing is ever deleted.',
        params: TenantParams.extend({ event_id: z.string() }),
        body: z.strictObject({ reason: z.string().trim().min(1).max(1000) }),
        response: { 200: UsageEvent, ...problems },
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
      schema: {
        tags: ['Usage'],
        summary: "A tenant's usage of a meter",
        description:
          'Read from hourly rollups. `from` and `to` are whole hours; the default range is the current billing period.',
        params: TenantParams,
        querystring: z.strictObject({
          meter: z.string().min(1),
          from: z.iso.datetime({ offset: true }).optional(),
          to: z.iso.datetime({ offset: true }).optional(),
          window: z.enum(['hour', 'day', 'month']).default('day'),
          group_by: z.enum(['subject']).optional(),
        }),
        response: { 200: UsageReport, ...problems },
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
      schema: {
        tags: ['Usage'],
        summary: 'Lease units of a limit',
        description:
          'An app instance takes a block of units to spend locally; with a hard limit the grant never lets usage plus ' +
          'the units on open leases pass the limit (it may grant fewer than asked, down to 0).',
        params: TenantParams,
        body: z.strictObject({
          meter: z.string().min(1),
          units: Units,
          instance_id: z.string().min(1).max(200),
          ttl_seconds: Ttl,
        }),
        response: { 201: Lease, ...problems },
      },
    },
    async (request, reply) => {
      const tenant = await services.tenants.record(request.params.id);
      if (!tenant) return tenantNotFound(reply, request.params.id);
      const result = await services.usage.leases.grant(tenant.id, request.body);
      return result.ok ? reply.code(201).send(result.value) : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/tenants/:id/leases/:lease_id/renew',
    {
      schema: {
        tags: ['Usage'],
        summary: 'Report consumption, extend a lease, and optionally take more units',
        params: LeaseParams,
        body: z.strictObject({
          consumed: Units.describe('Units consumed so far, in total'),
          units: Units.default(0),
          ttl_seconds: Ttl,
        }),
        response: { 200: Lease, ...problems },
      },
    },
    async (request, reply) => {
      const tenant = await services.tenants.record(request.params.id);
      if (!tenant) return tenantNotFound(reply, request.params.id);
      const result = await services.usage.leases.renew(tenant.id, request.params.lease_id, request.body);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/tenants/:id/leases/:lease_id/release',
    {
      schema: {
        tags: ['Usage'],
        summary: 'Release a lease, returning the units it did not consume',
        params: LeaseParams,
        body: z.strictObject({ consumed: Units.describe('Units consumed, in total') }),
        response: { 200: Lease, ...problems },
      },
    },
    async (request, reply) => {
      const tenant = await services.tenants.record(request.params.id);
      if (!tenant) return tenantNotFound(reply, request.params.id);
      const result = await services.usage.leases.release(tenant.id, request.params.lease_id, request.body);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};

function tenantNotFound(reply: FastifyReply, ref: string): FastifyReply {
  return sendProblem(reply, tenantNotFoundError(ref).error);
}
