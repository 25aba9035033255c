import { createRootRoute, createRoute, createRouter, Link, lazyRouteComponent } from '@tanstack/react-router';
import { Callback } from '../shared/callback.tsx';
import { Shell } from '../shared/components/index.ts';
import { isPlacement, isTenantState, type Placement, type TenantState } from '../shared/tenants.ts';
import {
  isProvisioningRunState,
  type ProvisioningRunState,
  parseAuditSearch,
  parseInvoiceSearch,
  parseShowbackSearch,
} from './admin-search.ts';
import { ConsolePalette } from './console-palette.tsx';
import { FleetHome } from './fleet-home.tsx';
import { parsePlanDiffSearch, parsePlanSearch } from './plans/plan-search.ts';

/**
 * Every page but the fleet home is a chunk of its own, loaded when its route is first opened: the
 * home (the page most visits start on) loads only its own code and the shared libraries.
 */
const AuditLog = lazyRouteComponent(() => import('./audit-log.tsx'), 'AuditLog');
const InvoicePage = lazyRouteComponent(() => import('./invoices.tsx'), 'InvoicePage');
const InvoicesList = lazyRouteComponent(() => import('./invoices.tsx'), 'InvoicesList');
const FleetShowbackPage = lazyRouteComponent(() => import('./fleet-showback.tsx'), 'FleetShowbackPage');
const LicensesPage = lazyRouteComponent(() => import('./licenses.tsx'), 'LicensesPage');
const MigrationRunPage = lazyRouteComponent(() => import('./migrations.tsx'), 'MigrationRunPage');
const MigrationsPage = lazyRouteComponent(() => import('./migrations.tsx'), 'MigrationsPage');
const DataPlanePage = lazyRouteComponent(() => import('./placements.tsx'), 'DataPlanePage');
const PlacementsPage = lazyRouteComponent(() => import('./placements.tsx'), 'PlacementsPage');
const PlanDiffPage = lazyRouteComponent(() => import('./plans/plan-diff-page.tsx'), 'PlanDiffPage');
const PlanEditor = lazyRouteComponent(() => import('./plans/plan-editor.tsx'), 'PlanEditor');
const PlanPage = lazyRouteComponent(() => import('./plans/plan-page.tsx'), 'PlanPage');
const PlansList = lazyRouteComponent(() => import('./plans/plans-list.tsx'), 'PlansList');
const SettingsPage = lazyRouteComponent(() => import('./settings-page.tsx'), 'SettingsPage');
const StaffPage = lazyRouteComponent(() => import('./staff.tsx'), 'StaffPage');
const TenantPage = lazyRouteComponent(() => import('./tenant-page.tsx'), 'TenantPage');
const TenantsList = lazyRouteComponent(() => import('./tenants-list.tsx'), 'TenantsList');
const WebhookPage = lazyRouteComponent(() => import('./webhooks.tsx'), 'WebhookPage');
const WebhooksList = lazyRouteComponent(() => import('./webhooks.tsx'), 'WebhooksList');
const ProvisioningPage = lazyRouteComponent(() => import('./provisioning.tsx'), 'ProvisioningPage');

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
const TENANT_VIEWS = [
  'timeline',
  'usage',
  'billing',
  'entitlements',
  'members',
  'licenses',
  'webhooks',
] as const;
export type TenantView = (typeof TENANT_VIEWS)[number];

/** The tenant page's search params: an unknown view opens the overview. */
export function parseTenantPageSearch(raw: Record<string, unknown>): { view?: TenantView | undefined } {
  return { view: TENANT_VIEWS.find((view) => view === raw.view) };
}

/** The provisioning list's filter, as the URL keeps it; a state the API does not know is dropped. */
export function parseProvisioningSearch(raw: Record<string, unknown>): {
  state?: ProvisioningRunState | undefined;
} {
  return { state: isProvisioningRunState(raw.state) ? raw.state : undefined };
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
      <Link to="/plans" activeProps={{ 'aria-current': 'page' }}>
        Plans
      </Link>
      <Link to="/invoices" activeProps={{ 'aria-current': 'page' }}>
        Invoices
      </Link>
      <Link to="/showback" activeProps={{ 'aria-current': 'page' }}>
        Showback
      </Link>
      <Link to="/audit" activeProps={{ 'aria-current': 'page' }}>
        Audit log
      </Link>
      <Link to="/webhooks" activeProps={{ 'aria-current': 'page' }}>
        Webhooks
      </Link>
      <Link to="/staff" activeProps={{ 'aria-current': 'page' }}>
        Staff and keys
      </Link>
      <Link to="/licenses" activeProps={{ 'aria-current': 'page' }}>
        Licenses
      </Link>
      <Link to="/placements" activeProps={{ 'aria-current': 'page' }}>
        Placements
      </Link>
      <Link to="/migrations" activeProps={{ 'aria-current': 'page' }}>
        Migrations
      </Link>
      <Link to="/provisioning" activeProps={{ 'aria-current': 'page' }}>
        Provisioning
      </Link>
      <Link to="/settings" activeProps={{ 'aria-current': 'page' }}>
        Settings
      </Link>
      <ConsolePalette />
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
const plansRoute = createRoute({ getParentRoute: () => rootRoute, path: '/plans', component: PlansList });
const planEditRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/plans/edit',
  component: PlanEditor,
});
const planRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/plans/$key',
  validateSearch: parsePlanSearch,
  component: PlanPage,
});
const planDiffRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/plans/$key/diff',
  validateSearch: parsePlanDiffSearch,
  component: PlanDiffPage,
});
const invoicesRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/invoices',
  validateSearch: parseInvoiceSearch,
  component: InvoicesList,
});
const invoiceRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/invoices/$id',
  component: InvoicePage,
});
const showbackRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/showback',
  validateSearch: parseShowbackSearch,
  component: FleetShowbackPage,
});
const auditRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/audit',
  validateSearch: parseAuditSearch,
  component: AuditLog,
});
const webhooksRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/webhooks',
  component: WebhooksList,
});
const webhookRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/webhooks/$id',
  component: WebhookPage,
});
const staffRoute = createRoute({ getParentRoute: () => rootRoute, path: '/staff', component: StaffPage });
const licensesRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/licenses',
  component: LicensesPage,
});
const placementsRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/placements',
  component: PlacementsPage,
});
const dataPlaneRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/placements/$id',
  component: DataPlanePage,
});
const migrationsRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/migrations',
  component: MigrationsPage,
});
const migrationRunRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/migrations/$id',
  component: MigrationRunPage,
});
const provisioningRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/provisioning',
  validateSearch: parseProvisioningSearch,
  component: ProvisioningPage,
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
  routeTree: rootRoute.addChildren([
    fleetRoute,
    tenantsRoute,
    tenantRoute,
    plansRoute,
    planEditRoute,
    planRoute,
    planDiffRoute,
    invoicesRoute,
    invoiceRoute,
    showbackRoute,
    auditRoute,
    webhooksRoute,
    webhookRoute,
    staffRoute,
    licensesRoute,
    placementsRoute,
    dataPlaneRoute,
    migrationsRoute,
    migrationRunRoute,
    provisioningRoute,
    settingsRoute,
    callbackRoute,
  ]),
  basepath: '/console',
});

// The operator console's routes type its links and search params. The portal has no links of
// its own: one router is registered per program.
declare module '@tanstack/react-router' {
  interface Register {
    router: typeof router;
  }
}
