/**
 * The current tenant's context (AsyncLocalStorage) and the verification of access tokens issued by the control plane.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: control-plane/.
 */
export {
  AccessTokenError,
  type AccessTokenErrorReason,
  type AccessTokenVerifier,
  type AccessTokenVerifierOptions,
  createAccessTokenVerifier,
} from './access-token-verifier.ts';
export {
  currentTenant,
  NoTenantContextError,
  runAsTenant,
  type TenantContext,
  tenantOrUndefined,
} from './tenant-context.ts';
