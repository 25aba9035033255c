/**
 * Signed webhooks: endpoints per tenant and for the operator, the fan-out from the event outbox,
 * delivery with retries, SSRF guards and the delivery log.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, changes/, db/, http/, jobs/, secrets/, shared modules.
 */
export { webhookDocuments } from './openapi-webhooks.ts';
export { webhookRoutes } from './webhook-routes.ts';
export { WebhookService, type WebhookSettings } from './webhook-service.ts';
