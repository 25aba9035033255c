/**
 * Entitlement snapshots and their evaluation: what a tenant may use, checked locally by the SDK and the server alike.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: billing/, plans/, shared modules, tenants/.
 */
export {
  type EntitlementSnapshot,
  type LimitEntitlement,
  MAX_STREAM_TENANTS,
} from './entitlement-snapshot.ts';
export { type EntitlementInput, evaluateEntitlements } from './evaluate-entitlements.ts';
export {
  configValue,
  hasFeature,
  limitOf,
  permitted,
  subjectRevoked,
  type TokenHolder,
} from './local-checks.ts';
export { admitSlot, type LimitScope, limitExhausted, meterUseRefusal, type OpenSlots } from './meter-use.ts';
