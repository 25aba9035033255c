import { z } from 'zod';
import { MAX_LOGO_BYTES } from '../../branding/index.ts';
import { VENDOR_PLACEMENTS } from '../../placements/index.ts';
import { MAX_TRIAL_DAYS } from '../../plans/index.ts';

const AppUrl = z
  .url({ protocol: /^https?$/ })
  .max(2000)
  .describe("The vendor's app, opened once the wizard is done; http(s) only");

/** `PUT /v1/settings/self-serve`, and what `GET` answers. */
export const SelfServeSettings = z
  .strictObject({
    enabled: z.boolean().describe('Whether anyone may start a trial on the sign-up page (`/signup`)'),
    plans: z
      .array(z.string().min(1).max(100))
      .max(20)
      .describe('Plan keys a trial may be on; the first is the default. Each must exist'),
    placements: z
      .array(z.enum(VENDOR_PLACEMENTS))
      .min(1)
      .max(3)
      .describe("Where a trial's data may live; the first is the default. The vendor's placements only"),
    regions: z
      .array(z.string().min(1).max(100))
      .max(50)
      .describe('Regions a trial may choose from; none: trials have no region'),
    app_url: AppUrl.nullable().describe('Where the wizard ends; null: the portal'),
    trial_days: z
      .number()
      .int()
      .min(1)
      .max(MAX_TRIAL_DAYS)
      .describe("How long a trial lasts, whatever the plan's own trial"),
  })
  .meta({ id: 'SelfServeSettings' });

/** `PUT /v1/settings/branding`, and what `GET` answers. */
export const BrandingSettings = z
  .strictObject({
    product_name: z.string().trim().min(1).max(100).describe('Shown on the portal and the hosted pages'),
    color: z
      .string()
      .max(7)
      .describe('`#rrggbb`; white text on it must reach WCAG AA contrast (4.5:1), or it is refused'),
    logo: z
      .string()
      .max(Math.ceil(MAX_LOGO_BYTES / 3) * 4 + 100)
      .nullable()
      .describe(
        'A `data:` URL of a base64 PNG, JPEG, GIF or WebP of at most 64 KiB; SVG is refused (it can carry script). Null: no logo',
      ),
  })
  .meta({ id: 'BrandingSettings' });

/** `POST /v1/tenants/{id}/onboarding/complete`: the last step of the sign-up wizard. */
export const CompleteOnboarding = z.strictObject({ name: z.string().trim().min(1).max(200).optional() });
