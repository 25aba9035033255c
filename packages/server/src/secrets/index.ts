/**
 * Encryption of secrets at rest with the master key(s).
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core.
 */
export { masterKeyFromFile } from './master-key-file.ts';
export { MASTER_KEY_BYTES, parseMasterKeys, SecretBox, SecretUnreadableError } from './secret-box.ts';
