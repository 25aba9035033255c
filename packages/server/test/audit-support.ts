import { type Kysely, sql } from 'kysely';
import type { Schema } from '../src/db/schema.ts';

/**
 * Empties the audit log (entries, chain heads, checkpoints) for a test that starts from none.
 * The log refuses TRUNCATE, even to a superuser; `session_replication_role = replica` (superuser
 * only) turns its triggers off for this transaction.
 */
export async function clearAuditLog(db: Kysely<Schema>): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await sql`set local session_replication_role = replica`.execute(tx);
    await sql`truncate tenantry.audit_events, tenantry.audit_chain_heads, tenantry.audit_checkpoints`.execute(
      tx,
    );
  });
}
