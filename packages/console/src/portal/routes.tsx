import { createRootRoute, createRoute, createRouter } from '@tanstack/react-router';
import { Callback } from '../shared/callback.tsx';
import { Shell } from '../shared/components/index.ts';
import { PortalHome } from './portal-home.tsx';
import { Welcome } from './welcome.tsx';

// The portal's links are plain anchors: the router's types are registered for the operator
// console's route tree (one router per program, and both programs share one type check).
function Nav() {
  return <a href="/portal/">Overview</a>;
}

const rootRoute = createRootRoute({
  component: () => <Shell entry="portal" title="Tenantry portal" nav={<Nav />} />,
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
