/**
 * Offline usage reports: what a self-hosted install signs with its own key for a period of usage,
 * chained to the report before, and their verification by the control plane that imports them.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: licenses/, usage/, shared modules.
 */
export {
  InstallPublicKey,
  MAX_REPORT_EVENTS,
  MAX_USAGE_REPORT_BYTES,
  reportDigest,
  signUsageReport,
  USAGE_REPORT_TYPE,
  UsageReportClaims,
  UsageReportEvent,
  type UsageReportRefusal,
  type UsageReportRefusalCode,
  usageReportTotals,
  type VerifiedUsageReport,
  verifyUsageReport,
} from './usage-report.ts';
