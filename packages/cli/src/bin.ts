#!/usr/bin/env node
import { runCli } from './program.ts';

// A reader that stops early (`tenantry tenants list | head`) closes the pipe: that is the end of
// the output, not an error to print a stack for.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

// exitCode rather than process.exit(), so output still being written to a pipe is not cut off.
process.exitCode = await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  stdin: process.stdin,
});
