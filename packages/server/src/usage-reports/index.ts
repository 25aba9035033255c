/**
 * Offline usage reports: self-hosted installs' signed usage, verified, chained per install and
 * imported as the tenant's usage, billed like SaaS usage.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, changes/, db/, http/, licenses/, tenants/, usage/, shared modules.
 */

export { usageReportRoutes } from './usage-report-routes.ts';
export {
  type ImportedReport,
  pinnedInstallKey,
  UsageReportService,
  type UsageReportView,
} from './usage-report-service.ts';
