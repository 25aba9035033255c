/**
 * Tenantry as the OpenID provider of the vendor's app (oidc-provider), and the apps registered
 * as its clients. This file is the feature's public surface: code outside the folder imports
 * from here only. It may import: @tenantry/core, changes/, db/, http/, secrets/, tokens/, shared
 * modules.
 */
export type { AccessPolicy, IdentitySource, Membership, SignedInSession } from './identity-source.ts';
export { sweepExpired } from './oidc-adapter.ts';
export { oidcClientRoutes } from './oidc-client-routes.ts';
export { type CreateOidcClient, OidcClientService, type OidcClientView } from './oidc-client-service.ts';
export { APP_RESOURCE, OIDC_PREFIX, OidcProviderService } from './oidc-provider-service.ts';
export { oidcRoutes } from './oidc-routes.ts';
export { removedMembers } from './revoked-members.ts';
