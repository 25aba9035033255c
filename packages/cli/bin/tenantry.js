#!/usr/bin/env node
// The `tenantry` command. Plain JavaScript on purpose, in syntax every Node since 14 parses: an
// older Node stops with a stack trace while loading the CLI (TypeScript source in the checkout,
// ESM that CommonJS apps require() from 22.12 in the package), before any check inside it could
// run. So the version is checked here first.
//
// Installed from npm it runs the built CLI (dist/bin.js). In the Tenantry checkout, where npm
// starts Node with `--conditions=@tenantry/source` (.npmrc), `#cli` is the TypeScript source, so
// the checkout needs no build; run by hand there before any build, it is the source too.
import { existsSync } from 'node:fs';
import module from 'node:module';

const source = new URL('../src/bin.ts', import.meta.url);
const built = new URL('../dist/bin.js', import.meta.url);
// Running TypeScript directly needs 22.18; the built JavaScript needs 22.12.
const [needMajor, needMinor] = existsSync(source) ? [22, 18] : [22, 12];
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < needMajor || (major === needMajor && minor < needMinor)) {
  process.stderr.write(
    `tenantry needs Node.js ${needMajor}.${needMinor} or later (24 LTS recommended); this is Node.js ${process.versions.node}\n`,
  );
  process.exit(1);
}
// Node (22.1 and later) keeps the code it compiles for the CLI's modules, the TypeScript stripped of
// its types as well, in a cache in the temporary directory: every later start reuses it instead of
// compiling them again, which was half of the CPU time of a short command like `tenantry --help`
// (0.95 s against 0.47 s). As TypeScript's `tsc` does. Where the cache cannot be written the call
// says so in what it returns and the CLI runs as before, compiling afresh.
module.enableCompileCache?.();
await import(existsSync(built) ? '#cli' : source.href);
