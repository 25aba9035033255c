import { describe, expect, it } from 'vitest';
import { WakeLoop } from './wake-loop.ts';

/** Resolves once `step` has run `n` times. */
function counter() {
  let runs = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  return {
    get runs() {
      return runs;
    },
    step: async () => {
      runs += 1;
      for (const w of waiters.filter((w) => runs >= w.n)) w.resolve();
    },
    reached: (n: number) =>
      new Promise<void>((resolve) => {
        if (runs >= n) resolve();
        else waiters.push({ n, resolve });
      }),
  };
}

describe('WakeLoop', () => {
  it('runs the step once for a burst of wake-ups when it lets them settle', async () => {
    const loop = new WakeLoop({ settleMs: 20 });
    const steps = counter();
    const stop = new AbortController();
    const running = loop.run(stop.signal, 60_000, steps.step, (error) => {
      throw error;
    });
    await steps.reached(1);
    for (let i = 0; i < 10; i++) loop.wake();
    await steps.reached(2);
    // The burst came before the settle time ran out: one run for all ten.
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(steps.runs).toBe(2);
    stop.abort();
    await running;
  });

  it('runs the step again at once for every wake-up without a settle time', async () => {
    const loop = new WakeLoop();
    const steps = counter();
    const stop = new AbortController();
    const running = loop.run(stop.signal, 60_000, steps.step, (error) => {
      throw error;
    });
    await steps.reached(1);
    loop.wake();
    await steps.reached(2);
    loop.wake();
    await steps.reached(3);
    stop.abort();
    await running;
    expect(steps.runs).toBe(3);
  });
});
