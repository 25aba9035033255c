import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createTestDatabase, TestClock, type TestDatabase } from '../../test/harness.ts';
import { PeriodicLease } from './periodic-lease.ts';

const SETTINGS = { name: 'test_work', intervalMs: 30_000, leaseMs: 60_000 };

let db: TestDatabase;
let clock: TestClock;
beforeEach(async () => {
  db = await createTestDatabase();
  clock = new TestClock();
  // Only the renewal's timer is driven by hand; the database's I/O runs as usual.
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
});
afterEach(async () => {
  vi.useRealTimers();
  await db.drop();
});

const leaseRow = () =>
  db.database.db
    .selectFrom('periodic_leases')
    .select(['holder', 'held_until', 'next_run_at'])
    .where('name', '=', SETTINGS.name)
    .executeTakeFirstOrThrow();

/** A step that waits until `finish()`, and says when it has started. */
function heldStep() {
  let finish: () => void = () => {};
  let started: (signal: AbortSignal) => void = () => {};
  const running = new Promise<AbortSignal>((resolve) => (started = resolve));
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    step: async (signal: AbortSignal) => {
      started(signal);
      await done;
      return 'done';
    },
    running,
    finish: () => finish(),
  };
}

describe('PeriodicLease', () => {
  it('renews its lease while the run lasts, so a long run is not taken over', async () => {
    const a = new PeriodicLease(db.database.db, clock, SETTINGS);
    const b = new PeriodicLease(db.database.db, clock, SETTINGS);
    const held = heldStep();
    const run = a.run(held.step);
    const signal = await held.running;
    expect((await leaseRow()).holder).toBe(a.holder);
    // Fifty seconds in, A renews (every third of its lease): held until a minute from then.
    clock.advance(50_000);
    vi.advanceTimersByTime(SETTINGS.leaseMs / 3);
    const renewed = new Date(clock.now().getTime() + SETTINGS.leaseMs).getTime();
    // The renewal's write is under way: wait until it has landed (no time is asserted).
    await vi.waitUntil(async () => new Date((await leaseRow()).held_until ?? 0).getTime() === renewed, {
      interval: 5,
      timeout: 10_000,
    });
    // Past the first lease's end, B finds the run still held.
    clock.advance(20_000);
    expect(await b.run(async () => 'b')).toEqual({
      ran: false,
      nextAt: new Date(clock.now().getTime() + 40_000),
    });
    held.finish();
    expect(await run).toMatchObject({ ran: true, value: 'done' });
    expect(signal.aborted).toBe(false);
    // Released: the next run is due an interval after A's began, and B takes it.
    expect((await leaseRow()).held_until).toBeNull();
    expect(await b.run(async () => 'b')).toMatchObject({ ran: true, value: 'b' });
  });

  it('tells a holder that stalled past its lease that it lost the run, once another took it', async () => {
    const a = new PeriodicLease(db.database.db, clock, SETTINGS);
    const b = new PeriodicLease(db.database.db, clock, SETTINGS);
    const held = heldStep();
    const run = a.run(held.step);
    const signal = await held.running;
    // A stalls (no renewal) past its lease; B takes the work over.
    clock.advance(SETTINGS.leaseMs);
    expect(await b.run(async () => 'b')).toMatchObject({ ran: true, value: 'b' });
    expect((await leaseRow()).holder).toBe(b.holder);
    // A comes back and tries to renew: the lease is B's, so A's step is told to stop.
    const lost = new Promise<unknown>((resolve) =>
      signal.addEventListener('abort', () => resolve(signal.reason)),
    );
    vi.advanceTimersByTime(SETTINGS.leaseMs / 3);
    expect(String(await lost)).toMatch(/another process took over "test_work"/);
    held.finish();
    await expect(run).rejects.toThrow(/another process took over "test_work"/);
    // A's end leaves B's record alone.
    expect((await leaseRow()).holder).toBe(b.holder);
  });
});
