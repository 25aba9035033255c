/**
 * The CLI's commands, one file per `tenantry <command>`, registered by program.ts.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/agent, @tenantry/core, @tenantry/sdk, @tenantry/server, shared modules.
 */
export { accessCommand } from './access.ts';
export { agentCommand } from './agent.ts';
export { apiCommand } from './api.ts';
export { appCommand } from './app.ts';
export { auditCommand } from './audit.ts';
export { bundleCommand } from './bundle.ts';
export { clockCommand } from './clock.ts';
export { invoicesCommand } from './invoices.ts';
export { keysCommand } from './keys.ts';
export { licenseCommand } from './license.ts';
export { membersCommand } from './members.ts';
export { migrateCommand } from './migrate.ts';
export { oidcClientsCommand } from './oidc-clients.ts';
export { plansCommand } from './plans.ts';
export { secretsCommand } from './secrets.ts';
export { serveCommand } from './serve.ts';
export { supportBundleCommand } from './support-bundle.ts';
export { tenantKeysCommand } from './tenant-keys.ts';
export { tenantsCommand } from './tenants.ts';
export { signingKeysCommand, tokensCommand } from './tokens.ts';
export { usageCommand } from './usage.ts';
