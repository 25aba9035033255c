import { z } from 'zod';
import { PERMISSION_PATTERN, PERMISSION_RULE } from '../../access/index.ts';
import { InstantInput } from '../../instant.ts';
import { MAX_KEY_PERMISSIONS } from '../../tenant-keys/index.ts';

/** How long a rolled key keeps working beside its successor when the caller does not say. */
export const DEFAULT_TENANT_KEY_OVERLAP_SECONDS = 24 * 3600;

/** The longest overlap a rolled key may keep working for beside its successor. */
export const MAX_TENANT_KEY_OVERLAP_SECONDS = 30 * 24 * 3600;

const Permission = z
  .string()
  .regex(PERMISSION_PATTERN, PERMISSION_RULE)
  .describe(
    "One of the vendor's permissions, `resource:action`, declared in its access file (`GET /v1/access`)",
  );

/** `POST /v1/tenants/{id}/api-keys`. */
export const CreateTenantApiKey = z.strictObject({
  name: z.string().trim().min(1).max(200),
  permissions: z.array(Permission).min(1).max(MAX_KEY_PERMISSIONS),
  expires_at: InstantInput.optional().describe('When the key stops working; default never'),
});

/** `POST /v1/tenants/{id}/api-keys/{key_id}/roll`: no body at all takes the default overlap. */
export const RollTenantApiKey = z
  .strictObject({
    overlap_seconds: z
      .int()
      .min(0)
      .max(MAX_TENANT_KEY_OVERLAP_SECONDS)
      .default(DEFAULT_TENANT_KEY_OVERLAP_SECONDS)
      .describe('How long the old key keeps working; 0 refuses it at once'),
  })
  .nullish();
