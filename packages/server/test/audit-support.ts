import { type Kysely, sql, type Transaction } from 'kysely';
import { appendAuditEntries } from '../src/audit/index.ts';
import type { Schema } from '../src/db/index.ts';
import type { RequestContext } from '../src/request-context.ts';

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

/** One entry as a test writes it: what changed, done by `ctx`'s actor. */
export interface TestAuditEntry {
  readonly action: string;
  readonly targetType: string;
  readonly targetId: string;
  readonly tenantId?: string | null;
  readonly data?: Record<string, unknown>;
  readonly before?: Record<string, unknown> | null;
  readonly after?: Record<string, unknown> | null;
}

/**
 * Appends entries done by `ctx`'s actor straight to the audit log, for the audit log's own tests;
 * features record their changes through the change recorder.
 */
export function recordAudit(
  tx: Transaction<Schema>,
  ctx: RequestContext,
  ...entries: readonly TestAuditEntry[]
): Promise<void> {
  return appendAuditEntries(
    tx,
    entries.map((entry) => ({
      actor: ctx.actor,
      requestId: ctx.requestId,
      sourceIp: ctx.sourceIp,
      tenantId: entry.tenantId ?? null,
      action: entry.action,
      targetType: entry.targetType,
      targetId: entry.targetId,
      before: entry.before ?? null,
      after: entry.after ?? null,
      data: entry.data ?? {},
    })),
  );
}
