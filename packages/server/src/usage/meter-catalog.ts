import type { Aggregation } from '@tenantry/core';
import type { Kysely } from 'kysely';
import type { Schema } from '../db/index.ts';

/** A meter as ingestion needs it. */
export interface MeterInfo {
  readonly key: string;
  readonly aggregation: Aggregation;
  readonly unique_by: string | null;
}

const REFRESH_MS = 10_000;

/**
 * The meters declared by plan files, read from the database and kept in memory. A meter this
 * process has not seen triggers one reload, so a meter applied through another process is known
 * at once; otherwise the catalogue refreshes every few seconds. Meters are never deleted and
 * their aggregation never changes, so a stale entry is never wrong.
 */
export class MeterCatalog {
  readonly #db: Kysely<Schema>;
  #meters = new Map<string, MeterInfo>();
  #loadedAt = 0;
  #loading: Promise<void> | null = null;

  constructor(db: Kysely<Schema>) {
    this.#db = db;
  }

  async get(key: string): Promise<MeterInfo | undefined> {
    return (await this.resolve([key])).get(key);
  }

  /**
   * The meters of `keys` that exist. Reloads the catalogue at most once, when one of them is not
   * known or the catalogue is stale, so a batch naming an unknown meter in every event costs one
   * query, not one per event.
   */
  async resolve(keys: Iterable<string>): Promise<Map<string, MeterInfo>> {
    const wanted = [...new Set(keys)];
    const fresh = Date.now() - this.#loadedAt < REFRESH_MS;
    if (!fresh || wanted.some((key) => !this.#meters.has(key))) await this.#reload();
    const found = new Map<string, MeterInfo>();
    for (const key of wanted) {
      const meter = this.#meters.get(key);
      if (meter) found.set(key, meter);
    }
    return found;
  }

  async #reload(): Promise<void> {
    this.#loading ??= (async () => {
      const rows = await this.#db.selectFrom('meters').select(['key', 'aggregation', 'unique_by']).execute();
      this.#meters = new Map(
        rows.map((r) => [
          r.key,
          { key: r.key, aggregation: r.aggregation as Aggregation, unique_by: r.unique_by },
        ]),
      );
      this.#loadedAt = Date.now();
    })().finally(() => {
      this.#loading = null;
    });
    await this.#loading;
  }
}
