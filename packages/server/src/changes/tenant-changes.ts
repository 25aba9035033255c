import type { Database } from '../db/index.ts';

/** The channel on which control-plane processes tell each other that tenants changed. */
export const TENANT_CHANGES = 'tenantry_tenant_changes';

/** Payloads stay well under Postgres's 8,000-byte limit for a notification. */
const MAX_PAYLOAD = 7_000;

/**
 * The payloads of the notifications that announce `tenantIds`: many tenants go in few
 * notifications, as comma-separated ids. NOTIFY is transactional, so sent in a change's
 * transaction they reach the other processes once it commits, and never if it rolls back.
 */
export function announcementPayloads(tenantIds: Iterable<string>): string[] {
  const payloads: string[] = [];
  let current = '';
  for (const id of new Set(tenantIds)) {
    if (current.length > 0 && current.length + id.length + 1 > MAX_PAYLOAD) {
      payloads.push(current);
      current = '';
    }
    current = current.length === 0 ? id : `${current},${id}`;
  }
  if (current.length > 0) payloads.push(current);
  return payloads;
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
