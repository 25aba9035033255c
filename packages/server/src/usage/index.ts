/**
 * Usage: ingestion, rollups, thresholds, leases, slots and queries, with their routes.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, billing/, changes/, db/, http/, jobs/, shared modules, tenants/.
 */
export { LeaseService } from './leases.ts';
export { MeterCatalog } from './meter-catalog.ts';
export { periodUsage, usageKey } from './period-usage.ts';
export { nextSlotLapse, SlotService } from './slots.ts';
export { TenantDirectory } from './tenant-directory.ts';
export { ThresholdChecker } from './thresholds.ts';
export { type CheckedBatch, UsageIngest } from './usage-ingest.ts';
export { usageRoutes } from './usage-routes.ts';
export { UsageService } from './usage-service.ts';
