/**
 * A self-hosted install run on its license, with no control plane: its identity, its local usage
 * ledger and limits, and the offline usage report.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, adapters/ (types), entitlements/ (types), license/, rate-limits/, usage/.
 */
export {
  EXPORT_LOCK_FILE,
  type ExportedUsageReport,
  type ExportUsageReportOptions,
  exportUsageReport,
  REPORT_CHAIN_FILE,
  REPORTS_DIRECTORY,
  UsageExportError,
} from './export-usage-report.ts';
export {
  INSTALL_FILE,
  type InstallIdentity,
  InstallIdentityError,
  openInstallIdentity,
  readInstallIdentity,
} from './install-identity.ts';
export {
  LICENSE_FILE,
  LICENSE_STATE_FILE,
  type LicenseOptions,
  LicenseSource,
  LicenseTenantError,
} from './license-source.ts';
export { LOCK_FILE, lockStateDirectory, StateDirectoryInUseError } from './state-lock.ts';
export {
  LEDGER_FILE,
  type LedgerContents,
  type LedgerHeader,
  readLedger,
  UsageLedger,
  UsageLedgerError,
} from './usage-ledger.ts';
