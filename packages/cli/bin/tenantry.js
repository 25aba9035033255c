#!/usr/bin/env node
// The `tenantry` command. Plain JavaScript on purpose: the CLI is TypeScript, which Node runs
// directly from 22.18 on, and an older Node stops with a stack trace while loading a .ts file,
// before any check inside it could run. So the version is checked here, in syntax every Node
// since 14 parses, and the TypeScript entry is loaded only when it can run.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `tenantry needs Node.js 22.18 or later (24 LTS recommended); this is Node.js ${process.versions.node}\n`,
  );
  process.exit(1);
}
await import('../src/bin.ts');
