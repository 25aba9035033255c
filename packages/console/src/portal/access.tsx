import type { TenantAdminPermission } from '@tenantry/core';
import type { ReactNode } from 'react';
import { session } from '../shared/auth.ts';
import type { TenantRef } from '../shared/tenants.ts';

/**
 * Whether the signed-in member's role held `permission` when their token was issued: what the
 * portal offers. It only hides what would be refused: the API checks the role again on every
 * call, and a role changed since is refused there (the page then shows the API's problem).
 */
export function can(permission: TenantAdminPermission): boolean {
  return session()?.permissions.includes(permission) ?? false;
}

/**
 * A page's content, for the member's tenant, when their role may read it; otherwise a page that
 * says which permission it needs.
 */
export function Needs({
  permission,
  title,
  children,
}: {
  permission: TenantAdminPermission;
  title: string;
  /** The page, for the member's tenant. */
  children: (tenant: TenantRef) => ReactNode;
}) {
  const tenantId = session()?.tenantId;
  if (tenantId === undefined) {
    return (
      <>
        <h1>{title}</h1>
        <p role="alert">This sign-in is for no organisation: the portal is for the members of a tenant.</p>
      </>
    );
  }
  if (!can(permission)) {
    return (
      <>
        <h1>{title}</h1>
        <p data-testid="needs-permission">
          Your role does not hold <code>{permission}</code>, which this page needs: ask an owner or admin of
          your organisation.
        </p>
      </>
    );
  }
  // A member's token names the tenant by id: the calls and their "Copy as curl" use it.
  return <>{children({ id: tenantId, shown: tenantId })}</>;
}

// Tenantry's own tenant-admin permissions, which a member's token carries beside the vendor's; the
// type checks this names every one (TENANT_ADMIN_PERMISSIONS in @tenantry/core), so that the
// vendor's permissions are told apart without shipping the core package to the browser.
const ADMIN_PERMISSIONS = {
  'members:read': true,
  'members:write': true,
  'roles:write': true,
  'billing:read': true,
  'billing:write': true,
  'audit:read': true,
  'api_keys:read': true,
  'api_keys:write': true,
  'secrets:write': true,
  'settings:write': true,
  'data_connection:write': true,
  'webhooks:write': true,
  'licenses:read': true,
  'usage_reports:write': true,
  'support_bundles:read': true,
  'support_bundles:write': true,
} as const satisfies Record<TenantAdminPermission, true>;

/**
 * The vendor's permissions the member holds: all an API key they make may carry (the API refuses
 * a key with a permission its maker lacks, `missing_permissions`).
 */
export function vendorPermissions(): string[] {
  return (session()?.permissions ?? []).filter((permission) => !Object.hasOwn(ADMIN_PERMISSIONS, permission));
}
