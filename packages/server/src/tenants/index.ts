/**
 * Tenants: creation, lifecycle transitions, views and routes.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, billing/, changes/, data-planes/, db/, http/, jobs/, plans/, provisioning/, shared modules, tenant-secrets/, test-clocks/.
 */
export { tenantRoutes } from './tenant-routes.ts';
export { TenantService, tenantNotFound } from './tenant-service.ts';
export { type TenantTransition, transitionTenant } from './tenant-transition.ts';
export type { TenantRecord } from './tenant-view.ts';
