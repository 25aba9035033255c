/**
 * Tenantry's own tenant-admin permissions: what a tenant's admins may do in the control plane for
 * their tenant (manage members, read the audit log…). They are built in, so a vendor's access file
 * may not declare them, and each built-in role holds a fixed set of them. Permission names are
 * public API, as tokens and custom roles carry them: never rename one, add one instead.
 */
export const TENANT_ADMIN_PERMISSIONS = {
  'members:read': "List the tenant's members and open invitations",
  'members:write': 'Invite, remove and change the role of members',
  'roles:write': "Create, update and delete the tenant's custom roles",
  'billing:read': "Read the tenant's subscription, invoices and payment methods",
  'billing:write': "Change the tenant's plan and payment methods",
  'audit:read': "Read and export the tenant's audit log",
  'api_keys:read': "List the tenant's API keys",
  'api_keys:write': "Create, roll and revoke the tenant's API keys",
  'secrets:write': "Store, rotate and delete the tenant's secrets",
  'settings:write': "Change the tenant's access policy (MFA, IP allow-list) and settings",
  'data_connection:write': "Set and remove the tenant's own database connection (BYOI)",
  'webhooks:write': "Create, change and delete the tenant's own webhook endpoints and read their deliveries",
  'licenses:read':
    "Download the tenant's licenses, see its installs' check-ins and its imported usage reports",
  'usage_reports:write': "Upload the offline usage reports of the tenant's self-hosted installs",
  'support_bundles:read': 'List and download the support bundles the tenant uploaded',
  'support_bundles:write': "Upload support bundles of the tenant's self-hosted installs and delete them",
} as const satisfies Record<string, string>;

/** One permission of {@link TENANT_ADMIN_PERMISSIONS}. */
export type TenantAdminPermission = keyof typeof TENANT_ADMIN_PERMISSIONS;

/** Whether `value` is one of Tenantry's own tenant-admin permissions. */
export function isTenantAdminPermission(value: string): value is TenantAdminPermission {
  return Object.hasOwn(TENANT_ADMIN_PERMISSIONS, value);
}

/** The roles every tenant has; a vendor's access file says which of its permissions each holds. */
export const BUILT_IN_ROLES = ['owner', 'admin', 'billing', 'member', 'viewer'] as const;

/** One of {@link BUILT_IN_ROLES}. */
export type BuiltInRole = (typeof BUILT_IN_ROLES)[number];

/** Whether `value` names a built-in role. */
export function isBuiltInRole(value: string): value is BuiltInRole {
  return (BUILT_IN_ROLES as readonly string[]).includes(value);
}

const ALL_ADMIN = Object.keys(TENANT_ADMIN_PERMISSIONS) as TenantAdminPermission[];

/**
 * The tenant-admin permissions of each built-in role: the owner holds everything, an admin all but
 * `billing:write` (so that an admin cannot change what the tenant pays), the billing role the
 * billing permissions, and members and viewers none: they use the vendor's app, not its console.
 */
export const BUILT_IN_ADMIN_PERMISSIONS: Readonly<Record<BuiltInRole, readonly TenantAdminPermission[]>> = {
  owner: ALL_ADMIN,
  admin: ALL_ADMIN.filter((p) => p !== 'billing:write'),
  billing: ['billing:read', 'billing:write'],
  member: [],
  viewer: [],
};

/** The rule for a permission name: `resource:action`. */
export const PERMISSION_PATTERN = /^[a-z0-9_-]{1,63}:[a-z0-9_-]{1,63}$/;

/** The rule for a permission name, worded for people. */
export const PERMISSION_RULE =
  'write resource:action, each part lowercase letters, digits, "_" or "-" (e.g. meetings:write)';

/** The rule for a custom role's key. */
export const ROLE_KEY_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;
