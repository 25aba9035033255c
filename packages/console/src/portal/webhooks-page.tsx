import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { Schemas } from '@tenantry/core/api';
import { CreateTenantWebhookEndpoint } from '@tenantry/core/api/requests';
import { type FormEvent, useId, useState } from 'react';
import { callOf, get, post, write } from '../shared/api.ts';
import { ConfirmedAction } from '../shared/components/confirmed-action.tsx';
import { useCursorPages } from '../shared/components/cursor-pages.ts';
import { ApiPanel, ErrorNotice, Loading, LoadMore } from '../shared/components/index.ts';
import { FieldError, OtherErrors, useSchemaForm } from '../shared/schema-form.tsx';
import type { TenantRef } from '../shared/tenants.ts';
import { Needs } from './access.tsx';
import { SecretOnce } from './secret-once.tsx';

type Endpoint = Schemas['WebhookEndpoint'];
const PAGE = 100;

/**
 * The organisation's own webhook endpoints (`webhooks:write`): each receives this tenant's events
 * only, signed with a secret shown once (docs/webhooks.md).
 */
export function WebhooksPage() {
  return (
    <Needs permission="webhooks:write" title="Webhooks">
      {(tenant) => <Webhooks tenant={tenant} />}
    </Needs>
  );
}

function Webhooks({ tenant }: { tenant: TenantRef }) {
  const query = { limit: PAGE };
  const pages = useCursorPages(['webhooks', tenant.id], (cursor) =>
    get('/v1/tenants/{id}/webhook-endpoints', {
      path: { id: tenant.id },
      query: { ...query, cursor },
    }),
  );
  const [fresh, setFresh] = useState<{ label: string; secret: string } | undefined>();
  const endpoints = pages.data?.pages.flatMap((page) => page.data) ?? [];
  return (
    <>
      <h1>Webhooks</h1>
      <p>
        Your organisation's events, POSTed to your own URLs and signed (Standard Webhooks). An endpoint here
        receives this organisation's events only.
      </p>
      {fresh === undefined ? null : (
        <SecretOnce
          label={fresh.label}
          secret={fresh.secret}
          note="Verify each webhook's signature with it; Tenantry never shows it again."
          copy="Copy secret"
          onDone={() => setFresh(undefined)}
        />
      )}
      <CreateEndpoint
        tenant={tenant}
        onCreated={(endpoint) =>
          setFresh({ label: `Signing secret of ${endpoint.url}`, secret: endpoint.secret })
        }
      />
      <h2>Endpoints</h2>
      <button type="button" onClick={() => pages.refetch()} disabled={pages.isFetching}>
        Refresh
      </button>
      {pages.isPending ? <Loading what="the endpoints" /> : null}
      {pages.isError ? <ErrorNotice error={pages.error} /> : null}
      {pages.data === undefined ? null : endpoints.length === 0 ? (
        <p>No endpoint yet.</p>
      ) : (
        <table data-testid="webhooks">
          <thead>
            <tr>
              <th scope="col">URL</th>
              <th scope="col">Events</th>
              <th scope="col">Status</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {endpoints.map((endpoint) => (
              <EndpointRow
                key={endpoint.id}
                tenant={tenant}
                endpoint={endpoint}
                onRotated={(secret) => setFresh({ label: `New signing secret of ${endpoint.url}`, secret })}
              />
            ))}
          </tbody>
        </table>
      )}
      <LoadMore pages={pages} what="endpoints" />
      <ApiPanel
        call={callOf('/v1/tenants/{id}/webhook-endpoints', { path: { id: tenant.shown }, query })}
        data={pages.data?.pages ?? null}
      />
    </>
  );
}

/** Event types as a person types them: separated by commas or spaces. */
function typesOf(text: string): string[] {
  return text.split(/[\s,]+/).filter((type) => type !== '');
}

