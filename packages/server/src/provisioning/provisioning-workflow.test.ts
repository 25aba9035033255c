import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  SETTINGS,
  TestClock,
  type TestDatabase,
  uniqueSlug,
} from '../../test/harness.ts';
import { fixture } from '../../test/tenant-support.ts';
import { ControlPlaneServer } from '../data-planes/index.ts';
import { type PlacedTenant, PoolDriver, type StepOutcome } from '../placements/index.ts';
import { systemContext } from '../request-context.ts';
import { createServices, type Services } from '../services.ts';

const CTX = systemContext('test');

let db: TestDatabase;
let clock: TestClock;
let services: Services;

beforeAll(async () => {
  db = await createTestDatabase();
  clock = new TestClock();
  services = createServices(db.database, SETTINGS, clock);
  const applied = await services.plans.apply(CTX, { source: fixture('plans.yaml'), dryRun: false });
  expect(applied.ok).toBe(true);
});
afterAll(() => db.drop());

/**
 * A pool driver whose steps are scripted: each answers the next outcome of its script (the last
 * one for ever after), `throw` throwing instead; `runs` counts each step's runs across every
 * control plane ("process") that registers it.
 */
function scriptedDriver(script: Record<string, (StepOutcome<'pool'> | 'throw')[]>) {
  const runs: Record<string, number> = {};
  const real = new PoolDriver(new ControlPlaneServer(db.database.db, undefined), 'public');
  const driver = {
    placement: 'pool' as const,
    steps: Object.entries(script).map(([name, outcomes]) => ({
      name,
      run: async (_tenant: PlacedTenant<'pool'>): Promise<StepOutcome<'pool'>> => {
        const n = runs[name] ?? 0;
        runs[name] = n + 1;
        const outcome = outcomes[Math.min(n, outcomes.length - 1)];
        if (outcome === undefined || outcome === 'throw')
          throw new Error(`step ${name} broke (run ${n + 1})`);
        return outcome;
      },
    })),
    check: real.check.bind(real),
    deprovision: real.deprovision.bind(real),
    export: real.export.bind(real),
    import: real.import.bind(real),
    verify: real.verify.bind(real),
  };
  return { driver, runs };
}

async function create(on: Services = services) {
  const created = await on.tenants.create(CTX, {
    slug: uniqueSlug('wf'),
    name: 'Acme',
    plan: 'pro',
    placement: 'pool',
    seats: 1,
  });
  if (!created.ok) throw new Error(created.error.detail);
  return created.value;
}

async function run(tenantId: string, on: Services = services) {
  const found = await on.tenants.provisioning(tenantId);
  if (!found.ok) throw new Error(found.error.detail);
  return found.value;
}

async function tenant(tenantId: string, on: Services = services) {
  const found = await on.tenants.get(tenantId);
  if (!found.ok) throw new Error(found.error.detail);
  return found.value;
}

const DONE = { status: 'done' } as const;

