import {
  type BillingInterval,
  billingPeriod,
  type DomainError,
  fail,
  keysetPage,
  ok,
  type Page,
  type Result,
  unknownCursor,
} from '@tenantry/core';
import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import type { InvoiceService, Trials } from '../billing/index.ts';
import { recordChange } from '../changes/index.ts';
import type { Clock, ClockScope } from '../clock.ts';
import type { Schema, TestClocksTable } from '../db/index.ts';
import { isId, newId } from '../ids.ts';
import type { JobQueue } from '../jobs/index.ts';
import { type RequestContext, systemContext } from '../request-context.ts';
import type { TenantService } from '../tenants/index.ts';
import type { ThresholdChecker } from '../usage/index.ts';
import { testClockAdvanceTooFar, testClockAdvancing, testClockNotFound } from './test-clock-errors.ts';

/** The job that works an advance through. */
const TEST_CLOCK_ADVANCE_JOB = 'test_clocks.advance';

/** Who the audit log names for what an advance does. */
const ADVANCE: RequestContext = systemContext('test-clock');

/** A test clock as the API shows it. */
export interface TestClockView {
  id: string;
  name: string | null;
  frozen_time: string;
  /** `advancing` while an advance is worked through; `ready` once everything due by `frozen_time` has run. */
  status: 'ready' | 'advancing';
  /** Where the advance under way goes; null when ready. */
  advancing_to: string | null;
  /** Tenants living on the clock (deleted ones not counted). */
  tenants: number;
  created_at: string;
}

/** What {@link TestClockService} needs: the time-driven work it runs for its clocks' tenants. */
export interface TestClockServiceOptions {
  readonly db: Kysely<Schema>;
  readonly clock: Clock;
  readonly jobs: JobQueue;
  readonly tenants: TenantService;
  readonly trials: Trials;
  readonly invoices: InvoiceService;
  readonly thresholds: ThresholdChecker;
  /** Told after an advance or the clock's deletion has committed, of each of its tenants. */
  readonly onChanged: (tenantId: string) => void;
}

type ClockRow = Selectable<TestClocksTable>;

/**
 * Test clocks, as Stripe's: a vendor creates a clock at some time, creates test tenants on it
 * (`test_clock` on `POST /v1/tenants`) and advances it. Everything time-dependent about such a
 * tenant reads the clock's `frozen_time` instead of the wall clock (see `tenantNow`), and the
 * sweeps and jobs that act on time (trial ends, invoice runs, dunning retries and suspensions,
 * scheduled plan changes) run for the clock's tenants only when it is advanced; the wall-clock
 * worker leaves them alone, and an advance touches no live tenant.
 *
 * An advance is recorded at once (`status: advancing`) and worked through by a job: the clock
 * steps from one due moment to the next (a trial reminder or end, a period end, a due job) up to
 * the target, and at each runs what is due then, as real time would have, in order. When it
 * reaches the target it is `ready` again.
 */
export class TestClockService {
  readonly #o: TestClockServiceOptions;

  constructor(options: TestClockServiceOptions) {
    this.#o = options;
    options.jobs.handle(TEST_CLOCK_ADVANCE_JOB, {
      run: (payload) => this.#work(String(payload.clock_id)),
      // Not left `advancing` for ever: ready where it got to, with the failure in the audit log.
      onExhausted: (payload, error) => this.#ready(String(payload.clock_id), { failed: error }),
    });
  }

