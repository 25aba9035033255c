import type { PlanDefinition } from '@tenantry/core';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { Schema } from '../db/index.ts';

/** A stored plan version, as rating needs it. */
export interface PlanVersion {
  readonly planId: string;
  readonly version: number;
  readonly definition: PlanDefinition;
}

/** The key of a plan version in a {@link PlanVersions} cache. */
export function planVersionKey(planId: string, version: number): string {
  return `${planId}@${version}`;
}

/**
 * Plan versions read once and kept: a version is immutable once stored, so a cached copy is
 * never stale. An invoice run over thousands of tenants reads each version it meets once.
 */
export class PlanVersions {
  readonly #db: Kysely<Schema> | Transaction<Schema>;
  readonly #cache = new Map<string, PlanVersion>();

  constructor(db: Kysely<Schema> | Transaction<Schema>) {
    this.#db = db;
  }

  /** Reads the versions of `wanted` not yet cached, in one query. */
  async load(wanted: Iterable<{ planId: string; version: number }>): Promise<void> {
    const missing = new Map<string, { planId: string; version: number }>();
    for (const w of wanted) {
      const key = planVersionKey(w.planId, w.version);
      if (!this.#cache.has(key)) missing.set(key, w);
    }
    if (missing.size === 0) return;
    const list = [...missing.values()];
    const rows = await sql<{ plan_id: string; version: number; definition: PlanDefinition }>`
      select v.plan_id, v.version, v.definition
      from unnest(${list.map((w) => w.planId)}::text[], ${list.map((w) => w.version)}::int[]) as q(p, n)
      join plan_versions v on v.plan_id = q.p and v.version = q.n`.execute(this.#db);
    for (const row of rows.rows) {
      this.#cache.set(planVersionKey(row.plan_id, row.version), {
        planId: row.plan_id,
        version: row.version,
        definition: row.definition,
      });
    }
  }

  /** A loaded version; throws when it was not loaded (a programming error: versions are never deleted). */
  get(planId: string, version: number): PlanVersion {
    const found = this.#cache.get(planVersionKey(planId, version));
    if (!found) throw new Error(`plan version ${planId} v${version} was not loaded`);
    return found;
  }
}
