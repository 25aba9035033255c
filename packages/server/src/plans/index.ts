/**
 * Plan versions: loading plan files, publishing them and their routes.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, changes/, db/, http/, shared modules.
 */
export { planRoutes } from './plan-routes.ts';
export { PlanService, type PlanVersionView } from './plan-service.ts';