  /** Creates a clock frozen at `frozenTime`. */
  async create(
    ctx: RequestContext,
    input: { frozen_time: Date; name?: string | undefined },
  ): Promise<TestClockView> {
    const now = this.#o.clock.now();
    const row: ClockRow = {
      id: newId('clk'),
      name: input.name ?? null,
      frozen_time: input.frozen_time,
      status: 'ready',
      advancing_to: null,
      created_at: now,
      updated_at: now,
      deleted_at: null,
    };
    await this.#o.db.transaction().execute(async (tx) => {
      await tx.insertInto('test_clocks').values(row).execute();
      await recordChange(tx, ctx, {
        action: 'test_clock.created',
        tenantId: null,
        target: { type: 'test_clock', id: row.id },
        data: { frozen_time: row.frozen_time.toISOString(), name: row.name },
        occurredAt: now,
      });
    });
    return view(row, 0);
  }

  async get(id: string): Promise<Result<TestClockView, DomainError>> {
    const [found] = await this.#views({ ids: [id] });
    return found ? ok(found) : testClockNotFound(id);
  }

  /** The clocks not deleted, newest first, one page at a time. */
  async list(page: {
    readonly limit: number;
    readonly cursor?: string | undefined;
  }): Promise<Result<Page<TestClockView>, DomainError>> {
    if (page.cursor !== undefined && !isId('clk', page.cursor)) {
      return unknownCursor();
    }
    const views = await this.#views({ before: page.cursor, limit: page.limit + 1 });
    return ok(
      keysetPage(
        views,
        page.limit,
        (clock) => clock,
        (clock) => clock.id,
      ),
    );
  }

  /**
   * Moves the clock forward to `to` (never back): recorded now, worked through by a job, after
   * which the clock is `ready` at `to`. Refused while an advance is under way.
   */
  async advance(ctx: RequestContext, id: string, to: Date): Promise<Result<TestClockView, DomainError>> {
    const result = await this.#o.db.transaction().execute(async (tx) => {
      const clock = await lockClock(tx, id);
      if (clock === undefined) return testClockNotFound(id);
      if (clock.status === 'advancing') return testClockAdvancing(id);
      if (to <= clock.frozen_time) {
        const detail = `a test clock only moves forward: frozen_time must be later than ${clock.frozen_time.toISOString()}`;
        return fail('validation_failed', detail, { errors: [{ path: 'frozen_time', message: detail }] });
      }
      const interval = await shortestInterval(tx, id);
      const furthest = twoIntervalsOn(clock.frozen_time, interval);
      if (to > furthest) return testClockAdvanceTooFar(furthest, interval);
      await tx
        .updateTable('test_clocks')
        .set({ status: 'advancing', advancing_to: to, updated_at: this.#o.clock.now() })
        .where('id', '=', id)
        .execute();
      await this.#o.jobs.enqueue(tx, {
        kind: TEST_CLOCK_ADVANCE_JOB,
        payload: { clock_id: id },
        dedupeKey: `${TEST_CLOCK_ADVANCE_JOB}:${id}`,
        maxAttempts: 10,
      });
      await recordChange(tx, ctx, {
        action: 'test_clock.advanced',
        tenantId: null,
        target: { type: 'test_clock', id },
        before: { status: clock.status },
        after: { status: 'advancing' },
        data: { from: clock.frozen_time.toISOString(), to: to.toISOString() },
        occurredAt: this.#o.clock.now(),
      });
      return ok(null);
    });
    if (!result.ok) return result;
    this.#o.jobs.notify();
    return this.get(id);
  }

  /** Deletes the clock and its tenants (cancelled, then deleted); refused while it is advancing. */
  async delete(
    ctx: RequestContext,
    id: string,
  ): Promise<Result<{ id: string; deleted: true; tenants: string[] }, DomainError>> {
    const result = await this.#o.db.transaction().execute(async (tx) => {
      const clock = await lockClock(tx, id);
      if (clock === undefined) return testClockNotFound(id);
      if (clock.status === 'advancing') return testClockAdvancing(id);
      const deleted = await this.#o.tenants.deleteOnClock(tx, ctx, id);
      if (!deleted.ok) return deleted;
      // What was waiting for the clock's time will never come.
      await tx.deleteFrom('jobs').where('test_clock_id', '=', id).where('status', '=', 'pending').execute();
      const now = this.#o.clock.now();
      await tx
        .updateTable('test_clocks')
        .set({ deleted_at: now, updated_at: now })
        .where('id', '=', id)
        .execute();
      await recordChange(tx, ctx, {
        action: 'test_clock.deleted',
        tenantId: null,
        target: { type: 'test_clock', id },
        data: { tenants: deleted.value },
        occurredAt: now,
      });
      return deleted;
    });
    if (!result.ok) return result;
    for (const tenantId of result.value) this.#o.onChanged(tenantId);
    return ok({ id, deleted: true, tenants: result.value });
  }

  /** Works an advance through: runs what is due at each moment up to the target, then marks the clock ready. */
  async #work(id: string): Promise<void> {
    for (;;) {
      const clock = await this.#o.db
        .selectFrom('test_clocks')
        .selectAll()
        .where('id', '=', id)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      if (clock?.status !== 'advancing' || clock.advancing_to === null) return;
      const scope: ClockScope = { testClockId: id, now: clock.frozen_time };
      await this.#runDue(scope);
      const target = clock.advancing_to;
      if (clock.frozen_time >= target) {
        await this.#ready(id, {});
        return;
      }
      const next = await this.#nextMoment(scope);
      await this.#o.db
        .updateTable('test_clocks')
        .set({ frozen_time: next !== null && next < target ? next : target, updated_at: this.#o.clock.now() })
        .where('id', '=', id)
        .execute();
    }
  }

  async #tenantsOn(tx: Transaction<Schema>, id: string): Promise<string[]> {
    const rows = await tx.selectFrom('tenants').select('id').where('test_clock_id', '=', id).execute();
    return rows.map((r) => r.id);
  }

  /** Ends an advance where the clock stands; `failed` names why it stopped short of its target. */
  async #ready(id: string, outcome: { failed?: string }): Promise<void> {
    const moved = await this.#o.db.transaction().execute(async (tx) => {
      const clock = await lockClock(tx, id);
      if (clock?.status !== 'advancing') return [];
      await tx
        .updateTable('test_clocks')
        .set({ status: 'ready', advancing_to: null, updated_at: this.#o.clock.now() })
        .where('id', '=', id)
        .execute();
      // Their time moved: every process drops the tenants' cached entitlements (current period, trial).
      const tenants = await this.#tenantsOn(tx, id);
      await recordChange(tx, ADVANCE, {
        action: outcome.failed === undefined ? 'test_clock.ready' : 'test_clock.advance_failed',
        tenantId: null,
        target: { type: 'test_clock', id },
        tenants,
        data: { frozen_time: clock.frozen_time.toISOString(), ...outcome },
        occurredAt: this.#o.clock.now(),
      });
      return tenants;
    });
    for (const tenantId of moved) this.#o.onChanged(tenantId);
  }

  /** Runs, for the clock's tenants at its time, what real time would run then. */
  async #runDue(scope: ClockScope): Promise<void> {
    await this.#o.trials.sweep(scope);
    const run = await this.#o.invoices.run(ADVANCE, { scope });
    if (run.ok && run.value.failed.length > 0) {
      // As the scheduled run does: a period that cannot be rated stays due and is tried again.
      throw new Error(
        `${run.value.failed.length} periods of test clock ${scope.testClockId} could not be invoiced`,
      );
    }
    await this.#o.jobs.runDue(scope);
    await this.#o.thresholds.drain();
  }

  /** The next moment after the clock's time at which something is due for its tenants, or null. */
  async #nextMoment(scope: ClockScope): Promise<Date | null> {
    const moments = await Promise.all([
      this.#o.trials.nextMoment(scope),
      this.#o.invoices.nextWorkAt(scope),
      this.#o.jobs.nextDueOn(scope.testClockId ?? ''),
    ]);
    const ahead = moments.filter((m): m is Date => m !== null && m > scope.now);
    return ahead.length === 0 ? null : new Date(Math.min(...ahead.map((m) => m.getTime())));
  }

  /**
   * The clocks not deleted, newest first (ids grow with time): those of `ids`, or up to `limit`
   * older than the clock `before`.
   */
  async #views(
    which: {
      readonly ids?: readonly string[];
      readonly before?: string | undefined;
      readonly limit?: number;
    } = {},
  ): Promise<TestClockView[]> {
    let query = this.#o.db
      .selectFrom('test_clocks as c')
      .selectAll('c')
      .select((eb) =>
        eb
          .selectFrom('tenants as t')
          .select((e) => e.fn.countAll<string>().as('n'))
          .whereRef('t.test_clock_id', '=', 'c.id')
          .where('t.state', '<>', 'deleted')
          .as('tenants'),
      )
      .where('c.deleted_at', 'is', null)
      .orderBy('c.id', 'desc');
    if (which.ids !== undefined) query = query.where('c.id', 'in', which.ids);
    if (which.before !== undefined) query = query.where('c.id', '<', which.before);
    if (which.limit !== undefined) query = query.limit(which.limit);
    const rows = await query.execute();
    return rows.map((r) => view(r, Number(r.tenants ?? 0)));
  }
}

