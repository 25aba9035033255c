import { getRouteApi, Link } from '@tanstack/react-router';
import { operationUrl } from '@tenantry/core/api';
import { type FormEvent, type MouseEvent, useCallback, useMemo, useRef, useState } from 'react';
import { callOf, get } from '../shared/api.ts';
import { useCursorPages } from '../shared/components/cursor-pages.ts';
import {
  ApiPanel,
  type Column,
  ErrorNotice,
  type PaletteItem,
  StateBadge,
  usePaletteActions,
} from '../shared/components/index.ts';
import { PagedTable } from '../shared/components/paged-table.tsx';
import { useSaveFile } from '../shared/save-file.ts';
import { isPlacement, isTenantState, PLACEMENTS, TENANT_STATES, type Tenant } from '../shared/tenants.ts';
import { selectRows } from './bulk.ts';
import type { TenantSearch } from './routes.tsx';
import { BulkActions, SavedViews } from './tenants-tools.tsx';

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

/** The list's filters as the API's query (the URL's, unchanged). */
function filtersOf(search: TenantSearch) {
  return {
    ...(search.search === undefined ? {} : { search: search.search }),
    ...(search.state === undefined ? {} : { state: search.state }),
    ...(search.placement === undefined ? {} : { placement: search.placement }),
    ...(search.plan === undefined ? {} : { plan: search.plan }),
  };
}

/**
 * The tenant list: searched and filtered on the server, the filters kept in the URL, a page of
 * 100 at a time (the API's cursor), the next one read as the last row scrolls into view. Rows
 * are selected for bulk actions (a click, shift-click for a range, or every loaded row); the
 * filtered list downloads as CSV, all of it, from the API; the filters are saved as views.
 */
export function TenantsList() {
  const search = route.useSearch();
  const navigate = route.useNavigate();
  const query = { ...search, limit: PAGE };
  const pages = useCursorPages(['tenants', search], (cursor) =>
    get('/v1/tenants', { query: { ...query, cursor } }),
  );
  const rows = pages.data?.pages.flatMap((page) => page.data) ?? [];
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const anchor = useRef<number | undefined>(undefined);
  const ids = useMemo(() => rows.map((t) => t.id), [rows]);
  const clear = useCallback(() => {
    setSelected(new Set());
    anchor.current = undefined;
  }, []);
  const selectAll = useCallback(() => setSelected(new Set(ids)), [ids]);
  const csvCall = useMemo(
    () => ({
      method: 'GET' as const,
      url: operationUrl('/v1/tenants', { query: { ...filtersOf(search), format: 'csv' } }),
      accept: 'text/csv',
    }),
    [search],
  );
  const { mutate: saveCsv, ...exporting } = useSaveFile();
  const downloadCsv = useCallback(() => saveCsv({ call: csvCall, name: 'tenants.csv' }), [saveCsv, csvCall]);
  const actions = useMemo<PaletteItem[]>(
    () => [
      { id: 'csv', group: 'Action', label: 'Download the list as CSV', run: downloadCsv },
      { id: 'select-all', group: 'Action', label: 'Select every loaded tenant', run: selectAll },
      { id: 'clear', group: 'Action', label: 'Clear the selection', run: clear },
    ],
    [downloadCsv, selectAll, clear],
  );
  usePaletteActions(actions);
  const toggle = (index: number, event: MouseEvent<HTMLInputElement>) => {
    const checked = event.currentTarget.checked;
    // Read now: the updater runs at the next render, after the anchor has moved to this row.
    const from = anchor.current;
    const shift = event.shiftKey;
    setSelected((now) => selectRows(now, ids, index, checked, from, shift));
    anchor.current = index;
  };
  const allLoaded = rows.length > 0 && rows.every((t) => selected.has(t.id));
  const columns: readonly Column<Tenant>[] = [
    {
      header: 'Select',
      heading: (
        <input
          type="checkbox"
          aria-label="Select every loaded tenant"
          checked={allLoaded}
          onChange={(event) => (event.currentTarget.checked ? selectAll() : clear())}
        />
      ),
      cell: (t, index) => (
        <input
          type="checkbox"
          aria-label={`Select ${t.slug}`}
          checked={selected.has(t.id)}
          onClick={(event) => toggle(index, event)}
          // The click handler reads shift; React asks for onChange on a controlled checkbox.
          onChange={() => undefined}
        />
      ),
    },
    ...COLUMNS,
  ];
  const targets = rows.filter((t) => selected.has(t.id)).map((t) => ({ id: t.id, slug: t.slug }));

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
        <button type="button" onClick={downloadCsv} disabled={exporting.isPending}>
          {exporting.isPending ? 'Preparing CSV…' : 'Download CSV'}
        </button>
      </form>
      {exporting.isError ? <ErrorNotice error={exporting.error} /> : null}
      <SavedViews search={search} />
      <PagedTable
        pages={pages}
        what="tenants"
        noun="tenant"
        empty="No tenant matches."
        countId="tenant-count"
        label="Tenants"
        columns={columns}
        rowKey={(t) => t.id}
        call={callOf('/v1/tenants', { query })}
        toolbar={<BulkActions targets={targets} onClear={clear} />}
      >
        <ApiPanel call={csvCall} data="(the CSV download)" label="CSV export" />
      </PagedTable>
    </>
  );
}
