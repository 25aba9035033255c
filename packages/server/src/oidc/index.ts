/**
 * Tenantry as the OpenID provider of the vendor's app (oidc-provider), and the apps registered
 * as its clients. This file is the feature's public surface: code outside the folder imports
 * from here only. It may import: @tenantry/core, changes/, db/, http/, secrets/, tokens/, shared
 * modules.
 */

export { sweepExpired } from './expired-payloads.ts';
export type {
  AccessPolicy,
  IdentitySource,
  Membership,
  SignedInSession,
} from './identity-source.ts';
export { oidcClientRoutes } from './oidc-client-routes.ts';
export { OidcClientService } from './oidc-client-service.ts';
export { OidcProviderService } from './oidc-provider-service.ts';
export { oidcRoutes } from './oidc-routes.ts';