describe('the provisioning workflow', () => {
  it('resumes after a restart at the step it stopped at: a step that held is not run again', async () => {
    const { driver, runs } = scriptedDriver({ first: [DONE], second: ['throw', DONE], third: [DONE] });
    services.placements.register(driver);
    const created = await create();
    expect(created.provisioning).toEqual({ state: 'running', step: 'first', error: null });

    // The first process: `first` holds, `second` breaks (the process dies there, as far as the
    // run can tell), its job waits for a retry.
    await services.jobs.runDue();
    expect(runs).toEqual({ first: 1, second: 1 });
    const stopped = await run(created.id);
    expect(stopped).toMatchObject({ state: 'running', step: 'second', error: 'step second broke (run 1)' });
    expect(stopped.steps).toMatchObject([
      { name: 'first', status: 'succeeded', attempts: 1, last_error: null },
      { name: 'second', status: 'pending', attempts: 1, last_error: 'step second broke (run 1)' },
      { name: 'third', status: 'pending', attempts: 0 },
    ]);
    expect((await tenant(created.id)).provisioning).toEqual({
      state: 'running',
      step: 'second',
      error: 'step second broke (run 1)',
    });

    // A new process on the same database (the restart) takes the run up where it is.
    const restarted = createServices(db.database, SETTINGS, clock);
    restarted.placements.register(driver);
    clock.advance(60_000);
    await restarted.jobs.runDue();
    expect(runs).toEqual({ first: 1, second: 2, third: 1 });
    const done = await run(created.id, restarted);
    expect(done).toMatchObject({ state: 'succeeded', step: null, error: null });
    expect(done.steps.map((s) => [s.name, s.status, s.attempts])).toEqual([
      ['first', 'succeeded', 1],
      ['second', 'succeeded', 2],
      ['third', 'succeeded', 1],
    ]);
    expect((await tenant(created.id, restarted)).state).toBe('active');
  });

  it('retries a thrown step with backoff, then fails the run there; retry_provisioning resumes at that step', async () => {
    const { driver, runs } = scriptedDriver({ first: [DONE], flaky: ['throw', 'throw', 'throw', DONE] });
    services.placements.register(driver);
    const created = await create();
    await services.jobs.runDue();
    // Backoff: the retry is not due yet.
    await services.jobs.runDue();
    expect(runs).toEqual({ first: 1, flaky: 1 });
    for (let i = 0; i < 2; i++) {
      clock.advance(3_600_000);
      await services.jobs.runDue();
    }
    expect(runs).toEqual({ first: 1, flaky: 3 });
    const failed = await tenant(created.id);
    expect(failed).toMatchObject({
      state: 'provisioning_failed',
      state_reason: 'step flaky broke (run 3)',
      provisioning: { state: 'failed', step: 'flaky', error: 'step flaky broke (run 3)' },
    });
    expect((await run(created.id)).steps[1]).toMatchObject({ status: 'failed', attempts: 3 });

    const retried = await services.tenants.act(CTX, created.id, 'retry_provisioning');
    expect(retried.ok && retried.value.provisioning).toEqual({
      state: 'running',
      step: 'flaky',
      error: null,
    });
    await services.jobs.runDue();
    expect(runs).toEqual({ first: 1, flaky: 4 });
    expect((await tenant(created.id)).state).toBe('active');
    expect((await run(created.id)).steps[1]).toMatchObject({ status: 'succeeded', attempts: 4 });
  });

  it('parks a waiting run without burning attempts until it is resumed', async () => {
    const waiting = {
      status: 'waiting',
      for: 'connection',
      detail: 'the customer has not given it yet',
    } as const;
    const { driver, runs } = scriptedDriver({ connect: [waiting, DONE], finish: [DONE] });
    services.placements.register(driver);
    const created = await create();
    await services.jobs.runDue();
    const parked = await run(created.id);
    expect(parked).toMatchObject({
      state: 'waiting',
      step: 'connect',
      error: 'waiting for connection: the customer has not given it yet',
    });
    expect(parked.steps[0]).toMatchObject({ status: 'waiting', attempts: 1 });
    // Time passes; nothing runs, nothing is spent.
    clock.advance(7 * 86_400_000);
    await services.jobs.runDue();
    expect(runs).toEqual({ connect: 1 });
    expect((await tenant(created.id)).state).toBe('provisioning');

    expect(await services.provisioning.resume(created.id)).toBe(true);
    // Only a waiting run resumes.
    expect(await services.provisioning.resume(created.id)).toBe(false);
    await services.jobs.runDue();
    expect(runs).toEqual({ connect: 2, finish: 1 });
    expect((await tenant(created.id)).state).toBe('active');
    expect(await services.provisioning.resume(created.id)).toBe(false);
  });

  it('stops at once on a failed outcome, with its detail as the reason', async () => {
    const refused = {
      status: 'failed',
      code: 'placement_conflict',
      detail: 'something is in the way',
    } as const;
    const { driver, runs } = scriptedDriver({ first: [refused], second: [DONE] });
    services.placements.register(driver);
    const created = await create();
    await services.jobs.runDue();
    expect(runs).toEqual({ first: 1 });
    expect(await tenant(created.id)).toMatchObject({
      state: 'provisioning_failed',
      state_reason: 'something is in the way',
      provisioning: { state: 'failed', step: 'first', error: 'something is in the way' },
    });
  });

  it('takes up a tenant queued for provisioning before runs existed: its run starts at the first step', async () => {
    const { driver, runs } = scriptedDriver({ first: [DONE], second: [DONE] });
    services.placements.register(driver);
    const created = await create();
    // As an older version left it: no run, and a job naming no step.
    const db = services.database.db;
    await db.deleteFrom('jobs').where('dedupe_key', 'like', `provision:${created.id}:%`).execute();
    await db.deleteFrom('provisioning_runs').where('tenant_id', '=', created.id).execute();
    await db.transaction().execute((tx) =>
      services.jobs.enqueue(tx, {
        kind: 'tenant.provision',
        payload: { tenant_id: created.id },
        dedupeKey: `provision:${created.id}`,
      }),
    );
    expect((await tenant(created.id)).provisioning).toBeNull();
    await services.jobs.runDue();
    expect(runs).toEqual({ first: 1, second: 1 });
    expect(await tenant(created.id)).toMatchObject({
      state: 'active',
      provisioning: { state: 'succeeded', step: null, error: null },
    });
  });
});
