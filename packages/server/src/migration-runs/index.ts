/**
 * App migration runs (issue 15): the record of the vendor's app migrations run by the
 * coordinator across the fleet, each target's progress, and each tenant's migration history.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, changes/, db/, http/, shared modules.
 */
export { migrationRunRoutes } from './migration-run-routes.ts';
export { MigrationRunService } from './migration-run-service.ts';
