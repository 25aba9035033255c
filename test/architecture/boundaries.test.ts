/**
 * The architecture rule, checked: a tiny core, a folder per feature, imports one way.
 *
 * - Every feature folder (a folder directly under packages/<package>/src) has an index.ts, its
 *   public surface. Code outside the folder imports that index.ts only, never the files behind it;
 *   a feature's own files, tests included, import each other freely. Files directly in src/
 *   (config.ts, services.ts, clock.ts…) are shared modules, importable directly.
 * - A package reaches another package by its name and its `exports` (`@tenantry/core/api`), never
 *   by a relative path into it or a deep specifier (`@tenantry/core/src/…`).
 * - Packages depend one way: core ← sdk ← server ← cli, and core ← sdk ← agent ← cli (the server may use the SDK, never the
 *   reverse). That core imports nothing but zod, jose and itself, and no I/O, is checked by the
 *   purity test in packages/core/src/index.test.ts; this file checks the direction between packages.
 *
 * Imports are read with a regular expression over `import … from '…'`, `export … from '…'`,
 * `import('…')` and `import '…'` (multi-line clauses included), after comments are stripped.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

/** Where the checked sources live, relative to the repository root. */
const SCANNED = [/^packages\/[^/]+\/(src|test)\//, /^examples\/[^/]+\/src\//, /^bench\//, /^test\//];

/** Packages by folder: their npm name and, per package, the packages they must never import. */
const PACKAGES: Record<string, { name: string; never: readonly string[] }> = {
  core: { name: '@tenantry/core', never: ['sdk', 'server', 'cli'] },
  sdk: { name: '@tenantry/sdk', never: ['server', 'cli'] },
  agent: { name: '@tenantry/agent', never: ['server', 'cli'] },
  server: { name: '@tenantry/server', never: ['cli', 'agent'] },
  cli: { name: 'tenantry', never: [] },
};

/**
 * Imports of another feature's internals that are allowed, each with its reason. `from` is the
 * importing file, or a folder ending in `/` for every file under it; `to` is the imported file.
 */
const EXEMPTIONS: readonly { from: string; to: string; reason: string }[] = [
  {
    from: 'packages/',
    to: 'packages/server/src/http/app.ts',
    reason:
      "the composition root: buildApp mounts every feature's routes, which import http/index.ts " +
      '(schemas, problems), so exporting it from http/index.ts would be a module cycle',
  },
  {
    from: 'packages/sdk/src/migrations/migrate-target.ts',
    to: 'packages/sdk/src/data/tenant-binding.ts',
    reason:
      'data/row-level-security.ts reads MIGRATIONS_TABLE from migrations/index.ts at load time; ' +
      'going through data/index.ts here would load it before that constant exists',
  },
  {
    from: 'packages/sdk/src/migrations/byoi-targets.ts',
    to: 'packages/sdk/src/data/byoi-connection.ts',
    reason:
      'a BYOI database is opened as the data layer opens it (TLS per sslmode); data/index.ts is ' +
      'not loaded from here for the reason above',
  },
];

/** Test support of another package that a package's tests may use: the SDK's tests run beside a control plane. */
const SHARED_TEST_SUPPORT: readonly { from: string; to: string; reason: string }[] = [
  { from: 'sdk', to: 'server', reason: "the SDK's tests start a control plane with the server's harness" },
  {
    from: 'agent',
    to: 'server',
    reason: "the agent's tests start a control plane with the server's harness",
  },
];

interface Source {
  /** Relative to the repository root, with forward slashes. */
  path: string;
  text: string;
}

/** The module specifiers a source file imports or re-exports. */
function specifiers(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const patterns = [
    /\bimport\s+(?:type\s+)?[\w$*{},\s]+?\s+from\s+['"]([^'"]+)['"]/g,
    /\bexport\s+(?:type\s+)?(?:\*(?:\s+as\s+[\w$]+)?|\{[\w$,\s]*\})\s+from\s+['"]([^'"]+)['"]/g,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /^\s*import\s+['"]([^'"]+)['"]/gm,
  ];
  return patterns.flatMap((pattern) => [...code.matchAll(pattern)].map((match) => match[1] ?? ''));
}

interface Place {
  /** The package folder name (core, sdk…), if the file is in packages/. */
  pkg?: string;
  /** `src` or `test` inside the package. */
  area?: string;
  /** The feature folder under src/, if any. */
  feature?: string;
}

function placeOf(path: string): Place {
  const match = /^packages\/([^/]+)\/(src|test)\/(.*)$/.exec(path);
  if (!match) return {};
  const [, pkg = '', area = '', rest = ''] = match;
  const parts = rest.split('/');
  const feature = area === 'src' && parts.length > 1 ? parts[0] : undefined;
  return { pkg, area, ...(feature === undefined ? {} : { feature }) };
}

const isTest = (path: string) => /\.test\.ts$/.test(path) || /^packages\/[^/]+\/test\//.test(path);

function exempted(from: string, to: string): boolean {
  return EXEMPTIONS.some(
    (exemption) =>
      exemption.to === to &&
      (exemption.from.endsWith('/') ? from.startsWith(exemption.from) : from === exemption.from),
  );
}

/**
 * The web console's own rule: its two entry points (`console/`, the operator's, and `portal/`, the
 * tenant's) are separate programs sharing one library (`shared/`), whose modules they import by
 * path. Neither entry point imports the other, and the library imports neither.
 */
function consoleBreach(from: string | undefined, to: string | undefined): string | undefined {
  const entry = (folder: string | undefined) => folder === 'console' || folder === 'portal';
  if (entry(from) && entry(to) && from !== to) {
    return `the console's entry points do not import each other; move what both need to packages/console/src/shared/`;
  }
  if (from === 'shared' && entry(to))
    return `packages/console/src/shared/ is the entry points' library: it imports neither`;
  return undefined;
}

/** Every breach of the rules in `sources`, as `file: 'specifier' — why`. */
function violations(sources: readonly Source[], packageExports: Record<string, readonly string[]>): string[] {
  const found: string[] = [];
  const names = new Map(Object.entries(PACKAGES).map(([folder, { name }]) => [name, folder]));
  for (const { path, text } of sources) {
    const from = placeOf(path);
    for (const specifier of specifiers(text)) {
      const report = (why: string) => found.push(`${path}: '${specifier}' — ${why}`);
      if (specifier.startsWith('.')) {
        const target = posix.normalize(posix.join(posix.dirname(path), specifier));
        const to = placeOf(target);
        if (to.pkg === undefined) continue;
        if (from.pkg !== undefined && from.pkg !== to.pkg) {
          const shared =
            to.area === 'test' &&
            isTest(path) &&
            SHARED_TEST_SUPPORT.some((pair) => pair.from === from.pkg && pair.to === to.pkg);
          if (!shared) {
            report(
              `reaches into package ${to.pkg} by path; import '${PACKAGES[to.pkg]?.name ?? to.pkg}' instead`,
            );
            continue;
          }
        }
        if (from.pkg === 'console' && to.pkg === 'console') {
          const why = consoleBreach(from.feature, to.feature);
          if (why !== undefined) report(why);
          continue;
        }
        if (to.feature === undefined) continue;
        const folder = `packages/${to.pkg}/src/${to.feature}`;
        const sameFeature = from.pkg === to.pkg && from.feature === to.feature;
        if (sameFeature || target === `${folder}/index.ts` || exempted(path, target)) continue;
        report(`imports the internals of ${folder}/; import ${folder}/index.ts instead`);
        continue;
      }
      const bare = /^(@[^/]+\/[^/]+|[^@/][^/]*)(\/.*)?$/.exec(specifier);
      const folder = bare?.[1] === undefined ? undefined : names.get(bare[1]);
      if (folder === undefined) continue;
      const subpath = `.${bare?.[2] ?? ''}`;
      if (!(packageExports[folder] ?? ['.']).includes(subpath)) {
        report(`${subpath} is not in the exports of ${bare?.[1]}; import its name or a declared subpath`);
        continue;
      }
      if (
        from.pkg !== undefined &&
        from.area === 'src' &&
        !isTest(path) &&
        PACKAGES[from.pkg]?.never.includes(folder)
      ) {
        report(`${from.pkg} must not depend on ${folder} (core ← sdk ← server ← cli)`);
      }
    }
  }
  return found;
}

function walk(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) return [];
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return walk(path);
    return /\.([mc]?ts|tsx)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

function readTree(): { sources: Source[]; packageExports: Record<string, readonly string[]> } {
  const sources = ['packages', 'examples', 'bench', 'test']
    .filter((top) => existsSync(join(ROOT, top)))
    .flatMap((top) => walk(join(ROOT, top)))
    .map((file) => relative(ROOT, file).split('\\').join('/'))
    .filter((path) => SCANNED.some((pattern) => pattern.test(path)))
    // This folder's tests hold deliberate breaches as strings, to check the check.
    .filter((path) => !path.startsWith('test/architecture/'))
    .map((path) => ({ path, text: readFileSync(join(ROOT, path), 'utf8') }));
  const packageExports = Object.fromEntries(
    Object.keys(PACKAGES).map((folder) => {
      const manifest = JSON.parse(readFileSync(join(ROOT, 'packages', folder, 'package.json'), 'utf8')) as {
        exports?: Record<string, unknown>;
      };
      return [folder, Object.keys(manifest.exports ?? { '.': null })];
    }),
  );
  return { sources, packageExports };
}

describe('module boundaries', () => {
  const { sources, packageExports } = readTree();

  it('reads the whole tree', () => {
    const paths = sources.map((source) => source.path);
    expect(paths).toContain('packages/server/src/services.ts');
    expect(paths).toContain('bench/api.ts');
    expect(paths).toContain('packages/server/test/harness.ts');
    expect(paths).toContain('packages/console/src/console/routes.tsx');
    expect(sources.reduce((count, source) => count + specifiers(source.text).length, 0)).toBeGreaterThan(
      1000,
    );
  });

  it('gives every feature folder an index.ts', () => {
    const missing = Object.keys(PACKAGES).flatMap((folder) => {
      const src = join(ROOT, 'packages', folder, 'src');
      return readdirSync(src)
        .filter((name) => statSync(join(src, name)).isDirectory())
        .map((name) => `packages/${folder}/src/${name}`)
        .filter((feature) => !existsSync(join(ROOT, feature, 'index.ts')));
    });
    expect(missing).toEqual([]);
  });

  it('crosses features through index.ts, packages through their names, and one way only', () => {
    expect(violations(sources, packageExports)).toEqual([]);
  });

  it('names each exemption that is still needed', () => {
    const used = (exemption: { from: string; to: string }) =>
      sources.some(
        (source) =>
          (exemption.from.endsWith('/')
            ? source.path.startsWith(exemption.from)
            : source.path === exemption.from) &&
          specifiers(source.text).some(
            (specifier) =>
              specifier.startsWith('.') &&
              posix.normalize(posix.join(posix.dirname(source.path), specifier)) === exemption.to,
          ),
      );
    expect(EXEMPTIONS.filter((exemption) => !used(exemption)).map((exemption) => exemption.to)).toEqual([]);
  });
});

describe('the boundary check itself', () => {
  const exportsOf = { core: ['.', './api'], sdk: ['.', './express'], server: ['.'], cli: ['.'] };
  const check = (path: string, text: string) => violations([{ path, text }], exportsOf);

  it("flags a feature importing another feature's internals, naming file and specifier", () => {
    expect(
      check(
        'packages/server/src/usage/x.ts',
        "import {\n  lockTenant,\n} from '../billing/tenant-transition.ts';",
      ),
    ).toEqual([
      "packages/server/src/usage/x.ts: '../billing/tenant-transition.ts' — imports the internals of " +
        'packages/server/src/billing/; import packages/server/src/billing/index.ts instead',
    ]);
    expect(
      check('packages/server/src/services.ts', "export * from './tenants/tenant-service.ts';"),
    ).toHaveLength(1);
    expect(check('packages/server/test/x.ts', "const m = await import('../src/db/schema.ts');")).toHaveLength(
      1,
    );
    expect(check('bench/x.ts', "import '../packages/sdk/src/data/tenant-data.ts';")).toHaveLength(1);
  });

  it("lets a feature's files and tests use its internals, and others its index.ts", () => {
    expect(check('packages/server/src/billing/dunning.test.ts', "import { x } from './dunning.ts';")).toEqual(
      [],
    );
    expect(check('packages/server/src/usage/x.ts', "import type { Y } from '../billing/index.ts';")).toEqual(
      [],
    );
    expect(check('packages/server/src/usage/x.ts', "import { c } from '../config.ts';")).toEqual([]);
    // A commented-out import is no import.
    expect(check('packages/server/src/usage/x.ts', "// import { x } from '../billing/dunning.ts';")).toEqual(
      [],
    );
  });

  it("keeps the console's entry points apart, sharing only its library", () => {
    expect(check('packages/console/src/console/x.tsx', "import { get } from '../shared/api.ts';")).toEqual(
      [],
    );
    expect(check('packages/console/src/portal/x.tsx', "import { U } from '../shared/usage.tsx';")).toEqual(
      [],
    );
    expect(
      check('packages/console/src/portal/x.tsx', "import { T } from '../console/tenant-page.tsx';"),
    ).toHaveLength(1);
    expect(
      check('packages/console/src/shared/x.tsx', "import { r } from '../portal/routes.tsx';"),
    ).toHaveLength(1);
  });

  it('flags a package reaching into another by path or by a deep specifier', () => {
    expect(
      check('packages/sdk/src/data/x.ts', "import { ok } from '../../../core/src/result.ts';"),
    ).toHaveLength(1);
    expect(
      check('packages/server/src/x.ts', "import { ok } from '@tenantry/core/src/result.ts';"),
    ).toHaveLength(1);
    expect(check('packages/server/src/x.ts', "import type { Schemas } from '@tenantry/core/api';")).toEqual(
      [],
    );
    expect(
      check('packages/sdk/src/usage/u.test.ts', "import { h } from '../../../server/test/harness.ts';"),
    ).toEqual([]);
    expect(check('packages/cli/test/x.ts', "import { h } from '../../server/test/harness.ts';")).toHaveLength(
      1,
    );
  });

  it('flags an import against the direction core ← sdk ← server ← cli', () => {
    expect(check('packages/core/src/plans/x.ts', "import { TenantData } from '@tenantry/sdk';")).toHaveLength(
      1,
    );
    expect(check('packages/sdk/src/data/x.ts', "import { buildApp } from '@tenantry/server';")).toHaveLength(
      1,
    );
    expect(check('packages/server/src/x.ts', "import { program } from 'tenantry';")).toHaveLength(1);
    expect(check('packages/server/src/x.ts', "import { TenantData } from '@tenantry/sdk';")).toEqual([]);
    expect(check('packages/sdk/src/data/x.test.ts', "import { buildApp } from '@tenantry/server';")).toEqual(
      [],
    );
  });
});
