import { type Kysely, sql } from 'kysely';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
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
}

export const DEFAULT_HEALTH_SETTINGS: HealthSettings = {
  concurrency: 16,
  timeoutMs: 5_000,
  unhealthyAfter: 3,
  refreshMs: 60_000,
};

/** What one round did. */
export interface HealthRound {
  readonly checked: number;
  /** Rows written: health changes plus refreshed check times. */
  readonly writes: number;
  /** Data planes whose health changed (each recorded as `data_plane.health_changed`). */
  readonly changed: number;
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
}

/**
 * Checks every live data plane that has connection details (the vendor's servers and BYOI
 * customers' databases; an agent's data plane is checked by its agent), `select` of the server's
 * version through its guarded pool, `concurrency` at a time, each bounded by `timeoutMs`. A
 * failure makes a data plane `degraded`, `unhealthyAfter` in a row `unhealthy`; one success
 * `healthy`. It writes a row only when its health changes (recorded, with an event) or when its
 * check time is older than `refreshMs`: a round over a thousand healthy data planes writes
 * nothing most of the time.
 */
export class DataPlaneHealthChecker {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #connector: DataPlaneConnector;
  readonly #settings: HealthSettings;
  /** Consecutive failures per data plane in this process; a success clears it. */
  readonly #failures = new Map<string, number>();

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
  }

  /** One round over every data plane to check. */
  async checkAll(): Promise<HealthRound> {
    const rows = (await this.#db
      .selectFrom('data_planes')
      .select(['id', 'name', 'kind', 'region', 'tenant_id', 'health', 'health_detail', 'health_checked_at'])
      .where('retired_at', 'is', null)
      .where('connection_sealed', 'is not', null)
      .where('kind', '<>', 'agent')
      .orderBy('id')
      .execute()) as CheckedRow[];
    let next = 0;
    let writes = 0;
    let changed = 0;
    const worker = async () => {
      for (let row = rows[next++]; row !== undefined; row = rows[next++]) {
        const wrote = await this.#checkOne(row);
        if (wrote !== 'none') writes += 1;
        if (wrote === 'changed') changed += 1;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#settings.concurrency, rows.length) }, worker));
    return { checked: rows.length, writes, changed };
  }

  /** Runs a round every `intervalMs` until `signal` aborts; a round's failure goes to `onError`. */
  async work(signal: AbortSignal, intervalMs: number, onError: (error: unknown) => void): Promise<void> {
    while (!signal.aborted) {
      await this.checkAll().catch(onError);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, intervalMs);
        timer.unref();
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async #checkOne(row: CheckedRow): Promise<'none' | 'refreshed' | 'changed'> {
    const failure = await this.#probe(row.id);
    const failures = failure === null ? 0 : (this.#failures.get(row.id) ?? 0) + 1;
    if (failures === 0) this.#failures.delete(row.id);
    else this.#failures.set(row.id, failures);
    const health: DataPlaneHealth =
      failures === 0
        ? 'healthy'
        : failures >= this.#settings.unhealthyAfter || row.health === 'unhealthy'
          ? 'unhealthy'
          : 'degraded';
    const now = this.#clock.now();
    if (health === row.health) {
      const last = row.health_checked_at === null ? 0 : new Date(row.health_checked_at).getTime();
      if (now.getTime() - last < this.#settings.refreshMs) return 'none';
      // The check time only, so that readers see the health is current; not a change of anything.
      await this.#db
        .updateTable('data_planes')
        .set({ health_checked_at: now, health_detail: failure })
        .where('id', '=', row.id)
        .execute();
      return 'refreshed';
    }
    await this.#db.transaction().execute(async (tx) => {
      await tx
        .updateTable('data_planes')
        .set({ health, health_detail: failure, health_checked_at: now })
        .where('id', '=', row.id)
        .execute();
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
    });
    return 'changed';
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
