import { useQuery } from '@tanstack/react-query';
import {
  createRootRoute,
  createRoute,
  createRouter,
  lazyRouteComponent,
  type RouteComponent,
  useRouterState,
} from '@tanstack/react-router';
import type { TenantAdminPermission } from '@tenantry/core';
import type { MouseEvent } from 'react';
import { get } from '../shared/api.ts';
import { session } from '../shared/auth.ts';
import { Callback } from '../shared/callback.tsx';
import { Shell } from '../shared/components/index.ts';
import { can } from './access.tsx';
import { AuditPage } from './audit-page.tsx';
import { useBranding } from './brand.tsx';
import { PortalHome } from './portal-home.tsx';
import { UsagePage } from './usage-page.tsx';

// The pages with forms are chunks of their own, loaded when opened: their forms check their values
// with the API's request schemas, and zod stays out of what the overview and billing pages load.
const ApiKeysPage = lazyRouteComponent(() => import('./api-keys-page.tsx'), 'ApiKeysPage');
const MembersPage = lazyRouteComponent(() => import('./members-page.tsx'), 'MembersPage');
const SecretsPage = lazyRouteComponent(() => import('./secrets-page.tsx'), 'SecretsPage');
const SelfHostedPage = lazyRouteComponent(() => import('./self-hosted-page.tsx'), 'SelfHostedPage');
const WebhooksPage = lazyRouteComponent(() => import('./webhooks-page.tsx'), 'WebhooksPage');
const PortalBilling = lazyRouteComponent(() => import('./portal-billing.tsx'), 'PortalBilling');
const Welcome = lazyRouteComponent(() => import('./welcome.tsx'), 'Welcome');

/** The portal's pages, each shown in the navigation only to a member whose role may read it. */
const PAGES: readonly { path: string; name: string; needs?: TenantAdminPermission }[] = [
  { path: '/portal/', name: 'Overview' },
  { path: '/portal/billing', name: 'Plan & billing', needs: 'billing:read' },
  { path: '/portal/usage', name: 'Usage', needs: 'billing:read' },
  { path: '/portal/members', name: 'Members', needs: 'members:read' },
  { path: '/portal/api-keys', name: 'API keys', needs: 'api_keys:read' },
  { path: '/portal/audit', name: 'Audit log', needs: 'audit:read' },
  { path: '/portal/secrets', name: 'Secrets', needs: 'secrets:write' },
  { path: '/portal/webhooks', name: 'Webhooks', needs: 'webhooks:write' },
  { path: '/portal/self-hosted', name: 'Self-hosted', needs: 'licenses:read' },
];

// The portal's links are plain anchors: the router's types are registered for the operator
// console's route tree (one router per program, and both programs share one type check). A plain
// click is handed to the router's history (no reload: the tokens live in the page's memory);
// a modified one (new tab, say) is the browser's.
function Nav({ logo }: { logo: string | null | undefined }) {
  useRouterState({ select: (state) => state.location.href });
  // The self-hosted page is for a tenant with licenses: a hosted one's members are not offered it.
  const tenantId = session()?.tenantId;
  const licensed = useQuery({
    queryKey: ['licensed', tenantId],
    queryFn: () => get('/v1/tenants/{id}/licenses', { path: { id: tenantId ?? '' }, query: { limit: 1 } }),
    enabled: tenantId !== undefined && can('licenses:read'),
  });
  const shown = (page: (typeof PAGES)[number]) =>
    (page.needs === undefined || can(page.needs)) &&
    (page.path !== '/portal/self-hosted' || (licensed.data?.data.length ?? 0) > 0);
  const here = window.location.pathname;
  const follow = (event: MouseEvent<HTMLAnchorElement>, path: string) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    router.history.push(path);
  };
  return (
    <>
      {logo ? <img className="brand-logo" src={logo} alt="" height={24} /> : null}
      {PAGES.filter(shown).map((page) => (
        <a
          key={page.path}
          href={page.path}
          onClick={(event) => follow(event, page.path)}
          {...(here === page.path || (page.path === '/portal/' && here === '/portal')
            ? { 'aria-current': 'page' }
            : {})}
        >
          {page.name}
        </a>
      ))}
    </>
  );
}

/** The shared frame, branded with the vendor's name, logo and colour. */
function PortalShell() {
  const brand = useBranding();
  return <Shell entry="portal" title={brand?.product_name ?? 'Portal'} nav={<Nav logo={brand?.logo} />} />;
}

const rootRoute = createRootRoute({
  component: PortalShell,
  notFoundComponent: () => (
    <>
      <h1>Not found</h1>
      <p>
        This portal has no such page. <a href="/portal/">Go to the overview</a>
      </p>
    </>
  ),
});

const page = (path: string, component: RouteComponent) =>
  createRoute({ getParentRoute: () => rootRoute, path, component });

const callbackRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/callback',
  component: () => <Callback entry="portal" />,
});

export const router = createRouter({
  routeTree: rootRoute.addChildren([
    page('/', PortalHome),
    page('/welcome', Welcome),
    page('/billing', PortalBilling),
    page('/usage', UsagePage),
    page('/members', MembersPage),
    page('/api-keys', ApiKeysPage),
    page('/audit', AuditPage),
    page('/secrets', SecretsPage),
    page('/webhooks', WebhooksPage),
    page('/self-hosted', SelfHostedPage),
    callbackRoute,
  ]),
  basepath: '/portal',
});
