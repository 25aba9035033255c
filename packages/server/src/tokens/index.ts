/**
 * Signing keys and the access tokens (JWTs) issued to end users, with the JWKS route.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, changes/, db/, http/, secrets/, shared modules, tenants/.
 */
export {
  MAX_TOKEN_TTL_SECONDS,
  type PublicSigningJwk,
  SIGNING_ALGORITHM,
  SigningKeyService,
} from './signing-key-service.ts';
export { jwksRoute, tokenRoutes } from './token-routes.ts';
export { DEFAULT_TOKEN_TTL_SECONDS, TOKEN_AUDIENCE, TokenService } from './token-service.ts';