function CreateEndpoint({
  tenant,
  onCreated,
}: {
  tenant: TenantRef;
  onCreated: (endpoint: { url: string; secret: string }) => void;
}) {
  const client = useQueryClient();
  const [url, setUrl] = useState('');
  const [types, setTypes] = useState('tenant.*');
  const [description, setDescription] = useState('');
  const urlId = useId();
  const typesId = useId();
  const descriptionId = useId();
  const form = useSchemaForm(CreateTenantWebhookEndpoint);
  const body = { url, event_types: typesOf(types), description };
  const create = useMutation({
    mutationFn: () => post('/v1/tenants/{id}/webhook-endpoints', { path: { id: tenant.id }, body }),
    onSuccess: async (endpoint) => {
      onCreated(endpoint);
      setUrl('');
      setDescription('');
      await client.invalidateQueries({ queryKey: ['webhooks', tenant.id] });
    },
    onError: form.refused,
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (form.check(body)) create.mutate();
  };
  return (
    <form
      ref={form.ref}
      onSubmit={submit}
      aria-labelledby="create-webhook-heading"
      className="form"
      noValidate
    >
      <h2 id="create-webhook-heading">Add an endpoint</h2>
      <label htmlFor={urlId}>URL</label>
      <input
        id={urlId}
        type="url"
        value={url}
        onChange={(event) => setUrl(event.target.value)}
        required
        {...form.field('url')}
      />
      <FieldError form={form} name="url" />
      <label htmlFor={typesId}>Event types (comma separated: exact, a prefix such as tenant.*, or *)</label>
      <input
        id={typesId}
        value={types}
        onChange={(event) => setTypes(event.target.value)}
        required
        {...form.field('event_types')}
      />
      <FieldError form={form} name="event_types" />
      <label htmlFor={descriptionId}>Description (optional)</label>
      <input
        id={descriptionId}
        value={description}
        onChange={(event) => setDescription(event.target.value)}
        {...form.field('description')}
      />
      <FieldError form={form} name="description" />
      <OtherErrors form={form} />
      <button type="submit" disabled={create.isPending}>
        Add endpoint
      </button>
      {create.isError ? <ErrorNotice error={create.error} /> : null}
    </form>
  );
}

function EndpointRow({
  tenant,
  endpoint,
  onRotated,
}: {
  tenant: TenantRef;
  endpoint: Endpoint;
  onRotated: (secret: string) => void;
}) {
  const client = useQueryClient();
  const [showDeliveries, setShowDeliveries] = useState(false);
  const path = { id: tenant.id, endpoint_id: endpoint.id };
  const refresh = () => client.invalidateQueries({ queryKey: ['webhooks', tenant.id] });
  const toggle = useMutation({
    mutationFn: () =>
      write('patch', '/v1/tenants/{id}/webhook-endpoints/{endpoint_id}', {
        path,
        body: { status: endpoint.status === 'enabled' ? 'disabled' : 'enabled' },
      }),
    onSuccess: refresh,
  });
  const rotate = useMutation({
    mutationFn: () => post('/v1/tenants/{id}/webhook-endpoints/{endpoint_id}/rotate-secret', { path }),
    onSuccess: async (answer) => {
      onRotated(answer.secret);
      await refresh();
    },
  });
  return (
    <tr data-testid={`webhook-${endpoint.url}`}>
      <th scope="row">
        {endpoint.url}
        {endpoint.description === '' ? null : <div>{endpoint.description}</div>}
      </th>
      <td>{endpoint.event_types.join(', ')}</td>
      <td data-testid="webhook-status">
        {endpoint.status}
        {endpoint.disabled_reason === null ? '' : ` (${endpoint.disabled_reason})`}
      </td>
      <td>
        <button type="button" onClick={() => toggle.mutate()} disabled={toggle.isPending}>
          {endpoint.status === 'enabled' ? 'Disable' : 'Enable'}
        </button>{' '}
        <button type="button" onClick={() => rotate.mutate()} disabled={rotate.isPending}>
          Rotate secret
        </button>{' '}
        <button
          type="button"
          onClick={() => setShowDeliveries((shown) => !shown)}
          aria-expanded={showDeliveries}
        >
          Deliveries
        </button>{' '}
        <ConfirmedAction
          label="Delete…"
          words={`Delete ${endpoint.url}`}
          expected={endpoint.url}
          run={() => write('delete', '/v1/tenants/{id}/webhook-endpoints/{endpoint_id}', { path })}
          onDone={refresh}
        />
        {toggle.isError ? <ErrorNotice error={toggle.error} /> : null}
        {rotate.isError ? <ErrorNotice error={rotate.error} /> : null}
        {showDeliveries ? <Deliveries tenant={tenant} endpoint={endpoint} /> : null}
      </td>
    </tr>
  );
}

/** The endpoint's latest deliveries, newest first: what was sent and how the receiver answered. */
function Deliveries({ tenant, endpoint }: { tenant: TenantRef; endpoint: Endpoint }) {
  const query = { limit: 20 };
  const deliveries = useQuery({
    queryKey: ['webhook-deliveries', tenant.id, endpoint.id],
    queryFn: () =>
      get('/v1/tenants/{id}/webhook-endpoints/{endpoint_id}/deliveries', {
        path: { id: tenant.id, endpoint_id: endpoint.id },
        query,
      }),
  });
  return (
    <section aria-label={`Deliveries to ${endpoint.url}`}>
      {deliveries.isPending ? <Loading what="the deliveries" /> : null}
      {deliveries.isError ? <ErrorNotice error={deliveries.error} /> : null}
      {deliveries.data === undefined ? null : deliveries.data.data.length === 0 ? (
        <p>Nothing delivered yet.</p>
      ) : (
        <ul data-testid="deliveries">
          {deliveries.data.data.map((delivery) => (
            <li key={delivery.id}>
              {delivery.created_at} {delivery.event_type}: {delivery.state}
              {delivery.last_status === null ? '' : `, last answer ${delivery.last_status}`}
              {delivery.last_error === null ? '' : ` (${delivery.last_error})`}
            </li>
          ))}
        </ul>
      )}
      <ApiPanel
        label={`API: deliveries to ${endpoint.url}`}
        call={callOf('/v1/tenants/{id}/webhook-endpoints/{endpoint_id}/deliveries', {
          path: { id: tenant.shown, endpoint_id: endpoint.id },
          query,
        })}
        data={deliveries.data ?? null}
      />
    </section>
  );
}
