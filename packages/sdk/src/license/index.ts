/**
 * The license guard: a self-hosted install runs on its verified license, with no control plane.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core.
 */
export type { LicenseCheckInOptions } from './check-in.ts';
export { LicenseError, type LicenseErrorCode } from './license-error.ts';
export {
  CLOCK_TOLERANCE_MS,
  EXPIRY_NOTICE_DAYS,
  LicenseGuard,
  type LicenseGuardOptions,
  type LicenseStatus,
  type RestrictedMode,
} from './license-guard.ts';
export {
  type FeatureGate,
  type LicensedModule,
  type LicensedModuleOptions,
  type LicensedModuleRefusalCode,
  loadLicensedModule,
} from './licensed-module.ts';
