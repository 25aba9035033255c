/**
 * The vendor's access file (permission catalogue and built-in roles): applying, versions, routes.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, changes/, db/, http/, plans/, shared modules.
 */
export { accessRoutes } from './access-routes.ts';
export { type AccessApplyResult, AccessService, type AccessView } from './access-service.ts';
