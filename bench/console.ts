/**
 * bench:console — the operator console over a fleet of 50,000 tenants: how long the tenant list's
 * first page takes the server (GET /v1/tenants, unfiltered, filtered and searched), how much
 * JavaScript the fleet home loads (gzipped), and how long the fleet home takes to become usable
 * in Chromium after a reload (the sign-in redirects included: the console keeps its token in
 * memory only, so a reload signs in again through the hosted session).
 *
 * Settings (environment): BENCH_TENANTS (default 50000), BENCH_REQUESTS (first-page requests per
 * case, default 30), BENCH_RELOADS (default 10), BENCH_OUT (default bench/results/console.json).
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { createServices, MASTER_KEY_BYTES, SecretBox } from '@tenantry/server';
import { CompiledQuery, type KyselyPlugin } from 'kysely';
import { insertFleet } from '../packages/server/test/fleet-support.ts';
import { launchBrowser } from '../test/e2e/browser.ts';
import { freePort } from '../test/e2e/tenantry-process.ts';
import {
  applyPlans,
  createTenant,
  dropControlPlane,
  logger,
  type Row,
  report,
  round,
  runBench,
  setting,
  startControlPlane,
  startRun,
  timed,
} from './bench-support.ts';
import { type Summary, summarize } from './stats.ts';

const settings = {
  tenants: setting('BENCH_TENANTS', 50_000, 'whole'),
  requests: setting('BENCH_REQUESTS', 30, 'whole'),
  reloads: setting('BENCH_RELOADS', 10, 'whole'),
  out: process.env.BENCH_OUT || fileURLToPath(new URL('./results/console.json', import.meta.url)),
};

const targets = {
  /** Each first page, p99, over HTTP on loopback. */
  firstPageP99Ms: 300,
  /** The fleet home's JavaScript, gzipped. */
  fleetHomeJsKiB: 150,
  /** The fleet home usable after a reload, sign-in redirects included, p50. */
  fleetHomeReadyP50Ms: 2_000,
};

const CASES: readonly [string, string][] = [
  ['no filter', ''],
  ['state=suspended', 'state=suspended'],
  ['placement=database', 'placement=database'],
  ['plan=starter', 'plan=starter'],
  ['search, one match', 'search=fleet-4242'],
  ['search, most match', 'search=Fleet'],
  ['search, none match', 'search=zz-nothing'],
];

const PASSWORD = 'violet-kettle-sonata-49';
const log = logger('console');

