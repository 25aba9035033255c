/**
 * Tenant API keys: keys the vendor's customers call the vendor's own API with, issued and
 * revoked here, verified by the SDK from the key sets these routes serve.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, access/, changes/, db/, http/, members/, tenants/, shared modules.
 */
export { tenantKeyRoutes } from './tenant-key-routes.ts';
export { DEFAULT_TENANT_KEY_PREFIX, TenantKeyService } from './tenant-key-service.ts';
