/**
 * Tenant API keys verified locally: the keys the vendor's customers call the vendor's API with.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, control-plane/, entitlements/.
 */
export {
  type AcceptedApiKey,
  type ApiKeyRefusal,
  type ApiKeyVerdict,
  TenantKeys,
  type TenantKeysOptions,
  type VerifyApiKeyOptions,
} from './tenant-keys.ts';
