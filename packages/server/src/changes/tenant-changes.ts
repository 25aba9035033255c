import { sql, type Transaction } from 'kysely';
import type { Database } from '../db/database.ts';
import type { Schema } from '../db/schema.ts';

/** The channel on which control-plane processes tell each other that a tenant changed. */
export const TENANT_CHANGES = 'tenantry_tenant_changes';

/**
 * Tells every control-plane process that the tenant changed, once `tx` commits (NOTIFY is
 * transactional: a change that rolls back is never announced).
 */
export async function announceTenantChange(tx: Transaction<Schema>, tenantId: string): Promise<void> {
  await sql`select pg_notify(${TENANT_CHANGES}, ${tenantId})`.execute(tx);
}

/** Calls `onChange` with the id of every tenant any process changes, until the result is called. */
export function followTenantChanges(
  database: Database,
  onChange: (tenantId: string) => void,
): Promise<() => Promise<void>> {
  return database.listen(TENANT_CHANGES, onChange);
}
