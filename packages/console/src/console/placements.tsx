import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { getRouteApi, Link } from '@tanstack/react-router';
import type { Schemas } from '@tenantry/core/api';
import { UpdateDataPlane } from '@tenantry/core/api/requests';
import { type FormEvent, useState } from 'react';
import { callOf, get, write } from '../shared/api.ts';
import { useCursorPages } from '../shared/components/cursor-pages.ts';
import {
  ApiPanel,
  type Column,
  ErrorNotice,
  Loading,
  StateBadge,
  TypedConfirm,
} from '../shared/components/index.ts';
import { PagedTable } from '../shared/components/paged-table.tsx';
import { FieldError, OtherErrors, useSchemaForm } from '../shared/schema-form.tsx';

type DataPlane = Schemas['DataPlane'];

const PAGE = 100;
/** The control plane's own server: never retired (the API refuses). */
const DEFAULT_DATA_PLANE = 'dpl_default';
const dataPlaneRoute = getRouteApi('/placements/$id');

/** "12 of 50", or "12" when the data plane has no capacity set. */
function load(plane: DataPlane): string {
  return plane.capacity === null ? `${plane.tenants}` : `${plane.tenants} of ${plane.capacity}`;
}

const COLUMNS: readonly Column<DataPlane>[] = [
  {
    header: 'Data plane',
    cell: (p) => (
      <Link to="/placements/$id" params={{ id: p.id }}>
        {p.name} <span className="who">({p.id})</span>
      </Link>
    ),
  },
  { header: 'Kind', cell: (p) => p.kind },
  { header: 'Region', cell: (p) => p.region ?? 'none' },
  { header: 'Health', cell: (p) => <StateBadge state={p.health} /> },
  { header: 'Tenants', cell: load },
];

/** The data planes tenants are placed on: their health and how full each is, a page of 100 at a time. */
export function PlacementsPage() {
  const query = { limit: PAGE };
  const pages = useCursorPages(['data-planes'], (cursor) =>
    get('/v1/data-planes', { query: { ...query, cursor } }),
  );
  return (
    <>
      <h1>Placements</h1>
      <p>
        The data planes that hold tenants' data: the control plane's own server, the vendor's others, and each
        BYOI tenant's database.
      </p>
      <PagedTable
        pages={pages}
        what="data planes"
        noun="data plane"
        countId="data-plane-count"
        label="Data planes"
        columns={COLUMNS}
        rowKey={(p) => p.id}
        call={callOf('/v1/data-planes', { query })}
      />
    </>
  );
}

/** One data plane: where it is, its health and load; its name, region and capacity changed, or it retired. */
export function DataPlanePage() {
  const { id } = dataPlaneRoute.useParams();
  const plane = useQuery({
    queryKey: ['data-plane', id],
    queryFn: () => get('/v1/data-planes/{id}', { path: { id } }),
  });
  return (
    <>
      {plane.isPending ? <Loading what="the data plane" /> : null}
      {plane.isError ? (
        <>
          <h1>{id}</h1>
          <ErrorNotice error={plane.error} />
        </>
      ) : null}
      {plane.data === undefined ? null : (
        <>
          <h1>
            {plane.data.name}{' '}
            <StateBadge state={plane.data.retired_at === null ? plane.data.health : 'retired'} />
          </h1>
          <DataPlaneFacts plane={plane.data} />
          {plane.data.retired_at === null ? <Changes plane={plane.data} /> : null}
          <ApiPanel call={callOf('/v1/data-planes/{id}', { path: { id } })} data={plane.data} />
        </>
      )}
    </>
  );
}

