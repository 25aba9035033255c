import { sql, type Transaction } from 'kysely';
import type { Schema } from '../db/schema.ts';
import { newId } from '../ids.ts';

/** Who did something: an operator API key, or Tenantry itself (jobs, schedules). */
export type Actor =
  | { readonly type: 'api_key'; readonly id: string }
  | { readonly type: 'system'; readonly id: string };

/** Who is acting and on behalf of which request; every mutation takes one. */
export interface RequestContext {
  readonly actor: Actor;
  readonly requestId: string | null;
}

/** The system acting on its own, e.g. the job worker. */
export function systemContext(component: string): RequestContext {
  return { actor: { type: 'system', id: component }, requestId: null };
}

/** One audited change. `action` is `<object>.<verb>`, e.g. `tenant.suspended`. */
export interface AuditEntry {
  readonly action: string;
  readonly targetType: string;
  readonly targetId: string;
  readonly tenantId?: string | null;
  readonly data?: Record<string, unknown>;
}

/**
 * Writes audit events, one statement however many. It takes a transaction, not a database, on
 * purpose: each event must commit or roll back together with the change it records.
 */
export async function recordAudit(
  tx: Transaction<Schema>,
  ctx: RequestContext,
  ...entries: readonly AuditEntry[]
): Promise<void> {
  if (entries.length === 0) return;
  const rows = entries.map((entry) => ({
    id: newId('aud'),
    actor_type: ctx.actor.type,
    actor_id: ctx.actor.id,
    tenant_id: entry.tenantId ?? null,
    action: entry.action,
    target_type: entry.targetType,
    target_id: entry.targetId,
    request_id: ctx.requestId,
    data: entry.data ?? {},
  }));
  await sql`
    insert into audit_events (id, actor_type, actor_id, tenant_id, action, target_type, target_id, request_id, data)
    select id, actor_type, actor_id, tenant_id, action, target_type, target_id, request_id, data
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(id text, actor_type text, actor_id text,
      tenant_id text, action text, target_type text, target_id text, request_id text, data jsonb)`.execute(
    tx,
  );
}
