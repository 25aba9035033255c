import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { buildApp } from '../http/app.ts';
import { CONSOLE_CSP } from './index.ts';

/*
 * The built console as the control plane serves it (the server projects' global setup builds
 * packages/console when missing or stale): the pages with their CSP and no inline script, the
 * client routes falling back to their page, the hashed assets cached for good, and a clear page
 * when there is no build.
 */

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

const get = (url: string, app: FastifyInstance = t.app) => app.inject({ method: 'GET', url });

/** The scripts and stylesheets a page loads (its icon is an empty data: URL, fetched from nowhere). */
function assetsOf(html: string): string[] {
  return [...html.matchAll(/(?:src|href)="([^"]+)"/g)]
    .map((m) => m[1] ?? '')
    .filter((url) => url !== 'data:,');
}

describe('the built console', () => {
  it('serves each entry point with the strict CSP, no-cache, and no inline script or style', async () => {
    for (const [url, title] of [
      ['/console', 'Tenantry console'],
      ['/console/', 'Tenantry console'],
      ['/portal/', 'Tenantry portal'],
    ] as const) {
      const page = await get(url);
      expect(page.statusCode, url).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.headers['content-security-policy']).toBe(CONSOLE_CSP);
      expect(page.headers['cache-control']).toBe('no-cache');
      expect(page.headers['x-content-type-options']).toBe('nosniff');
      expect(page.headers['referrer-policy']).toBe('no-referrer');
      expect(page.body).toContain(`<title>${title}</title>`);
      // Every script is a module loaded from a file; nothing runs inline, no style is inline.
      const scripts = [...page.body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
      expect(scripts.length).toBeGreaterThan(0);
      for (const [, attributes, body] of scripts) {
        expect(attributes).toMatch(/type="module"/);
        expect(attributes).toMatch(/src="\/console\/assets\//);
        expect(body?.trim()).toBe('');
      }
      expect(page.body).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=|javascript:/i);
      // Nothing from another origin: no CDN.
      for (const asset of assetsOf(page.body)) expect(asset).toMatch(/^\/console\/assets\//);
    }
    expect(CONSOLE_CSP).not.toContain('unsafe');
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).toContain("frame-ancestors 'none'");
  });

  it("answers a client route with its entry point's page", async () => {
    const console = (await get('/console/')).body;
    const portal = (await get('/portal/')).body;
    expect(console).not.toBe(portal);
    for (const url of ['/console/tenants', '/console/tenants/acme?x=1', '/console/callback?code=c&state=s'])
      expect((await get(url)).body, url).toBe(console);
    expect((await get('/portal/callback?code=c')).body).toBe(portal);
  });

  it('caches the hashed assets for a year, immutable, with their types', async () => {
    const assets = [...assetsOf((await get('/console/')).body), ...assetsOf((await get('/portal/')).body)];
    expect(assets.some((a) => a.endsWith('.js'))).toBe(true);
    expect(assets.some((a) => a.endsWith('.css'))).toBe(true);
    for (const asset of new Set(assets)) {
      const answer = await get(asset);
      expect(answer.statusCode, asset).toBe(200);
      expect(answer.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(answer.headers['content-type']).toMatch(asset.endsWith('.js') ? /javascript/ : /text\/css/);
      // The file's name changes with its content: a stale page never gets a new script.
      expect(asset).toMatch(/-[\w-]{8}\.(js|css)$/);
      // React's production build: the development one is several times larger and slower.
      if (asset.endsWith('.js')) expect(answer.body).not.toContain('jsxDEV');
    }
  });

  it('answers a missing asset with a 404 problem, never a page, and serves nothing outside the build', async () => {
    const missing = await get('/console/assets/nope-12345678.js');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'route_not_found' });
    for (const url of [
      '/console/assets/../../package.json',
      '/console/assets/%2e%2e/%2e%2e/package.json',
      '/console/assets/..%2f..%2fpackage.json',
      '/console/assets/%2e%2e%2f%2e%2e%2f%2e%2e%2fserver%2fpackage.json',
    ]) {
      const answer = await get(url);
      expect(answer.body, url).not.toContain('"name"');
      expect(answer.statusCode, url).not.toBe(200);
    }
  });
});

describe('without a build', () => {
  it('says how to build the console (503), never a 500', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'tenantry-console-'));
    const app = await buildApp(t.services, { logger: false, consoleDir: empty });
    try {
      for (const url of ['/console', '/console/tenants/acme', '/portal/']) {
        const page = await get(url, app);
        expect(page.statusCode, url).toBe(503);
        expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
        expect(page.headers['content-security-policy']).toBe(CONSOLE_CSP);
        expect(page.body).toContain('The console is not built');
        expect(page.body).toContain('npm run build -w @tenantry/console');
      }
      const asset = await get('/console/assets/console-12345678.js', app);
      expect(asset.statusCode).toBe(404);
    } finally {
      await app.close();
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe("the console's OpenID client", () => {
  const authorize = (redirectUri: string) =>
    `/oidc/auth?${new URLSearchParams({
      client_id: 'tenantry-console',
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: 'openid',
      code_challenge: 'A'.repeat(43),
      code_challenge_method: 'S256',
      state: 's',
    }).toString()}`;

  it('is built in: an authorization request for its own callback goes on to the sign-in', async () => {
    const answer = await get(authorize('http://localhost:8080/console/callback'));
    expect(answer.statusCode).toBe(303);
    expect(answer.headers.location).toMatch(/^\/oidc\/interaction\//);
  });

  it("lets only the console's own origin read the token endpoint's answers (CORS)", async () => {
    const exchange = (origin: string) =>
      t.app.inject({
        method: 'POST',
        url: '/oidc/token',
        headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          grant_type: 'authorization_code',
          code: 'not-a-code',
          redirect_uri: 'http://localhost:8080/console/callback',
          client_id: 'tenantry-console',
          code_verifier: 'A'.repeat(43),
        }).toString(),
      });
    const own = await exchange('http://localhost:8080');
    expect(own.json()).toMatchObject({ error: 'invalid_grant' });
    expect(own.headers['access-control-allow-origin']).toBe('http://localhost:8080');
    for (const origin of ['https://attacker.example', 'http://localhost:9999', 'null']) {
      const other = await exchange(origin);
      expect(other.headers['access-control-allow-origin'], origin).toBeUndefined();
    }
  });

  it('sends a code nowhere else: another redirect URI gets an error page, no redirect', async () => {
    for (const uri of [
      'https://attacker.example/console/callback',
      'http://localhost:8080/console/callback/../../evil',
      'http://localhost:8080/elsewhere',
      'http://localhost:8080/console/callback?next=https://attacker.example',
    ]) {
      const answer = await get(authorize(uri));
      expect(answer.statusCode, uri).toBe(400);
      expect(answer.headers.location, uri).toBeUndefined();
      expect(answer.body).toContain('redirect_uri');
    }
  });
});
