import type { Transaction } from 'kysely';
import type { Schema } from '../db/schema.ts';
import { type Actor, appendAuditEntries } from './audit-chain.ts';

export type { Actor } from './audit-chain.ts';

/** Who is acting and on behalf of which request; every mutation takes one. */
export interface RequestContext {
  readonly actor: Actor;
  readonly requestId: string | null;
  /** The client's address, when the change came in over HTTP. */
  readonly sourceIp?: string | null;
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
  /** The changed fields' values before and after (secrets never). */
  readonly before?: Record<string, unknown> | null;
  readonly after?: Record<string, unknown> | null;
}

/**
 * Appends audit entries done by `ctx`'s actor, through {@link appendAuditEntries}. It takes a
 * transaction, not a database, on purpose: each entry must commit or roll back together with the
 * change it records.
 */
export function recordAudit(
  tx: Transaction<Schema>,
  ctx: RequestContext,
  ...entries: readonly AuditEntry[]
): Promise<void> {
  return appendAuditEntries(
    tx,
    entries.map((entry) => ({
      actor: ctx.actor,
      requestId: ctx.requestId,
      sourceIp: ctx.sourceIp ?? null,
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
