import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { Schemas } from '@tenantry/core/api';
import { ChangeMemberRole, CreateRole, InviteMember, UpdateRole } from '@tenantry/core/api/requests';
import { type FormEvent, useId, useState } from 'react';
import { callOf, get, post, write } from '../shared/api.ts';
import { session } from '../shared/auth.ts';
import { ConfirmedAction } from '../shared/components/confirmed-action.tsx';
import { ApiPanel, ErrorNotice, Loading } from '../shared/components/index.ts';
import { FieldError, OtherErrors, useSchemaForm } from '../shared/schema-form.tsx';
import type { TenantRef } from '../shared/tenants.ts';
import { can, Needs } from './access.tsx';
import { SecretOnce } from './secret-once.tsx';

type Member = Schemas['Member'];
type Invitation = Schemas['Invitation'];
type Role = Schemas['Role'];

/** The roles every tenant has (BUILT_IN_ROLES in @tenantry/core), before its custom ones. */
const BUILT_IN_ROLES = ['owner', 'admin', 'billing', 'member', 'viewer'] as const;

/**
 * The organisation's members, open invitations and custom roles (`members:read`). Inviting,
 * revoking an invitation, changing a role and removing a member need `members:write`; custom
 * roles `roles:write`. A member grants only what their own role holds (the API refuses more).
 */
export function MembersPage() {
  return (
    <Needs permission="members:read" title="Members">
      {(tenant) => <Members tenant={tenant} />}
    </Needs>
  );
}

