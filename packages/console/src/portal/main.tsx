import { QueryClientProvider } from '@tanstack/react-query';
import { createRootRoute, createRoute, createRouter, RouterProvider } from '@tanstack/react-router';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { Callback } from '../shared/callback.tsx';
import { Shell } from '../shared/components/index.ts';
import { queryClient } from '../shared/query.ts';
import { PortalHome } from './portal-home.tsx';
import '../styles.css';

const rootRoute = createRootRoute({
  component: () => <Shell entry="portal" title="Tenantry portal" nav={<a href="/portal/">Overview</a>} />,
  notFoundComponent: () => (
    <>
      <h1>Not found</h1>
      <p>
        This portal has no such page. <a href="/portal/">Go to the overview</a>
      </p>
    </>
  ),
});

const router = createRouter({
  routeTree: rootRoute.addChildren([
    createRoute({ getParentRoute: () => rootRoute, path: '/', component: PortalHome }),
    createRoute({
      getParentRoute: () => rootRoute,
      path: '/callback',
      component: () => <Callback entry="portal" />,
    }),
  ]),
  basepath: '/portal',
});

const root = document.getElementById('root');
if (root === null) throw new Error('portal.html has no #root');
createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient('portal')}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  </StrictMode>,
);