async function main(): Promise<void> {
  const run = await startRun();
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const cp = await startControlPlane({ port, env: { TENANTRY_PUBLIC_URL: origin } });
  log(`control plane on ${cp.origin}, database ${cp.name}`);
  const browser = await launchBrowser();
  try {
    await applyPlans(cp);
    const template = await createTenant(cp, { slug: 'bench-template', name: 'Template', plan: 'pro' });
    await cp.services.jobs.runDue();
    const inserted = await timed(() => insertFleet(cp.database.db, template, settings.tenants));
    log(`${settings.tenants} tenants inserted in ${round(inserted / 1000, 1)} s`);

    // The list's own SQL for each case, caught on its way to the database: run bare, it is the
    // ceiling of what the HTTP first page can cost.
    const base = cp.database.db;
    const seen: CompiledQuery[] = [];
    const spy: KyselyPlugin = {
      transformQuery: (args) => {
        seen.push(base.getExecutor().compileQuery(args.node, args.queryId));
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const spied = createServices(
      { ...cp.database, db: base.withPlugin(spy) },
      { ...cp.config, secrets: new SecretBox([randomBytes(MASTER_KEY_BYTES)]) },
      cp.services.clock,
    );
    const pages: Record<string, { http: Summary; sql: Summary; rows: number }> = {};
    for (const [name, query] of CASES) {
      const filter = Object.fromEntries(new URLSearchParams(query));
      seen.length = 0;
      const listed = await spied.tenants.list(filter, { limit: 100 });
      if (!listed.ok) throw new Error(`${name}: ${listed.error.detail}`);
      const sql = seen.find((q) => q.sql.includes('from "tenants" as "t"'));
      if (sql === undefined) throw new Error(`${name}: no query over tenants`);
      const bare = CompiledQuery.raw(sql.sql, [...sql.parameters]);
      const http: number[] = [];
      const direct: number[] = [];
      let rows = 0;
      // Interleaved, so that a busy moment of the machine falls on both.
      for (let i = 0; i < settings.requests + 3; i++) {
        const took = await timed(async () => {
          const response = await fetch(
            `${cp.origin}/v1/tenants?limit=100${query === '' ? '' : `&${query}`}`,
            {
              headers: { authorization: `Bearer ${cp.token}` },
            },
          );
          const body = (await response.json()) as { data: unknown[] };
          rows = body.data.length;
        });
        const raw = await timed(() => base.executeQuery(bare));
        // The first three warm the caches and the plan.
        if (i >= 3) {
          http.push(took);
          direct.push(raw);
        }
      }
      pages[name] = { http: summarize(http), sql: summarize(direct), rows };
    }

    // A member of the staff, signed in once on the hosted pages.
    const email = 'bench-ops@example.com';
    const signedUp = await cp.services.accounts.signUp(
      { requestId: null, ip: '127.0.0.1', userAgent: 'bench' },
      { email, password: PASSWORD, name: 'Bench Ops' },
    );
    if (!signedUp.ok) throw new Error(JSON.stringify(signedUp));
    await cp.database.db
      .updateTable('users')
      .set({ email_verified_at: new Date() })
      .where('email_key', '=', email)
      .execute();
    await cp.call('POST', '/v1/staff', { email, role: 'admin' });
    const context = await browser.newContext();
    const page = await context.newPage();
    const scripts = new Map<string, number>();
    page.on('response', (response) => {
      const path = new URL(response.url()).pathname;
      if (/^\/console\/assets\/.+\.js$/.test(path)) scripts.set(path, 0);
    });
    await page.goto(`${origin}/console/`);
    await page.fill('input[name=email]', email);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('form:has(input[name=password]) button[type=submit]');
    await page.waitForSelector('[data-testid=fleet-total]');
    const dist = fileURLToPath(new URL('../packages/console/dist/', import.meta.url));
    for (const path of scripts.keys()) {
      const bytes = await readFile(`${dist}${path.replace(/^\/console\//, '')}`);
      scripts.set(path, gzipSync(bytes, { level: 9 }).length);
    }
    const jsKiB = round([...scripts.values()].reduce((a, b) => a + b, 0) / 1024, 1);

    // Reloads of the fleet home until its counts show; the ceiling: the same browser loading a
    // static file of the same server.
    const ready: number[] = [];
    const bareLoad: number[] = [];
    const css = (await readFile(`${dist}console.html`, 'utf8')).match(
      /href="(\/console\/assets\/[^"]+\.css)"/,
    )?.[1];
    if (css === undefined) throw new Error('console.html links no stylesheet');
    const blank = await context.newPage();
    for (let i = 0; i < settings.reloads + 1; i++) {
      const took = await timed(async () => {
        await page.reload();
        await page.waitForSelector('[data-testid=fleet-total]');
      });
      const bareTook = await timed(() => blank.goto(`${origin}${css}`));
      if (i >= 1) {
        ready.push(took);
        bareLoad.push(bareTook);
      }
    }
    const tti = summarize(ready);
    const ttiCeiling = summarize(bareLoad);

    const worstP99 = Math.max(...Object.values(pages).map((p) => p.http.p99));
    const table: Row[] = [
      ...Object.entries(pages).map(([name, p]) => ({
        figure: `first page, ${name} (${p.rows} rows) p50 / p99`,
        value: `${p.http.p50} / ${p.http.p99} ms`,
        target: `p99 < ${targets.firstPageP99Ms} ms`,
        ceiling: `SQL alone ${p.sql.p50} / ${p.sql.p99} ms`,
        pass: p.http.p99 < targets.firstPageP99Ms,
      })),
      {
        figure: 'fleet home JS, gzipped',
        value: `${jsKiB} KiB in ${scripts.size} files`,
        target: `≤ ${targets.fleetHomeJsKiB} KiB`,
        ceiling: '',
        pass: jsKiB <= targets.fleetHomeJsKiB,
      },
      {
        figure: 'fleet home ready after a reload p50 / p99',
        value: `${tti.p50} / ${tti.p99} ms`,
        target: `p50 < ${targets.fleetHomeReadyP50Ms} ms`,
        ceiling: `a static file ${ttiCeiling.p50} / ${ttiCeiling.p99} ms`,
        pass: tti.p50 < targets.fleetHomeReadyP50Ms,
      },
    ];
    report('console', run, {
      settings,
      targets,
      table,
      notes: [
        `${settings.tenants} tenants (one made by the API, copied in one INSERT … SELECT), ${settings.requests} first pages per case over HTTP on loopback, each beside the same SQL run bare`,
        `Chromium (Debian's, headless): the fleet home reloaded ${settings.reloads} times until its counts show, sign-in redirects included; worst first-page p99 ${worstP99} ms`,
      ],
      results: {
        pages,
        fleetHomeJs: Object.fromEntries(scripts),
        fleetHomeJsKiB: jsKiB,
        ready: tti,
        ceiling: ttiCeiling,
      },
    });
  } finally {
    await browser.close();
    await dropControlPlane(cp);
  }
}

runBench(main);
