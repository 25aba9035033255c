import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { Schemas } from '@tenantry/core/api';
import { CreateTenantApiKey, RollTenantApiKey } from '@tenantry/core/api/requests';
import { type FormEvent, useId, useState } from 'react';
import { callOf, get, post } from '../shared/api.ts';
import { useCursorPages } from '../shared/components/cursor-pages.ts';
import { ApiPanel, ErrorNotice, Loading, LoadMore, TypedConfirm } from '../shared/components/index.ts';
import { FieldError, OtherErrors, useSchemaForm } from '../shared/schema-form.tsx';
import type { TenantRef } from '../shared/tenants.ts';
import { can, Needs, vendorPermissions } from './access.tsx';
import { SecretOnce } from './secret-once.tsx';

type Key = Schemas['TenantApiKey'];
const PAGE = 100;

/** How long a rolled key keeps working beside its successor, as offered (the API takes 0 to 30 days). */
const OVERLAPS: readonly { seconds: number; name: string }[] = [
  { seconds: 0, name: 'none: refuse the old key at once' },
  { seconds: 3600, name: '1 hour' },
  { seconds: 86_400, name: '1 day' },
  { seconds: 7 * 86_400, name: '7 days' },
];

/**
 * The organisation's API keys for the vendor's API (`api_keys:read`); making, rolling and revoking
 * them needs `api_keys:write`. A new key's secret is shown once, then never again.
 */
export function ApiKeysPage() {
  return (
    <Needs permission="api_keys:read" title="API keys">
      {(tenant) => <ApiKeys tenant={tenant} />}
    </Needs>
  );
}

function ApiKeys({ tenant }: { tenant: TenantRef }) {
  const query = { limit: PAGE };
  const pages = useCursorPages(['api-keys', tenant.id], (cursor) =>
    get('/v1/tenants/{id}/api-keys', { path: { id: tenant.id }, query: { ...query, cursor } }),
  );
  const [fresh, setFresh] = useState<{ label: string; secret: string } | undefined>();
  const writer = can('api_keys:write');
  const keys = pages.data?.pages.flatMap((page) => page.data) ?? [];
  return (
    <>
      <h1>API keys</h1>
      <p>
        Keys your organisation's software uses to call the vendor's API. Each carries the permissions named.
      </p>
      {fresh === undefined ? null : (
        <SecretOnce
          label={fresh.label}
          secret={fresh.secret}
          note="Tenantry keeps only its hash: a lost key is revoked and another made."
          copy="Copy key"
          onDone={() => setFresh(undefined)}
        />
      )}
      {writer ? (
        <CreateKey
          tenant={tenant}
          onCreated={(key) => setFresh({ label: `New key ${key.name}`, secret: key.secret })}
        />
      ) : (
        <p data-testid="read-only">
          Your role may see the keys but not make, roll or revoke them (that needs api_keys:write).
        </p>
      )}
      <h2>Keys</h2>
      <button type="button" onClick={() => pages.refetch()} disabled={pages.isFetching}>
        Refresh
      </button>
      {pages.isPending ? <Loading what="the API keys" /> : null}
      {pages.isError ? <ErrorNotice error={pages.error} /> : null}
      {pages.data === undefined ? null : keys.length === 0 ? (
        <p>No API key yet.</p>
      ) : (
        <table data-testid="api-keys">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Key</th>
              <th scope="col">Permissions</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">State</th>
              {writer ? <th scope="col">Actions</th> : null}
            </tr>
          </thead>
          <tbody>
            {keys.map((key) => (
              <KeyRow
                key={key.id}
                tenant={tenant}
                apiKey={key}
                writer={writer}
                onRolled={(next) => setFresh({ label: `Rolled key ${next.name}`, secret: next.secret })}
              />
            ))}
          </tbody>
        </table>
      )}
      <LoadMore pages={pages} what="keys" />
      <ApiPanel
        call={callOf('/v1/tenants/{id}/api-keys', { path: { id: tenant.shown }, query })}
        data={pages.data?.pages ?? null}
      />
    </>
  );
}

/** What the state column says: revoked, rolled (working until the overlap ends), expired or active. */
function stateOf(key: Key, now: number): string {
  if (key.revoked_at !== null) return `revoked ${key.revoked_at}`;
  const ends = key.expires_at === null ? undefined : Date.parse(key.expires_at);
  if (ends !== undefined && ends <= now)
    return key.rolled_to === null ? 'expired' : `rolled to ${key.rolled_to}`;
  if (key.rolled_to !== null) return `rolled to ${key.rolled_to}; works until ${key.expires_at}`;
  return key.expires_at === null ? 'active' : `active until ${key.expires_at}`;
}

/** A key the API answered with its secret: a new one, or a roll's successor. */
type Secret = { name: string; secret: string };

function withSecret(key: Schemas['CreatedTenantApiKey']): Secret {
  // Null only when the answer replays an earlier request's (an Idempotency-Key), which the portal never sends.
  return { name: key.name, secret: key.secret ?? '(not shown: the answer was a replay)' };
}

