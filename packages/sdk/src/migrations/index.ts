/**
 * The vendor's application migrations, run across the fleet of tenant databases.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, control-plane/, data/.
 */

export { type AgentJobRef, DEFAULT_AGENT_TIMEOUT_MS } from './agent-targets.ts';
export {
  type BackupConfirmation,
  type CanarySpec,
  type CoordinatedReport,
  type CoordinatedTarget,
  type CoordinateOptions,
  CoordinatorInputError,
  type CoordinatorProgress,
  coordinateMigrations,
  type FinalStage,
  type PostChecks,
  parseCanary,
  type Stage,
  type TargetSource,
  vendorTargets,
  verifyQuery,
} from './coordinate.ts';
export { listFleetTargets, MIGRATED_STATES } from './list-fleet-targets.ts';
export {
  clientSession,
  DEFAULT_CONCURRENCY,
  type FleetProgress,
  type FleetReport,
  type FleetSession,
  type MigrateFleetOptions,
  migrateFleet,
  type RunFleetOptions,
  runFleet,
} from './migrate-fleet.ts';
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
} from './migrate-target.ts';
export { type Migration, MigrationFolderError, readMigrations } from './read-migrations.ts';
