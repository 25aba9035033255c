/**
 * API keys: issuing, hashing, authenticating and revoking them, and their routes.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, changes/, db/, http/, shared modules.
 */
export { apiKeyRoutes } from './api-key-routes.ts';
export { ApiKeyService, type AuthenticatedKey } from './api-key-service.ts';
export { generateSecret, KEY_PREFIXES, LEGACY_KEY_PREFIX, secretFormat } from './key-format.ts';
