/**
 * Calls `check` every `intervalMs` until it returns something other than `undefined`, and returns
 * that. Outcomes follow the state `check` observes, however slow the machine: `timeoutMs` is only
 * a safety net for a state that never comes. An error from `check` ends the wait at once.
 */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  { intervalMs = 100, timeoutMs = 5 * 60_000 }: { intervalMs?: number; timeoutMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
