/**
 * Tenant API keys (keys the vendor's customers call the vendor's API with): their format, the
 * offline checksum a secret scanner can run, and the shape of the permissions they carry. Pure.
 */

export {
  formatTenantKey,
  looksLikeTenantKey,
  type ParsedTenantKey,
  parseTenantKey,
  TENANT_KEY_CHECKSUM_CHARS,
  TENANT_KEY_PATTERN,
  TENANT_KEY_PREFIX_MAX,
  TENANT_KEY_PREFIX_PATTERN,
  TENANT_KEY_RANDOM_CHARS,
  tenantKeyPrefixProblem,
} from './tenant-key-format.ts';
export { MAX_KEY_PERMISSIONS } from './tenant-key-permissions.ts';
