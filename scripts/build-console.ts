// Builds the web console (packages/console → packages/console/dist) when its build is missing or
// older than its sources, so that a fresh clone's `npm start` and `npm test` serve it without a
// step of their own; a current build is left alone (a few stat calls). Run by `prestart`, and by
// the server tests' global setup before the browser tests. `--force` builds in any case.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'vite';

const ROOT = join(import.meta.dirname, '..');
const CONSOLE = join(ROOT, 'packages', 'console');
const DIST = join(CONSOLE, 'dist');
/**
 * What the build is made from: the console's sources and config, and what it takes from core (the
 * API client, and the request schemas its forms check, which import other core modules).
 */
const INPUTS = [
  join(CONSOLE, 'src'),
  join(CONSOLE, 'vite.config.ts'),
  join(CONSOLE, 'package.json'),
  join(ROOT, 'packages', 'core', 'src'),
];
const OUTPUTS = [join(DIST, 'console.html'), join(DIST, 'portal.html')];

function newest(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((latest, name) => Math.max(latest, newest(join(path, name))), stat.mtimeMs);
}

/** Why the console must be built, or undefined when its build is current. */
export function staleness(): string | undefined {
  if (!OUTPUTS.every((path) => existsSync(path))) return 'it is not built';
  const built = Math.min(...OUTPUTS.map((path) => statSync(path).mtimeMs));
  const changed = Math.max(...INPUTS.map(newest));
  return changed > built ? 'its sources changed since its build' : undefined;
}

/**
 * Builds the console when it is stale. The build is made in a folder of its own and moved in
 * place whole, so that a server never serves half a build.
 */
export async function buildConsole(options: { force?: boolean } = {}): Promise<void> {
  const reason = options.force ? 'asked to' : staleness();
  if (reason === undefined) return;
  console.log(`building the console (${reason})`);
  const staging = `${DIST}.${process.pid}-${randomBytes(4).toString('hex')}`;
  // The JSX transform and React pick their production builds by NODE_ENV, which vitest sets to
  // `test`: a build made under it would call React's development-only jsxDEV. The variable is
  // set back at once: the test workers keep theirs.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({
      configFile: join(CONSOLE, 'vite.config.ts'),
      mode: 'production',
      build: { outDir: staging, emptyOutDir: true },
    });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
  }
  rmSync(DIST, { recursive: true, force: true });
  try {
    renameSync(staging, DIST);
  } catch (error) {
    // Another process (a second test run, `npm start`) moved its build in first: keep that one.
    rmSync(staging, { recursive: true, force: true });
    if (staleness() !== undefined) throw error;
  }
}

if (import.meta.main) await buildConsole({ force: process.argv.includes('--force') });
