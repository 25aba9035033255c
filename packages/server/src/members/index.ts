/**
 * Tenants' members and their invitations, custom roles, each tenant's access policy, the vendor's
 * staff, and the admission of user access tokens to `/v1` routes.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, access/, changes/, db/, http/, shared modules, tenants/, tokens/.
 */
export { type AccessPolicy, AccessPolicyService } from './access-policy-service.ts';
export { memberRoutes, staffRoutes } from './member-routes.ts';
export {
  type Grantor,
  type InvitationListener,
  MemberService,
  type Membership,
} from './member-service.ts';
export { removedMembers } from './removed-members.ts';
export { RoleService } from './role-service.ts';
export { StaffService } from './staff-service.ts';
export { UserTokens } from './user-token-gate.ts';
