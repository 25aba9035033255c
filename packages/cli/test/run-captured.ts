import { runCli } from '../src/program.ts';

/** What one run of the CLI printed, and its exit code. */
export interface CapturedRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the CLI in-process on `args` with `env` (no process environment leaks in), capturing what
 * it prints; `tty` makes stdout claim to be a terminal, `fetch` replaces the network.
 */
export async function runCaptured(
  args: readonly string[],
  env: Record<string, string>,
  options: { tty?: boolean; fetch?: typeof fetch } = {},
): Promise<CapturedRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: { write: (s: string) => (stdout += s), ...(options.tty ? { isTTY: true } : {}) },
    stderr: { write: (s: string) => (stderr += s) },
    env,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  return { code, stdout, stderr };
}
