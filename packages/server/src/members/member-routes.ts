import { OPERATOR_ROLES } from '@tenantry/core';
import {
  AddStaff,
  ChangeMemberRole,
  CreateRole,
  InviteMember,
  UpdateRole,
} from '@tenantry/core/api/requests';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { conflict, notFound, sendProblem, Timestamp } from '../http/index.ts';
import type { AccessPolicyService } from './access-policy-service.ts';
import type { Grantor, MemberService } from './member-service.ts';
import type { RoleService } from './role-service.ts';
import type { StaffService } from './staff-service.ts';

const TenantParams = z.object({ id: z.string().min(1).max(255).describe('Tenant id or slug') });

const Member = z
  .object({
    id: z.string().describe('`mem_…`'),
    tenant_id: z.string(),
    user_id: z.string(),
    email: z.string(),
    name: z.string().nullable(),
    role: z.string(),
    permissions: z.array(z.string()).describe('Every permission the role holds now'),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'Member' });

const Invitation = z
  .object({
    id: z.string().describe('`ivt_…`'),
    tenant_id: z.string(),
    user_id: z.string(),
    email: z.string(),
    role: z.string(),
    status: z.enum(['open', 'accepted', 'revoked', 'expired']),
    expires_at: Timestamp,
    accepted_at: Timestamp.nullable(),
    created_at: Timestamp,
  })
  .meta({ id: 'Invitation' });

const Role = z
  .object({
    id: z.string().describe('`rol_…`'),
    key: z.string(),
    name: z.string(),
    permissions: z.array(z.string()),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'Role' });

const AccessPolicy = z
  .object({
    tenant_id: z.string(),
    mfa_required: z.boolean(),
    ip_allow_list: z.array(z.string()).describe('CIDR blocks; empty: any address'),
    updated_at: Timestamp.nullable(),
  })
  .meta({ id: 'AccessPolicy' });

const Staff = z
  .object({
    user_id: z.string(),
    email: z.string(),
    name: z.string().nullable(),
    role: z.enum(OPERATOR_ROLES),
    scopes: z.array(z.string()),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'StaffMember' });

/** A tenant's member acting with a user token grants only what they hold; a key or staff, anything. */
function grantorOf(request: FastifyRequest): Grantor {
  return request.user !== null && request.user.tenantId !== null
    ? { permissions: request.user.permissions }
    : null;
}

