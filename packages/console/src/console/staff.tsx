import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { Schemas } from '@tenantry/core/api';
import { AddStaff, CreateApiKey, RollApiKey } from '@tenantry/core/api/requests';
import { type FormEvent, useState } from 'react';
import { callOf, get, post, write } from '../shared/api.ts';
import { useCursorPages } from '../shared/components/cursor-pages.ts';
import {
  ApiPanel,
  ErrorNotice,
  Loading,
  LoadMore,
  StateBadge,
  TypedConfirm,
} from '../shared/components/index.ts';
import { FieldError, OtherErrors, useSchemaForm } from '../shared/schema-form.tsx';
import { SecretOnce } from './secret-once.tsx';

type StaffMember = Schemas['StaffMember'];
type ApiKey = Schemas['ApiKey'];
type Scope = ApiKey['scopes'][number];
type Role = StaffMember['role'];

const ROLES = ['admin', 'support', 'finance'] as const satisfies readonly Role[];

/**
 * Every scope an API key may hold (docs/api-keys.md), for the key form's choices: a record over
 * the API's own scope type, so the type check fails when one is missing or unknown.
 */
const SCOPE_SET: Record<Scope, true> = {
  'keys:manage': true,
  'plans:read': true,
  'plans:write': true,
  'tenants:read': true,
  'tenants:write': true,
  'entitlements:read': true,
  'usage:write': true,
  'usage:read': true,
  'usage:void': true,
  'leases:write': true,
  'tokens:write': true,
  'signing-keys:read': true,
  'signing-keys:write': true,
  'billing:read': true,
  'billing:write': true,
  'audit:read': true,
  'webhooks:read': true,
  'webhooks:write': true,
  'licenses:read': true,
  'licenses:write': true,
  'access:read': true,
  'access:write': true,
  'members:read': true,
  'members:write': true,
  'staff:read': true,
  'staff:write': true,
  'secrets:read': true,
  'secrets:write': true,
  'secrets:decrypt': true,
  'tenant-keys:read': true,
  'tenant-keys:write': true,
  'tenant-keys:verify': true,
  'mail:read': true,
  'oidc-clients:read': true,
  'oidc-clients:write': true,
  'migrations:read': true,
  'migrations:write': true,
  'data-planes:read': true,
  'data-planes:write': true,
  'data-planes:connect': true,
  'agents:read': true,
  'agents:write': true,
  'agent-jobs:write': true,
  'datasets:read': true,
  'support-bundles:read': true,
  'support-bundles:write': true,
  'fleet:read': true,
  'settings:read': true,
  'settings:write': true,
};
const SCOPES = Object.keys(SCOPE_SET) as readonly Scope[];

/** The vendor's staff, the operator's API keys and the OpenID clients registered. */
export function StaffPage() {
  return (
    <>
      <h1>Staff and keys</h1>
      <Staff />
      <ApiKeys />
      <OidcClients />
    </>
  );
}

