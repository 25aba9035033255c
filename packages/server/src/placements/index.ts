/**
 * Placement drivers: one per placement (pool, schema, database, byoi, byoi_agent), each making,
 * checking and removing a tenant's resources on its data plane, behind one interface.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, @tenantry/sdk, agents/, db/, data-planes/, shared modules.
 */

export { AppMigrations } from './app-migrations.ts';
export { grantAppRoleToTenants } from './app-role-grants.ts';
export { type AgentJobs, ByoiAgentDriver } from './byoi-agent-driver.ts';
export { ByoiDriver } from './byoi-driver.ts';
export { DatabaseDriver } from './database-driver.ts';
export {
  type PlacedTenant,
  type PlacementCheck,
  type PlacementDriver,
  PlacementDrivers,
  PlacementNotSupportedError,
  type ProvisionStep,
  type StepOutcome,
  type TableBatch,
  type TableDigest,
} from './placement-driver.ts';
export { PoolDriver } from './pool-driver.ts';
export { SchemaDriver } from './schema-driver.ts';