/**
 * The shortest billing interval of the clock's tenants' plans; a year when it has none. An
 * advance may go two of them at a time, as Stripe's test clocks may: each step of an advance runs
 * the trial, invoice and dunning work due then, so a jump of centuries over a monthly plan would
 * be thousands of invoice runs in one job.
 */
async function shortestInterval(tx: Transaction<Schema>, id: string): Promise<BillingInterval> {
  const rows = await tx
    .selectFrom('tenants as t')
    .innerJoin('plan_versions as v', (join) =>
      join.onRef('v.plan_id', '=', 't.plan_id').onRef('v.version', '=', 't.plan_version'),
    )
    .select(sql<string>`v.definition->>'interval'`.as('interval'))
    .distinct()
    .where('t.test_clock_id', '=', id)
    .where('t.state', '<>', 'deleted')
    .execute();
  return rows.some((r) => r.interval === 'month') ? 'month' : 'year';
}

/** Two billing intervals on from `from`, counted as billing periods are (Jan 31 + 1 month is Feb 28). */
export function twoIntervalsOn(from: Date, interval: BillingInterval): Date {
  return billingPeriod(from, interval, billingPeriod(from, interval, from).end).end;
}

async function lockClock(tx: Transaction<Schema>, id: string): Promise<ClockRow | undefined> {
  return tx
    .selectFrom('test_clocks')
    .selectAll()
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .forUpdate()
    .executeTakeFirst();
}

function view(row: ClockRow, tenants: number): TestClockView {
  return {
    id: row.id,
    name: row.name,
    frozen_time: row.frozen_time.toISOString(),
    status: row.status,
    advancing_to: row.advancing_to?.toISOString() ?? null,
    tenants,
    created_at: row.created_at.toISOString(),
  };
}
