/**
 * The Tenantry SDK, embedded in the vendor's application: the tenant of each request from a
 * signed access token, tenant-scoped data in every placement, entitlements checked locally,
 * usage recorded without loss, and the app's migrations across the fleet.
 *
 * @packageDocumentation
 */

export { MAX_USAGE_BATCH } from '@tenantry/core';
export {
  type AccessTokenProblem,
  type Authentication,
  authenticateRequest,
  type TenantContextOptions,
} from './adapters/authenticate-request.ts';
export {
  AccessTokenError,
  type AccessTokenErrorReason,
  type AccessTokenVerifier,
  type AccessTokenVerifierOptions,
  createAccessTokenVerifier,
} from './context/access-token-verifier.ts';
export {
  currentTenant,
  NoTenantContextError,
  runAsTenant,
  type TenantContext,
  tenantOrUndefined,
} from './context/tenant-context.ts';
export {
  ControlPlaneClient,
  ControlPlaneError,
  type ControlPlaneOptions,
  type ControlPlaneResponse,
  ControlPlaneUnreachableError,
  type RequestOptions,
} from './control-plane/control-plane-client.ts';
export {
  DATA_STATES,
  type DataPlacement,
  PlacementDirectory,
  type PlacementDirectoryOptions,
  type TenantPlacement,
  TenantUnavailableError,
  UnsupportedPlacementError,
} from './data/placement-directory.ts';
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
} from './data/row-level-security.ts';
export {
  BINDER_ROLE,
  BINDING_SETTING,
  BindingKeyError,
  CURRENT_TENANT,
  installTenantBinding,
  parseBindingKey,
  schemaTenantSql,
  TENANT_POLICY,
  TenantBinder,
  tenantBindingSql,
} from './data/tenant-binding.ts';
export {
  CONNECTION_RESET,
  RowLevelSecurityError,
  type TenantClient,
  TenantData,
  type TenantDataOptions,
  TransactionLeftOpenError,
  type TransactionOptions,
  TransactionRolledBackError,
} from './data/tenant-data.ts';
export {
  ConnectionBudgetTimeoutError,
  TenantDatabasePools,
  type TenantDatabasePoolsOptions,
  type TenantDatabasePoolsStats,
} from './data/tenant-database-pools.ts';
export { EntitlementsStaleError, TenantNotLoadedError } from './entitlements/entitlement-errors.ts';
export {
  Entitlements,
  type EntitlementsEvents,
  type EntitlementsOptions,
  type EntitlementsStatus,
  type SnapshotChange,
  type VersionedSnapshot,
} from './entitlements/entitlements.ts';
export type { ConsumeRefusal, ConsumeResult, LeaseOptions } from './entitlements/quota-leases.ts';
export type { AcquireRefusal, AcquireResult, Slot, SlotOptions } from './entitlements/slots.ts';
export { listFleetTargets, MIGRATED_STATES } from './migrations/list-fleet-targets.ts';
export {
  DEFAULT_CONCURRENCY,
  type FleetProgress,
  type FleetReport,
  type FleetSession,
  type MigrateFleetOptions,
  migrateFleet,
  type RunFleetOptions,
  runFleet,
} from './migrations/migrate-fleet.ts';
export {
  type AppliedMigration,
  MIGRATIONS_TABLE,
  type MigrationTarget,
  migrateTarget,
  type SqlSession,
  type TargetError,
  type TargetPlacement,
  type TargetResult,
  type TargetStatus,
} from './migrations/migrate-target.ts';
export { type Migration, MigrationFolderError, readMigrations } from './migrations/read-migrations.ts';
export { Tenantry, type TenantryOptions } from './tenantry.ts';
export {
  DEFAULT_RETRY_POLICY,
  type RetryPolicy,
  type SendUsageBatchOptions,
  sendUsageBatch,
  type UsageBatchOutcome,
  type UsageBatchResult,
} from './usage/send-usage-batch.ts';
export {
  InvalidUsageRecordError,
  type UsageEvent,
  type UsageRecord,
} from './usage/usage-record.ts';
export {
  type RejectedUsageEvent,
  type Timers,
  UsageRecorder,
  UsageRecorderClosedError,
  type UsageRecorderOptions,
  type UsageRecorderStats,
} from './usage/usage-recorder.ts';
export { CorruptSpoolFileError } from './usage/usage-spool.ts';
