import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { getRouteApi, Link, useNavigate } from '@tanstack/react-router';
import type { Schemas } from '@tenantry/core/api';
import {
  CreateWebhookEndpoint,
  ReplayWebhookRange,
  UpdateWebhookEndpoint,
} from '@tenantry/core/api/requests';
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
import { FieldError, type FieldProps, OtherErrors, useSchemaForm } from '../shared/schema-form.tsx';
import { chosenTypes } from './admin-search.ts';
import { EVENT_TYPES } from './event-types.ts';
import { ScrollPre } from './scroll-pre.tsx';
import { SecretOnce } from './secret-once.tsx';

type Endpoint = Schemas['WebhookEndpoint'];
type Delivery = Schemas['WebhookDelivery'];

/** The event types by the object they are about (`tenant`, `invoice`…), for the form's groups. */
const GROUPS: readonly (readonly [string, readonly string[]])[] = (() => {
  const groups = new Map<string, string[]>();
  for (const type of EVENT_TYPES) {
    const group = type.slice(0, type.indexOf('.'));
    groups.set(group, [...(groups.get(group) ?? []), type]);
  }
  return [...groups.entries()];
})();

/**
 * The event types to subscribe to: every type (`*`), a whole group (`tenant.*`) or single types.
 * A pattern that covers a type makes the type's own box moot, so it is not sent twice.
 */
function EventTypeChoice({ initial, field }: { initial: readonly string[]; field: FieldProps }) {
  const [chosen, setChosen] = useState<ReadonlySet<string>>(new Set(initial));
  const toggle = (value: string) =>
    setChosen((current) => {
      const next = new Set(current);
      if (next.has(value)) next.delete(value);
      else next.add(value);
      return next;
    });
  const all = chosen.has('*');
  return (
    <fieldset className="event-types" {...field}>
      <legend>Event types</legend>
      {[...chosen].map((value) => (
        <input key={value} type="hidden" name="event_types" value={value} />
      ))}
      <label>
        <input type="checkbox" checked={all} onChange={() => toggle('*')} /> Every event type (<code>*</code>)
      </label>
      {all
        ? null
        : GROUPS.map(([group, types]) => {
            const wildcard = `${group}.*`;
            const whole = chosen.has(wildcard);
            const picked = types.filter((type) => chosen.has(type)).length;
            return (
              <details key={group}>
                <summary>
                  {group} ({whole ? 'all' : `${picked} of ${types.length}`})
                </summary>
                <label>
                  <input type="checkbox" checked={whole} onChange={() => toggle(wildcard)} /> every{' '}
                  <code>{wildcard}</code>
                </label>
                {whole
                  ? null
                  : types.map((type) => (
                      <label key={type}>
                        <input type="checkbox" checked={chosen.has(type)} onChange={() => toggle(type)} />{' '}
                        {type}
                      </label>
                    ))}
              </details>
            );
          })}
    </fieldset>
  );
}

const PAGE = 50;

