/**
 * Test clocks: simulated time for a tenant's billing in test mode, with their routes.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, billing/, changes/, db/, http/, jobs/, shared modules, tenants/, usage/.
 */
export { testClockAdvancing } from './test-clock-errors.ts';
export { testClockRoutes } from './test-clock-routes.ts';
export { TestClockService } from './test-clock-service.ts';
