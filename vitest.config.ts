import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// The workspaces run from their TypeScript sources, never from a build: their package.json
// `exports` send the `@tenantry/source` condition to src/*.ts. Vite resolves the tests' imports
// with it, and Node does in every process the tests start (the CLI, the example app) through
// NODE_OPTIONS, as under npm, whose .npmrc sets the same option.
const SOURCE_CONDITION = '@tenantry/source';
const nodeOption = `--conditions=${SOURCE_CONDITION}`;
if (!process.env.NODE_OPTIONS?.includes(nodeOption)) {
  process.env.NODE_OPTIONS = [process.env.NODE_OPTIONS, nodeOption].filter(Boolean).join(' ');
}

// Every Node process of the run (vitest's workers, which load the dependencies with Node's own
// loader, and the processes the tests start: `tenantry`, the agents, the example apps) keeps the
// code it compiles in Node's compile cache, so that the next start of the same modules reuses it:
// importing the server took 2.3 s of CPU in a fresh process, 1.2 s with the cache. The `tenantry`
// executable enables the same cache itself (packages/cli/bin/tenantry.js), in the same directory.
process.env.NODE_COMPILE_CACHE ??= join(tmpdir(), 'node-compile-cache');

// The server suite runs twice, once per backend: embedded PGlite and a real PostgreSQL server.
// Core and CLI tests need no database and run once. The SDK's tests run beside a control plane,
// so they run on both backends too.
export default defineConfig({
  ssr: { resolve: { conditions: [SOURCE_CONDITION, ...defaultServerConditions] } },
  test: {
    // Most of the suite waits (on PostgreSQL, on the processes the e2e tests start, on sockets)
    // rather than computes, so twice as many test files as cores run at once: vitest's default,
    // one fewer than the cores, ran one file at a time on a 2-core machine (580 s, against 361 s
    // with four). At most four: each control plane a test starts may open 20 connections, and a
    // PostgreSQL server allows 100 by default.
    maxWorkers: Math.min(4, 2 * availableParallelism()),
    projects: [
      {
        test: {
          name: 'core',
          include: [
            'packages/core/src/**/*.test.ts',
            // The console's pure functions (its pages run in the browser test, test/e2e).
            'packages/console/src/**/*.test.ts',
            'test/architecture/**/*.test.ts',
          ],
        },
      },
      { test: { name: 'cli', include: ['packages/cli/src/**/*.test.ts', 'packages/cli/test/**/*.test.ts'] } },
      {
        test: {
          name: 'server:pglite',
          include: [
            'packages/server/src/**/*.test.ts',
            'packages/server/test/**/*.test.ts',
            'packages/sdk/src/**/*.test.ts',
            'packages/agent/src/**/*.test.ts',
            'test/e2e/**/*.test.ts',
          ],
          // The SDK's data layer connects to the vendor's PostgreSQL server (several databases and
          // roles at once), which an embedded PGlite cannot be: those tests run on postgres only.
          exclude: ['**/*.postgres.test.ts', '**/node_modules/**'],
          env: { TENANTRY_TEST_BACKEND: 'pglite' },
          globalSetup: ['packages/server/test/global-setup.ts', 'test/e2e/console-build.ts'],
          // The files of a worker share its module graph instead of each importing the server
          // (Fastify, Kysely, PGlite, the zod schemas) afresh, which was a sixth of their time.
          // They keep no state between them: each opens its own database and closes it, and
          // restores the environment it changes. Paired runs of this project over
          // packages/server/src: 184 s wall and 292 s CPU isolated, 115 s and 156 s shared.
          isolate: false,
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'server:postgres',
          include: [
            'packages/server/src/**/*.test.ts',
            'packages/server/test/**/*.test.ts',
            'packages/sdk/src/**/*.test.ts',
            'packages/agent/src/**/*.test.ts',
            'test/e2e/**/*.test.ts',
          ],
          env: { TENANTRY_TEST_BACKEND: 'postgres' },
          globalSetup: ['packages/server/test/global-setup.ts', 'test/e2e/console-build.ts'],
          // Shared module graphs, as on server:pglite.
          isolate: false,
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
