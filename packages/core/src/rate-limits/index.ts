/**
 * Rate limits: the plan-file part (a token bucket per named limit: requests per window, burst),
 * the pure token-bucket arithmetic that the control plane and the SDK both count with, and the
 * IETF RateLimit response headers.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: shared modules.
 */
export {
  copyRateLimits,
  MAX_RATE_REQUESTS,
  MAX_RATE_WINDOW_SECONDS,
  overrideRateLimit,
  type RateLimitDefinition,
  type RateLimitOverride,
  RateLimitOverrideSchema,
  RateLimitSchema,
  resolveRateLimit,
  windowSeconds,
} from './rate-limit-definition.ts';
export { type RateLimitReport, rateLimitHeaders, retryAfterSeconds } from './rate-limit-headers.ts';
export {
  type BucketDecision,
  type BucketSize,
  type BucketState,
  bucketSize,
  takeTokens,
  tokensAt,
} from './token-bucket.ts';
