/**
 * Placements: where a tenant's data lives, and the resources each placement makes, as one union.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: shared modules.
 */
export {
  type ByoiAgentResources,
  type ByoiResources,
  CUSTOMER_PLACEMENTS,
  type CustomerPlacement,
  type DatabaseResources,
  isPlacement,
  isVendorPlacement,
  PLACEMENTS,
  type Placement,
  type PlacementResources,
  type PoolResources,
  plannedResources,
  type ResourcesOf,
  type SchemaResources,
  tenantRoleName,
  VENDOR_PLACEMENTS,
  type VendorPlacement,
} from './placements.ts';
