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
  options: { tty?: boolean; fetch?: typeof fetch; stdin?: string } = {},
): Promise<CapturedRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: { write: (s: string) => (stdout += s), ...(options.tty ? { isTTY: true } : {}) },
    stderr: { write: (s: string) => (stderr += s) },
    env,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.stdin === undefined ? {} : { stdin: piped(options.stdin) }),
  });
  return { code, stdout, stderr };
}

/** `text` as a pipe into standard input delivers it: in chunks, and not a terminal. */
async function* piped(text: string): AsyncGenerator<Uint8Array> {
  const bytes = Buffer.from(text, 'utf8');
  for (let at = 0; at < bytes.length; at += 7) yield bytes.subarray(at, at + 7);
}
