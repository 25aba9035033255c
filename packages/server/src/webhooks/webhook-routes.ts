import {
  CreateTenantWebhookEndpoint,
  CreateWebhookEndpoint,
  ReplayWebhookRange,
  UpdateWebhookEndpoint,
} from '@tenantry/core/api/requests';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { notFound, PageQuery, pageOf, sendProblem, Timestamp } from '../http/index.ts';
import type { Services } from '../services.ts';
import { DEFAULT_ROTATION_OVERLAP_SECONDS, MAX_ROTATION_OVERLAP_SECONDS } from './webhook-service.ts';

const TAGS = ['Webhooks'];

const WebhookEndpoint = z
  .object({
    id: z.string().describe('`whe_…`'),
    tenant_id: z
      .string()
      .nullable()
      .describe(
        'The tenant whose events it receives; null for an operator endpoint, which receives every event',
      ),
    url: z.string(),
    description: z.string(),
    event_types: z.array(z.string()),
    status: z.enum(['enabled', 'disabled']),
    disabled_reason: z
      .string()
      .nullable()
      .describe('Why it is disabled: by request, a 410 answer, or failing for days'),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'WebhookEndpoint' });

const SecretMember = z
  .string()
  .describe('The signing secret (`whsec_…`), shown once. Verify webhooks with it; see docs/webhooks.md');

const WebhookAttempt = z.object({
  at: Timestamp,
  status: z.number().int().nullable().describe("The receiver's HTTP status, or null if it did not answer"),
  latency_ms: z.number().int(),
  error: z.string().nullable(),
});

const WebhookDelivery = z
  .object({
    id: z.string().describe('`msg_…`, sent as `webhook-id`: the same on every attempt and replay'),
    endpoint_id: z.string(),
    event_id: z.string(),
    event_type: z.string(),
    state: z.enum(['pending', 'succeeded', 'failed']),
    attempt_count: z.number().int(),
    next_attempt_at: Timestamp.nullable().describe('When the next attempt is due, while pending'),
    last_status: z.number().int().nullable(),
    last_latency_ms: z.number().int().nullable(),
    last_error: z.string().nullable(),
    attempts: z.array(WebhookAttempt).describe('Every attempt, oldest first'),
    created_at: Timestamp,
    delivered_at: Timestamp.nullable(),
  })
  .meta({ id: 'WebhookDelivery' });

const IdParams = z.object({ id: z.string() });

