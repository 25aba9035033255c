import { billingPeriod, type Period } from '@tenantry/core';
import type { Kysely, Transaction } from 'kysely';
import type { Schema } from '../db/index.ts';
import type { PlanVersions } from './plan-versions.ts';

/** One segment of a subscription's history: a plan version and seats over `[from, to)`. */
export interface SegmentRecord {
  readonly from: Date;
  /** `null` while in force. */
  readonly to: Date | null;
  readonly planId: string;
  readonly planVersion: number;
  readonly seats: number;
  readonly anchor: Date;
}

/** A tenant's subscription with its whole history, in order. */
export interface SubscriptionRecord {
  readonly tenantId: string;
  readonly startedAt: Date;
  readonly billingStartsAt: Date;
  readonly endedAt: Date | null;
  readonly invoicedUntil: Date;
  readonly nextDueAt: Date | null;
  readonly segments: readonly SegmentRecord[];
}

type Db = Kysely<Schema> | Transaction<Schema>;

/** The subscriptions of `tenantIds` (those that have one), in two queries. */
export async function loadSubscriptions(
  db: Db,
  tenantIds: readonly string[],
): Promise<Map<string, SubscriptionRecord>> {
  const found = new Map<string, SubscriptionRecord>();
  if (tenantIds.length === 0) return found;
  const [subscriptions, segments] = await Promise.all([
    db.selectFrom('subscriptions').selectAll().where('tenant_id', 'in', tenantIds).execute(),
    db
      .selectFrom('subscription_segments')
      .selectAll()
      .where('tenant_id', 'in', tenantIds)
      .orderBy('tenant_id')
      .orderBy('valid_from')
      .execute(),
  ]);
  const byTenant = new Map<string, SegmentRecord[]>();
  for (const s of segments) {
    const list = byTenant.get(s.tenant_id) ?? [];
    list.push({
      from: s.valid_from,
      to: s.valid_to,
      planId: s.plan_id,
      planVersion: s.plan_version,
      seats: s.seats,
      anchor: s.billing_anchor,
    });
    byTenant.set(s.tenant_id, list);
  }
  for (const s of subscriptions) {
    const list = byTenant.get(s.tenant_id) ?? [];
    if (list.length === 0) continue;
    found.set(s.tenant_id, {
      tenantId: s.tenant_id,
      startedAt: s.started_at,
      billingStartsAt: s.billing_starts_at,
      endedAt: s.ended_at,
      invoicedUntil: s.invoiced_until,
      nextDueAt: s.next_due_at,
      segments: list,
    });
  }
  return found;
}

/** The segment in force at `at`: the first one for instants before the subscription, the last after. */
function segmentAt(subscription: SubscriptionRecord, at: Date): SegmentRecord {
  const { segments } = subscription;
  let found = segments[0];
  for (const segment of segments) {
    if (segment.from <= at) found = segment;
    else break;
  }
  if (found === undefined) throw new Error(`subscription of ${subscription.tenantId} has no segment`);
  return found;
}

/** The billing period holding `at`, counted from the anchor and interval in force then. */
export function periodAt(subscription: SubscriptionRecord, plans: PlanVersions, at: Date): Period {
  const segment = segmentAt(subscription, at);
  const { interval } = plans.get(segment.planId, segment.planVersion).definition;
  return billingPeriod(segment.anchor, interval, at);
}

/** The billing period that starts in `[monthStart, monthEnd)`, or `null` when none does (an annual plan). */
export function periodStartingIn(
  subscription: SubscriptionRecord,
  plans: PlanVersions,
  month: { start: Date; end: Date },
): Period | null {
  let period = periodAt(subscription, plans, month.start);
  if (period.start < month.start) period = periodAt(subscription, plans, period.end);
  return period.start >= month.start && period.start < month.end ? period : null;
}

/** Whether the subscription has ended by `at`. */
export function endedBy(subscription: SubscriptionRecord, at: Date): boolean {
  return subscription.endedAt !== null && at >= subscription.endedAt;
}
