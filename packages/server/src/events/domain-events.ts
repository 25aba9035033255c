import { sql, type Transaction } from 'kysely';
import type { Schema } from '../db/schema.ts';
import { newId } from '../ids.ts';

/**
 * Something that happened, for subscribers (webhooks deliver them in a later issue): a threshold
 * reached, an invoice finalized, a trial ended. `type` is `<object>.<event>`.
 */
export interface DomainEvent {
  readonly type: string;
  /** The tenant it concerns; null for events of the vendor as a whole. */
  readonly tenantId: string | null;
  readonly data: Readonly<Record<string, unknown>>;
  readonly occurredAt: Date;
}

/**
 * Writes domain events in the transaction of the change they report, so that an event exists
 * exactly when its change committed. One statement however many: an invoice run raises thousands.
 */
export async function recordDomainEvents(
  tx: Transaction<Schema>,
  ...events: readonly DomainEvent[]
): Promise<void> {
  if (events.length === 0) return;
  const rows = events.map((e) => ({
    id: newId('evt'),
    type: e.type,
    tenant_id: e.tenantId,
    data: e.data,
    occurred_at: e.occurredAt.toISOString(),
  }));
  await sql`
    insert into domain_events (id, type, tenant_id, data, occurred_at)
    select id, type, tenant_id, data, occurred_at
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
      as x(id text, type text, tenant_id text, data jsonb, occurred_at timestamptz)`.execute(tx);
}
