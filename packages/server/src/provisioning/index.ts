/**
 * Provisioning tenants' resources and running the vendor's app migrations on them.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/sdk, db/.
 */
export { AppMigratingProvisioner, AppMigrations } from './app-migrations.ts';
export { type Placement, Provisioner, resourcesFor } from './provisioner.ts';
