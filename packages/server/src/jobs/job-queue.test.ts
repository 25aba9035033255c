import { randomBytes } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import type { JobRow } from '../db/index.ts';
import { JobQueue, type JobRequest } from './job-queue.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

/** A job kind of its own per test, so tests do not run each other's jobs. */
function kind(): string {
  return `test.${randomBytes(4).toString('hex')}`;
}

function enqueue(request: JobRequest, queue: JobQueue = t.services.jobs): Promise<void> {
  return t.services.database.db.transaction().execute((tx) => queue.enqueue(tx, request));
}

function jobsOf(k: string): Promise<JobRow[]> {
  return t.services.database.db.selectFrom('jobs').selectAll().where('kind', '=', k).orderBy('id').execute();
}

describe('JobQueue', () => {
  it('runs a due job once and marks it succeeded', async () => {
    const k = kind();
    const seen: unknown[] = [];
    t.services.jobs.handle(k, { run: async (payload) => void seen.push(payload) });
    await enqueue({ kind: k, payload: { n: 1 } });
    expect(await t.services.jobs.runDue()).toBeGreaterThanOrEqual(1);
    expect(seen).toEqual([{ n: 1 }]);
    const [job] = await jobsOf(k);
    expect(job).toMatchObject({ status: 'succeeded', attempts: 1, locked_until: null, last_error: null });
    expect(job?.finished_at).toEqual(t.clock.now());
    await t.services.jobs.runDue();
    expect(seen).toHaveLength(1);
  });

  it('keeps one unfinished job per dedupe key, and takes a new one once it has finished', async () => {
    const k = kind();
    let runs = 0;
    t.services.jobs.handle(k, { run: async () => void runs++ });
    const key = `dedupe:${k}`;
    await enqueue({ kind: k, payload: { first: true }, dedupeKey: key });
    await enqueue({ kind: k, payload: { first: false }, dedupeKey: key });
    const pending = await jobsOf(k);
    expect(pending).toHaveLength(1);
    expect(pending[0]?.payload).toEqual({ first: true });
    await t.services.jobs.runDue();
    expect(runs).toBe(1);
    await enqueue({ kind: k, payload: {}, dedupeKey: key });
    expect((await jobsOf(k)).map((j) => j.status)).toEqual(['succeeded', 'pending']);
    // Jobs without a key are never deduplicated.
    await enqueue({ kind: k, payload: {} });
    await enqueue({ kind: k, payload: {} });
    expect(await jobsOf(k)).toHaveLength(4);
  });

  it('adds many jobs in one call, past one statement’s worth, each dedupe key once', async () => {
    const k = kind();
    // Due in a year: no other test's runDue meets them.
    const runAt = new Date(t.clock.now().getTime() + 365 * 86_400_000);
    const requests = Array.from({ length: 2_500 }, (_, i) => ({
      kind: k,
      payload: { i },
      dedupeKey: `batch:${k}:${i % 2_400}`,
      runAt,
    }));
    await t.services.database.db.transaction().execute((tx) => t.services.jobs.enqueue(tx, ...requests));
    const stored = await jobsOf(k);
    expect(stored).toHaveLength(2_400);
    expect(new Set(stored.map((job) => job.dedupe_key)).size).toBe(2_400);
    expect(stored.every((job) => job.status === 'pending')).toBe(true);
  });

  it('enqueues nothing when the transaction that enqueued rolls back', async () => {
    const k = kind();
    await expect(
      t.services.database.db.transaction().execute(async (tx) => {
        await t.services.jobs.enqueue(tx, { kind: k, payload: {} });
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect(await jobsOf(k)).toEqual([]);
  });

  it('waits for run_at', async () => {
    const k = kind();
    let runs = 0;
    t.services.jobs.handle(k, { run: async () => void runs++ });
    await enqueue({ kind: k, payload: {}, runAt: new Date(t.clock.now().getTime() + 60_000) });
    await t.services.jobs.runDue();
    expect(runs).toBe(0);
    t.clock.advance(59_999);
    await t.services.jobs.runDue();
    expect(runs).toBe(0);
    t.clock.advance(1);
    await t.services.jobs.runDue();
    expect(runs).toBe(1);
  });

  it('retries a failing job with growing backoff, then fails it and calls onExhausted once', async () => {
    const k = kind();
    let runs = 0;
    const exhausted: { payload: unknown; error: string; attempts: number }[] = [];
    t.services.jobs.handle(k, {
      run: async () => {
        runs++;
        throw new Error(`boom ${runs}`);
      },
      onExhausted: async (payload, error, job) =>
        void exhausted.push({ payload, error, attempts: job.attempts }),
    });
    await enqueue({ kind: k, payload: { id: 'x' }, maxAttempts: 3 });

    await t.services.jobs.runDue();
    expect(runs).toBe(1);
    let [job] = await jobsOf(k);
    expect(job).toMatchObject({ status: 'pending', attempts: 1, last_error: 'boom 1', locked_until: null });
    expect(job?.run_at.getTime()).toBe(t.clock.now().getTime() + 1_000);

    // Not before the backoff has passed.
    await t.services.jobs.runDue();
    t.clock.advance(999);
    await t.services.jobs.runDue();
    expect(runs).toBe(1);

    t.clock.advance(1);
    await t.services.jobs.runDue();
    expect(runs).toBe(2);
    [job] = await jobsOf(k);
    expect(job).toMatchObject({ status: 'pending', attempts: 2, last_error: 'boom 2' });
    expect(job?.run_at.getTime()).toBe(t.clock.now().getTime() + 4_000);
    expect(exhausted).toEqual([]);

    t.clock.advance(4_000);
    await t.services.jobs.runDue();
    expect(runs).toBe(3);
    [job] = await jobsOf(k);
    expect(job).toMatchObject({ status: 'failed', attempts: 3, last_error: 'boom 3', locked_until: null });
    expect(job?.finished_at).toEqual(t.clock.now());
    expect(exhausted).toEqual([{ payload: { id: 'x' }, error: 'boom 3', attempts: 3 }]);

    t.clock.advance(3_600_000);
    await t.services.jobs.runDue();
    expect(runs).toBe(3);
    expect(exhausted).toHaveLength(1);
  });

  it('fails a job of a kind nobody handles, with the reason', async () => {
    const k = kind();
    await enqueue({ kind: k, payload: {}, maxAttempts: 1 });
    await t.services.jobs.runDue();
    const [job] = await jobsOf(k);
    expect(job).toMatchObject({ status: 'failed', attempts: 1 });
    expect(job?.last_error).toContain(k);
  });

  it('claims again a job whose worker died once its lease has run out', async () => {
    const k = kind();
    let release: () => void = () => {};
    const stuck = new Promise<void>((resolve) => {
      release = resolve;
    });
    let firstStarted: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      firstStarted = resolve;
    });
    // Worker A takes the job and never comes back (its process hangs or dies).
    const workerA = new JobQueue(t.services.database.db, t.clock);
    workerA.handle(k, {
      run: async () => {
        firstStarted();
        await stuck;
        throw new Error('worker A woke up too late');
      },
    });
    // Worker B is another control-plane process over the same database.
    const workerB = new JobQueue(t.services.database.db, t.clock);
    const ranB: unknown[] = [];
    workerB.handle(k, { run: async (payload) => void ranB.push(payload) });

    await enqueue({ kind: k, payload: { n: 7 } });
    const runningA = workerA.runDue();
    await started;
    let [job] = await jobsOf(k);
    expect(job).toMatchObject({ status: 'running', attempts: 1 });
    const leaseEnd = job?.locked_until?.getTime() ?? 0;
    expect(leaseEnd).toBeGreaterThan(t.clock.now().getTime());

    // While the lease holds, nobody else takes the job.
    await workerB.runDue();
    expect(ranB).toEqual([]);
    t.clock.advance(leaseEnd - t.clock.now().getTime());
    await workerB.runDue();
    expect(ranB).toEqual([]);

    t.clock.advance(1);
    await workerB.runDue();
    expect(ranB).toEqual([{ n: 7 }]);
    [job] = await jobsOf(k);
    expect(job).toMatchObject({ status: 'succeeded', attempts: 2 });

    // Worker A finally returns with an error: the job B finished stays finished.
    release();
    await runningA;
    [job] = await jobsOf(k);
    expect(job).toMatchObject({ status: 'succeeded', attempts: 2 });
  });

  it('ends a job whose worker died during its last attempt, calling onExhausted once', async () => {
    const k = kind();
    const exhausted: string[] = [];
    let started: () => void = () => {};
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    // The dying worker: it takes the last attempt and never reports back.
    const dying = new JobQueue(t.services.database.db, t.clock);
    dying.handle(k, {
      run: () => {
        started();
        return new Promise<void>(() => {});
      },
    });
    let ran = 0;
    t.services.jobs.handle(k, {
      run: async () => void ran++,
      onExhausted: async (_payload, error) => void exhausted.push(error),
    });
    await enqueue({ kind: k, payload: {}, maxAttempts: 1 });
    void dying.runDue();
    await running;
    const [claimed] = await jobsOf(k);
    t.clock.advance((claimed?.locked_until?.getTime() ?? 0) - t.clock.now().getTime() + 1);
    await t.services.jobs.runDue();
    const [job] = await jobsOf(k);
    expect(ran).toBe(0);
    expect(job).toMatchObject({ status: 'failed', last_error: 'the worker stopped during the last attempt' });
    expect(exhausted).toEqual(['the worker stopped during the last attempt']);
    await t.services.jobs.runDue();
    expect(exhausted).toHaveLength(1);
  });

  it('gives each due job to exactly one of several workers running at once', async () => {
    const k = kind();
    const runs = new Map<number, number>();
    const workers = [1, 2, 3].map(() => {
      const queue = new JobQueue(t.services.database.db, t.clock);
      queue.handle(k, {
        run: async (payload) => {
          const n = Number(payload.n);
          runs.set(n, (runs.get(n) ?? 0) + 1);
        },
      });
      return queue;
    });
    for (let n = 0; n < 20; n++) await enqueue({ kind: k, payload: { n } });
    await Promise.all(workers.map((w) => w.runDue()));
    expect([...runs.keys()].sort((a, b) => a - b)).toEqual([...Array(20).keys()]);
    expect([...runs.values()].every((count) => count === 1)).toBe(true);
    expect((await jobsOf(k)).every((j) => j.status === 'succeeded' && j.attempts === 1)).toBe(true);
  });

  it('works the queue until stopped, waking on notify, without piling up listeners', async () => {
    const k = kind();
    const queue = new JobQueue(t.services.database.db, t.clock);
    const waiters: (() => void)[] = [];
    queue.handle(k, { run: async () => waiters.shift()?.() });
    const controller = new AbortController();
    const errors: unknown[] = [];
    // An hour between polls: only notify can make the loop look again within the test.
    const working = queue.work(controller.signal, 3_600_000, (e) => errors.push(e));
    try {
      for (let i = 0; i < 4; i++) {
        const ran = new Promise<void>((resolve) => waiters.push(resolve));
        await enqueue({ kind: k, payload: { i } }, queue);
        queue.notify();
        await ran;
      }
      expect(getEventListeners(controller.signal, 'abort').length).toBeLessThanOrEqual(1);
    } finally {
      controller.abort();
      await working;
    }
    expect(errors).toEqual([]);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect((await jobsOf(k)).map((j) => j.status)).toEqual([
      'succeeded',
      'succeeded',
      'succeeded',
      'succeeded',
    ]);
  });

  it("purges finished jobs past their retention, and never an unfinished one or a test clock's", async () => {
    const k = kind();
    const day = 24 * 60 * 60 * 1000;
    const now = t.clock.now().getTime();
    const clock = await t.request({
      method: 'POST',
      url: '/v1/test-clocks',
      payload: { name: k, frozen_time: t.clock.now().toISOString() },
    });
    expect(clock.status, JSON.stringify(clock.body)).toBe(201);
    const rows = [
      { name: 'succeeded 8 days ago', status: 'succeeded', age: 8, kept: false },
      { name: 'succeeded 6 days ago', status: 'succeeded', age: 6, kept: true },
      { name: 'failed 8 days ago', status: 'failed', age: 8, kept: true },
      { name: 'failed 31 days ago', status: 'failed', age: 31, kept: false },
      { name: 'pending since 40 days', status: 'pending', age: null, kept: true },
      {
        name: "a test clock's, succeeded 100 days ago",
        status: 'succeeded',
        age: 100,
        kept: true,
        onClock: true,
      },
    ] as const;
    for (const row of rows) {
      await enqueue({
        kind: k,
        payload: { name: row.name },
        runAt: new Date(now - 40 * day),
        testClockId: 'onClock' in row ? (clock.body.id as string) : null,
      });
      await t.services.database.db
        .updateTable('jobs')
        .set({
          status: row.status,
          finished_at: row.age === null ? null : new Date(now - row.age * day),
        })
        .where('kind', '=', k)
        .where(sql<boolean>`payload->>'name' = ${row.name}`)
        .execute();
    }
    expect(await t.services.jobs.purgeFinished()).toBeGreaterThanOrEqual(2);
    const left = (await jobsOf(k)).map((job) => (job.payload as { name: string }).name).sort();
    expect(left).toEqual(
      rows
        .filter((row) => row.kept)
        .map((row) => row.name)
        .sort(),
    );
  });
});
