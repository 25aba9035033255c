/**
 * The permissions a tenant API key carries: the vendor's own (`meetings:write`,
 * `releases:approve`), which the vendor's API checks on the answer of `verifyApiKey`. Until the
 * vendor's permission catalogue exists to validate against, a permission is checked for its
 * `resource:action` shape only. (Named for keys so as not to clash with the access feature's
 * `PERMISSION_PATTERN`, which replaces it once both are in: see docs/tenant-api-keys.md, Limits.)
 */
export const KEY_PERMISSION_PATTERN = /^[a-z][a-z0-9_-]{0,62}:[a-z][a-z0-9_-]{0,62}$/;

/** The most permissions one key may carry. */
export const MAX_KEY_PERMISSIONS = 100;
