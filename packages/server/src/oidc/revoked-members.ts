import { type Kysely, sql } from 'kysely';
import type { Schema } from '../db/index.ts';

/**
 * The users removed from a tenant since `since`, each with the time of their latest removal:
 * read from the tenant's audit log (`member.removed`, which the members feature writes in the
 * removal's own transaction), so nothing else has to keep removed memberships. The entitlement
 * snapshot carries the answer to apps, which then refuse the removed users' access tokens issued
 * before their removal (the tokens still verify until they expire).
 */
export function removedMembers(db: Kysely<Schema>) {
  return async (tenantId: string, since: Date): Promise<Record<string, string>> => {
    const rows = await db
      .selectFrom('audit_events')
      .select([sql<string>`data->>'user_id'`.as('user_id'), sql<Date>`max(occurred_at)`.as('removed_at')])
      .where('tenant_id', '=', tenantId)
      .where('action', '=', 'member.removed')
      .where('occurred_at', '>', since)
      .groupBy(sql`data->>'user_id'`)
      .execute();
    const removed: Record<string, string> = {};
    for (const row of rows) {
      if (typeof row.user_id === 'string') removed[row.user_id] = new Date(row.removed_at).toISOString();
    }
    return removed;
  };
}
