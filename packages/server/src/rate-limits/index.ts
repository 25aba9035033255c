/**
 * Rate limits on the control plane's own API (a token bucket per API key and per tenant, sized
 * by the tenant's plan), and the shares of a tenant's rate limits that app instances lease to
 * count their own requests against through the SDK.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, db/, http/, shared modules, tenants/.
 */
export { limitRequests } from './limit-requests.ts';
export { type RateLimitSettings, rateLimitSettings } from './rate-limit-settings.ts';
export { rateLimitShareRoutes } from './rate-limit-share-routes.ts';
export { RateLimitShareService, type RateLimitShareView } from './rate-limit-shares.ts';
export {
  type LimitVerdict,
  RequestLimiter,
  type TenantRateLimit,
  type TenantRateLimitLookup,
} from './request-limiter.ts';
export { tenantRateLimits } from './tenant-rate-limits.ts';
