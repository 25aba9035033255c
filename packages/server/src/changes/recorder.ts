import {
  type AlsoOf,
  AUDIT_ACTIONS,
  type AuditAction,
  type AuditActionSpec,
  changedFields,
  type DefaultEventOf,
  EVENT_TYPES,
  type EventData,
  type EventType,
  type RaisedEvent,
  type RaisesOf,
  redact,
  type TargetOf,
} from '@tenantry/core';
import { sql, type Transaction } from 'kysely';
import { type AuditWrite, appendAuditEntries } from '../audit/index.ts';
import type { Schema } from '../db/index.ts';
import { newId } from '../ids.ts';
import type { RequestContext } from '../request-context.ts';
import { announcementPayloads, TENANT_CHANGES } from './tenant-changes.ts';

/** What every change says, whatever its action. */
interface ChangeCommon<A extends AuditAction> {
  /** What was done; the registry (AUDIT_ACTIONS) says what it targets, raises and announces. */
  readonly action: A;
  /** The tenant it concerns; null for the vendor's own objects (plans, keys, test clocks). */
  readonly tenantId: string | null;
  /** The object changed; its type is the one the registry names for the action. */
  readonly target: { readonly type: TargetOf<A>; readonly id: string };
  /**
   * The object's fields before and after the change. Give the fields the change may touch; only
   * those that differ are recorded, and secrets (SECRET_FIELDS) never.
   */
  readonly before?: Readonly<Record<string, unknown>>;
  readonly after?: Readonly<Record<string, unknown>>;
  /** Further events the action may raise beside its own (the registry's `also`). */
  readonly also?: readonly RaisedEvent<AlsoOf<A>>[];
  /**
   * More tenants whose entitlements the change alters, when its action concerns entitlements
   * (a test clock's advance moves the time of every tenant on it).
   */
  readonly tenants?: readonly string[];
  /**
   * When it happened in the tenant's time (a test tenant's clock, else the wall clock): its
   * events' `occurred_at`. The audit entry keeps the database's own time.
   */
  readonly occurredAt: Date;
}

/**
 * An action that raises events takes the payload of its first one as `data`, or names which of
 * its events it raises with that event's payload; one that raises none takes any `data`.
 */
type EventPart<A extends AuditAction> = [RaisesOf<A>] extends [never]
  ? { readonly event?: never; readonly data?: Readonly<Record<string, unknown>> }
  :
      | { readonly event?: never; readonly data: EventData<DefaultEventOf<A>> }
      | {
          readonly event: RaisedEvent<RaisesOf<A>>;
          /** What the audit entry says, when not the event's payload. */
          readonly data?: Readonly<Record<string, unknown>>;
        };

/**
 * One change of action `A`, as {@link recordChanges} takes it. For a union of actions (a change
 * whose action is picked at run time) the payload is checked against the union of theirs, and
 * the recorder checks the rest when it runs.
 */
export type ChangeOf<A extends AuditAction> = ChangeCommon<A> & EventPart<A>;

/** One change of some action. */
export type Change = { [A in AuditAction]: ChangeOf<A> }[AuditAction];

/** A domain event row, as it is inserted. */
interface EventRow {
  readonly id: string;
  readonly type: EventType;
  readonly version: number;
  readonly tenant_id: string | null;
  readonly data: Readonly<Record<string, unknown>>;
  readonly occurred_at: string;
  readonly request_id: string | null;
}

/**
 * Records changes in the caller's transaction, so that they commit or roll back with it: for
 * each, its audit entry, the events its action raises (the outbox webhooks are delivered from),
 * and, when its action alters a tenant's entitlements, the announcement that makes every
 * control-plane process drop that tenant's cached entitlements once the transaction commits.
 * Every mutation goes through here; nothing else writes audit entries, events or announcements.
 *
 * Three statements however many changes (an invoice run records thousands): the audit chains'
 * heads locked, the audit entries, then the events with the announcements. A change that breaks the registry (an unknown action,
 * a target or event its action does not have) is a bug and throws, which rolls the transaction
 * back: nothing is written.
 */
