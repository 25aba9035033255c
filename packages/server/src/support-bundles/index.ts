/**
 * Support bundles: the redacted tar.gz archives of `tenantry support-bundle`, uploaded by tenants
 * from their installs and downloaded by the vendor's staff.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, changes/, db/, http/, tenants/, shared modules.
 */

export { supportBundleRoutes } from './support-bundle-routes.ts';
export {
  type SupportBundleLimits,
  SupportBundleService,
  type SupportBundleView,
} from './support-bundle-service.ts';
