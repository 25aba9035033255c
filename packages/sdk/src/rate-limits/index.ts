/**
 * Rate limits of the tenants' plans in the app: a local token bucket per tenant (and per key),
 * sized by this instance's leased share of the limit, and the helpers that answer with the
 * RateLimit headers.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, control-plane/.
 */
export { ControlPlaneShares } from './control-plane-shares.ts';
export { type HeaderTarget, rateLimitProblem, setRateLimitHeaders } from './rate-limit-headers.ts';
export {
  RateLimiter,
  type RateLimitOptions,
  type RateLimitResult,
  type RateLimitShares,
  type ShareLease,
} from './rate-limiter.ts';
