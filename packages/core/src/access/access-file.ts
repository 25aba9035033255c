import { z } from 'zod';
import { err, ok, type Result } from '../result.ts';
import { fromZodIssues, type ValidationIssue } from '../validation-issue.ts';
import {
  BUILT_IN_ROLES,
  type BuiltInRole,
  isTenantAdminPermission,
  PERMISSION_PATTERN,
  PERMISSION_RULE,
} from './permissions.ts';

/** The most permissions an access file may declare: far above any real catalogue, and a bound on tokens. */
export const MAX_PERMISSIONS = 500;

const Permission = z.string().regex(PERMISSION_PATTERN, { error: PERMISSION_RULE });

/** The roles an access file may list: every built-in role but the owner, who holds everything. */
const ASSIGNABLE_ROLES = BUILT_IN_ROLES.filter((r) => r !== 'owner') as Exclude<BuiltInRole, 'owner'>[];

/** The access file as written. */
export const AccessFileSchema = z.strictObject({
  permissions: z
    .record(Permission, z.string().min(1).max(500))
    .default({})
    .refine((p) => Object.keys(p).length <= MAX_PERMISSIONS, {
      error: `declare at most ${MAX_PERMISSIONS} permissions`,
    }),
  roles: z
    .strictObject(
      Object.fromEntries(ASSIGNABLE_ROLES.map((role) => [role, z.array(z.string()).optional()])) as Record<
        Exclude<BuiltInRole, 'owner'>,
        z.ZodOptional<z.ZodArray<z.ZodString>>
      >,
    )
    .default({}),
});

/**
 * The vendor's permission catalogue, resolved: every permission the vendor's app checks with its
 * description, and which of them each built-in role holds (the owner holds every one).
 */
export interface AccessCatalogue {
  readonly permissions: Readonly<Record<string, string>>;
  readonly roles: Readonly<Record<BuiltInRole, readonly string[]>>;
}

/** The catalogue before any access file is applied: no vendor permissions. */
export const EMPTY_ACCESS_CATALOGUE: AccessCatalogue = {
  permissions: {},
  roles: { owner: [], admin: [], billing: [], member: [], viewer: [] },
};

/**
 * Validates an access file already parsed from YAML (or JSON) into plain data, and resolves it.
 * Fails with every problem of the file — shape, reserved names, unknown and repeated permissions —
 * each with its path, so that the server can name its line; nothing is resolved on failure.
 */
export function parseAccessFile(input: unknown): Result<AccessCatalogue, ValidationIssue[]> {
  // `owner:` is refused with a sentence rather than as an unknown field: it is a real role.
  const ownerListed =
    typeof input === 'object' &&
    input !== null &&
    typeof (input as { roles?: unknown }).roles === 'object' &&
    (input as { roles?: unknown }).roles !== null &&
    Object.hasOwn((input as { roles: object }).roles, 'owner');
  const cleaned = ownerListed ? withoutOwner(input as { roles: Record<string, unknown> }) : input;
  const parsed = AccessFileSchema.safeParse(cleaned ?? {}, { reportInput: true });
  const issues: ValidationIssue[] = parsed.success ? [] : fromZodIssues(parsed.error.issues);
  if (ownerListed) {
    issues.push({
      path: ['roles', 'owner'],
      message: 'the owner holds every permission; leave it out of roles',
    });
  }
  if (!parsed.success || issues.length > 0) return err(issues);
  const { permissions, roles } = parsed.data;
  for (const name of Object.keys(permissions)) {
    if (isTenantAdminPermission(name)) {
      issues.push({
        path: ['permissions', name],
        message: `"${name}" is one of Tenantry's own tenant-admin permissions, reserved; name yours otherwise`,
      });
    }
  }
  const resolved: Record<BuiltInRole, string[]> = {
    owner: Object.keys(permissions),
    admin: [],
    billing: [],
    member: [],
    viewer: [],
  };
  for (const role of ASSIGNABLE_ROLES) {
    const listed = roles[role] ?? [];
    const seen = new Set<string>();
    listed.forEach((name, index) => {
      if (!Object.hasOwn(permissions, name)) {
        issues.push({
          path: ['roles', role, index],
          message: `"${name}" is not a permission declared under permissions`,
        });
      } else if (seen.has(name)) {
        issues.push({ path: ['roles', role, index], message: `"${name}" is listed twice` });
      }
      seen.add(name);
    });
    resolved[role] = [...seen].filter((name) => Object.hasOwn(permissions, name));
  }
  if (issues.length > 0) return err(issues);
  return ok({ permissions: { ...permissions }, roles: resolved });
}

function withoutOwner(input: { roles: Record<string, unknown> }): unknown {
  const { owner: _owner, ...roles } = input.roles;
  return { ...input, roles };
}