/** `/v1/webhook-endpoints` and `/v1/webhook-deliveries`: signed webhooks (docs/webhooks.md). */
export const webhookRoutes: FastifyPluginAsyncZod<Pick<Services, 'webhooks'>> = async (app, { webhooks }) => {
  app.post(
    '/webhook-endpoints',
    {
      config: { scope: 'webhooks:write', idempotencyRedact: ['secret'] },
      schema: {
        tags: TAGS,
        operationId: 'createWebhookEndpoint',
        summary: 'Create a webhook endpoint',
        description:
          'Events of the subscribed types are POSTed to `url`, signed as Standard Webhooks says. The answer carries the secret, once.',
        body: CreateWebhookEndpoint,
        response: { 201: WebhookEndpoint.extend({ secret: SecretMember }), ...notFound },
      },
    },
    async (request, reply) => {
      const result = await webhooks.create(request.ctx, request.body);
      return result.ok ? reply.code(201).send(result.value) : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/webhook-endpoints',
    {
      config: { scope: 'webhooks:read' },
      schema: {
        tags: TAGS,
        operationId: 'listWebhookEndpoints',
        summary: 'List webhook endpoints',
        querystring: PageQuery.extend({
          tenant_id: z.string().optional().describe("Only this tenant's endpoints"),
        }),
        response: { 200: pageOf(WebhookEndpoint) },
      },
    },
    async (request) =>
      webhooks.list({
        limit: request.query.limit,
        cursor: request.query.cursor,
        tenantId: request.query.tenant_id,
      }),
  );

  app.get(
    '/webhook-endpoints/:id',
    {
      config: { scope: 'webhooks:read' },
      schema: {
        tags: TAGS,
        operationId: 'getWebhookEndpoint',
        summary: 'Get a webhook endpoint',
        params: IdParams,
        response: { 200: WebhookEndpoint, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await webhooks.get(request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.patch(
    '/webhook-endpoints/:id',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        tags: TAGS,
        operationId: 'updateWebhookEndpoint',
        summary: 'Update a webhook endpoint',
        description: 'Setting `status: "enabled"` on a disabled endpoint resumes its pending deliveries.',
        params: IdParams,
        body: UpdateWebhookEndpoint,
        response: { 200: WebhookEndpoint, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await webhooks.update(request.ctx, request.params.id, request.body);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.delete(
    '/webhook-endpoints/:id',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        tags: TAGS,
        operationId: 'deleteWebhookEndpoint',
        summary: 'Delete a webhook endpoint and its delivery log',
        params: IdParams,
        response: { 200: WebhookEndpoint, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await webhooks.delete(request.ctx, request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/webhook-endpoints/:id/rotate-secret',
    {
      config: { scope: 'webhooks:write', idempotencyRedact: ['secret'] },
      schema: {
        tags: TAGS,
        operationId: 'rotateWebhookEndpointSecret',
        summary: "Rotate a webhook endpoint's signing secret",
        description:
          'The answer carries the new secret, once. The old one keeps signing beside it for `overlap_seconds` ' +
          '(default a day): each webhook carries both signatures meanwhile.',
        params: IdParams,
        body: z
          .strictObject({
            overlap_seconds: z
              .number()
              .int()
              .min(0)
              .max(MAX_ROTATION_OVERLAP_SECONDS)
              .default(DEFAULT_ROTATION_OVERLAP_SECONDS)
              .describe('How long the old secret keeps signing; 0 drops it at once'),
          })
          .nullish(),
        response: {
          201: WebhookEndpoint.extend({ secret: SecretMember, previous_secret_expires_at: Timestamp }),
          ...notFound,
        },
      },
    },
    async (request, reply) => {
      const overlap = request.body?.overlap_seconds ?? DEFAULT_ROTATION_OVERLAP_SECONDS;
      const result = await webhooks.rotateSecret(request.ctx, request.params.id, overlap);
      return result.ok ? reply.code(201).send(result.value) : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/webhook-endpoints/:id/deliveries',
    {
      config: { scope: 'webhooks:read' },
      schema: {
        tags: TAGS,
        operationId: 'listWebhookDeliveries',
        summary: "A webhook endpoint's delivery log, newest first",
        params: IdParams,
        querystring: PageQuery,
        response: { 200: pageOf(WebhookDelivery), ...notFound },
      },
    },
    async (request, reply) => {
      const result = await webhooks.deliveries(request.params.id, request.query);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/webhook-deliveries/:id/replay',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        tags: TAGS,
        operationId: 'replayWebhookDelivery',
        summary: 'Send a delivery again',
        description:
          'A new series of attempts, with the same `webhook-id`. A pending delivery cannot be replayed.',
        params: IdParams,
        response: { 200: WebhookDelivery, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await webhooks.replay(request.ctx, request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/webhook-endpoints/:id/replay',
    {
      config: { scope: 'webhooks:write' },
      schema: {
        tags: TAGS,
        operationId: 'replayWebhookDeliveries',
        summary: "Send again an endpoint's deliveries of a time range",
        description: 'Every delivery written in [`since`, `until`) that is not pending is sent again.',
        params: IdParams,
        body: ReplayWebhookRange,
        response: { 200: z.object({ replayed: z.number().int() }), ...notFound },
      },
    },
    async (request, reply) => {
      const { since, until } = request.body;
      const result = await webhooks.replayRange(
        request.ctx,
        request.params.id,
        new Date(since),
        new Date(until),
      );
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  // A tenant's own endpoints, under its path: what its members reach with their token (tenant-admin
  // permission webhooks:write), as a vendor's key does. Each receives that tenant's events only;
  // an endpoint of another tenant, or an operator endpoint, is not found here.
  const TenantParams = z.object({ id: z.string().describe('Tenant id (`ten_…`) or slug') });
  const TenantEndpointParams = TenantParams.extend({ endpoint_id: z.string().describe('`whe_…`') });
  const TENANT_TAGS = ['Webhooks'];

  app.get(
    '/tenants/:id/webhook-endpoints',
    {
      // Listing needs the permission that changes them: an endpoint's URL may carry its receiver's token.
      config: { scope: 'webhooks:read', permission: 'webhooks:write' },
      schema: {
        tags: TENANT_TAGS,
        operationId: 'listTenantWebhookEndpoints',
        summary: "List a tenant's own webhook endpoints",
        params: TenantParams,
        querystring: PageQuery,
        response: { 200: pageOf(WebhookEndpoint), ...notFound },
      },
    },
    async (request, reply) => {
      const result = await webhooks.listOfTenant(request.params.id, request.query);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/tenants/:id/webhook-endpoints',
    {
      config: { scope: 'webhooks:write', permission: 'webhooks:write', idempotencyRedact: ['secret'] },
      schema: {
        tags: TENANT_TAGS,
        operationId: 'createTenantWebhookEndpoint',
        summary: "Create a webhook endpoint for a tenant's own events",
        description:
          "The tenant's events of the subscribed types are POSTed to `url`, signed as Standard Webhooks says. The answer carries the secret, once.",
        params: TenantParams,
        body: CreateTenantWebhookEndpoint,
        response: { 201: WebhookEndpoint.extend({ secret: SecretMember }), ...notFound },
      },
    },
    async (request, reply) => {
      const result = await webhooks.createForTenant(request.ctx, request.params.id, request.body);
      return result.ok ? reply.code(201).send(result.value) : sendProblem(reply, result.error);
    },
  );

  app.patch(
    '/tenants/:id/webhook-endpoints/:endpoint_id',
    {
      config: { scope: 'webhooks:write', permission: 'webhooks:write' },
      schema: {
        tags: TENANT_TAGS,
        operationId: 'updateTenantWebhookEndpoint',
        summary: "Update a tenant's own webhook endpoint",
        description: 'Setting `status: "enabled"` on a disabled endpoint resumes its pending deliveries.',
        params: TenantEndpointParams,
        body: UpdateWebhookEndpoint,
        response: { 200: WebhookEndpoint, ...notFound },
      },
    },
    async (request, reply) => {
      const own = await webhooks.ofTenant(request.params.id, request.params.endpoint_id);
      if (!own.ok) return sendProblem(reply, own.error);
      const result = await webhooks.update(request.ctx, own.value.id, request.body);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.delete(
    '/tenants/:id/webhook-endpoints/:endpoint_id',
    {
      config: { scope: 'webhooks:write', permission: 'webhooks:write' },
      schema: {
        tags: TENANT_TAGS,
        operationId: 'deleteTenantWebhookEndpoint',
        summary: "Delete a tenant's own webhook endpoint and its delivery log",
        params: TenantEndpointParams,
        response: { 200: WebhookEndpoint, ...notFound },
      },
    },
    async (request, reply) => {
      const own = await webhooks.ofTenant(request.params.id, request.params.endpoint_id);
      if (!own.ok) return sendProblem(reply, own.error);
      const result = await webhooks.delete(request.ctx, own.value.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/tenants/:id/webhook-endpoints/:endpoint_id/rotate-secret',
    {
      config: { scope: 'webhooks:write', permission: 'webhooks:write', idempotencyRedact: ['secret'] },
      schema: {
        tags: TENANT_TAGS,
        operationId: 'rotateTenantWebhookEndpointSecret',
        summary: "Rotate a tenant's own webhook endpoint's signing secret",
        description:
          'The answer carries the new secret, once. The old one keeps signing beside it for `overlap_seconds` (default a day).',
        params: TenantEndpointParams,
        body: z
          .strictObject({
            overlap_seconds: z
              .number()
              .int()
              .min(0)
              .max(MAX_ROTATION_OVERLAP_SECONDS)
              .default(DEFAULT_ROTATION_OVERLAP_SECONDS)
              .describe('How long the old secret keeps signing; 0 drops it at once'),
          })
          .nullish(),
        response: {
          201: WebhookEndpoint.extend({ secret: SecretMember, previous_secret_expires_at: Timestamp }),
          ...notFound,
        },
      },
    },
    async (request, reply) => {
      const own = await webhooks.ofTenant(request.params.id, request.params.endpoint_id);
      if (!own.ok) return sendProblem(reply, own.error);
      const overlap = request.body?.overlap_seconds ?? DEFAULT_ROTATION_OVERLAP_SECONDS;
      const result = await webhooks.rotateSecret(request.ctx, own.value.id, overlap);
      return result.ok ? reply.code(201).send(result.value) : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/tenants/:id/webhook-endpoints/:endpoint_id/deliveries',
    {
      config: { scope: 'webhooks:read', permission: 'webhooks:write' },
      schema: {
        tags: TENANT_TAGS,
        operationId: 'listTenantWebhookDeliveries',
        summary: "A tenant's own webhook endpoint's delivery log, newest first",
        params: TenantEndpointParams,
        querystring: PageQuery,
        response: { 200: pageOf(WebhookDelivery), ...notFound },
      },
    },
    async (request, reply) => {
      const own = await webhooks.ofTenant(request.params.id, request.params.endpoint_id);
      if (!own.ok) return sendProblem(reply, own.error);
      const result = await webhooks.deliveries(own.value.id, request.query);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};
