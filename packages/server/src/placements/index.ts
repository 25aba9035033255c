/**
 * Placement drivers: one per placement (pool, schema, database, byoi, byoi_agent), each making,
 * checking and removing a tenant's resources on its data plane, behind one interface.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, @tenantry/sdk, agents/, db/, data-planes/, shared modules.
 */
export { type AgentJobs, ByoiAgentDriver } from './byoi-agent-driver.ts';
export {
  type PlacedTenant,
  type PlacementCheck,
  type PlacementDriver,
  type PlacementDrivers,
  PlacementNotSupportedError,
  type ProvisionStep,
  type StepOutcome,
  type TableBatch,
  type TableDigest,
} from './placement-driver.ts';
