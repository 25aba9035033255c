import { resolve } from 'node:path';
import react from '@vitejs/plugin-react';
import { defaultClientConditions, defineConfig } from 'vite';

const src = resolve(import.meta.dirname, 'src');

/**
 * Two entry points, one component set: the operator console (console.html, served at /console)
 * and the tenant portal (portal.html, at /portal) share their chunks. Both load them from
 * /console/assets/, which the control plane caches for a year (the names carry a content hash).
 * No inline script anywhere (the pages' CSP has no 'unsafe-inline'): Vite's module preload
 * polyfill, which it would inline, is off; every browser the console supports preloads modules.
 */
export default defineConfig({
  root: src,
  base: '/console/',
  plugins: [react()],
  // The workspace's packages from their TypeScript sources (@tenantry/core/api's operationUrl).
  resolve: { conditions: ['@tenantry/source', ...defaultClientConditions] },
  build: {
    outDir: resolve(import.meta.dirname, 'dist'),
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    rollupOptions: {
      input: { console: resolve(src, 'console.html'), portal: resolve(src, 'portal.html') },
      // The chunk both entry points load (React, the TanStack libraries, the shared components)
      // is `shared`; every other chunk is a page or view loaded on demand (the usage view's with
      // recharts, the operator's pages), named after it.
      output: {
        chunkFileNames: (chunk) =>
          chunk.isDynamicEntry ? 'assets/[name]-[hash].js' : 'assets/shared-[hash].js',
      },
    },
  },
  logLevel: 'warn',
});
