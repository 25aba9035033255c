/**
 * Runs a step again and again until aborted: every `pollMs`, or soon after {@link wake} is
 * called. A wake-up that arrives while the step runs is remembered, so work that came in after
 * the step looked is never left for the next poll.
 */
export class WakeLoop {
  readonly #settleMs: number;
  #wake: (() => void) | null = null;
  #woken = false;

  /**
   * @param settleMs How long a wake-up waits before the step runs, so that a burst of wake-ups
   * (one per ingested batch, say) runs it once over all their work; 0 runs it at once.
   */
  constructor(options: { settleMs?: number } = {}) {
    this.#settleMs = options.settleMs ?? 0;
  }

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
      if (signal.aborted) break;
      if (this.#woken) {
        await this.#sleep(signal, this.#settleMs, false);
        continue;
      }
      if (await this.#sleep(signal, pollMs, true)) await this.#sleep(signal, this.#settleMs, false);
    }
  }

  /** Sleeps `ms` or until aborted (or woken, when `wakeable`); resolves to whether it was woken. */
  #sleep(signal: AbortSignal, ms: number, wakeable: boolean): Promise<boolean> {
    if (ms <= 0 || signal.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const done = (woken: boolean) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', abort);
        if (wakeable) this.#wake = null;
        resolve(woken);
      };
      const abort = () => done(false);
      const timer = setTimeout(() => done(false), ms);
      if (wakeable) this.#wake = () => done(true);
      signal.addEventListener('abort', abort, { once: true });
    });
  }
}
