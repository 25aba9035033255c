import { z } from 'zod';
import { InstantInput } from '../../instant.ts';

const EventTypes = z
  .array(z.string().min(1).max(200))
  .min(1)
  .max(100)
  .describe(
    'The event types to receive (docs/events.md): exact names, `<prefix>.*` (e.g. `tenant.*`) or `*` for every type',
  );

const Url = z
  .string()
  .min(1)
  .max(2000)
  .describe('http(s) URL; private, loopback and link-local hosts are refused');
const Description = z.string().max(500);

/** `POST /v1/tenants/{id}/webhook-endpoints`: a tenant's own endpoint. */
export const CreateTenantWebhookEndpoint = z.strictObject({
  url: Url,
  description: Description.optional(),
  event_types: EventTypes,
});

/** `POST /v1/webhook-endpoints`: the operator's, or one tenant's with `tenant_id`. */
export const CreateWebhookEndpoint = CreateTenantWebhookEndpoint.extend({
  tenant_id: z
    .string()
    .nullish()
    .describe("Receive only this tenant's events; omit for an operator endpoint"),
});

/** `PATCH /v1/webhook-endpoints/{id}` and `PATCH /v1/tenants/{id}/webhook-endpoints/{endpoint_id}`. */
export const UpdateWebhookEndpoint = z.strictObject({
  url: Url.optional(),
  description: Description.optional(),
  event_types: EventTypes.optional(),
  status: z.enum(['enabled', 'disabled']).optional(),
});

/** `POST /v1/webhook-endpoints/{id}/replay`: the deliveries written in [since, until). */
export const ReplayWebhookRange = z.strictObject({ since: InstantInput, until: InstantInput });
