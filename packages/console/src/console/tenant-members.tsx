import { useQuery, useQueryClient } from '@tanstack/react-query';
import { callOf, get, post, write } from '../shared/api.ts';
import { ConfirmedAction } from '../shared/components/confirmed-action.tsx';
import { useCursorPages } from '../shared/components/cursor-pages.ts';
import { ApiPanel, ErrorNotice, Loading, LoadMore } from '../shared/components/index.ts';
import type { Tenant } from '../shared/tenants.ts';

const KEY_PAGE = 100;

/**
 * Who may act in the tenant: its members and their roles, its open invitations, and its API
 * keys; an operator may remove a member, revoke an invitation or revoke a key, each behind the
 * member's email, the invitation's email or the key's name typed out.
 */
export function TenantMembers({ tenant }: { tenant: Tenant }) {
  return (
    <>
      <Members tenant={tenant} />
      <Invitations tenant={tenant} />
      <ApiKeys tenant={tenant} />
    </>
  );
}

function Members({ tenant }: { tenant: Tenant }) {
  const client = useQueryClient();
  const members = useQuery({
    queryKey: ['members', tenant.id],
    queryFn: () => get('/v1/tenants/{id}/members', { path: { id: tenant.id } }),
  });
  const refresh = () => {
    client
      .invalidateQueries({ queryKey: ['members', tenant.id] })
      .catch((error: unknown) => console.warn(error));
  };
  return (
    <section aria-labelledby="members-heading">
      <h2 id="members-heading">Members</h2>
      {members.isPending ? <Loading what="the members" /> : null}
      {members.isError ? <ErrorNotice error={members.error} /> : null}
      {members.data === undefined ? null : (
        <>
          {members.data.data.length === 0 ? (
            <p>The tenant has no member.</p>
          ) : (
            <table data-testid="members">
              <caption>Members and their roles</caption>
              <thead>
                <tr>
                  <th scope="col">Email</th>
                  <th scope="col">Name</th>
                  <th scope="col">Role</th>
                  <th scope="col">Since</th>
                  <th scope="col">Action</th>
                </tr>
              </thead>
              <tbody>
                {members.data.data.map((member) => (
                  <tr key={member.id} data-testid={`member-${member.email}`}>
                    <th scope="row">{member.email}</th>
                    <td>{member.name ?? ''}</td>
                    <td>{member.role}</td>
                    <td>
                      <time dateTime={member.created_at}>{member.created_at}</time>
                    </td>
                    <td>
                      <ConfirmedAction
                        label="Remove…"
                        words={`Remove ${member.email}`}
                        expected={member.email}
                        run={() =>
                          write('delete', '/v1/tenants/{id}/members/{member}', {
                            path: { id: tenant.id, member: member.id },
                          })
                        }
                        onDone={refresh}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <ApiPanel
            label="API: members"
            call={callOf('/v1/tenants/{id}/members', { path: { id: tenant.slug } })}
            data={members.data}
          />
        </>
      )}
    </section>
  );
}

function Invitations({ tenant }: { tenant: Tenant }) {
  const client = useQueryClient();
  const invitations = useQuery({
    queryKey: ['invitations', tenant.id],
    queryFn: () => get('/v1/tenants/{id}/invitations', { path: { id: tenant.id } }),
  });
  const refresh = () => {
    client
      .invalidateQueries({ queryKey: ['invitations', tenant.id] })
      .catch((error: unknown) => console.warn(error));
  };
  // The API lists every invitation; the open ones are those an operator may still revoke.
  const open = invitations.data?.data.filter((invitation) => invitation.status === 'open') ?? [];
  return (
    <section aria-labelledby="invitations-heading">
      <h2 id="invitations-heading">Open invitations</h2>
      {invitations.isPending ? <Loading what="the invitations" /> : null}
      {invitations.isError ? <ErrorNotice error={invitations.error} /> : null}
      {invitations.data === undefined ? null : (
        <>
          {open.length === 0 ? (
            <p data-testid="invitations-none">No open invitation.</p>
          ) : (
            <table data-testid="invitations">
              <caption>Invitations not yet accepted</caption>
              <thead>
                <tr>
                  <th scope="col">Email</th>
                  <th scope="col">Role</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Action</th>
                </tr>
              </thead>
              <tbody>
                {open.map((invitation) => (
                  <tr key={invitation.id} data-testid={`invitation-${invitation.email}`}>
                    <th scope="row">{invitation.email}</th>
                    <td>{invitation.role}</td>
                    <td>
                      <time dateTime={invitation.expires_at}>{invitation.expires_at}</time>
                    </td>
                    <td>
                      <ConfirmedAction
                        label="Revoke…"
                        words={`Revoke the invitation of ${invitation.email}`}
                        expected={invitation.email}
                        run={() =>
                          write('delete', '/v1/tenants/{id}/invitations/{invitation}', {
                            path: { id: tenant.id, invitation: invitation.id },
                          })
                        }
                        onDone={refresh}
                      />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <ApiPanel
            label="API: invitations"
            call={callOf('/v1/tenants/{id}/invitations', { path: { id: tenant.slug } })}
            data={invitations.data}
          />
        </>
      )}
    </section>
  );
}

function ApiKeys({ tenant }: { tenant: Tenant }) {
  const client = useQueryClient();
  const query = { limit: KEY_PAGE };
  const pages = useCursorPages(['tenant-api-keys', tenant.id], (cursor) =>
    get('/v1/tenants/{id}/api-keys', { path: { id: tenant.id }, query: { ...query, cursor } }),
  );
  const keys = pages.data?.pages.flatMap((page) => page.data) ?? [];
  const refresh = () => {
    client
      .invalidateQueries({ queryKey: ['tenant-api-keys', tenant.id] })
      .catch((error: unknown) => console.warn(error));
  };
  return (
    <section aria-labelledby="keys-heading">
      <h2 id="keys-heading">API keys</h2>
      {pages.isPending ? <Loading what="the API keys" /> : null}
      {pages.isError ? <ErrorNotice error={pages.error} /> : null}
      {pages.data === undefined ? null : (
        <>
          {keys.length === 0 ? (
            <p>The tenant has no API key.</p>
          ) : (
            <table data-testid="api-keys">
              <caption>The tenant's API keys</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Key</th>
                  <th scope="col">Permissions</th>
                  <th scope="col">Last used</th>
                  <th scope="col">State</th>
                  <th scope="col">Action</th>
                </tr>
              </thead>
              <tbody>
                {keys.map((key) => (
                  <tr key={key.id} data-testid={`api-key-${key.name}`}>
                    <th scope="row">{key.name}</th>
                    <td>
                      <code>
                        {key.prefix}…{key.last_four}
                      </code>
                    </td>
                    <td>{key.permissions.join(', ')}</td>
                    <td>{key.last_used_at ?? 'never'}</td>
                    <td data-testid="api-key-state">
                      {key.revoked_at === null
                        ? key.expires_at === null
                          ? 'active'
                          : `active, expires ${key.expires_at}`
                        : `revoked ${key.revoked_at}`}
                    </td>
                    <td>
                      {key.revoked_at === null ? (
                        <ConfirmedAction
                          label="Revoke…"
                          words={`Revoke key ${key.name}`}
                          expected={key.name}
                          run={() =>
                            post('/v1/tenants/{id}/api-keys/{key_id}/revoke', {
                              path: { id: tenant.id, key_id: key.id },
                            })
                          }
                          onDone={refresh}
                        />
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <LoadMore pages={pages} what="keys" />
          <ApiPanel
            label="API: API keys"
            call={callOf('/v1/tenants/{id}/api-keys', { path: { id: tenant.slug }, query })}
            data={pages.data.pages}
          />
        </>
      )}
    </section>
  );
}
