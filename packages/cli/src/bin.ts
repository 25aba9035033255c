#!/usr/bin/env node
import { runCli } from './program.ts';

const code = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
// exitCode rather than process.exit(), so output still being written to a pipe is not cut off.
process.exitCode = code;
// Something may still hold the event loop open (a server that failed half-way through starting
// leaves its workers running). The timer is unref'd, so it only fires in that case.
setTimeout(() => process.exit(code), 1_000).unref();
