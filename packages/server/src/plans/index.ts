/**
 * Plan versions: loading plan files, publishing them and their routes; the YAML reader that
 * locates a path on its line, which the access file shares.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, changes/, db/, http/, shared modules, usage/ (a dry run's impact reads usage).
 */

export { type PlanFileSource, readPlanFileSource } from './plan-file-source.ts';
export { planRoutes } from './plan-routes.ts';
export { PlanService, type PlanVersionView } from './plan-service.ts';
