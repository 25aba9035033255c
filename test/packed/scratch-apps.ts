// The published packages used as a vendor uses them, outside this repository: the packed tarballs
// (from `npm run check:packages`) are installed into scratch projects in a temporary directory —
// a control plane (`tenantry` on embedded PGlite), an Express app and a Fastify app — with npm,
// and nothing of the workspace is visible to them. Each app type-checks under its own strict
// tsconfig (skipLibCheck false; the Fastify app has no Express installed, so the SDK's optional
// peers are optional), `require()`s the SDK from CommonJS, and runs against the control plane:
// the tenant from an access token, `can()`, a hard limit, usage recorded.
//
// Usage: npm run test:dist (after npm run check:packages). TENANTRY_PACK_DIR: the tarballs.
// Third-party dependencies come from the npm registry through the local cache (--prefer-offline).
import assert from 'node:assert/strict';
import { type ChildProcess, execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort, startProcess } from '../e2e/tenantry-process.ts';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..', '..');
const packDir = process.env.TENANTRY_PACK_DIR ?? join(root, '.ci', '.work', 'packages');
const tsc = join(root, 'node_modules', '.bin', 'tsc');

// The scratch projects must get the built JavaScript, as any consumer does: without the
// workspace's source condition, which npm puts in NODE_OPTIONS for this checkout's scripts.
const { NODE_OPTIONS: _sourceCondition, ...cleanEnv } = process.env;

const tarballs = readdirSync(packDir).filter((file) => file.endsWith('.tgz'));
function tarball(prefix: string): string {
  const found = tarballs.find((file) => file.startsWith(`${prefix}-0`));
  assert.ok(found, `no ${prefix} tarball in ${packDir}: run npm run check:packages first`);
  return join(packDir, found);
}
const core = tarball('tenantry-core');
const sdk = tarball('tenantry-sdk');
const server = tarball('tenantry-server');
const agent = tarball('tenantry-agent');
const cli = tarball('tenantry');

const work = mkdtempSync(join(tmpdir(), 'tenantry-dist-'));
const children: ChildProcess[] = [];

function step(message: string): void {
  console.log(`-- ${message}`);
}

async function sh(cwd: string, file: string, args: string[], env: Record<string, string> = {}) {
  return run(file, args, { cwd, env: { ...cleanEnv, ...env }, maxBuffer: 16 * 1024 * 1024 });
}

