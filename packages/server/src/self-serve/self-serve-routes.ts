import { BrandingSettings, CompleteOnboarding, SelfServeSettings } from '@tenantry/core/api/requests';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { conflict, notFound, sendProblem, Timestamp } from '../http/index.ts';
import type { SelfServeService } from './self-serve-service.ts';

const Onboarding = z
  .object({
    tenant_id: z.string(),
    name: z.string(),
    state: z.string().describe("The tenant's state: `provisioning` until its data is ready"),
    plan: z.string(),
    region: z.string().nullable(),
    placement: z.string(),
    started_at: Timestamp,
    wizard_completed_at: Timestamp.nullable(),
    app_url: z.string().describe('Where the wizard sends the owner when done'),
  })
  .meta({ id: 'Onboarding' });

const Funnel = z
  .object({
    from: Timestamp,
    to: Timestamp,
    signups: z
      .number()
      .int()
      .describe('Users who signed up in the window (an invited user counts once they set a password)'),
    verified: z.number().int().describe('Of them, those who verified their email address'),
    tenants_created: z.number().int().describe('Self-serve trials started in the window'),
    wizard_completed: z.number().int().describe('Of them, those whose setup wizard was completed'),
    first_value: z
      .number()
      .int()
      .describe('Of them, those whose tenant recorded a usage event (first value)'),
    median_seconds_to_first_value: z
      .number()
      .nullable()
      .describe(
        "Median seconds from a trial's start to its tenant's first usage event; null while none has one",
      ),
  })
  .meta({ id: 'SignupFunnel' });

/** How long browsers may keep the branding: a change shows within a minute. */
const BRANDING_MAX_AGE_SECONDS = 60;

/**
 * `GET /branding.json`: the vendor's branding for anyone, as the hosted sign-in pages show it to
 * anyone; the portal reads it to brand itself. Outside `/v1`: it needs no credential.
 */
export const brandingRoute: FastifyPluginAsyncZod<{ selfServe: SelfServeService }> = async (
  app,
  { selfServe },
) => {
  app.get(
    '/branding.json',
    {
      schema: {
        tags: ['Self-serve'],
        operationId: 'getPublicBranding',
        summary: "The vendor's branding (product name, colour, logo), public",
        description: 'What the hosted pages and the portal show. No authentication.',
        security: [],
        response: { 200: BrandingSettings },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', `public, max-age=${BRANDING_MAX_AGE_SECONDS}`);
      return selfServe.branding();
    },
  );
};

const TenantParams = z.object({ id: z.string().min(1).max(255).describe('Tenant id or slug') });

/** The vendor's self-serve and branding settings, the sign-up funnel, and a trial's setup wizard. */
export const selfServeRoutes: FastifyPluginAsyncZod<{ selfServe: SelfServeService }> = async (
  app,
  { selfServe },
) => {
  app.get(
    '/settings/self-serve',
    {
      config: { scope: 'settings:read' },
      schema: {
        tags: ['Self-serve'],
        operationId: 'getSelfServeSettings',
        summary: 'Self-serve sign-up settings',
        querystring: z.strictObject({}),
        response: { 200: SelfServeSettings },
      },
    },
    async () => selfServe.selfServe(),
  );

  app.put(
    '/settings/self-serve',
    {
      config: { scope: 'settings:write' },
      schema: {
        tags: ['Self-serve'],
        operationId: 'updateSelfServeSettings',
        summary: 'Change self-serve sign-up: on or off, plans, placements, regions, app URL',
        body: SelfServeSettings,
        response: { 200: SelfServeSettings },
      },
    },
    async (request, reply) => {
      const result = await selfServe.updateSelfServe(request.ctx, request.body);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/settings/branding',
    {
      config: { scope: 'settings:read' },
      schema: {
        tags: ['Self-serve'],
        operationId: 'getBrandingSettings',
        summary: "The vendor's branding: product name, colour and logo",
        querystring: z.strictObject({}),
        response: { 200: BrandingSettings },
      },
    },
    async () => selfServe.branding(),
  );

  app.put(
    '/settings/branding',
    {
      config: { scope: 'settings:write' },
      // A logo of 64 KiB is about 87 KiB of base64.
      bodyLimit: 128 * 1024,
      schema: {
        tags: ['Self-serve'],
        operationId: 'updateBrandingSettings',
        summary: "Change the vendor's branding",
        description:
          'A colour white text cannot be read on (under WCAG AA, 4.5:1) is refused with `validation_failed` naming `color` and the ratio it has.',
        body: BrandingSettings,
        response: { 200: BrandingSettings },
      },
    },
    async (request, reply) => {
      const result = await selfServe.updateBranding(request.ctx, request.body);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/self-serve/funnel',
    {
      config: { scope: 'settings:read' },
      schema: {
        tags: ['Self-serve'],
        operationId: 'getSignupFunnel',
        summary: "The week's sign-up funnel and median time to first value",
        querystring: z.strictObject({}),
        response: { 200: Funnel },
      },
    },
    async () => selfServe.funnel(),
  );

  app.get(
    '/tenants/:id/onboarding',
    {
      // The wizard runs while the trial is still being provisioned.
      config: { scope: 'tenants:read', permission: 'settings:write', duringProvisioning: true },
      schema: {
        tags: ['Self-serve'],
        operationId: 'getOnboarding',
        summary: "A self-serve trial's setup: its state and where the wizard ends",
        params: TenantParams,
        response: { 200: Onboarding, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await selfServe.onboarding(request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/tenants/:id/onboarding/complete',
    {
      config: { scope: 'tenants:write', permission: 'settings:write', duringProvisioning: true },
      schema: {
        tags: ['Self-serve'],
        operationId: 'completeOnboarding',
        summary: "Complete a self-serve trial's setup wizard, naming the organisation",
        params: TenantParams,
        body: CompleteOnboarding,
        response: { 200: Onboarding, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await selfServe.completeWizard(request.ctx, request.params.id, request.body);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};
