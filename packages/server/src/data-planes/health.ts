import { type Kysely, sql, type UpdateQueryBuilder, type UpdateResult } from 'kysely';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import { PeriodicLease } from '../jobs/index.ts';
import { systemContext } from '../request-context.ts';
import type { DataPlaneConnector } from './data-plane-connector.ts';
import type { DataPlaneHealth } from './data-plane-service.ts';

/** How the health check runs; every field has a default ({@link DEFAULT_HEALTH_SETTINGS}). */
export interface HealthSettings {
  /** Data planes checked at once. */
  readonly concurrency: number;
  /** A check that has not answered by then failed. */
  readonly timeoutMs: number;
  /** Consecutive failed checks after which a data plane is `unhealthy` (before that, `degraded`). */
  readonly unhealthyAfter: number;
  /** A data plane whose health is unchanged has its `health_checked_at` written at most this often. */
  readonly refreshMs: number;
  /** From one round to the next, whichever control-plane process runs them. */
  readonly intervalMs: number;
  /**
   * How long a round is its process's without renewing (renewed every third of this while it
   * runs): a process that died during a round is taken over this long after its last renewal.
   */
  readonly leaseMs: number;
}

export const DEFAULT_HEALTH_SETTINGS: HealthSettings = {
  concurrency: 16,
  timeoutMs: 5_000,
  unhealthyAfter: 3,
  refreshMs: 60_000,
  intervalMs: 30_000,
  leaseMs: 60_000,
};

/** The round's row in `periodic_leases`. */
const HEALTH_LEASE = 'data_plane_health';
/** The shortest wait between two attempts at a round, whatever the lease says. */
const MIN_WAIT_MS = 1_000;

/** What one round did. */
export interface HealthRound {
  readonly checked: number;
  /** Rows written: health changes plus refreshed check times. */
  readonly writes: number;
  /** Data planes whose health changed (each recorded as `data_plane.health_changed`). */
  readonly changed: number;
}

/** What {@link DataPlaneHealthChecker.checkIfDue} did: a round, or none (not this process's turn). */
export interface HealthTurn {
  readonly round: HealthRound | null;
  /** When the next round may be taken. */
  readonly nextAt: Date;
}

interface CheckedRow {
  id: string;
  name: string;
  kind: 'vendor' | 'customer' | 'agent';
  region: string | null;
  tenant_id: string | null;
  health: DataPlaneHealth;
  health_detail: string | null;
  health_checked_at: Date | null;
  health_failures: number;
}

/**
 * Checks every live data plane that has connection details (the vendor's servers and BYOI
 * customers' databases; an agent's data plane is checked by its agent), `select` of the server's
 * version through its guarded pool, `concurrency` at a time, each bounded by `timeoutMs`. A
 * failure makes a data plane `degraded`, `unhealthyAfter` in a row `unhealthy`; one success
 * `healthy`. It writes a row only when its health changes (recorded, with an event) or its
 * failure count moves, or when its check time is older than `refreshMs`: a round over a thousand
 * healthy data planes writes nothing most of the time.
 *
 * Every control-plane process runs {@link work}, and one of them runs each round
 * ({@link PeriodicLease}): a data plane is checked once per interval, not once per process. Its
 * failure count is in its row (`health_failures`), so failures add up whichever process saw them;
 * each write is conditional on the row being as the round read it, so a process that overran its
 * lease cannot undo what the process that took over wrote.
 */
export class DataPlaneHealthChecker {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #connector: DataPlaneConnector;
  readonly #settings: HealthSettings;
  readonly #lease: PeriodicLease;

