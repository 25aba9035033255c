import { createRootRoute, createRoute, createRouter, Link } from '@tanstack/react-router';
import { Callback } from '../shared/callback.tsx';
import { Shell } from '../shared/components/index.ts';
import { isPlacement, isTenantState, type Placement, type TenantState } from '../shared/tenants.ts';
import { FleetHome } from './fleet-home.tsx';
import { SettingsPage } from './settings-page.tsx';
import { TenantPage } from './tenant-page.tsx';
import { TenantsList } from './tenants-list.tsx';

/** The tenant list's filters, as the URL keeps them: a search is a link. */
export interface TenantSearch {
  readonly search?: string | undefined;
  readonly state?: TenantState | undefined;
  readonly placement?: Placement | undefined;
  readonly plan?: string | undefined;
}

/**
 * The tenant list's search params, checked: a value the API would refuse is dropped rather than
 * sent (a hand-edited or stale link still opens the list). Every key is set, undefined when
 * dropped: the router merges the result over the raw params.
 */
export function parseTenantSearch(raw: Record<string, unknown>): TenantSearch {
  const text = (value: unknown) =>
    typeof value === 'string' && value.trim() !== '' ? value.trim().slice(0, 100) : undefined;
  return {
    search: text(raw.search),
    state: isTenantState(raw.state) ? raw.state : undefined,
    placement: isPlacement(raw.placement) ? raw.placement : undefined,
    plan: text(raw.plan),
  };
}

/** The tenant page's views beside its overview (the overview when none is given). */
export type TenantView = 'timeline' | 'usage';

/** The tenant page's search params: an unknown view opens the overview. */
export function parseTenantPageSearch(raw: Record<string, unknown>): { view?: TenantView | undefined } {
  return { view: raw.view === 'timeline' || raw.view === 'usage' ? raw.view : undefined };
}

function Nav() {
  return (
    <>
      <Link to="/" activeProps={{ 'aria-current': 'page' }} activeOptions={{ exact: true }}>
        Fleet
      </Link>
      <Link to="/tenants" activeProps={{ 'aria-current': 'page' }}>
        Tenants
      </Link>
      <Link to="/settings" activeProps={{ 'aria-current': 'page' }}>
        Settings
      </Link>
    </>
  );
}

const rootRoute = createRootRoute({
  component: () => <Shell entry="console" title="Tenantry console" nav={<Nav />} />,
  notFoundComponent: () => (
    <>
      <h1>Not found</h1>
      <p>
        This console has no such page. <Link to="/">Go to the fleet</Link>
      </p>
    </>
  ),
});

const fleetRoute = createRoute({ getParentRoute: () => rootRoute, path: '/', component: FleetHome });
const tenantsRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/tenants',
  validateSearch: parseTenantSearch,
  component: TenantsList,
});
const tenantRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/tenants/$id',
  validateSearch: parseTenantPageSearch,
  component: TenantPage,
});
const callbackRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/callback',
  component: () => <Callback entry="console" />,
});
const settingsRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/settings',
  component: SettingsPage,
});

export const router = createRouter({
  routeTree: rootRoute.addChildren([fleetRoute, tenantsRoute, tenantRoute, callbackRoute, settingsRoute]),
  basepath: '/console',
});

// The operator console's routes type its links and search params. The portal has no links of
// its own: one router is registered per program.
declare module '@tanstack/react-router' {
  interface Register {
    router: typeof router;
  }
}
