/**
 * Entitlements kept in memory from the control plane's stream, with quota leases and concurrency slots.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, control-plane/.
 */
export { EntitlementsStaleError, TenantNotLoadedError } from './entitlement-errors.ts';
export {
  Entitlements,
  type EntitlementsEvents,
  type EntitlementsOptions,
  type EntitlementsStatus,
  type SnapshotChange,
  type VersionedSnapshot,
} from './entitlements.ts';
export type { ConsumeRefusal, ConsumeResult, LeaseOptions } from './quota-leases.ts';
export type { AcquireRefusal, AcquireResult, Slot, SlotOptions } from './slots.ts';
