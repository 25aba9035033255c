/**
 * Licenses for self-hosted installs: the Ed25519 keys that sign them, and licenses issued from a
 * tenant's plan version and overrides, listed, superseded and revoked.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, changes/, db/, entitlements/, http/, secrets/, tenants/, shared modules.
 */
export { licenseCheckInRoutes, licenseRoutes } from './license-routes.ts';
export { LicenseService, type ReportedInstallKeys } from './license-service.ts';
