/**
 * Runs a step again and again until aborted: every `pollMs`, or at once when {@link wake} is
 * called. A wake-up that arrives while the step runs is remembered, so work that came in after
 * the step looked is never left for the next poll.
 */
export class WakeLoop {
  #wake: (() => void) | null = null;
  #woken = false;

  /** Makes a sleeping loop run its step now, or a running one run it again right after. */
  wake(): void {
    if (this.#wake) this.#wake();
    else this.#woken = true;
  }

  /** Runs `step` until `signal` aborts; a step that throws is reported and the loop goes on. */
  async run(
    signal: AbortSignal,
    pollMs: number,
    step: () => Promise<unknown>,
    onError: (error: unknown) => void,
  ): Promise<void> {
    while (!signal.aborted) {
      this.#woken = false;
      try {
        await step();
      } catch (error) {
        onError(error);
      }
      if (this.#woken || signal.aborted) continue;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', wake);
          this.#wake = null;
          resolve();
        };
        const timer = setTimeout(wake, pollMs);
        this.#wake = wake;
        signal.addEventListener('abort', wake, { once: true });
      });
    }
  }
}
