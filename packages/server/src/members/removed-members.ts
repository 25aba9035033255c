import type { Kysely } from 'kysely';
import type { Schema } from '../db/index.ts';

/**
 * The users removed from a tenant since `since`, each with the time of their latest removal
 * (member_removals, written in the removal's own transaction). The entitlement snapshot carries
 * the answer to apps, which then refuse the removed users' access tokens issued before their
 * removal (the tokens still verify until they expire).
 */
export function removedMembers(db: Kysely<Schema>) {
  return async (tenantId: string, since: Date): Promise<Record<string, string>> => {
    const rows = await db
      .selectFrom('member_removals')
      .select(['user_id', 'removed_at'])
      .where('tenant_id', '=', tenantId)
      .where('removed_at', '>', since)
      .execute();
    const removed: Record<string, string> = {};
    for (const row of rows) removed[row.user_id] = new Date(row.removed_at).toISOString();
    return removed;
  };
}
