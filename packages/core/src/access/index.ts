/**
 * Identity and access, pure: the vendor's permission catalogue (the access file), Tenantry's own
 * tenant-admin permissions, built-in and custom roles, and the CIDR matcher of IP allow-lists.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: api-keys/, shared modules.
 */
export {
  type AccessCatalogue,
  AccessFileSchema,
  EMPTY_ACCESS_CATALOGUE,
  MAX_PERMISSIONS,
  parseAccessFile,
} from './access-file.ts';
export { allowListMatcher, type Cidr, ipAllowed, parseCidr } from './cidr.ts';
export {
  OPERATOR_ROLE_SCOPES,
  OPERATOR_ROLES,
  type OperatorRole,
} from './operator-roles.ts';
export {
  BUILT_IN_ADMIN_PERMISSIONS,
  BUILT_IN_ROLES,
  type BuiltInRole,
  isBuiltInRole,
  isTenantAdminPermission,
  PERMISSION_PATTERN,
  PERMISSION_RULE,
  ROLE_KEY_PATTERN,
  TENANT_ADMIN_PERMISSIONS,
  type TenantAdminPermission,
} from './permissions.ts';
export { type CustomRole, permissionsOf, unknownPermissions } from './permissions-of.ts';
