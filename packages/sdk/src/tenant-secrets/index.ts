/**
 * Tenants' own secrets (bring your own key), decrypted by the control plane for the app.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: control-plane/.
 */
export { readTenantSecret } from './read-tenant-secret.ts';
