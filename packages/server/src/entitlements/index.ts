/**
 * Entitlement snapshots per tenant and their live stream to SDKs, with their routes.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, changes/, db/, http/, shared modules, tenants/, usage/.
 */
export { entitlementRoutes } from './entitlement-routes.ts';
export { EntitlementService } from './entitlement-service.ts';
export { EntitlementStream } from './entitlement-stream.ts';
export { entitlementStreamRoutes } from './entitlement-stream-routes.ts';
