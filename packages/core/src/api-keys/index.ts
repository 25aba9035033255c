/**
 * The API-key scope catalogue: scope names, presets and which scopes app keys may hold.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: nothing of its package.
 */
export {
  ALL_SCOPES,
  APP_KEY_SCOPES,
  isScope,
  KEY_PRESETS,
  type KeyPreset,
  SCOPES,
  type Scope,
} from './scopes.ts';