  constructor(deps: {
    db: Kysely<Schema>;
    clock: Clock;
    connector: DataPlaneConnector;
    settings?: Partial<HealthSettings>;
  }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#connector = deps.connector;
    this.#settings = { ...DEFAULT_HEALTH_SETTINGS, ...deps.settings };
    this.#lease = new PeriodicLease(deps.db, deps.clock, {
      name: HEALTH_LEASE,
      intervalMs: this.#settings.intervalMs,
      leaseMs: this.#settings.leaseMs,
    });
  }

  /**
   * One round over every data plane to check, by this process whatever the others do (tests and
   * benchmarks; the server's processes take turns with {@link checkIfDue}). Once `signal` aborts
   * no further data plane is checked.
   */
  async checkAll(signal?: AbortSignal): Promise<HealthRound> {
    const rows = (await this.#db
      .selectFrom('data_planes')
      .select([
        'id',
        'name',
        'kind',
        'region',
        'tenant_id',
        'health',
        'health_detail',
        'health_checked_at',
        'health_failures',
      ])
      .where('retired_at', 'is', null)
      .where('connection_sealed', 'is not', null)
      .where('kind', '<>', 'agent')
      .orderBy('id')
      .execute()) as CheckedRow[];
    let next = 0;
    let checked = 0;
    let writes = 0;
    let changed = 0;
    const worker = async () => {
      for (let row = rows[next++]; row !== undefined && !signal?.aborted; row = rows[next++]) {
        const wrote = await this.#checkOne(row);
        checked += 1;
        if (wrote !== 'none') writes += 1;
        if (wrote === 'changed') changed += 1;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#settings.concurrency, rows.length) }, worker));
    return { checked, writes, changed };
  }

  /**
   * Runs a round if it is this process's turn: the round is due (`intervalMs` after the last one
   * began, in any process) and no other process is running one. Null round: not its turn.
   */
  async checkIfDue(): Promise<HealthTurn> {
    const run = await this.#lease.run((signal) => this.checkAll(signal));
    return { round: run.ran ? run.value : null, nextAt: run.nextAt };
  }

  /**
   * Takes its turn at the rounds until `signal` aborts: after a round, or after finding it was not
   * its turn, it waits until the next round may be taken (at most `intervalMs`). A round's failure
   * goes to `onError`.
   */
  async work(signal: AbortSignal, onError: (error: unknown) => void): Promise<void> {
    while (!signal.aborted) {
      let waitMs = this.#settings.intervalMs;
      try {
        const turn = await this.checkIfDue();
        waitMs = Math.min(waitMs, turn.nextAt.getTime() - this.#clock.now().getTime());
      } catch (error) {
        onError(error);
      }
      await new Promise<void>((resolve) => {
        // The listener goes with each wait: one added per round would pile up on the signal.
        const abort = () => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(
          () => {
            signal.removeEventListener('abort', abort);
            resolve();
          },
          Math.max(MIN_WAIT_MS, waitMs),
        );
        timer.unref();
        signal.addEventListener('abort', abort, { once: true });
      });
    }
  }

  async #checkOne(row: CheckedRow): Promise<'none' | 'written' | 'changed'> {
    const failure = await this.#probe(row.id);
    // Capped: past `unhealthyAfter` the count changes nothing, and a data plane that stays down
    // must not be written every round.
    const failures = failure === null ? 0 : Math.min(row.health_failures + 1, this.#settings.unhealthyAfter);
    const health: DataPlaneHealth =
      failures === 0
        ? 'healthy'
        : failures >= this.#settings.unhealthyAfter || row.health === 'unhealthy'
          ? 'unhealthy'
          : 'degraded';
    const now = this.#clock.now();
    // Each write holds only if the row is as this round read it: another process that took over
    // a lease this one overran has written since, and its result stands.
    const asRead = (update: UpdateQueryBuilder<Schema, 'data_planes', 'data_planes', UpdateResult>) =>
      update
        .where('id', '=', row.id)
        .where('health', '=', row.health)
        .where('health_failures', '=', row.health_failures);
    if (health === row.health) {
      const last = row.health_checked_at === null ? 0 : new Date(row.health_checked_at).getTime();
      if (failures === row.health_failures && now.getTime() - last < this.#settings.refreshMs) return 'none';
      // The count and check time only: not a change of health, nothing to record.
      const written = await asRead(
        this.#db
          .updateTable('data_planes')
          .set({ health_checked_at: now, health_detail: failure, health_failures: failures }),
      ).executeTakeFirst();
      return written.numUpdatedRows > 0n ? 'written' : 'none';
    }
    return await this.#db.transaction().execute(async (tx) => {
      const written = await asRead(
        tx
          .updateTable('data_planes')
          .set({ health, health_detail: failure, health_checked_at: now, health_failures: failures }),
      ).executeTakeFirst();
      if (written.numUpdatedRows === 0n) return 'none';
      await recordChange(tx, systemContext('data_plane_health'), {
        action: 'data_plane.health_changed',
        tenantId: row.tenant_id,
        target: { type: 'data_plane', id: row.id },
        data: {
          data_plane_id: row.id,
          name: row.name,
          kind: row.kind,
          region: row.region,
          from: row.health,
          to: health,
          detail: failure,
        },
        occurredAt: now,
      });
      return 'changed';
    });
  }

  /** Null when the data plane answered in time; else what went wrong. */
  async #probe(id: string): Promise<string | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(
        () => resolve(`no answer within ${this.#settings.timeoutMs} ms`),
        this.#settings.timeoutMs,
      );
    });
    const check = this.#connector
      .run(id, (db) => sql<{ v: string }>`select current_setting('server_version') as v`.execute(db))
      .then(
        () => null,
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      );
    try {
      return await Promise.race([check, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