/** The webhook endpoints, operator-wide and tenants', and a form to add one. */
export function WebhooksList() {
  const query = { limit: PAGE };
  const pages = useCursorPages(['webhook-endpoints'], (cursor) =>
    get('/v1/webhook-endpoints', { query: { ...query, cursor } }),
  );
  const rows = pages.data?.pages.flatMap((page) => page.data) ?? [];
  return (
    <>
      <h1>Webhooks</h1>
      <CreateEndpoint />
      <h2>Endpoints</h2>
      {pages.isPending ? <Loading what="webhook endpoints" /> : null}
      {pages.isError ? <ErrorNotice error={pages.error} /> : null}
      {pages.data === undefined ? null : (
        <>
          {rows.length === 0 ? (
            <p role="status">No webhook endpoint yet.</p>
          ) : (
            <table data-testid="endpoints">
              <caption className="visually-hidden">Webhook endpoints</caption>
              <thead>
                <tr>
                  <th scope="col">URL</th>
                  <th scope="col">Status</th>
                  <th scope="col">Tenant</th>
                  <th scope="col">Event types</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((endpoint) => (
                  <tr key={endpoint.id}>
                    <td>
                      <Link to="/webhooks/$id" params={{ id: endpoint.id }}>
                        {endpoint.url}
                      </Link>
                      {endpoint.description === '' ? null : (
                        <span className="who"> {endpoint.description}</span>
                      )}
                    </td>
                    <td>
                      <StateBadge state={endpoint.status} />
                    </td>
                    <td>{endpoint.tenant_id ?? 'operator (every tenant)'}</td>
                    <td>{endpoint.event_types.join(', ')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <LoadMore pages={pages} what="endpoints" />
          <ApiPanel call={callOf('/v1/webhook-endpoints', { query })} data={pages.data.pages} />
        </>
      )}
    </>
  );
}

/** Adds an endpoint; its signing secret is shown once, then the endpoint's page is a link away. */
function CreateEndpoint() {
  const client = useQueryClient();
  const [formKey, setFormKey] = useState(0);
  const check = useSchemaForm(CreateWebhookEndpoint);
  const create = useMutation({
    mutationFn: (body: { url: string; description: string; event_types: string[]; tenant_id?: string }) =>
      post('/v1/webhook-endpoints', { body }),
    onSuccess: () => {
      setFormKey((key) => key + 1);
      client
        .invalidateQueries({ queryKey: ['webhook-endpoints'] })
        .catch((error: unknown) => console.warn(error));
    },
    onError: check.refused,
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const tenant = String(form.get('tenant_id') ?? '').trim();
    const body = {
      url: String(form.get('url') ?? '').trim(),
      description: String(form.get('description') ?? '').trim(),
      event_types: chosenTypes(form),
      ...(tenant === '' ? {} : { tenant_id: tenant }),
    };
    if (check.check(body)) create.mutate(body);
  };
  return (
    <section aria-labelledby="create-endpoint-heading">
      <h2 id="create-endpoint-heading">Add an endpoint</h2>
      {create.data === undefined ? null : (
        <>
          <SecretOnce label="Signing secret" secret={create.data.secret} onDone={() => create.reset()} />
          <p>
            Added{' '}
            <Link to="/webhooks/$id" params={{ id: create.data.id }}>
              {create.data.url}
            </Link>
            .
          </p>
        </>
      )}
      <form
        ref={check.ref}
        className="stacked"
        onSubmit={submit}
        key={formKey}
        aria-label="Add an endpoint"
        noValidate
      >
        <label>
          URL{' '}
          <input
            name="url"
            type="url"
            required
            placeholder="https://example.com/webhooks"
            {...check.field('url')}
          />
        </label>
        <FieldError form={check} name="url" />
        <label>
          Description <input name="description" {...check.field('description')} />
        </label>
        <FieldError form={check} name="description" />
        <label>
          Tenant id (empty: an operator endpoint, every tenant's events){' '}
          <input name="tenant_id" placeholder="ten_…" {...check.field('tenant_id')} />
        </label>
        <FieldError form={check} name="tenant_id" />
        <EventTypeChoice initial={[]} field={check.field('event_types')} />
        <FieldError form={check} name="event_types" />
        <OtherErrors form={check} />
        <button type="submit" disabled={create.isPending}>
          Add endpoint
        </button>
      </form>
      {create.isError ? <ErrorNotice error={create.error} /> : null}
    </section>
  );
}

const pageRoute = getRouteApi('/webhooks/$id');

/** An endpoint: its settings (edited), its status, its secret rotated, its deliveries replayed. */
export function WebhookPage() {
  const { id } = pageRoute.useParams();
  const endpoint = useQuery({
    queryKey: ['webhook-endpoint', id],
    queryFn: () => get('/v1/webhook-endpoints/{id}', { path: { id } }),
  });
  return (
    <>
      <p>
        <Link to="/webhooks">All endpoints</Link>
      </p>
      {endpoint.isPending ? <Loading what="the endpoint" /> : null}
      {endpoint.isError ? (
        <>
          <h1>{id}</h1>
          <ErrorNotice error={endpoint.error} />
        </>
      ) : null}
      {endpoint.data === undefined ? null : (
        <>
          <h1>
            {endpoint.data.url} <StateBadge state={endpoint.data.status} />
          </h1>
          <dl className="facts">
            <dt>Id</dt>
            <dd>{endpoint.data.id}</dd>
            <dt>Description</dt>
            <dd>{endpoint.data.description === '' ? 'none' : endpoint.data.description}</dd>
            <dt>Tenant</dt>
            <dd>{endpoint.data.tenant_id ?? 'operator (every tenant)'}</dd>
            <dt>Event types</dt>
            <dd>{endpoint.data.event_types.join(', ')}</dd>
            {endpoint.data.disabled_reason === null ? null : (
              <>
                <dt>Disabled because</dt>
                <dd>{endpoint.data.disabled_reason}</dd>
              </>
            )}
          </dl>
          <EditEndpoint endpoint={endpoint.data} />
          <EndpointActions endpoint={endpoint.data} />
          <ApiPanel call={callOf('/v1/webhook-endpoints/{id}', { path: { id } })} data={endpoint.data} />
          <Deliveries endpoint={endpoint.data} />
        </>
      )}
    </>
  );
}

function useEndpointChanged(id: string) {
  const client = useQueryClient();
  return (changed: Endpoint) => {
    client.setQueryData(['webhook-endpoint', id], changed);
    client
      .invalidateQueries({ queryKey: ['webhook-endpoints'] })
      .catch((error: unknown) => console.warn(error));
  };
}

/** The endpoint's URL, description and event types, changed in place. */
function EditEndpoint({ endpoint }: { endpoint: Endpoint }) {
  const [open, setOpen] = useState(false);
  const changed = useEndpointChanged(endpoint.id);
  const check = useSchemaForm(UpdateWebhookEndpoint);
  const save = useMutation({
    mutationFn: (body: { url: string; description: string; event_types: string[] }) =>
      write('patch', '/v1/webhook-endpoints/{id}', { path: { id: endpoint.id }, body }),
    onSuccess: (saved) => {
      changed(saved);
      setOpen(false);
    },
    onError: check.refused,
  });
  if (!open) {
    return (
      <button type="button" onClick={() => setOpen(true)}>
        Edit…
      </button>
    );
  }
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const body = {
      url: String(form.get('url') ?? '').trim(),
      description: String(form.get('description') ?? '').trim(),
      event_types: chosenTypes(form),
    };
    if (check.check(body)) save.mutate(body);
  };
  return (
    <form ref={check.ref} className="stacked" onSubmit={submit} aria-label="Edit the endpoint" noValidate>
      <label>
        URL <input name="url" type="url" required defaultValue={endpoint.url} {...check.field('url')} />
      </label>
      <FieldError form={check} name="url" />
      <label>
        Description{' '}
        <input name="description" defaultValue={endpoint.description} {...check.field('description')} />
      </label>
      <FieldError form={check} name="description" />
      <EventTypeChoice initial={endpoint.event_types} field={check.field('event_types')} />
      <FieldError form={check} name="event_types" />
      <OtherErrors form={check} />
      <button type="submit" disabled={save.isPending}>
        Save
      </button>
      <button type="button" onClick={() => setOpen(false)}>
        Cancel
      </button>
      {save.isError ? <ErrorNotice error={save.error} /> : null}
    </form>
  );
}

/** Disable or enable, rotate the secret (shown once), delete: the dangerous ones typed. */
function EndpointActions({ endpoint }: { endpoint: Endpoint }) {
  const navigate = useNavigate();
  const client = useQueryClient();
  const changed = useEndpointChanged(endpoint.id);
  const [asking, setAsking] = useState<'disable' | 'rotate' | 'delete' | undefined>();
  const path = { id: endpoint.id };
  const status = useMutation({
    mutationFn: (next: Endpoint['status']) =>
      write('patch', '/v1/webhook-endpoints/{id}', { path, body: { status: next } }),
    onSuccess: (saved) => {
      changed(saved);
      setAsking(undefined);
    },
  });
  const rotate = useMutation({
    mutationFn: () => post('/v1/webhook-endpoints/{id}/rotate-secret', { path, body: {} }),
    onSuccess: () => setAsking(undefined),
  });
  const remove = useMutation({
    mutationFn: () => write('delete', '/v1/webhook-endpoints/{id}', { path }),
    onSuccess: () => {
      client.removeQueries({ queryKey: ['webhook-endpoint', endpoint.id] });
      client
        .invalidateQueries({ queryKey: ['webhook-endpoints'] })
        .catch((error: unknown) => console.warn(error));
      navigate({ to: '/webhooks' }).catch((error: unknown) => console.error(error));
    },
  });
  const confirm = (action: string, run: () => void, busy: boolean) => (
    <TypedConfirm
      action={action}
      expected={endpoint.id}
      busy={busy}
      onConfirm={run}
      onCancel={() => setAsking(undefined)}
    />
  );
  return (
    <section aria-label="Endpoint actions">
      {rotate.data === undefined ? null : (
        <SecretOnce
          label={`New signing secret (the old one signs beside it until ${rotate.data.previous_secret_expires_at})`}
          secret={rotate.data.secret}
          onDone={() => rotate.reset()}
        />
      )}
      {asking === 'disable' ? (
        confirm(`Disable ${endpoint.id}`, () => status.mutate('disabled'), status.isPending)
      ) : asking === 'rotate' ? (
        confirm(`Rotate the secret of ${endpoint.id}`, () => rotate.mutate(), rotate.isPending)
      ) : asking === 'delete' ? (
        confirm(`Delete ${endpoint.id}`, () => remove.mutate(), remove.isPending)
      ) : (
        <div className="actions">
          {endpoint.status === 'enabled' ? (
            <button type="button" onClick={() => setAsking('disable')}>
              Disable…
            </button>
          ) : (
            <button type="button" onClick={() => status.mutate('enabled')} disabled={status.isPending}>
              Enable
            </button>
          )}
          <button type="button" onClick={() => setAsking('rotate')}>
            Rotate secret…
          </button>
          <button type="button" onClick={() => setAsking('delete')}>
            Delete…
          </button>
        </div>
      )}
      {[status, rotate, remove].map((m, i) =>
        // biome-ignore lint/suspicious/noArrayIndexKey: the three mutations are a fixed list
        m.isError ? <ErrorNotice key={i} error={m.error} /> : null,
      )}
    </section>
  );
}

/** The endpoint's delivery log, newest first: each delivery replayed, or a time range of them. */
function Deliveries({ endpoint }: { endpoint: Endpoint }) {
  const client = useQueryClient();
  const query = { limit: PAGE };
  const path = { id: endpoint.id };
  const pages = useCursorPages(['webhook-deliveries', endpoint.id], (cursor) =>
    get('/v1/webhook-endpoints/{id}/deliveries', { path, query: { ...query, cursor } }),
  );
  const refresh = () =>
    client
      .invalidateQueries({ queryKey: ['webhook-deliveries', endpoint.id] })
      .catch((error: unknown) => console.warn(error));
  const replay = useMutation({
    mutationFn: (id: string) => post('/v1/webhook-deliveries/{id}/replay', { path: { id } }),
    onSuccess: refresh,
  });
  const rows = pages.data?.pages.flatMap((page) => page.data) ?? [];
  return (
    <section aria-labelledby="deliveries-heading">
      <h2 id="deliveries-heading">Deliveries</h2>
      <div className="actions">
        <button type="button" onClick={refresh} disabled={pages.isFetching}>
          Refresh
        </button>
      </div>
      <ReplayRange endpoint={endpoint} onReplayed={refresh} />
      {replay.isSuccess ? <p role="status">Replay of {replay.data.id} queued.</p> : null}
      {replay.isError ? <ErrorNotice error={replay.error} /> : null}
      {pages.isPending ? <Loading what="deliveries" /> : null}
      {pages.isError ? <ErrorNotice error={pages.error} /> : null}
      {pages.data === undefined ? null : (
        <>
          {rows.length === 0 ? (
            <p>No delivery yet.</p>
          ) : (
            <ol className="timeline" data-testid="deliveries">
              {rows.map((delivery) => (
                <DeliveryRow
                  key={delivery.id}
                  delivery={delivery}
                  replaying={replay.isPending && replay.variables === delivery.id}
                  onReplay={() => replay.mutate(delivery.id)}
                />
              ))}
            </ol>
          )}
          <LoadMore pages={pages} what="deliveries" label="Older" />
          <ApiPanel
            label="Deliveries API"
            call={callOf('/v1/webhook-endpoints/{id}/deliveries', { path, query })}
            data={pages.data.pages}
          />
        </>
      )}
    </section>
  );
}

function DeliveryRow({
  delivery,
  replaying,
  onReplay,
}: {
  delivery: Delivery;
  replaying: boolean;
  onReplay: () => void;
}) {
  return (
    <li data-testid="delivery">
      <details>
        <summary>
          <time dateTime={delivery.created_at}>{delivery.created_at}</time>{' '}
          <strong>{delivery.event_type}</strong> <StateBadge state={delivery.state} />{' '}
          <span className="who">
            {delivery.last_status === null ? 'no answer' : `HTTP ${delivery.last_status}`},{' '}
            {/* Every attempt, a replay's too: attempt_count counts the current series alone. */}
            {delivery.attempts.length} attempt{delivery.attempts.length === 1 ? '' : 's'}
          </span>
        </summary>
        <ScrollPre>{JSON.stringify(delivery, null, 2)}</ScrollPre>
      </details>
      {delivery.state === 'pending' ? null : (
        <button type="button" onClick={onReplay} disabled={replaying} aria-label={`Replay ${delivery.id}`}>
          Replay
        </button>
      )}
    </li>
  );
}

/** Sends again every delivery of a time range that is not pending (`POST …/replay`). */
function ReplayRange({ endpoint, onReplayed }: { endpoint: Endpoint; onReplayed: () => void }) {
  const [open, setOpen] = useState(false);
  const check = useSchemaForm(ReplayWebhookRange);
  const replay = useMutation({
    mutationFn: (body: { since: string; until: string }) =>
      post('/v1/webhook-endpoints/{id}/replay', { path: { id: endpoint.id }, body }),
    onSuccess: onReplayed,
    onError: check.refused,
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    // The inputs are local times, as the person reads a clock; the API takes instants. A field
    // left empty (or a date the browser cannot read) stays as typed, for the check to name it.
    const instant = (name: string) => {
      const typed = String(form.get(name) ?? '');
      const at = new Date(typed);
      return Number.isNaN(at.getTime()) ? typed : at.toISOString();
    };
    const body = { since: instant('since'), until: instant('until') };
    if (check.check(body)) replay.mutate(body);
  };
  return (
    <>
      {open ? (
        <form
          ref={check.ref}
          className="filters"
          onSubmit={submit}
          aria-label="Replay a time range"
          noValidate
        >
          <label>
            From (local time) <input name="since" type="datetime-local" required {...check.field('since')} />
          </label>
          <FieldError form={check} name="since" />
          <label>
            Until (local time) <input name="until" type="datetime-local" required {...check.field('until')} />
          </label>
          <FieldError form={check} name="until" />
          <OtherErrors form={check} />
          <button type="submit" disabled={replay.isPending}>
            Replay range
          </button>
          <button type="button" onClick={() => setOpen(false)}>
            Close
          </button>
        </form>
      ) : (
        <button type="button" onClick={() => setOpen(true)}>
          Replay a range…
        </button>
      )}
      {replay.isSuccess ? (
        <p role="status" data-testid="replayed">
          {replay.data.replayed} deliver{replay.data.replayed === 1 ? 'y' : 'ies'} replayed.
        </p>
      ) : null}
      {replay.isError ? <ErrorNotice error={replay.error} /> : null}
    </>
  );
}
