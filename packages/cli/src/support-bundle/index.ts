/**
 * `tenantry support-bundle`: what an install's operator sends the vendor to debug it, gathered and
 * redacted before anything is written (docs/support-bundle.md).
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, @tenantry/server, shared modules.
 */
export { type Manifest, manifestOf, writeBundle } from './archive.ts';
export {
  type BundleFile,
  type CollectOptions,
  collectSources,
  knownSecrets,
  previewSources,
  type SourceNote,
  TENANTRY_ENV,
} from './collect.ts';
export { extraRules, REDACTION_RULES, type RedactionRule, Redactor } from './redact.ts';