/** Tenants' members, invitations, custom roles and access policies. */
export const memberRoutes: FastifyPluginAsyncZod<{
  members: MemberService;
  roles: RoleService;
  accessPolicies: AccessPolicyService;
}> = async (app, services) => {
  app.get(
    '/tenants/:id/members',
    {
      config: { scope: 'members:read', permission: 'members:read' },
      schema: {
        tags: ['Members'],
        operationId: 'listMembers',
        summary: "List a tenant's members",
        params: TenantParams,
        response: { 200: z.object({ data: z.array(Member) }), ...notFound },
      },
    },
    async (request, reply) => {
      const result = await services.members.list(request.params.id);
      return result.ok ? { data: result.value } : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/tenants/:id/invitations',
    {
      config: { scope: 'members:write', permission: 'members:write' },
      schema: {
        tags: ['Members'],
        operationId: 'inviteMember',
        summary: 'Invite a user to a tenant',
        description:
          'Makes the user by email if new and records a single-use invitation. The answer carries the link to send ' +
          '(`invitation_url`); it is shown only here. On plans with the `member_seats` feature, members and open ' +
          "invitations may not pass the plan's hard seat limit.",
        params: TenantParams,
        body: InviteMember,
        response: {
          201: z.object({ invitation: Invitation, invitation_url: z.string() }),
          ...notFound,
          ...conflict,
        },
      },
    },
    async (request, reply) => {
      const { email, role, expires_in_hours } = request.body;
      const result = await services.members.invite(
        request.ctx,
        request.params.id,
        { email, role, expiresInHours: expires_in_hours },
        grantorOf(request),
      );
      return result.ok ? reply.code(201).send(result.value) : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/tenants/:id/invitations',
    {
      config: { scope: 'members:read', permission: 'members:read' },
      schema: {
        tags: ['Members'],
        operationId: 'listInvitations',
        summary: "List a tenant's invitations",
        params: TenantParams,
        response: { 200: z.object({ data: z.array(Invitation) }), ...notFound },
      },
    },
    async (request, reply) => {
      const result = await services.members.invitations(request.params.id);
      return result.ok ? { data: result.value } : sendProblem(reply, result.error);
    },
  );

  app.delete(
    '/tenants/:id/invitations/:invitation',
    {
      config: { scope: 'members:write', permission: 'members:write' },
      schema: {
        tags: ['Members'],
        operationId: 'revokeInvitation',
        summary: 'Revoke an open invitation',
        description: 'Its link stops working, and it no longer holds a seat.',
        params: TenantParams.extend({ invitation: z.string().min(1).max(64).describe('`ivt_…`') }),
        response: { 200: Invitation, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await services.members.revokeInvitation(
        request.ctx,
        request.params.id,
        request.params.invitation,
        grantorOf(request),
      );
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/invitations/accept',
    {
      config: { scope: 'members:write' },
      schema: {
        tags: ['Members'],
        operationId: 'acceptInvitation',
        summary: 'Accept an invitation for a user',
        description:
          'Makes the invited user a member. The token is single use and expires; only the invited user may accept. ' +
          "The hosted sign-in accepts invitations itself; this is for a vendor's own sign-up flow.",
        body: z.strictObject({
          token: z.string().min(1).max(200).describe('The token of the invitation link'),
          user_id: z.string().min(1).max(64).describe('The accepting user (`usr_…`)'),
        }),
        response: { 200: Member, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await services.members.acceptInvitation(
        request.ctx,
        request.body.token,
        request.body.user_id,
      );
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.patch(
    '/tenants/:id/members/:member',
    {
      config: { scope: 'members:write', permission: 'members:write' },
      schema: {
        tags: ['Members'],
        operationId: 'changeMemberRole',
        summary: "Change a member's role",
        params: TenantParams.extend({ member: z.string().min(1).max(64).describe('Member id or user id') }),
        body: ChangeMemberRole,
        response: { 200: Member, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await services.members.changeRole(
        request.ctx,
        request.params.id,
        request.params.member,
        request.body.role,
        grantorOf(request),
      );
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.delete(
    '/tenants/:id/members/:member',
    {
      config: { scope: 'members:write', permission: 'members:write' },
      schema: {
        tags: ['Members'],
        operationId: 'removeMember',
        summary: 'Remove a member from a tenant',
        params: TenantParams.extend({ member: z.string().min(1).max(64).describe('Member id or user id') }),
        response: { 200: Member, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await services.members.remove(
        request.ctx,
        request.params.id,
        request.params.member,
        grantorOf(request),
      );
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/tenants/:id/roles',
    {
      config: { scope: 'members:read', permission: 'members:read' },
      schema: {
        tags: ['Members'],
        operationId: 'listRoles',
        summary: "List a tenant's custom roles",
        params: TenantParams,
        response: { 200: z.object({ data: z.array(Role) }), ...notFound },
      },
    },
    async (request, reply) => {
      const result = await services.roles.list(request.params.id);
      return result.ok ? { data: result.value } : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/tenants/:id/roles',
    {
      config: { scope: 'members:write', permission: 'roles:write' },
      schema: {
        tags: ['Members'],
        operationId: 'createRole',
        summary: 'Create a custom role',
        description: 'Only on plans with the `custom_roles` feature.',
        params: TenantParams,
        body: CreateRole,
        response: { 201: Role, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await services.roles.create(
        request.ctx,
        request.params.id,
        request.body,
        grantorOf(request),
      );
      return result.ok ? reply.code(201).send(result.value) : sendProblem(reply, result.error);
    },
  );

  app.patch(
    '/tenants/:id/roles/:key',
    {
      config: { scope: 'members:write', permission: 'roles:write' },
      schema: {
        tags: ['Members'],
        operationId: 'updateRole',
        summary: 'Update a custom role',
        params: TenantParams.extend({ key: z.string().min(1).max(63) }),
        body: UpdateRole,
        response: { 200: Role, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await services.roles.update(
        request.ctx,
        request.params.id,
        request.params.key,
        request.body,
        grantorOf(request),
      );
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.delete(
    '/tenants/:id/roles/:key',
    {
      config: { scope: 'members:write', permission: 'roles:write' },
      schema: {
        tags: ['Members'],
        operationId: 'deleteRole',
        summary: 'Delete a custom role no member holds',
        params: TenantParams.extend({ key: z.string().min(1).max(63) }),
        response: { 200: Role, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await services.roles.delete(
        request.ctx,
        request.params.id,
        request.params.key,
        grantorOf(request),
      );
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/tenants/:id/access-policy',
    {
      config: { scope: 'members:read', permission: 'members:read' },
      schema: {
        tags: ['Members'],
        operationId: 'getAccessPolicy',
        summary: "Show a tenant's access policy",
        params: TenantParams,
        response: { 200: AccessPolicy, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await services.accessPolicies.get(request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.put(
    '/tenants/:id/access-policy',
    {
      config: { scope: 'members:write', permission: 'settings:write' },
      schema: {
        tags: ['Members'],
        operationId: 'setAccessPolicy',
        summary: "Set a tenant's access policy",
        description:
          'Whether members must use MFA, and the CIDR blocks (IPv4 and IPv6) sign-in and the tenant’s API keys are ' +
          'allowed from. A non-empty allow-list needs the plan feature `ip_allow_list`.',
        params: TenantParams,
        body: z.strictObject({
          mfa_required: z.boolean(),
          ip_allow_list: z.array(z.string().max(64)).max(1000).default([]),
        }),
        response: { 200: AccessPolicy, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await services.accessPolicies.set(request.ctx, request.params.id, request.body);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};

/** `/v1/staff`: the vendor's operator organisation. */
export const staffRoutes: FastifyPluginAsyncZod<{ staff: StaffService }> = async (app, services) => {
  app.post(
    '/staff',
    {
      config: { scope: 'staff:write' },
      schema: {
        tags: ['Staff'],
        operationId: 'addStaff',
        summary: 'Add a user to the staff, or change their operator role',
        description:
          'admin holds every scope; support every `:read` scope; finance billing, usage reads and tenant reads.',
        body: AddStaff,
        response: { 200: Staff },
      },
    },
    async (request, reply) => {
      const result = await services.staff.add(request.ctx, request.body);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/staff',
    {
      config: { scope: 'staff:read' },
      schema: {
        tags: ['Staff'],
        operationId: 'listStaff',
        summary: 'List the staff',
        response: { 200: z.object({ data: z.array(Staff) }) },
      },
    },
    async () => ({ data: await services.staff.list() }),
  );

  app.delete(
    '/staff/:user_id',
    {
      config: { scope: 'staff:write' },
      schema: {
        tags: ['Staff'],
        operationId: 'removeStaff',
        summary: 'Remove a user from the staff',
        params: z.object({ user_id: z.string().min(1).max(64) }),
        response: { 200: Staff, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await services.staff.remove(request.ctx, request.params.user_id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};
