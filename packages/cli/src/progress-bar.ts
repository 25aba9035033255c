import type { SingleBar } from 'cli-progress';

/**
 * A progress bar drawn on `stderr` (stdout stays for results) with the CLI's one look; `format`
 * is cli-progress's, e.g. `'ingesting {bar} {percentage}%'`. The library is loaded on first use:
 * commands that draw no bar do not pay for it.
 */
export async function progressBar(
  stderr: { write(text: string): unknown },
  format: string,
): Promise<SingleBar> {
  const { default: progress } = await import('cli-progress');
  return new progress.SingleBar(
    { format, stream: stderr as NodeJS.WritableStream, hideCursor: true },
    progress.Presets.shades_classic,
  );
}
