import { z } from 'zod';
import { InstantInput } from '../../instant.ts';
import { KEY_PATTERN } from '../../plans/index.ts';

/** `POST /v1/tenants/{id}/licenses`: a license from the tenant's plan. */
export const IssueLicense = z.strictObject({
  expires_at: InstantInput.optional().describe('When it expires; give this or `days`'),
  days: z.int().min(1).max(36_500).optional().describe('Days from now until it expires'),
  edition: z.string().regex(KEY_PATTERN).optional().describe("Defaults to the plan's key"),
  grace_days: z.int().min(0).max(3650).optional().describe('Days it keeps running after expiry; default 14'),
  offline_days: z
    .int()
    .min(0)
    .max(36_500)
    .nullable()
    .optional()
    .describe('Days without a check-in; 0: must check in; null (default): never needs to'),
  phone_home: z
    .boolean()
    .optional()
    .describe('Whether the install must report when it checks in; default false'),
  install: z
    .string()
    .min(1)
    .max(200)
    .nullable()
    .optional()
    .describe('Bind it to this install id; default any'),
  seats: z
    .int()
    .min(0)
    .max(2_147_483_647)
    .nullable()
    .optional()
    .describe("Seats the install may have; defaults to the tenant's `seats` limit (null: unlimited)"),
});
