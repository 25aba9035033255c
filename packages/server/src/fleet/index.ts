/**
 * The fleet at a glance (issue 16): the signals the operator console's home shows, and the
 * fleet's provisioning runs. This file is the feature's public surface: code outside the folder
 * imports from here only. It may import: @tenantry/core, db/, http/, shared modules.
 */
export { fleetRoutes } from './fleet-routes.ts';
export { FleetService } from './fleet-service.ts';
