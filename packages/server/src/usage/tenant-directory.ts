import type { Kysely } from 'kysely';
import type { Schema } from '../db/index.ts';

/** A tenant as ingestion needs it. */
export interface TenantRef {
  readonly id: string;
  readonly deleted: boolean;
  /** The test clock it lives on (its events are dated in that clock's time); null when live. */
  readonly testClockId: string | null;
}

const TTL_MS = 30_000;

/**
 * Resolves the tenant references of usage events (ids or slugs) with one query per batch for the
 * ones not in memory. Entries live a few seconds, so a deletion elsewhere is seen soon; a slug
 * is only cached while its tenant is alive, because a deleted tenant's slug can be reused.
 */
export class TenantDirectory {
  readonly #db: Kysely<Schema>;
  readonly #cache = new Map<string, { ref: TenantRef; until: number }>();

  constructor(db: Kysely<Schema>) {
    this.#db = db;
  }

  async resolve(refs: ReadonlySet<string>): Promise<Map<string, TenantRef>> {
    const now = Date.now();
    const found = new Map<string, TenantRef>();
    const missing: string[] = [];
    for (const ref of refs) {
      const hit = this.#cache.get(ref);
      if (hit && hit.until > now) found.set(ref, hit.ref);
      else missing.push(ref);
    }
    if (missing.length === 0) return found;
    const wanted = new Set(missing);
    const ids = missing.filter((r) => r.startsWith('ten_'));
    const slugs = missing.filter((r) => !r.startsWith('ten_'));
    const rows = await this.#db
      .selectFrom('tenants')
      .select(['id', 'slug', 'state', 'test_clock_id'])
      .where((eb) =>
        eb.or([
          ...(ids.length > 0 ? [eb('id', 'in', ids)] : []),
          ...(slugs.length > 0 ? [eb.and([eb('slug', 'in', slugs), eb('state', '<>', 'deleted')])] : []),
        ]),
      )
      .execute();
    for (const row of rows) {
      const ref = { id: row.id, deleted: row.state === 'deleted', testClockId: row.test_clock_id };
      for (const key of [row.id, row.slug]) {
        if (!wanted.has(key)) continue;
        found.set(key, ref);
        this.#cache.set(key, { ref, until: now + TTL_MS });
      }
    }
    return found;
  }
}
