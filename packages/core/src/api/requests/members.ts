import { z } from 'zod';
import { OPERATOR_ROLES } from '../../access/index.ts';

/** How long an invitation link stays valid when the inviter does not say: a week. */
export const DEFAULT_INVITATION_TTL_HOURS = 168;

/** The longest an invitation may stay valid: 30 days. */
export const MAX_INVITATION_TTL_HOURS = 720;

const RoleName = z.string().min(1).max(64);
const PermissionList = z.array(z.string().min(1).max(130)).max(600);

/** `POST /v1/tenants/{id}/invitations`. */
export const InviteMember = z.strictObject({
  email: z.string().min(3).max(254).describe('Who to invite'),
  role: RoleName.describe('A built-in role (owner, admin, billing, member, viewer) or a custom role key'),
  expires_in_hours: z
    .number()
    .int()
    .min(1)
    .max(MAX_INVITATION_TTL_HOURS)
    .optional()
    .describe(`Hours the link stays valid; default ${DEFAULT_INVITATION_TTL_HOURS}`),
});

/** `PATCH /v1/tenants/{id}/members/{member}`. */
export const ChangeMemberRole = z.strictObject({ role: RoleName });

/** `POST /v1/tenants/{id}/roles`. */
export const CreateRole = z.strictObject({
  key: z.string().min(1).max(63),
  name: z.string().min(1).max(200),
  permissions: PermissionList.describe('Tenant-admin and access-file permissions'),
});

/** `PATCH /v1/tenants/{id}/roles/{key}`. */
export const UpdateRole = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  permissions: PermissionList.optional(),
});

/** `POST /v1/staff`. */
export const AddStaff = z.strictObject({ email: z.string().min(3).max(254), role: z.enum(OPERATOR_ROLES) });
