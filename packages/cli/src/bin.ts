#!/usr/bin/env node
import { runCli } from './program.ts';

// exitCode rather than process.exit(), so output still being written to a pipe is not cut off.
process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
});
