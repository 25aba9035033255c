import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * A benchmark's load generator in a child process of its own, so it does not share the event
 * loop of the server it measures. The child answers each `{type: 'run', job}` message with one
 * `{type: 'result', result}` or `{type: 'error', message}`, and leaves on `{type: 'exit'}`.
 */
export class ChildRunner<Job> {
  readonly #child: ChildProcess;

  constructor(script: URL) {
    this.#child = fork(fileURLToPath(script), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
  }

  /** Runs one job in the child and resolves to its result. */
  run<Result>(job: Job): Promise<Result> {
    return new Promise((resolve, reject) => {
      const onMessage = (
        message: { type: 'result'; result: Result } | { type: 'error'; message: string },
      ) => {
        this.#child.off('exit', onExit);
        if (message.type === 'result') resolve(message.result);
        else reject(new Error(`load generator: ${message.message}`));
      };
      const onExit = (code: number | null) => {
        this.#child.off('message', onMessage);
        reject(new Error(`load generator exited with ${code}`));
      };
      this.#child.once('message', onMessage);
      this.#child.once('exit', onExit);
      this.#child.send({ type: 'run', job });
    });
  }

  close(): void {
    if (this.#child.connected) this.#child.send({ type: 'exit' });
  }
}
