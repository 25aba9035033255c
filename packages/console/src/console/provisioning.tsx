import { useMutation, useQueryClient } from '@tanstack/react-query';
import { getRouteApi, Link } from '@tanstack/react-router';
import type { Schemas } from '@tenantry/core/api';
import type { FormEvent } from 'react';
import { callOf, get, post } from '../shared/api.ts';
import { useCursorPages } from '../shared/components/cursor-pages.ts';
import { type Column, ErrorNotice, StateBadge } from '../shared/components/index.ts';
import { PagedTable } from '../shared/components/paged-table.tsx';
import { isProvisioningRunState, PROVISIONING_STATES } from './admin-search.ts';

type Run = Schemas['FleetProvisioningRun'];

const route = getRouteApi('/provisioning');
const PAGE = 100;

/** Retries a failed run at its failed step (`retry-provisioning`): safe to ask again, so no confirmation. */
function Retry({ run }: { run: Run }) {
  const client = useQueryClient();
  const retry = useMutation({
    mutationFn: () => post('/v1/tenants/{id}/retry-provisioning', { path: { id: run.tenant.id }, body: {} }),
    onSuccess: () => {
      for (const key of [['provisioning-runs'], ['fleet-signals'], ['tenant']])
        client.invalidateQueries({ queryKey: key }).catch((error: unknown) => console.warn(error));
    },
  });
  if (retry.isError) return <ErrorNotice error={retry.error} />;
  if (retry.isSuccess) return <span role="status">Retrying</span>;
  return (
    <button
      type="button"
      onClick={() => retry.mutate()}
      disabled={retry.isPending}
      aria-label={`Retry provisioning ${run.tenant.slug}`}
    >
      Retry
    </button>
  );
}

const COLUMNS: readonly Column<Run>[] = [
  {
    header: 'Tenant',
    cell: (r) => (
      <Link to="/tenants/$id" params={{ id: r.tenant.slug }}>
        {r.tenant.name} <span className="who">({r.tenant.slug})</span>
      </Link>
    ),
  },
  { header: 'Run', cell: (r) => <StateBadge state={r.state} /> },
  { header: 'Step', cell: (r) => (r.step === null ? 'done' : `${r.step} (attempt ${r.attempts})`) },
  { header: 'Error', cell: (r) => r.error ?? '' },
  { header: 'Updated', cell: (r) => r.updated_at },
  { header: 'Action', cell: (r) => (r.state === 'failed' ? <Retry run={r} /> : null) },
];

/**
 * The fleet's provisioning runs, newest tenant first, in one state when the URL names it (a
 * filtered list is a link, e.g. the fleet home's "failed"); a failed run is retried from its row.
 */
export function ProvisioningPage() {
  const { state } = route.useSearch();
  const navigate = route.useNavigate();
  const query = { limit: PAGE, ...(state === undefined ? {} : { state }) };
  const pages = useCursorPages(['provisioning-runs', state], (cursor) =>
    get('/v1/provisioning-runs', { query: { ...query, cursor } }),
  );
  const apply = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const chosen = new FormData(event.currentTarget).get('state');
    navigate({ search: isProvisioningRunState(chosen) ? { state: chosen } : {} }).catch((error: unknown) =>
      console.error('could not apply the filter', error),
    );
  };
  return (
    <>
      <h1>Provisioning</h1>
      <form className="filters" aria-label="Filter provisioning runs" onSubmit={apply} key={state ?? ''}>
        <label>
          State
          <select name="state" defaultValue={state ?? ''}>
            <option value="">any</option>
            {PROVISIONING_STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Apply</button>
      </form>
      <PagedTable
        pages={pages}
        what="provisioning runs"
        noun="run"
        empty="No provisioning run matches."
        countId="provisioning-count"
        label="Provisioning runs"
        columns={COLUMNS}
        rowKey={(r) => r.tenant.id}
        call={callOf('/v1/provisioning-runs', { query })}
      />
    </>
  );
}
