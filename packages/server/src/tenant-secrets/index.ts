/**
 * Per-tenant secrets (bring your own key): a tenant's own provider keys under envelope
 * encryption, written by the operator, decrypted for the vendor's app, every read audited, and
 * crypto-shredded with the tenant.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, changes/, db/, http/, secrets/, shared modules.
 */

export { decryptValue, encryptValue } from './envelope.ts';
export { tenantSecretRoutes } from './tenant-secret-routes.ts';
export {
  destroyTenantDataKey,
  existingTenantDataKey,
  TenantSecretService,
  tenantDataKey,
} from './tenant-secret-service.ts';
