import { useNavigate } from '@tanstack/react-router';
import { useCallback, useMemo, useSyncExternalStore } from 'react';
import { get } from '../shared/api.ts';
import { CommandPalette, type PaletteItem } from '../shared/components/index.ts';
import { parseTenantSearch } from './routes.tsx';
import { type SavedView, viewsChanged } from './saved-views-store.ts';

/** Tenants the palette offers for the words typed: the first few the server finds. */
const FOUND = 8;

/**
 * The operator console's command palette: its pages and the saved views of the tenant list, the
 * tenants the server finds for the words typed (`GET /v1/tenants?search=`), and the actions the
 * page shown offers.
 */
export function ConsolePalette() {
  const navigate = useNavigate();
  const views = useSyncExternalStore(viewsChanged.subscribe, viewsChanged.snapshot);
  const go = useCallback(
    (to: () => Promise<void>) => () => {
      to().catch((error: unknown) => console.error('could not open the page', error));
    },
    [],
  );
  const items = useMemo<PaletteItem[]>(
    () => [
      { id: 'fleet', group: 'Page', label: 'Fleet', run: go(() => navigate({ to: '/' })) },
      {
        id: 'tenants',
        group: 'Page',
        label: 'Tenants',
        run: go(() => navigate({ to: '/tenants', search: {} })),
      },
      ...views.map((view: SavedView) => ({
        id: `view-${view.name}`,
        group: 'View',
        label: view.name,
        run: go(() => navigate({ to: '/tenants', search: parseTenantSearch(view.filters) })),
      })),
    ],
    [navigate, go, views],
  );
  const find = useCallback(
    async (words: string, signal: AbortSignal): Promise<PaletteItem[]> => {
      const page = await get('/v1/tenants', { query: { search: words.slice(0, 100), limit: FOUND } });
      if (signal.aborted) return [];
      return page.data.map((tenant) => ({
        id: tenant.id,
        group: 'Tenant',
        label: `${tenant.name} (${tenant.slug}, ${tenant.state.replace(/_/g, ' ')})`,
        // A deleted tenant's slug may be another's now: it is opened by its id.
        run: go(() =>
          navigate({
            to: '/tenants/$id',
            params: { id: tenant.state === 'deleted' ? tenant.id : tenant.slug },
            search: {},
          }),
        ),
      }));
    },
    [navigate, go],
  );
  return <CommandPalette items={items} find={find} />;
}