function DataPlaneFacts({ plane }: { plane: DataPlane }) {
  const where = plane.connection;
  return (
    <dl className="facts">
      <dt>Id</dt>
      <dd>{plane.id}</dd>
      <dt>Kind</dt>
      <dd>{plane.kind}</dd>
      <dt>Region</dt>
      <dd>{plane.region ?? 'none'}</dd>
      <dt>Tenants</dt>
      <dd data-testid="data-plane-tenants">
        {load(plane)}
        {plane.capacity === null ? ' (no capacity set)' : ''}
      </dd>
      {plane.tenant_id === null ? null : (
        <>
          <dt>Tenant</dt>
          <dd>
            <Link to="/tenants/$id" params={{ id: plane.tenant_id }}>
              {plane.tenant_id}
            </Link>
          </dd>
        </>
      )}
      <dt>Health</dt>
      <dd data-testid="data-plane-health">
        {plane.health}
        {plane.health_detail === null ? '' : `: ${plane.health_detail}`}
        {plane.health_checked_at === null ? ', never checked' : `, checked ${plane.health_checked_at}`}
      </dd>
      <dt>Server</dt>
      <dd>{plane.server_version === null ? 'unknown' : `PostgreSQL ${plane.server_version}`}</dd>
      <dt>Connection</dt>
      <dd>
        {where === null
          ? 'none (the control plane’s own server, or reached through an agent)'
          : `${where.user}@${where.host}:${where.port}/${where.database} (sslmode ${where.sslmode})`}
      </dd>
      <dt>Registered</dt>
      <dd>{plane.created_at}</dd>
      {plane.retired_at === null ? null : (
        <>
          <dt>Retired</dt>
          <dd>{plane.retired_at}</dd>
        </>
      )}
    </dl>
  );
}

/**
 * Changing the name, region and capacity (a connection is changed from the CLI or the API, where
 * the password is typed), and retiring a vendor data plane no tenant lives on (the API refuses the
 * others), behind its name typed out.
 */
function Changes({ plane }: { plane: DataPlane }) {
  const client = useQueryClient();
  const [retiring, setRetiring] = useState(false);
  const changed = (next: DataPlane) => {
    client.setQueryData(['data-plane', plane.id], next);
    client.invalidateQueries({ queryKey: ['data-planes'] }).catch((error: unknown) => console.warn(error));
  };
  const form = useSchemaForm(UpdateDataPlane);
  const update = useMutation({
    mutationFn: (body: { name: string; region: string | null; capacity: number | null }) =>
      write('patch', '/v1/data-planes/{id}', { path: { id: plane.id }, body }),
    onSuccess: changed,
    onError: form.refused,
  });
  const retire = useMutation({
    mutationFn: () => write('delete', '/v1/data-planes/{id}', { path: { id: plane.id } }),
    onSuccess: (next) => {
      setRetiring(false);
      changed(next);
    },
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const values = new FormData(event.currentTarget);
    const region = String(values.get('region') ?? '').trim();
    const capacity = String(values.get('capacity') ?? '').trim();
    const body = {
      name: String(values.get('name') ?? '').trim(),
      region: region === '' ? null : region,
      capacity: capacity === '' ? null : Number(capacity),
    };
    if (form.check(body)) update.mutate(body);
  };
  return (
    <>
      <form
        ref={form.ref}
        className="filters"
        aria-label="Change the data plane"
        onSubmit={submit}
        key={plane.updated_at}
        noValidate
      >
        <label>
          Name
          <input name="name" defaultValue={plane.name} required {...form.field('name')} />
        </label>
        <FieldError form={form} name="name" />
        <label>
          Region
          <input
            name="region"
            defaultValue={plane.region ?? ''}
            placeholder="none"
            {...form.field('region')}
          />
        </label>
        <FieldError form={form} name="region" />
        <label>
          Capacity
          <input
            name="capacity"
            type="number"
            min={0}
            defaultValue={plane.capacity ?? ''}
            placeholder="no limit"
            {...form.field('capacity')}
          />
        </label>
        <FieldError form={form} name="capacity" />
        <OtherErrors form={form} />
        <button type="submit" disabled={update.isPending}>
          Save
        </button>
        <span role="status">{update.isSuccess ? 'Saved' : ''}</span>
      </form>
      {update.isError ? <ErrorNotice error={update.error} /> : null}
      {plane.kind !== 'vendor' || plane.id === DEFAULT_DATA_PLANE ? null : plane.tenants > 0 ? (
        <p>
          To retire it, move its {plane.tenants} tenant{plane.tenants === 1 ? '' : 's'} elsewhere first.
        </p>
      ) : (
        <section aria-label="Retire">
          {retiring ? (
            <TypedConfirm
              action={`Retire ${plane.name}`}
              expected={plane.name}
              busy={retire.isPending}
              onConfirm={() => retire.mutate()}
              onCancel={() => setRetiring(false)}
            />
          ) : (
            <button type="button" onClick={() => setRetiring(true)}>
              Retire…
            </button>
          )}
          {retire.isError ? <ErrorNotice error={retire.error} /> : null}
        </section>
      )}
    </>
  );
}
