import { sql, type Transaction } from 'kysely';
import type { Schema } from '../db/index.ts';

/**
 * Marks events of the outbox as handed on, in the consumer's transaction (the webhook fan-out's,
 * which writes their deliveries in the same one): a consumer reads events, but only the recorder's
 * feature writes to their table.
 */
export async function markEventsPublished(tx: Transaction<Schema>, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await tx
    .updateTable('domain_events')
    .set({ published_at: sql<Date>`now()` })
    .where('id', 'in', ids)
    .execute();
}
