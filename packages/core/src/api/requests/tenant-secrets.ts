import { z } from 'zod';

/** The most a secret's value may hold, in bytes of UTF-8: room for a PEM key or a service-account JSON. */
export const MAX_SECRET_VALUE_BYTES = 16 * 1024;

/** `PUT /v1/tenants/{id}/secrets/{name}`; the byte limit is the server's to count (UTF-8, not characters). */
export const SetTenantSecret = z.strictObject({
  value: z
    .string()
    .describe(`The secret, at most ${MAX_SECRET_VALUE_BYTES} bytes of UTF-8 (base64 for binary)`),
});
