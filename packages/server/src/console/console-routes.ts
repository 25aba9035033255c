import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { escapeHtml } from '../html.ts';

/**
 * The built console: in the published package, the copy its build puts beside this file's folder
 * (dist/console-assets); in the repository, where scripts/build-console.ts writes it
 * (packages/console/dist), the same folder from this file in src/ and in dist/.
 */
const BUNDLED_CONSOLE = fileURLToPath(new URL('../console-assets/', import.meta.url));
const WORKSPACE_CONSOLE = fileURLToPath(new URL('../../../console/dist/', import.meta.url));
export const DEFAULT_CONSOLE_DIR = existsSync(join(BUNDLED_CONSOLE, 'console.html'))
  ? BUNDLED_CONSOLE
  : WORKSPACE_CONSOLE;

/**
 * The console's pages load their scripts and styles from this origin alone, run no inline script
 * or style element, talk to this origin only (the API and the OpenID provider), and cannot be
 * framed (clickjacking) nor post forms elsewhere.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

export interface ConsoleOptions {
  /** The built console (console.html, portal.html, assets/); {@link DEFAULT_CONSOLE_DIR} by default. */
  readonly dir?: string | undefined;
}

/** The two entry points: the URL prefix each is served under and its page in the build. */
const ENTRIES = [
  { prefix: '/console', html: 'console.html' },
  { prefix: '/portal', html: 'portal.html' },
] as const;

/**
 * Serves the built console. Hashed assets (`/console/assets/…`, shared by both entry points) are
 * cached for a year: their names change with their content. The pages are `no-cache`, so that a
 * new build is picked up at once, and carry the strict {@link CONSOLE_CSP}. Every other path
 * under an entry point answers its page: the console routes on the client (`/console/tenants/…`).
 * Without a build, the pages say how to make one (503), never a 500.
 */
export async function consoleRoutes(app: FastifyInstance, options: ConsoleOptions): Promise<void> {
  const dir = options.dir ?? DEFAULT_CONSOLE_DIR;
  await app.register(fastifyStatic, {
    root: join(dir, 'assets'),
    prefix: '/console/assets/',
    // Looked up on each request rather than listed at start: a build made after the server
    // started is served without a restart.
    wildcard: true,
    decorateReply: false,
    index: false,
    cacheControl: true,
    immutable: true,
    maxAge: '365d',
    // The folder is missing until the console is built: the pages say so (below).
    logLevel: 'warn',
  });

  for (const entry of ENTRIES) {
    const page = async (_request: unknown, reply: FastifyReply) => {
      // Read on each request (a few hundred bytes): a rebuild shows without a restart, and the
      // console's few page loads cost nothing next to the API calls they make.
      let html: string;
      try {
        html = await readFile(join(dir, entry.html), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        return pageHeaders(reply).code(503).type('text/html; charset=utf-8').send(notBuilt(dir));
      }
      return pageHeaders(reply).type('text/html; charset=utf-8').send(html);
    };
    app.get(entry.prefix, { schema: { hide: true } }, page);
    app.get(`${entry.prefix}/*`, { schema: { hide: true } }, page);
  }
}

function pageHeaders(reply: FastifyReply): FastifyReply {
  return (
    reply
      .header('content-security-policy', CONSOLE_CSP)
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff')
      // The callback URL carries the authorization code: it is never sent on as a referrer.
      .header('referrer-policy', 'no-referrer')
  );
}

function notBuilt(dir: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>The console is not built</title></head>
<body>
<main>
<h1>The console is not built</h1>
<p>This control plane has no built console in <code>${escapeHtml(dir)}</code>.</p>
<p>Build it from the repository with <code>npm run build -w @tenantry/console</code>
(<code>npm start</code> builds it when it is missing or stale), then reload this page.</p>
</main>
</body>
</html>
`;
}