function CreateKey({ tenant, onCreated }: { tenant: TenantRef; onCreated: (key: Secret) => void }) {
  const client = useQueryClient();
  const offered = vendorPermissions();
  const [name, setName] = useState('');
  const [chosen, setChosen] = useState<readonly string[]>([]);
  const nameId = useId();
  const form = useSchemaForm(CreateTenantApiKey);
  const body = { name, permissions: [...chosen] };
  const create = useMutation({
    mutationFn: () => post('/v1/tenants/{id}/api-keys', { path: { id: tenant.id }, body }),
    onSuccess: async (key) => {
      onCreated(withSecret(key));
      setName('');
      setChosen([]);
      await client.invalidateQueries({ queryKey: ['api-keys', tenant.id] });
    },
    onError: form.refused,
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (form.check(body)) create.mutate();
  };
  const toggle = (permission: string, on: boolean) =>
    setChosen((now) => (on ? [...now, permission] : now.filter((p) => p !== permission)));
  return (
    <form ref={form.ref} onSubmit={submit} aria-labelledby="create-key-heading" className="form" noValidate>
      <h2 id="create-key-heading">Create a key</h2>
      <label htmlFor={nameId}>Name</label>
      <input
        id={nameId}
        value={name}
        onChange={(event) => setName(event.target.value)}
        required
        {...form.field('name')}
      />
      <FieldError form={form} name="name" />
      <fieldset {...form.field('permissions')}>
        <legend>Permissions (those your role holds)</legend>
        {offered.length === 0 ? <p>Your role holds none of the vendor's permissions to give a key.</p> : null}
        {offered.map((permission) => (
          <label key={permission} className="check">
            <input
              type="checkbox"
              checked={chosen.includes(permission)}
              onChange={(event) => toggle(permission, event.target.checked)}
            />{' '}
            {permission}
          </label>
        ))}
      </fieldset>
      <FieldError form={form} name="permissions" />
      <OtherErrors form={form} />
      <button type="submit" disabled={create.isPending}>
        Create key
      </button>
      {create.isError ? <ErrorNotice error={create.error} /> : null}
    </form>
  );
}

function KeyRow({
  tenant,
  apiKey,
  writer,
  onRolled,
}: {
  tenant: TenantRef;
  apiKey: Key;
  writer: boolean;
  onRolled: (key: Secret) => void;
}) {
  const client = useQueryClient();
  const [open, setOpen] = useState<'roll' | 'revoke' | undefined>();
  const [overlap, setOverlap] = useState(86_400);
  const overlapId = useId();
  const path = { id: tenant.id, key_id: apiKey.id };
  const rollForm = useSchemaForm(RollTenantApiKey);
  const done = async () => {
    setOpen(undefined);
    await client.invalidateQueries({ queryKey: ['api-keys', tenant.id] });
  };
  const roll = useMutation({
    mutationFn: () =>
      post('/v1/tenants/{id}/api-keys/{key_id}/roll', { path, body: { overlap_seconds: overlap } }),
    onSuccess: async (next) => {
      onRolled(withSecret(next));
      await done();
    },
    onError: rollForm.refused,
  });
  const revoke = useMutation({
    mutationFn: () => post('/v1/tenants/{id}/api-keys/{key_id}/revoke', { path }),
    onSuccess: done,
  });
  const live = apiKey.revoked_at === null && apiKey.rolled_to === null && isLive(apiKey);
  return (
    <tr data-testid={`key-${apiKey.name}`}>
      <th scope="row">{apiKey.name}</th>
      <td>
        <code>
          {apiKey.prefix}…{apiKey.last_four}
        </code>
      </td>
      <td>{apiKey.permissions.join(', ')}</td>
      <td>{apiKey.created_at}</td>
      <td>{apiKey.last_used_at ?? 'never'}</td>
      <td data-testid="key-state">{stateOf(apiKey, Date.now())}</td>
      {writer ? (
        <td>
          {live && open === undefined ? (
            <>
              <button type="button" onClick={() => setOpen('roll')}>
                Roll…
              </button>{' '}
              <button type="button" onClick={() => setOpen('revoke')}>
                Revoke…
              </button>
            </>
          ) : null}
          {open === 'roll' ? (
            <form
              ref={rollForm.ref}
              className="confirm"
              aria-label={`Roll ${apiKey.name}`}
              noValidate
              onSubmit={(event) => {
                event.preventDefault();
                if (rollForm.check({ overlap_seconds: overlap })) roll.mutate();
              }}
            >
              <label htmlFor={overlapId}>The old key keeps working for</label>
              <select
                id={overlapId}
                value={overlap}
                onChange={(event) => setOverlap(Number(event.target.value))}
                {...rollForm.field('overlap_seconds')}
              >
                {OVERLAPS.map((item) => (
                  <option key={item.seconds} value={item.seconds}>
                    {item.name}
                  </option>
                ))}
              </select>
              <FieldError form={rollForm} name="overlap_seconds" />
              <OtherErrors form={rollForm} />
              <button type="submit" disabled={roll.isPending}>
                Roll {apiKey.name}
              </button>
              <button type="button" onClick={() => setOpen(undefined)}>
                Cancel
              </button>
            </form>
          ) : null}
          {open === 'revoke' ? (
            <TypedConfirm
              action={`Revoke ${apiKey.name}`}
              expected={apiKey.name}
              busy={revoke.isPending}
              onConfirm={() => revoke.mutate()}
              onCancel={() => setOpen(undefined)}
            />
          ) : null}
          {roll.isError ? <ErrorNotice error={roll.error} /> : null}
          {revoke.isError ? <ErrorNotice error={revoke.error} /> : null}
        </td>
      ) : null}
    </tr>
  );
}

function isLive(key: Key): boolean {
  return key.expires_at === null || Date.parse(key.expires_at) > Date.now();
}