export async function recordChanges<A extends AuditAction>(
  tx: Transaction<Schema>,
  ctx: RequestContext,
  changes: readonly (Change | ChangeOf<A>)[],
): Promise<void> {
  if (changes.length === 0) return;
  const audit: AuditWrite[] = [];
  const events: EventRow[] = [];
  const announced = new Set<string>();
  for (const change of changes) {
    const spec: AuditActionSpec | undefined = AUDIT_ACTIONS[change.action];
    if (spec === undefined) throw new Error(`"${change.action}" is not an audit action of AUDIT_ACTIONS`);
    if (change.target.type !== spec.target) {
      throw new Error(`${change.action} targets a ${spec.target}, not a ${change.target.type}`);
    }
    const raised = eventsOf(change as Change, spec);
    const diff =
      change.before === undefined && change.after === undefined
        ? null
        : changedFields(change.before ?? {}, change.after ?? {});
    audit.push({
      actor: ctx.actor,
      requestId: ctx.requestId,
      sourceIp: ctx.sourceIp,
      tenantId: change.tenantId,
      action: change.action,
      targetType: change.target.type,
      targetId: change.target.id,
      before: diff?.before ?? null,
      after: diff?.after ?? null,
      // The audit writer redacts what it is given: before, after and data.
      data: change.data ?? raised[0]?.data ?? {},
    });
    for (const event of raised) {
      events.push({
        id: newId('evt'),
        type: event.type,
        version: EVENT_TYPES[event.type].version,
        tenant_id: change.tenantId,
        data: redact(event.data),
        occurred_at: change.occurredAt.toISOString(),
        request_id: ctx.requestId,
      });
    }
    if (spec.entitlements) {
      if (change.tenantId !== null) announced.add(change.tenantId);
      for (const tenantId of change.tenants ?? []) announced.add(tenantId);
    }
  }
  await appendAuditEntries(tx, audit);
  await writeEventsAndAnnounce(tx, events, announced);
}

/** {@link recordChanges} of one change. */
export function recordChange<A extends AuditAction>(
  tx: Transaction<Schema>,
  ctx: RequestContext,
  change: Change | ChangeOf<A>,
): Promise<void> {
  return recordChanges<A>(tx, ctx, [change]);
}

/**
 * Announces, in the caller's transaction, that the usage of these tenants changed, so that every
 * process drops their cached entitlements (whose `used` is stale) once it commits. The one
 * exception to "every change goes through {@link recordChanges}": usage (events ingested,
 * slots held, leases taken) is the vendor's metered data arriving thousands of times a second,
 * kept in its own tables by idempotent id, not a change an operator makes to the control plane.
 * It is neither audited nor raised as events, one by one; what crossing a limit means is raised
 * later by the threshold checker (`usage.threshold_reached`), through {@link recordChanges}.
 */
export async function announceUsage(tx: Transaction<Schema>, tenantIds: Iterable<string>): Promise<void> {
  await writeEventsAndAnnounce(tx, [], tenantIds);
}

/** The change's own event (the registry's default or the one it names) and its further ones. */
function eventsOf(change: Change, spec: AuditActionSpec): RaisedEvent[] {
  const raised: RaisedEvent[] = [];
  const named = change.event as RaisedEvent | undefined;
  if (named !== undefined) {
    if (!spec.raises.includes(named.type)) {
      throw new Error(
        `${change.action} does not raise ${named.type}; it raises ${spec.raises.join(', ') || 'none'}`,
      );
    }
    raised.push(named);
  } else if (spec.raises[0] !== undefined) {
    raised.push({ type: spec.raises[0], data: change.data ?? {} } as RaisedEvent);
  }
  for (const extra of (change.also ?? []) as readonly RaisedEvent[]) {
    if (!spec.also?.includes(extra.type)) {
      throw new Error(`${change.action} may not also raise ${extra.type}`);
    }
    raised.push(extra);
  }
  return raised;
}

/** One statement: the events into the outbox, and a notification per few hundred tenants. */
async function writeEventsAndAnnounce(
  tx: Transaction<Schema>,
  events: readonly EventRow[],
  tenantIds: Iterable<string>,
): Promise<void> {
  const payloads = announcementPayloads(tenantIds);
  if (events.length === 0 && payloads.length === 0) return;
  // A data-modifying CTE runs whether or not the query reads it.
  await sql`
    with written as (
      insert into domain_events (id, type, version, tenant_id, data, occurred_at, request_id)
      select id, type, version, tenant_id, data, occurred_at, request_id
      from jsonb_to_recordset(${JSON.stringify(events)}::jsonb) as x(id text, type text, version int,
        tenant_id text, data jsonb, occurred_at timestamptz, request_id text)
    )
    select pg_notify(${TENANT_CHANGES}, p) from unnest(${payloads}::text[]) as p`.execute(tx);
}