function Members({ tenant }: { tenant: TenantRef }) {
  const path = { id: tenant.id };
  const members = useQuery({
    queryKey: ['members', tenant.id],
    queryFn: () => get('/v1/tenants/{id}/members', { path }),
  });
  const invitations = useQuery({
    queryKey: ['invitations', tenant.id],
    queryFn: () => get('/v1/tenants/{id}/invitations', { path }),
  });
  const roles = useQuery({
    queryKey: ['roles', tenant.id],
    queryFn: () => get('/v1/tenants/{id}/roles', { path }),
  });
  const writer = can('members:write');
  const roleKeys = [...BUILT_IN_ROLES, ...(roles.data?.data ?? []).map((role) => role.key)];
  const open = (invitations.data?.data ?? []).filter((invitation) => invitation.status === 'open');
  const shown = { path: { id: tenant.shown } };
  return (
    <>
      <h1>Members</h1>
      {writer ? (
        <Invite tenant={tenant} roles={roleKeys} />
      ) : (
        <p data-testid="read-only">
          Your role may see the members but not invite, change or remove them (that needs members:write).
        </p>
      )}
      <h2>Members</h2>
      {members.isPending ? <Loading what="the members" /> : null}
      {members.isError ? <ErrorNotice error={members.error} /> : null}
      {members.data === undefined ? null : (
        <table data-testid="members">
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">Since</th>
              {writer ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {members.data.data.map((member) => (
              <MemberRow key={member.id} tenant={tenant} member={member} roles={roleKeys} writer={writer} />
            ))}
          </tbody>
        </table>
      )}
      <ApiPanel
        label="API: members"
        call={callOf('/v1/tenants/{id}/members', shown)}
        data={members.data ?? null}
      />
      <h2>Open invitations</h2>
      {invitations.isPending ? <Loading what="the invitations" /> : null}
      {invitations.isError ? <ErrorNotice error={invitations.error} /> : null}
      {invitations.data === undefined ? null : open.length === 0 ? (
        <p>No open invitation.</p>
      ) : (
        <table data-testid="invitations">
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Role</th>
              <th scope="col">Expires</th>
              {writer ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {open.map((invitation) => (
              <InvitationRow key={invitation.id} tenant={tenant} invitation={invitation} writer={writer} />
            ))}
          </tbody>
        </table>
      )}
      <ApiPanel
        label="API: invitations"
        call={callOf('/v1/tenants/{id}/invitations', shown)}
        data={invitations.data ?? null}
      />
      <Roles tenant={tenant} roles={roles.data?.data} error={roles.error} />
      <ApiPanel label="API: roles" call={callOf('/v1/tenants/{id}/roles', shown)} data={roles.data ?? null} />
    </>
  );
}

function Invite({ tenant, roles }: { tenant: TenantRef; roles: readonly string[] }) {
  const client = useQueryClient();
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('viewer');
  const [link, setLink] = useState<string | undefined>();
  const emailId = useId();
  const roleId = useId();
  const form = useSchemaForm(InviteMember);
  const invite = useMutation({
    mutationFn: () =>
      post('/v1/tenants/{id}/invitations', { path: { id: tenant.id }, body: { email, role } }),
    onSuccess: async (answer) => {
      setLink(answer.invitation_url);
      setEmail('');
      await client.invalidateQueries({ queryKey: ['invitations', tenant.id] });
    },
    onError: form.refused,
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (form.check({ email, role })) invite.mutate();
  };
  return (
    <>
      <form ref={form.ref} onSubmit={submit} aria-labelledby="invite-heading" className="form" noValidate>
        <h2 id="invite-heading">Invite someone</h2>
        <label htmlFor={emailId}>Email</label>
        <input
          id={emailId}
          type="email"
          value={email}
          onChange={(event) => setEmail(event.target.value)}
          required
          {...form.field('email')}
        />
        <FieldError form={form} name="email" />
        <label htmlFor={roleId}>Role</label>
        <select
          id={roleId}
          value={role}
          onChange={(event) => setRole(event.target.value)}
          {...form.field('role')}
        >
          {roles.map((key) => (
            <option key={key} value={key}>
              {key}
            </option>
          ))}
        </select>
        <FieldError form={form} name="role" />
        <OtherErrors form={form} />
        <button type="submit" disabled={invite.isPending}>
          Invite
        </button>
        {invite.isError ? <ErrorNotice error={invite.error} /> : null}
      </form>
      {link === undefined ? null : (
        // The link is mailed to the person; the answer shows it this once, for sending it another way.
        <SecretOnce
          label="Invitation link"
          secret={link}
          note="It was sent to the address by mail too; copy it to send it another way."
          copy="Copy link"
          onDone={() => setLink(undefined)}
        />
      )}
    </>
  );
}

function MemberRow({
  tenant,
  member,
  roles,
  writer,
}: {
  tenant: TenantRef;
  member: Member;
  roles: readonly string[];
  writer: boolean;
}) {
  const client = useQueryClient();
  const [role, setRole] = useState(member.role);
  const roleId = useId();
  const path = { id: tenant.id, member: member.id };
  const refresh = () => client.invalidateQueries({ queryKey: ['members', tenant.id] });
  const form = useSchemaForm(ChangeMemberRole);
  const change = useMutation({
    mutationFn: () => write('patch', '/v1/tenants/{id}/members/{member}', { path, body: { role } }),
    onSuccess: refresh,
    onError: form.refused,
  });
  const self = member.user_id === session()?.userId;
  return (
    <tr data-testid={`member-${member.email}`}>
      <th scope="row">{member.email}</th>
      <td>{member.name ?? ''}</td>
      <td data-testid="member-role">{member.role}</td>
      <td>{member.created_at}</td>
      {writer ? (
        <td>
          <form
            ref={form.ref}
            className="inline"
            aria-label={`Role of ${member.email}`}
            noValidate
            onSubmit={(event) => {
              event.preventDefault();
              if (form.check({ role })) change.mutate();
            }}
          >
            <label htmlFor={roleId} className="visually-hidden">
              New role for {member.email}
            </label>
            <select
              id={roleId}
              value={role}
              onChange={(event) => setRole(event.target.value)}
              {...form.field('role')}
            >
              {[...new Set([member.role, ...roles])].map((key) => (
                <option key={key} value={key}>
                  {key}
                </option>
              ))}
            </select>
            <FieldError form={form} name="role" />
            <OtherErrors form={form} />
            <button type="submit" disabled={change.isPending || role === member.role}>
              Change role
            </button>
          </form>
          {self ? null : (
            <ConfirmedAction
              label="Remove…"
              words={`Remove ${member.email}`}
              expected={member.email}
              run={() => write('delete', '/v1/tenants/{id}/members/{member}', { path })}
              onDone={refresh}
            />
          )}
          {change.isError ? <ErrorNotice error={change.error} /> : null}
        </td>
      ) : null}
    </tr>
  );
}

function InvitationRow({
  tenant,
  invitation,
  writer,
}: {
  tenant: TenantRef;
  invitation: Invitation;
  writer: boolean;
}) {
  const client = useQueryClient();
  const revoke = useMutation({
    mutationFn: () =>
      write('delete', '/v1/tenants/{id}/invitations/{invitation}', {
        path: { id: tenant.id, invitation: invitation.id },
      }),
    onSuccess: () => client.invalidateQueries({ queryKey: ['invitations', tenant.id] }),
  });
  return (
    <tr data-testid={`invitation-${invitation.email}`}>
      <th scope="row">{invitation.email}</th>
      <td>{invitation.role}</td>
      <td>{invitation.expires_at}</td>
      {writer ? (
        <td>
          <button type="button" onClick={() => revoke.mutate()} disabled={revoke.isPending}>
            Revoke invitation
          </button>
          {revoke.isError ? <ErrorNotice error={revoke.error} /> : null}
        </td>
      ) : null}
    </tr>
  );
}

/** The tenant's custom roles; making and changing them needs `roles:write` (and the plan's `custom_roles`). */
function Roles({
  tenant,
  roles,
  error,
}: {
  tenant: TenantRef;
  roles: readonly Role[] | undefined;
  error: Error | null;
}) {
  const writer = can('roles:write');
  return (
    <section aria-labelledby="roles-heading">
      <h2 id="roles-heading">Custom roles</h2>
      <p>Besides the built-in roles ({BUILT_IN_ROLES.join(', ')}), roles your organisation defines.</p>
      {error === null ? null : <ErrorNotice error={error} />}
      {roles === undefined ? null : roles.length === 0 ? (
        <p>No custom role.</p>
      ) : (
        <table data-testid="roles">
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Name</th>
              <th scope="col">Permissions</th>
              {writer ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {roles.map((role) => (
              <RoleRow key={role.id} tenant={tenant} role={role} writer={writer} />
            ))}
          </tbody>
        </table>
      )}
      {writer ? <RoleForm tenant={tenant} /> : null}
    </section>
  );
}

/** Permissions as a person types them: separated by commas or spaces. */
function permissionsOf(text: string): string[] {
  return text.split(/[\s,]+/).filter((permission) => permission !== '');
}

function RoleForm({ tenant }: { tenant: TenantRef }) {
  const client = useQueryClient();
  const [key, setKey] = useState('');
  const [name, setName] = useState('');
  const [permissions, setPermissions] = useState('');
  const keyId = useId();
  const nameId = useId();
  const permissionsId = useId();
  const form = useSchemaForm(CreateRole);
  const body = { key, name, permissions: permissionsOf(permissions) };
  const create = useMutation({
    mutationFn: () => post('/v1/tenants/{id}/roles', { path: { id: tenant.id }, body }),
    onSuccess: async () => {
      setKey('');
      setName('');
      setPermissions('');
      await client.invalidateQueries({ queryKey: ['roles', tenant.id] });
    },
    onError: form.refused,
  });
  return (
    <form
      ref={form.ref}
      className="form"
      aria-labelledby="role-form-heading"
      noValidate
      onSubmit={(event) => {
        event.preventDefault();
        if (form.check(body)) create.mutate();
      }}
    >
      <h3 id="role-form-heading">Create a role</h3>
      <label htmlFor={keyId}>Key</label>
      <input
        id={keyId}
        value={key}
        onChange={(event) => setKey(event.target.value)}
        required
        {...form.field('key')}
      />
      <FieldError form={form} name="key" />
      <label htmlFor={nameId}>Name</label>
      <input
        id={nameId}
        value={name}
        onChange={(event) => setName(event.target.value)}
        required
        {...form.field('name')}
      />
      <FieldError form={form} name="name" />
      <label htmlFor={permissionsId}>Permissions (comma separated; only those your role holds)</label>
      <input
        id={permissionsId}
        value={permissions}
        onChange={(event) => setPermissions(event.target.value)}
        {...form.field('permissions')}
      />
      <FieldError form={form} name="permissions" />
      <OtherErrors form={form} />
      <button type="submit" disabled={create.isPending}>
        Create role
      </button>
      {create.isError ? <ErrorNotice error={create.error} /> : null}
    </form>
  );
}

function RoleRow({ tenant, role, writer }: { tenant: TenantRef; role: Role; writer: boolean }) {
  const client = useQueryClient();
  const [permissions, setPermissions] = useState(role.permissions.join(', '));
  const permissionsId = useId();
  const path = { id: tenant.id, key: role.key };
  const refresh = () => client.invalidateQueries({ queryKey: ['roles', tenant.id] });
  const form = useSchemaForm(UpdateRole);
  const body = { permissions: permissionsOf(permissions) };
  const update = useMutation({
    mutationFn: () => write('patch', '/v1/tenants/{id}/roles/{key}', { path, body }),
    onSuccess: refresh,
    onError: form.refused,
  });
  return (
    <tr data-testid={`role-${role.key}`}>
      <th scope="row">{role.key}</th>
      <td>{role.name}</td>
      <td>{role.permissions.join(', ')}</td>
      {writer ? (
        <td>
          <form
            ref={form.ref}
            className="inline"
            aria-label={`Permissions of ${role.key}`}
            noValidate
            onSubmit={(event) => {
              event.preventDefault();
              if (form.check(body)) update.mutate();
            }}
          >
            <label htmlFor={permissionsId} className="visually-hidden">
              Permissions of {role.key}
            </label>
            <input
              id={permissionsId}
              value={permissions}
              onChange={(event) => setPermissions(event.target.value)}
              {...form.field('permissions')}
            />
            <FieldError form={form} name="permissions" />
            <OtherErrors form={form} />
            <button type="submit" disabled={update.isPending}>
              Save
            </button>
          </form>
          <ConfirmedAction
            label="Delete…"
            words={`Delete role ${role.key}`}
            expected={role.key}
            run={() => write('delete', '/v1/tenants/{id}/roles/{key}', { path })}
            onDone={refresh}
          />
          {update.isError ? <ErrorNotice error={update.error} /> : null}
        </td>
      ) : null}
    </tr>
  );
}
