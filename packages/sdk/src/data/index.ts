/**
 * Tenant data isolation in the vendor's database: placements, pools, row-level security and tenant binding.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, context/, control-plane/, migrations/.
 */
export {
  type DataPlaneGuardOptions,
  DataPlaneGuards,
  DataPlaneNotConfiguredError,
  DataPlaneUnavailableError,
} from './data-plane-guard.ts';
export {
  AgentOnlyPlacementError,
  DATA_STATES,
  type DataConnection,
  type DataPlacement,
  OneTenantPlacement,
  PlacementDirectory,
  type PlacementDirectoryOptions,
  type Placements,
  TenantNotServedError,
  type TenantPlacement,
  TenantUnavailableError,
  UnsupportedPlacementError,
  type UsablePlacement,
} from './placement-directory.ts';
export {
  type CheckOptions,
  checkRowLevelSecurity,
  type Queryable,
  type RoleFinding,
  type RowLevelSecurityOptions,
  type RowLevelSecurityReport,
  rowLevelSecuritySql,
  SHARED_TABLES,
  type TableFinding,
} from './row-level-security.ts';
export {
  BINDER_ROLE,
  BINDING_SETTING,
  BindingKeyError,
  byoiBindingKey,
  CURRENT_TENANT,
  installTenantBinding,
  parseBindingKey,
  schemaTenantSql,
  TENANT_POLICY,
  TenantBinder,
  tenantBindingSql,
} from './tenant-binding.ts';
export {
  CONNECTION_RESET,
  RowLevelSecurityError,
  type TenantClient,
  TenantData,
  type TenantDataOptions,
  TransactionLeftOpenError,
  type TransactionOptions,
  TransactionRolledBackError,
} from './tenant-data.ts';
export {
  ConnectionBudgetTimeoutError,
  TenantDatabasePools,
  type TenantDatabasePoolsOptions,
  type TenantDatabasePoolsStats,
} from './tenant-database-pools.ts';
