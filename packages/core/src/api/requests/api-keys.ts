import { z } from 'zod';
import { ALL_SCOPES, KEY_PRESETS, type KeyPreset, type Scope } from '../../api-keys/index.ts';

/** How long a rolled key keeps working beside its successor when the caller does not say. */
export const DEFAULT_ROLL_OVERLAP_SECONDS = 24 * 3600;

/** The longest overlap a rolled key may keep working for beside its successor. */
export const MAX_ROLL_OVERLAP_SECONDS = 7 * 24 * 3600;

/** An API key scope by name; also the answers' `scopes`. */
export const ScopeName = z.enum(ALL_SCOPES as [Scope, ...Scope[]]);
const PRESETS = ['operator', ...(Object.keys(KEY_PRESETS) as KeyPreset[])] as const;

/** `POST /v1/api-keys`. */
export const CreateApiKey = z
  .strictObject({
    name: z.string().trim().min(1).max(200),
    preset: z
      .enum(PRESETS)
      .optional()
      .describe(
        '`operator` (the default without `scopes`): every scope. `app`: what @tenantry/sdk needs, for app instances',
      ),
    scopes: z
      .array(ScopeName)
      .min(1)
      .max(ALL_SCOPES.length)
      .optional()
      .describe("A restricted key's scopes; added to the preset's when both are given"),
  })
  .refine((body) => !(body.preset === 'operator' && body.scopes), {
    message: 'an operator key holds every scope: give `scopes` or `preset: "operator"`, not both',
    path: ['scopes'],
  });

/** `POST /v1/api-keys/{id}/roll`: no body at all takes the default overlap. */
export const RollApiKey = z
  .strictObject({
    overlap_seconds: z
      .number()
      .int()
      .min(0)
      .max(MAX_ROLL_OVERLAP_SECONDS)
      .default(DEFAULT_ROLL_OVERLAP_SECONDS)
      .describe('How long the old secret keeps working; 0 refuses it at once'),
  })
  .nullish();
