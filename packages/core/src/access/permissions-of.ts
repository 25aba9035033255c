import { type DomainError, fail } from '../errors.ts';
import { ok, type Result } from '../result.ts';
import type { AccessCatalogue } from './access-file.ts';
import {
  BUILT_IN_ADMIN_PERMISSIONS,
  isBuiltInRole,
  isTenantAdminPermission,
  TENANT_ADMIN_PERMISSIONS,
} from './permissions.ts';

/** A tenant's own role, on plans that allow them: a key and the permissions it holds. */
export interface CustomRole {
  readonly key: string;
  readonly permissions: readonly string[];
}

/**
 * Every permission `role` holds in a tenant: Tenantry's tenant-admin permissions and the vendor's
 * own, sorted. A built-in role holds its fixed tenant-admin permissions and what the catalogue
 * gives it; a custom role holds what it lists, less any vendor permission the catalogue no longer
 * declares (a permission removed from the access file is gone from every role at once). An unknown
 * role fails with `role_not_found`.
 */
export function permissionsOf(
  role: string,
  catalogue: AccessCatalogue,
  customRoles: readonly CustomRole[],
): Result<string[], DomainError> {
  if (isBuiltInRole(role)) {
    return ok([...BUILT_IN_ADMIN_PERMISSIONS[role], ...catalogue.roles[role]].sort());
  }
  const custom = customRoles.find((r) => r.key === role);
  if (custom === undefined) return fail('role_not_found', `no role is named "${role}"`);
  return ok(
    [
      ...new Set(
        custom.permissions.filter(
          (p) => isTenantAdminPermission(p) || Object.hasOwn(catalogue.permissions, p),
        ),
      ),
    ].sort(),
  );
}

/**
 * The permissions of `permissions` that neither the catalogue nor Tenantry declares, to refuse a
 * custom role that names them.
 */
export function unknownPermissions(permissions: readonly string[], catalogue: AccessCatalogue): string[] {
  return permissions.filter(
    (p) => !Object.hasOwn(TENANT_ADMIN_PERMISSIONS, p) && !Object.hasOwn(catalogue.permissions, p),
  );
}
