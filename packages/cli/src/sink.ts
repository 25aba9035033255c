import { EventEmitter, once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { CliError } from './cli-error.ts';
import type { Writer } from './output.ts';

/** Where a command streams a long output: standard output or a file (`--out`). */
export interface Sink {
  write(text: string): Promise<void>;
  close(): Promise<void>;
}

/** Standard output, waiting for it to drain when it is a stream that asks to (a pipe to a slow reader). */
export function stdoutSink(out: Writer): Sink {
  return {
    write: async (text) => {
      const more = out.write(text);
      if (more === false && out instanceof EventEmitter) await once(out, 'drain');
    },
    close: async () => {},
  };
}

/** A file, which takes bytes as well as text (a PDF). */
export interface FileSink extends Sink {
  write(chunk: string | Uint8Array): Promise<void>;
}

/** A file written with backpressure: a large export is never held in memory. */
export async function fileSink(path: string): Promise<FileSink> {
  const stream: WriteStream = createWriteStream(path);
  await once(stream, 'open').catch((error: NodeJS.ErrnoException) => {
    throw new CliError(`cannot write ${path}: ${error.code ?? error.message}`);
  });
  return {
    write: async (chunk) => {
      if (!stream.write(chunk)) await once(stream, 'drain');
    },
    close: async () => {
      stream.end();
      await once(stream, 'finish');
    },
  };
}
