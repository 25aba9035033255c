import { useInfiniteQuery } from '@tanstack/react-query';
import { getRouteApi, Link } from '@tanstack/react-router';
import { type FormEvent, useCallback } from 'react';
import { callOf, get } from '../shared/api.ts';
import {
  ApiPanel,
  type Column,
  ErrorNotice,
  Loading,
  StateBadge,
  VirtualTable,
} from '../shared/components/index.ts';
import { isPlacement, isTenantState, PLACEMENTS, TENANT_STATES, type Tenant } from '../shared/tenants.ts';
import type { TenantSearch } from './routes.tsx';

const route = getRouteApi('/tenants');
const PAGE = 100;

const COLUMNS: readonly Column<Tenant>[] = [
  {
    header: 'Tenant',
    cell: (t) => (
      <Link to="/tenants/$id" params={{ id: t.slug }}>
        {t.name} <span className="who">({t.slug})</span>
      </Link>
    ),
  },
  { header: 'State', cell: (t) => <StateBadge state={t.state} /> },
  { header: 'Plan', cell: (t) => `${t.plan.key} v${t.plan.version}` },
  { header: 'Placement', cell: (t) => t.placement },
  { header: 'Data plane', cell: (t) => t.data_plane_health },
];

/**
 * The tenant list: searched and filtered on the server, the filters kept in the URL, a page of
 * 100 at a time (the API's cursor), the next one read as the last row scrolls into view.
 */
export function TenantsList() {
  const search = route.useSearch();
  const navigate = route.useNavigate();
  const query = { ...search, limit: PAGE };
  const pages = useInfiniteQuery({
    queryKey: ['tenants', search],
    queryFn: ({ pageParam }) => get('/v1/tenants', { query: { ...query, cursor: pageParam } }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const rows = pages.data?.pages.flatMap((page) => page.data) ?? [];
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = pages;
  const more = useCallback(() => {
    if (hasNextPage && !isFetchingNextPage) {
      fetchNextPage().catch((error: unknown) => console.error('could not read the next page', error));
    }
  }, [hasNextPage, isFetchingNextPage, fetchNextPage]);

  const apply = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const words = String(form.get('search') ?? '').trim();
    const state = form.get('state');
    const placement = form.get('placement');
    const next: TenantSearch = {
      ...(words === '' ? {} : { search: words }),
      ...(isTenantState(state) ? { state } : {}),
      ...(isPlacement(placement) ? { placement } : {}),
      ...(search.plan === undefined ? {} : { plan: search.plan }),
    };
    navigate({ search: next }).catch((error: unknown) => console.error('could not apply the filters', error));
  };

  return (
    <>
      <h1>Tenants</h1>
      <form className="filters" aria-label="Search tenants" onSubmit={apply} key={JSON.stringify(search)}>
        <label>
          Search
          <input name="search" type="search" defaultValue={search.search ?? ''} placeholder="slug or name" />
        </label>
        <label>
          State
          <select name="state" defaultValue={search.state ?? ''}>
            <option value="">any</option>
            {TENANT_STATES.map((state) => (
              <option key={state} value={state}>
                {state}
              </option>
            ))}
          </select>
        </label>
        <label>
          Placement
          <select name="placement" defaultValue={search.placement ?? ''}>
            <option value="">any</option>
            {PLACEMENTS.map((placement) => (
              <option key={placement} value={placement}>
                {placement}
              </option>
            ))}
          </select>
        </label>
        <button type="submit">Apply</button>
      </form>
      {pages.isPending ? <Loading what="tenants" /> : null}
      {pages.isError ? <ErrorNotice error={pages.error} /> : null}
      {pages.data === undefined ? null : (
        <>
          <p role="status" data-testid="tenant-count">
            {rows.length === 0
              ? 'No tenant matches.'
              : `${rows.length}${hasNextPage ? '+' : ''} tenant${rows.length === 1 ? '' : 's'}`}
          </p>
          {rows.length === 0 ? null : (
            <VirtualTable label="Tenants" rows={rows} columns={COLUMNS} rowKey={(t) => t.id} onEnd={more} />
          )}
          {hasNextPage ? (
            <button type="button" onClick={more} disabled={isFetchingNextPage}>
              {isFetchingNextPage ? 'Loading…' : 'Load more'}
            </button>
          ) : null}
          <ApiPanel call={callOf('/v1/tenants', { query })} data={pages.data.pages} />
        </>
      )}
    </>
  );
}
