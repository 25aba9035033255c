import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { Schemas } from '@tenantry/core/api';
import { SetTenantSecret } from '@tenantry/core/api/requests';
import { type FormEvent, useId, useState } from 'react';
import { callOf, get, write } from '../shared/api.ts';
import { ConfirmedAction } from '../shared/components/confirmed-action.tsx';
import { useCursorPages } from '../shared/components/cursor-pages.ts';
import { ApiPanel, ErrorNotice, Loading, LoadMore } from '../shared/components/index.ts';
import { FieldError, OtherErrors, useSchemaForm } from '../shared/schema-form.tsx';
import type { TenantRef } from '../shared/tenants.ts';
import { Needs } from './access.tsx';

type Secret = Schemas['TenantSecret'];
const PAGE = 100;

/**
 * The organisation's secrets (its own provider keys, which the vendor's app uses on its behalf):
 * write-only. Names, versions and times are listed; a value is set or replaced, never shown — the
 * API answers it to no member's token. All of it needs `secrets:write`.
 */
export function SecretsPage() {
  return (
    <Needs permission="secrets:write" title="Secrets">
      {(tenant) => <Secrets tenant={tenant} />}
    </Needs>
  );
}

function Secrets({ tenant }: { tenant: TenantRef }) {
  const query = { limit: PAGE };
  const pages = useCursorPages(['secrets', tenant.id], (cursor) =>
    get('/v1/tenants/{id}/secrets', { path: { id: tenant.id }, query: { ...query, cursor } }),
  );
  const secrets = pages.data?.pages.flatMap((page) => page.data) ?? [];
  return (
    <>
      <h1>Secrets</h1>
      <p>
        Values your organisation gives the vendor's app (a provider's API key, say). They are encrypted and
        never shown again, here or over the API: set a new value to replace one.
      </p>
      <SetSecret tenant={tenant} />
      <h2>Stored secrets</h2>
      <button type="button" onClick={() => pages.refetch()} disabled={pages.isFetching}>
        Refresh
      </button>
      {pages.isPending ? <Loading what="the secrets" /> : null}
      {pages.isError ? <ErrorNotice error={pages.error} /> : null}
      {pages.data === undefined ? null : secrets.length === 0 ? (
        <p>No secret stored.</p>
      ) : (
        <table data-testid="secrets">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Version</th>
              <th scope="col">Created</th>
              <th scope="col">Last set</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {secrets.map((secret) => (
              <SecretRow key={secret.id} tenant={tenant} secret={secret} />
            ))}
          </tbody>
        </table>
      )}
      <LoadMore pages={pages} what="secrets" />
      <ApiPanel
        call={callOf('/v1/tenants/{id}/secrets', { path: { id: tenant.shown }, query })}
        data={pages.data?.pages ?? null}
      />
    </>
  );
}

function SetSecret({ tenant }: { tenant: TenantRef }) {
  const client = useQueryClient();
  const [name, setName] = useState('');
  const [value, setValue] = useState('');
  const nameId = useId();
  const valueId = useId();
  const form = useSchemaForm(SetTenantSecret);
  const set = useMutation({
    mutationFn: () =>
      write('put', '/v1/tenants/{id}/secrets/{name}', { path: { id: tenant.id, name }, body: { value } }),
    onSuccess: async () => {
      // The value leaves the page's memory once stored.
      setValue('');
      await client.invalidateQueries({ queryKey: ['secrets', tenant.id] });
    },
    onError: form.refused,
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (form.check({ value })) set.mutate();
  };
  return (
    <form ref={form.ref} onSubmit={submit} aria-labelledby="set-secret-heading" className="form" noValidate>
      <h2 id="set-secret-heading">Set a secret</h2>
      <label htmlFor={nameId}>Name</label>
      <input
        id={nameId}
        value={name}
        onChange={(event) => setName(event.target.value)}
        required
        autoComplete="off"
        spellCheck={false}
        {...form.field('name')}
      />
      <FieldError form={form} name="name" />
      <label htmlFor={valueId}>Value</label>
      <input
        id={valueId}
        type="password"
        value={value}
        onChange={(event) => setValue(event.target.value)}
        required
        autoComplete="off"
        {...form.field('value')}
      />
      <FieldError form={form} name="value" />
      <OtherErrors form={form} />
      <button type="submit" disabled={set.isPending || name === ''}>
        Set secret
      </button>
      <span role="status">
        {set.isSuccess ? `Stored ${set.data.name} (version ${set.data.version})` : ''}
      </span>
      {set.isError ? <ErrorNotice error={set.error} /> : null}
    </form>
  );
}

function SecretRow({ tenant, secret }: { tenant: TenantRef; secret: Secret }) {
  const client = useQueryClient();
  return (
    <tr data-testid={`secret-${secret.name}`}>
      <th scope="row">{secret.name}</th>
      <td>{secret.version}</td>
      <td>{secret.created_at}</td>
      <td>{secret.rotated_at ?? secret.created_at}</td>
      <td>
        <ConfirmedAction
          label="Delete…"
          words={`Delete ${secret.name}`}
          expected={secret.name}
          run={() =>
            write('delete', '/v1/tenants/{id}/secrets/{name}', { path: { id: tenant.id, name: secret.name } })
          }
          onDone={() => client.invalidateQueries({ queryKey: ['secrets', tenant.id] })}
        />
      </td>
    </tr>
  );
}