/** A fresh npm project in `work/name` with `packages` installed; returns its directory and the time taken. */
async function project(name: string, packages: string[]): Promise<{ dir: string; seconds: number }> {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name, private: true, type: 'module' })}\n`);
  const started = performance.now();
  await sh(dir, 'npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...packages]);
  return { dir, seconds: (performance.now() - started) / 1000 };
}

/** Starts a long-running process in a scratch project; the end of the run kills it if it still runs. */
async function start(node: string, cwd: string, args: string[], env: Record<string, string>, ready: string) {
  const started = await startProcess(node, args, { cwd, env: { ...cleanEnv, ...env } }, ready);
  children.push(started.child);
  return started;
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolvePromise) => child.once('exit', resolvePromise));
  child.kill('SIGTERM');
  return exited;
}

try {
  step(`installing the SDK into a fresh app (${work})`);
  const fresh = await project('fresh', [core, sdk]);
  console.log(`SDK install into a fresh app: ${fresh.seconds.toFixed(1)} s`);

  step('control plane: tenantry from its tarball, migrate twice, serve on embedded PGlite');
  const cp = await project('control-plane', [core, sdk, agent, server, cli]);
  const tenantry = join(cp.dir, 'node_modules', 'tenantry', 'bin', 'tenantry.js');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const cpEnv = {
    TENANTRY_DATA_DIR: join(cp.dir, 'data'),
    PORT: String(port),
    HOST: '127.0.0.1',
    TENANTRY_PUBLIC_URL: url,
    LOG_LEVEL: 'warn',
  };
  const first = await sh(cp.dir, process.execPath, [tenantry, 'migrate'], cpEnv);
  assert.match(first.stdout, /applied 0001_foundation/);
  const second = await sh(cp.dir, process.execPath, [tenantry, 'migrate'], cpEnv);
  assert.equal(second.stdout.trim(), 'database is up to date');
  const controlPlane = await start(
    process.execPath,
    cp.dir,
    [tenantry, 'serve'],
    cpEnv,
    'control plane listening on',
  );
  const token = /TENANTRY_TOKEN=(tnt_sk_\S+)/.exec(controlPlane.output())?.[1];
  assert.ok(token, controlPlane.output());
  // The console ships inside @tenantry/server: served from the installed package, not a checkout.
  const consolePage = await fetch(`${url}/console`);
  assert.equal(consolePage.status, 200, await consolePage.clone().text());
  assert.match(await consolePage.text(), /<script type="module"[^>]* src="\/console\/assets\//);
  const cliEnv = { ...cpEnv, TENANTRY_URL: url, TENANTRY_TOKEN: token };
  const tenantryJson = async (...args: string[]) =>
    JSON.parse((await sh(cp.dir, process.execPath, [tenantry, ...args, '--json'], cliEnv)).stdout);
  cpSync(join(root, 'examples', 'minutes', 'plans.yaml'), join(cp.dir, 'plans.yaml'));
  await sh(cp.dir, process.execPath, [tenantry, 'plans', 'apply', 'plans.yaml'], cliEnv);
  // The apps run on an app key, as docs/sdk.md says: the operator key stays with the operator.
  const appKey = (await tenantryJson('keys', 'create', '--name', 'scratch-apps', '--preset', 'app')).secret;
  assert.match(appKey, /^tnt_rk_/);

  /** A pooled tenant on `plan` and an access token for it. */
  async function tenant(slug: string, plan: string) {
    let created = await tenantryJson('tenants', 'create', '--slug', slug, '--name', slug, '--plan', plan);
    for (let i = 0; i < 300 && created.state === 'provisioning'; i++) {
      await new Promise((resolvePromise) => setTimeout(resolvePromise, 100));
      created = await tenantryJson('tenants', 'show', slug);
    }
    assert.equal(created.state, 'active', JSON.stringify(created));
    const minted = await tenantryJson('tokens', 'mint', '--tenant', slug, '--subject', `alice@${slug}`);
    return { id: created.id as string, subject: `alice@${slug}`, token: minted.access_token as string };
  }

  // Node 22 too when CI names its binary (TENANTRY_DIST_NODE22): the packages promise >= 22.12.
  const nodes = [
    process.execPath,
    ...(process.env.TENANTRY_DIST_NODE22 ? [process.env.TENANTRY_DIST_NODE22] : []),
  ];
  const apps = [
    { name: 'express', packages: ['express', '@types/express', '@types/node'] },
    { name: 'fastify', packages: ['fastify', '@types/node'] },
  ];
  for (const app of apps) {
    step(`${app.name} app: install, type-check, require(), run`);
    const { dir } = await project(`${app.name}-app`, [core, sdk, ...app.packages]);
    cpSync(join(import.meta.dirname, 'apps', app.name), dir, { recursive: true });
    await sh(dir, tsc, ['-p', 'tsconfig.json']);
    for (const node of nodes) {
      const version = (await sh(dir, node, ['--version'])).stdout.trim();
      step(`${app.name} app on Node ${version}`);
      assert.match((await sh(dir, node, ['require.cjs'])).stdout, /require ok/);

      const free = await tenant(`${app.name}-free-${version.split('.')[0]?.slice(1)}`, 'free');
      const team = await tenant(`${app.name}-team-${version.split('.')[0]?.slice(1)}`, 'team');
      const appUrl = `http://127.0.0.1:${await freePort()}`;
      const running = await start(
        node,
        dir,
        ['dist/server.js'],
        {
          PORT: new URL(appUrl).port,
          TENANTRY_URL: url,
          TENANTRY_TOKEN: appKey,
          SPOOL_DIR: join(dir, 'spool'),
        },
        'app listening',
      );
      const call = (method: string, path: string, bearer?: string) =>
        fetch(`${appUrl}${path}`, { method, headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });

      assert.equal((await call('GET', '/api/me')).status, 401, 'no token, no tenant');
      const forged = await fetch(`${appUrl}/api/me`, { headers: { 'x-tenant-id': free.id } });
      assert.equal(forged.status, 401, 'a header is not a tenant');
      const me = await (await call('GET', '/api/me', free.token)).json();
      assert.deepEqual(me, { tenantId: free.id, subject: free.subject, analytics: false });
      const teamMe = (await (await call('GET', '/api/me', team.token)).json()) as { analytics: boolean };
      assert.equal(teamMe.analytics, true, 'the team plan has the feature');

      // The free plan allows 3 meetings, a hard limit: the fourth is refused.
      for (let i = 0; i < 3; i++) assert.equal((await call('POST', '/api/meetings', free.token)).status, 201);
      assert.equal((await call('POST', '/api/meetings', free.token)).status, 429);

      assert.equal(await stop(running.child), 0, running.output());
      const usage: Response = await fetch(`${url}/v1/tenants/${free.id}/usage?meter=meetings`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(((await usage.json()) as { total: number }).total, 3, 'the allowed meetings are recorded');
      console.log(`${app.name} on Node ${version}: ok`);
    }
  }

  assert.equal(await stop(controlPlane.child), 0, controlPlane.output());
  console.log('scratch apps: ok');
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  if (process.env.TENANTRY_KEEP_SCRATCH === undefined) rmSync(work, { recursive: true, force: true });
}