function Staff() {
  const client = useQueryClient();
  const staff = useQuery({ queryKey: ['staff'], queryFn: () => get('/v1/staff') });
  const [formKey, setFormKey] = useState(0);
  const [removing, setRemoving] = useState<StaffMember | undefined>();
  const refresh = () =>
    client.invalidateQueries({ queryKey: ['staff'] }).catch((error: unknown) => console.warn(error));
  const check = useSchemaForm(AddStaff);
  const add = useMutation({
    mutationFn: (body: { email: string; role: Role }) => post('/v1/staff', { body }),
    onSuccess: () => {
      setFormKey((key) => key + 1);
      refresh();
    },
    onError: check.refused,
  });
  const remove = useMutation({
    mutationFn: (member: StaffMember) =>
      write('delete', '/v1/staff/{user_id}', { path: { user_id: member.user_id } }),
    onSuccess: () => {
      setRemoving(undefined);
      refresh();
    },
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const role = ROLES.find((r) => r === form.get('role')) ?? 'support';
    const body = { email: String(form.get('email') ?? '').trim(), role };
    if (check.check(body)) add.mutate(body);
  };
  return (
    <section aria-labelledby="staff-heading">
      <h2 id="staff-heading">Staff</h2>
      <form
        ref={check.ref}
        className="filters"
        onSubmit={submit}
        key={formKey}
        aria-label="Add to the staff"
        noValidate
      >
        <label>
          Email <input name="email" type="email" required autoComplete="off" {...check.field('email')} />
        </label>
        <FieldError form={check} name="email" />
        <label>
          Role
          <select name="role" defaultValue="support" {...check.field('role')}>
            {ROLES.map((role) => (
              <option key={role} value={role}>
                {role}
              </option>
            ))}
          </select>
        </label>
        <FieldError form={check} name="role" />
        <OtherErrors form={check} />
        <button type="submit" disabled={add.isPending}>
          Add or change role
        </button>
      </form>
      <p className="who">
        An address that has no account yet is refused: the person signs up first. Adding someone already on
        the staff changes their role.
      </p>
      {add.isError ? <ErrorNotice error={add.error} /> : null}
      {staff.isPending ? <Loading what="the staff" /> : null}
      {staff.isError ? <ErrorNotice error={staff.error} /> : null}
      {staff.data === undefined ? null : (
        <>
          <table data-testid="staff">
            <caption className="visually-hidden">Staff</caption>
            <thead>
              <tr>
                <th scope="col">Email</th>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Since</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {staff.data.data.map((member) => (
                <tr key={member.user_id}>
                  <td>{member.email}</td>
                  <td>{member.name ?? ''}</td>
                  <td>{member.role}</td>
                  <td>{member.created_at.slice(0, 10)}</td>
                  <td>
                    <button
                      type="button"
                      onClick={() => setRemoving(member)}
                      aria-label={`Remove ${member.email}`}
                    >
                      Remove…
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {removing === undefined ? null : (
            <TypedConfirm
              key={removing.user_id}
              action={`Remove ${removing.email} from the staff`}
              expected={removing.email}
              busy={remove.isPending}
              onConfirm={() => remove.mutate(removing)}
              onCancel={() => setRemoving(undefined)}
            />
          )}
          {remove.isError ? <ErrorNotice error={remove.error} /> : null}
          <ApiPanel label="Staff API" call={callOf('/v1/staff')} data={staff.data} />
        </>
      )}
    </section>
  );
}

function ApiKeys() {
  const client = useQueryClient();
  const keys = useQuery({ queryKey: ['api-keys'], queryFn: () => get('/v1/api-keys') });
  const [shown, setShown] = useState<{ label: string; secret: string | null } | undefined>();
  const [asking, setAsking] = useState<{ key: ApiKey; action: 'roll' | 'revoke' } | undefined>();
  const [overlap, setOverlap] = useState('86400');
  const refresh = () =>
    client.invalidateQueries({ queryKey: ['api-keys'] }).catch((error: unknown) => console.warn(error));
  const rollCheck = useSchemaForm(RollApiKey);
  // An empty field is no overlap asked for: the API's default (a day).
  const rollBody = overlap.trim() === '' ? {} : { overlap_seconds: Number(overlap) };
  const roll = useMutation({
    mutationFn: (key: ApiKey) => post('/v1/api-keys/{id}/roll', { path: { id: key.id }, body: rollBody }),
    onSuccess: (created, key) => {
      setAsking(undefined);
      setShown({ label: `New secret of ${key.name}`, secret: created.secret });
      refresh();
    },
    onError: rollCheck.refused,
  });
  const revoke = useMutation({
    mutationFn: (key: ApiKey) => post('/v1/api-keys/{id}/revoke', { path: { id: key.id } }),
    onSuccess: () => {
      setAsking(undefined);
      refresh();
    },
  });
  const state = (key: ApiKey) =>
    key.revoked_at !== null
      ? 'revoked'
      : key.rolled_to !== null
        ? `rolled, ends ${key.expires_at ?? ''}`
        : 'active';
  return (
    <section aria-labelledby="keys-heading">
      <h2 id="keys-heading">Operator API keys</h2>
      {shown === undefined ? null : (
        <SecretOnce label={shown.label} secret={shown.secret} onDone={() => setShown(undefined)} />
      )}
      <CreateKey
        onCreated={(name, secret) => {
          setShown({ label: `Secret of ${name}`, secret });
          refresh();
        }}
      />
      {keys.isPending ? <Loading what="the API keys" /> : null}
      {keys.isError ? <ErrorNotice error={keys.error} /> : null}
      {keys.data === undefined ? null : (
        <>
          <table data-testid="api-keys">
            <caption className="visually-hidden">Operator API keys</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Prefix</th>
                <th scope="col">Kind</th>
                <th scope="col">State</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.data.data.map((key) => (
                <tr key={key.id}>
                  <td>
                    {key.name}
                    {key.kind === 'restricted' ? <div className="who">{key.scopes.join(', ')}</div> : null}
                  </td>
                  <td>
                    <code>{key.display_prefix}</code>
                  </td>
                  <td>{key.kind}</td>
                  <td>
                    <StateBadge state={state(key)} />
                  </td>
                  <td>{key.last_used_at ?? 'never'}</td>
                  <td>
                    {key.revoked_at === null && key.rolled_to === null ? (
                      <>
                        {/* Rolling an operator key hands out every scope: only an operator key may. */}
                        {key.kind === 'restricted' ? (
                          <button
                            type="button"
                            onClick={() => setAsking({ key, action: 'roll' })}
                            aria-label={`Roll ${key.name}`}
                          >
                            Roll…
                          </button>
                        ) : null}{' '}
                        <button
                          type="button"
                          onClick={() => setAsking({ key, action: 'revoke' })}
                          aria-label={`Revoke ${key.name}`}
                        >
                          Revoke…
                        </button>
                      </>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {asking === undefined ? null : (
            <>
              {asking.action === 'roll' ? (
                <div ref={rollCheck.ref}>
                  <label>
                    The old secret keeps working for (seconds){' '}
                    <input
                      type="number"
                      value={overlap}
                      onChange={(event) => setOverlap(event.target.value)}
                      {...rollCheck.field('overlap_seconds')}
                    />
                  </label>
                  <FieldError form={rollCheck} name="overlap_seconds" />
                  <OtherErrors form={rollCheck} />
                </div>
              ) : null}
              <TypedConfirm
                key={`${asking.key.id}-${asking.action}`}
                action={`${asking.action === 'roll' ? 'Roll' : 'Revoke'} ${asking.key.name}`}
                expected={asking.key.name}
                busy={roll.isPending || revoke.isPending}
                onConfirm={() => {
                  if (asking.action === 'revoke') revoke.mutate(asking.key);
                  else if (rollCheck.check(rollBody)) roll.mutate(asking.key);
                }}
                onCancel={() => setAsking(undefined)}
              />
            </>
          )}
          {roll.isError ? <ErrorNotice error={roll.error} /> : null}
          {revoke.isError ? <ErrorNotice error={revoke.error} /> : null}
          <ApiPanel label="API keys API" call={callOf('/v1/api-keys')} data={keys.data} />
        </>
      )}
    </section>
  );
}

/**
 * A new restricted key: the app preset (what @tenantry/sdk needs) or chosen scopes. Not an
 * operator key: the API lets only an operator key make one (a person's token holds their role's
 * scopes, not "every scope of later versions"), so the CLI with an operator key makes those.
 */
function CreateKey({ onCreated }: { onCreated: (name: string, secret: string | null) => void }) {
  const [kind, setKind] = useState<'app' | 'scopes'>('app');
  const [formKey, setFormKey] = useState(0);
  const check = useSchemaForm(CreateApiKey);
  const create = useMutation({
    mutationFn: (body: { name: string; preset?: 'app'; scopes?: Scope[] }) => post('/v1/api-keys', { body }),
    onSuccess: (created) => {
      setFormKey((key) => key + 1);
      setKind('app');
      onCreated(created.name, created.secret);
    },
    onError: check.refused,
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const name = String(form.get('name') ?? '').trim();
    const scopes = form.getAll('scopes').flatMap((value) => SCOPES.filter((scope) => scope === value));
    const body: { name: string; preset?: 'app'; scopes?: Scope[] } =
      kind === 'scopes' ? { name, scopes } : { name, preset: 'app' };
    if (check.check(body)) create.mutate(body);
  };
  return (
    <form
      ref={check.ref}
      className="stacked"
      onSubmit={submit}
      key={formKey}
      aria-label="Create an API key"
      noValidate
    >
      <label>
        Name <input name="name" required autoComplete="off" {...check.field('name')} />
      </label>
      <FieldError form={check} name="name" />
      <fieldset {...check.field('scopes')}>
        <legend>What it may do</legend>
        <label>
          <input type="radio" checked={kind === 'app'} onChange={() => setKind('app')} /> what an app instance
          needs (app preset)
        </label>
        <label>
          <input type="radio" checked={kind === 'scopes'} onChange={() => setKind('scopes')} /> these scopes
        </label>
        {kind === 'scopes' ? (
          <div className="scopes">
            {SCOPES.map((scope) => (
              <label key={scope}>
                <input type="checkbox" name="scopes" value={scope} /> {scope}
              </label>
            ))}
          </div>
        ) : null}
      </fieldset>
      <FieldError form={check} name="scopes" />
      <OtherErrors form={check} />
      <p className="who">
        A key gets only scopes your role holds. An operator key (every scope, later ones too) is made with an
        operator key: <code>tenantry keys create</code>.
      </p>
      <button type="submit" disabled={create.isPending}>
        Create key
      </button>
      {create.isError ? <ErrorNotice error={create.error} /> : null}
    </form>
  );
}

function OidcClients() {
  const query = { limit: 100 };
  const pages = useCursorPages(['oidc-clients'], (cursor) =>
    get('/v1/oidc-clients', { query: { ...query, cursor } }),
  );
  const rows = pages.data?.pages.flatMap((page) => page.data) ?? [];
  return (
    <section aria-labelledby="oidc-heading">
      <h2 id="oidc-heading">OpenID clients</h2>
      {pages.isPending ? <Loading what="the OpenID clients" /> : null}
      {pages.isError ? <ErrorNotice error={pages.error} /> : null}
      {pages.data === undefined ? null : (
        <>
          {rows.length === 0 ? (
            <p>No OpenID client registered (the console's own is built in).</p>
          ) : (
            <table data-testid="oidc-clients">
              <caption className="visually-hidden">OpenID clients</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Client id</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Redirect URIs</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((c) => (
                  <tr key={c.id}>
                    <td>{c.name}</td>
                    <td>
                      <code>{c.id}</code>
                    </td>
                    <td>{c.kind}</td>
                    <td>{c.redirect_uris.join(' ')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <LoadMore pages={pages} what="OpenID clients" />
          <ApiPanel
            label="OpenID clients API"
            call={callOf('/v1/oidc-clients', { query })}
            data={pages.data.pages}
          />
        </>
      )}
    </section>
  );
}
