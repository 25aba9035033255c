import { QueryClientProvider } from '@tanstack/react-query';
import { RouterProvider } from '@tanstack/react-router';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { queryClient } from '../shared/query.ts';
import { router } from './routes.tsx';
import '../styles.css';

const root = document.getElementById('root');
if (root === null) throw new Error('portal.html has no #root');
createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient('portal')}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  </StrictMode>,
);
