import { sql, type Transaction } from 'kysely';
import type { Schema } from '../db/schema.ts';
import { newId } from '../ids.ts';

/**
 * Who did something: an operator API key, a user (once members sign in), or Tenantry itself
 * (jobs, schedules).
 */
export type Actor =
  | { readonly type: 'api_key'; readonly id: string }
  | { readonly type: 'user'; readonly id: string }
  | { readonly type: 'system'; readonly id: string };

/** Who is acting, on behalf of which request and from where; every mutation takes one. */
export interface RequestContext {
  readonly actor: Actor;
  readonly requestId: string | null;
  /** The client's address as the HTTP layer sees it; null for the system's own work. */
  readonly sourceIp: string | null;
}

/** The system acting on its own, e.g. the job worker. */
export function systemContext(component: string): RequestContext {
  return { actor: { type: 'system', id: component }, requestId: null, sourceIp: null };
}

/** One audit entry, as the change recorder hands it over: who, what, on what, and what changed. */
export interface AuditWrite {
  readonly actor: Actor;
  readonly requestId: string | null;
  readonly sourceIp: string | null;
  readonly tenantId: string | null;
  readonly action: string;
  readonly targetType: string;
  readonly targetId: string;
  /** The changed fields' values before the change (secrets already left out); null when none. */
  readonly before: Record<string, unknown> | null;
  /** The same fields' values after it. */
  readonly after: Record<string, unknown> | null;
  readonly data: Record<string, unknown>;
}

/**
 * Appends audit entries, one statement however many. It takes a transaction, not a database, on
 * purpose: each entry must commit or roll back together with the change it records. Only the
 * change recorder (`changes/`) calls it.
 *
 * The table has no columns for the source address and before/after yet: they are kept in `data`
 * (`source_ip`, `before`, `after`, each only when there is one) until the audit log's own table
 * takes them.
 */
export async function appendAuditEntries(
  tx: Transaction<Schema>,
  entries: readonly AuditWrite[],
): Promise<void> {
  if (entries.length === 0) return;
  const rows = entries.map((entry) => ({
    id: newId('aud'),
    actor_type: entry.actor.type,
    actor_id: entry.actor.id,
    tenant_id: entry.tenantId,
    action: entry.action,
    target_type: entry.targetType,
    target_id: entry.targetId,
    request_id: entry.requestId,
    data: {
      ...entry.data,
      ...(entry.before === null ? {} : { before: entry.before }),
      ...(entry.after === null ? {} : { after: entry.after }),
      ...(entry.sourceIp === null ? {} : { source_ip: entry.sourceIp }),
    },
  }));
  await sql`
    insert into audit_events (id, actor_type, actor_id, tenant_id, action, target_type, target_id, request_id, data)
    select id, actor_type, actor_id, tenant_id, action, target_type, target_id, request_id, data
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(id text, actor_type text, actor_id text,
      tenant_id text, action text, target_type text, target_id text, request_id text, data jsonb)`.execute(
    tx,
  );
}
