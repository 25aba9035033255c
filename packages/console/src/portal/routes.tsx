import { createRootRoute, createRoute, createRouter } from '@tanstack/react-router';
import { Callback } from '../shared/callback.tsx';
import { Shell } from '../shared/components/index.ts';
import { useBranding } from './brand.tsx';
import { PortalHome } from './portal-home.tsx';
import { Welcome } from './welcome.tsx';

// The portal's links are plain anchors: the router's types are registered for the operator
// console's route tree (one router per program, and both programs share one type check).
function Nav({ logo }: { logo: string | null | undefined }) {
  return (
    <>
      {logo ? <img className="brand-logo" src={logo} alt="" height={24} /> : null}
      <a href="/portal/">Overview</a>
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

const homeRoute = createRoute({ getParentRoute: () => rootRoute, path: '/', component: PortalHome });
const welcomeRoute = createRoute({ getParentRoute: () => rootRoute, path: '/welcome', component: Welcome });
const callbackRoute = createRoute({
  getParentRoute: () => rootRoute,
  path: '/callback',
  component: () => <Callback entry="portal" />,
});

export const router = createRouter({
  routeTree: rootRoute.addChildren([homeRoute, welcomeRoute, callbackRoute]),
  basepath: '/portal',
});
