import { sql, type Transaction } from 'kysely';
import type { Database } from '../db/database.ts';
import type { Schema } from '../db/schema.ts';

/** The channel on which control-plane processes tell each other that tenants changed. */
export const TENANT_CHANGES = 'tenantry_tenant_changes';

/** Payloads stay well under Postgres's 8,000-byte limit for a notification. */
const MAX_PAYLOAD = 7_000;

/**
 * Tells every control-plane process that these tenants changed (their state, plan or usage),
 * once `tx` commits: NOTIFY is transactional, so a change that rolls back is never announced.
 * Many tenants go in few notifications, as comma-separated ids.
 */
export async function announceTenantChanges(
  tx: Transaction<Schema>,
  tenantIds: Iterable<string>,
): Promise<void> {
  const payloads: string[] = [];
  let current = '';
  for (const id of tenantIds) {
    if (current.length > 0 && current.length + id.length + 1 > MAX_PAYLOAD) {
      payloads.push(current);
      current = '';
    }
    current = current.length === 0 ? id : `${current},${id}`;
  }
  if (current.length > 0) payloads.push(current);
  if (payloads.length === 0) return;
  await sql`select pg_notify(${TENANT_CHANGES}, p) from unnest(${payloads}::text[]) as p`.execute(tx);
}

/** Calls `onChange` with the id of every tenant any process changes, until the result is called. */
export function followTenantChanges(
  database: Database,
  onChange: (tenantId: string) => void,
): Promise<() => Promise<void>> {
  return database.listen(TENANT_CHANGES, (payload) => {
    for (const id of payload.split(',')) if (id.length > 0) onChange(id);
  });
}
