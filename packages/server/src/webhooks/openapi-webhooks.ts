import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import { EVENT_TYPES } from '@tenantry/core';
import { z } from 'zod';

const HEADERS = [
  ['webhook-id', "The delivery's id (`msg_…`): the same on every retry and replay; dedupe on it"],
  ['webhook-timestamp', 'When this attempt was signed, in seconds since the epoch'],
  [
    'webhook-signature',
    'Space-separated `v1,<base64>` signatures, one per signing secret (two while one rotates)',
  ],
] as const;

/**
 * The OpenAPI 3.1 `webhooks` of the document: one per event type of the registry, with its
 * versioned payload schema, so that receivers can generate their types as they do for the API.
 */
/** The `webhooks` member of the swagger plugin's `openapi` option. */
type Webhooks = NonNullable<
  Extract<NonNullable<FastifyDynamicSwaggerOptions['openapi']>, { webhooks?: unknown }>['webhooks']
>;

export function webhookDocuments(): Webhooks {
  // The JSON Schema zod derives is a plain object: the OpenAPI types cannot follow it.
  return Object.fromEntries(
    Object.entries(EVENT_TYPES).map(([type, spec]) => [
      type,
      {
        post: {
          // e.g. `tenant.created` → `tenantCreatedWebhook`: what a generated receiver names its handler.
          operationId: `${type.replace(/[._]([a-z])/g, (_, c: string) => c.toUpperCase())}Webhook`,
          summary: spec.description,
          // Tenantry calls the receiver: the request is authenticated by its signature, not by a key.
          security: [],
          description: `Version ${spec.version} of the payload. Signed as Standard Webhooks says: see docs/webhooks.md.`,
          tags: ['Webhooks'],
          parameters: HEADERS.map(([name, description]) => ({
            name,
            in: 'header',
            required: true,
            description,
            schema: { type: 'string' },
          })),
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['id', 'type', 'version', 'timestamp', 'tenant_id', 'request_id', 'data'],
                  properties: {
                    id: { type: 'string', description: "The event's id (`evt_…`)" },
                    type: { const: type },
                    version: { const: spec.version },
                    timestamp: { type: 'string', format: 'date-time', description: 'When it happened' },
                    tenant_id: { type: ['string', 'null'], description: 'The tenant it concerns, if any' },
                    request_id: { type: ['string', 'null'], description: 'The request that made the change' },
                    data: z.toJSONSchema(spec.payload, { io: 'input', unrepresentable: 'any' }),
                  },
                },
              },
            },
          },
          responses: {
            '2XX': { description: 'Received. Any other answer, or none within the timeout, is retried' },
            '410': { description: 'Gone: the endpoint is disabled and no more webhooks are sent to it' },
          },
        },
      },
    ]),
  ) as unknown as Webhooks;
}
