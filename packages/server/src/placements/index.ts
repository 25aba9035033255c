/**
 * Placement drivers: one per placement (pool, schema, database, byoi, byoi_agent), each making,
 * checking and removing a tenant's resources on its data plane, behind one interface.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, @tenantry/sdk, db/, data-planes/, shared modules.
 */
export { ByoiDriver } from './byoi-driver.ts';
export type {
  PlacedTenant,
  PlacementCheck,
  PlacementDriver,
  PlacementDrivers,
  ProvisionStep,
  StepOutcome,
  TableBatch,
  TableDigest,
} from './placement-driver.ts';
