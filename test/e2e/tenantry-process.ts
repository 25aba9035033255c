// Running Tenantry as a user does, for the end-to-end tests: `tenantry serve` in a process of
// its own, on a free port.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';

export { until } from '../../packages/server/test/until.ts';

/** The `tenantry` executable of this checkout. */
export const bin = join(import.meta.dirname, '..', '..', 'packages', 'cli', 'bin', 'tenantry.js');

/** A `tenantry serve` process and what it has printed so far. */
export interface ServeProcess {
  readonly child: ChildProcess;
  output(): string;
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Starts `tenantry serve` with `env` and waits for its "listening" line; rejects if it exits first. */
export function startServe(env: Record<string, string>): Promise<ServeProcess> {
  return startProcess(
    process.execPath,
    [bin, 'serve'],
    { env: { ...process.env, ...env } },
    'control plane listening on',
  );
}

/**
 * Starts a long-running process and waits until its output (stdout and stderr) includes `ready`;
 * rejects, with the output, if it exits first.
 */
export async function startProcess(
  file: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; cwd?: string },
  ready: string,
): Promise<ServeProcess> {
  const child = spawn(file, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk;
      if (output.includes(ready)) {
        child.off('exit', onExit);
        resolve();
      }
    };
    const onExit = (code: number | null) =>
      reject(new Error(`${[file, ...args].join(' ')} exited with ${code}:\n${output}`));
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
  return { child, output: () => output };
}

/** How long an end-to-end test may run at most: a safety net, never what decides its outcome. */
export const E2E_TIMEOUT_MS = 15 * 60_000;
