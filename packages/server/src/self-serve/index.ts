/**
 * Self-serve sign-up: the vendor's settings for it and its branding, trials started by verified
 * users, a trial's setup wizard, and the sign-up funnel.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, changes/, db/, http/, mail/, plans/, tenants/, shared modules.
 */
export { brandingRoute, selfServeRoutes } from './self-serve-routes.ts';
export {
  type BrandingSettings,
  type Funnel,
  type Onboarding,
  SelfServeService,
  type SelfServeSettings,
} from './self-serve-service.ts';
