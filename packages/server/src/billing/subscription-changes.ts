import { billingPeriod, type PlanDefinition, type TenantState } from '@tenantry/core';
import { sql, type Transaction } from 'kysely';
import type { Schema } from '../db/index.ts';

/*
 * The subscription side of the tenant registry: the tenant service calls these inside the
 * transaction of each change it makes, so the history rating reads (segments of plan version and
 * seats, start and cancel dates) is exactly what the tenant went through.
 */

/** The plan version and seat count a subscription holds from some instant on. */
export interface SubscriptionTerms {
  readonly planId: string;
  readonly planVersion: number;
  readonly seats: number;
}

/**
 * Opens a new tenant's subscription: billing is counted from `startedAt` (the billing anchor),
 * charges start at `trialEndsAt` when there is a trial.
 */
export async function startSubscription(
  tx: Transaction<Schema>,
  e: {
    tenantId: string;
    startedAt: Date;
    trialEndsAt: Date | null;
    terms: SubscriptionTerms;
    interval: PlanDefinition['interval'];
    now: Date;
  },
): Promise<void> {
  await tx
    .insertInto('subscriptions')
    .values({
      tenant_id: e.tenantId,
      started_at: e.startedAt,
      billing_starts_at: e.trialEndsAt !== null && e.trialEndsAt > e.startedAt ? e.trialEndsAt : e.startedAt,
      ended_at: null,
      invoiced_until: e.startedAt,
      next_due_at: billingPeriod(e.startedAt, e.interval, e.startedAt).end,
      created_at: e.now,
      updated_at: e.now,
    })
    .execute();
  await tx
    .insertInto('subscription_segments')
    .values({
      tenant_id: e.tenantId,
      valid_from: e.startedAt,
      valid_to: null,
      plan_id: e.terms.planId,
      plan_version: e.terms.planVersion,
      seats: e.terms.seats,
      billing_anchor: e.startedAt,
    })
    .execute();
}

/**
 * Records a change of plan version or seats taking effect at `at`: the segment in force ends
 * there and the next one starts. A change at the very instant the open segment started replaces
 * it; a change dated before it (a scheduled change applied late) takes effect when it started,
 * so segments never overlap. A move to a plan of another billing interval (which the tenant
 * service allows only at a period end) starts counting periods again from `at`, and the tenant's
 * billing anchor moves with it.
 */
export async function changeSubscription(
  tx: Transaction<Schema>,
  e: {
    tenantId: string;
    at: Date;
    /** The terms from `at` on; the ones in force when absent (a change of anchor only). */
    terms?: SubscriptionTerms;
    now: Date;
    /** Counts periods again from `at` even on a plan of the same interval (a trial's end). */
    reanchor?: boolean;
  },
): Promise<void> {
  const open = await tx
    .selectFrom('subscription_segments as s')
    .innerJoin('plan_versions as v', (join) =>
      join.onRef('v.plan_id', '=', 's.plan_id').onRef('v.version', '=', 's.plan_version'),
    )
    .select(['s.valid_from', 's.plan_id', 's.plan_version', 's.seats', 's.billing_anchor', 'v.definition'])
    .where('s.tenant_id', '=', e.tenantId)
    .where('s.valid_to', 'is', null)
    .forUpdate('s')
    .executeTakeFirst();
  if (!open) return;
  const wanted = e.terms ?? { planId: open.plan_id, planVersion: open.plan_version, seats: open.seats };
  const next = await tx
    .selectFrom('plan_versions')
    .select('definition')
    .where('plan_id', '=', wanted.planId)
    .where('version', '=', wanted.planVersion)
    .executeTakeFirstOrThrow();
  // A change dated before the open segment began (applied late) takes effect where it began.
  const from = new Date(Math.max(e.at.getTime(), open.valid_from.getTime()));
  const interval = (next.definition as PlanDefinition).interval;
  const reanchor = e.reanchor === true || interval !== (open.definition as PlanDefinition).interval;
  const anchor = reanchor ? from : open.billing_anchor;
  if (
    !reanchor &&
    open.plan_id === wanted.planId &&
    open.plan_version === wanted.planVersion &&
    open.seats === wanted.seats
  )
    return;
  const terms = {
    plan_id: wanted.planId,
    plan_version: wanted.planVersion,
    seats: wanted.seats,
    billing_anchor: anchor,
  };
  if (from.getTime() === open.valid_from.getTime()) {
    await tx
      .updateTable('subscription_segments')
      .set(terms)
      .where('tenant_id', '=', e.tenantId)
      .where('valid_from', '=', open.valid_from)
      .execute();
  } else {
    await tx
      .updateTable('subscription_segments')
      .set({ valid_to: from })
      .where('tenant_id', '=', e.tenantId)
      .where('valid_from', '=', open.valid_from)
      .execute();
    await tx
      .insertInto('subscription_segments')
      .values({ tenant_id: e.tenantId, valid_from: from, valid_to: null, ...terms })
      .execute();
  }
  if (reanchor) {
    await tx.updateTable('tenants').set({ billing_anchor: anchor }).where('id', '=', e.tenantId).execute();
    // The next invoice falls due at the end of the period that holds invoiced_until, which now
    // counts from the new anchor if the change came before it.
    const subscription = await tx
      .selectFrom('subscriptions')
      .select(['invoiced_until', 'ended_at'])
      .where('tenant_id', '=', e.tenantId)
      .forUpdate()
      .executeTakeFirst();
    if (subscription && subscription.invoiced_until >= from && subscription.ended_at === null) {
      await tx
        .updateTable('subscriptions')
        .set({
          next_due_at: billingPeriod(anchor, interval, subscription.invoiced_until).end,
          updated_at: e.now,
        })
        .where('tenant_id', '=', e.tenantId)
        .execute();
    }
  }
}

/**
 * Ends a tenant's trial at `at`, as Stripe does: charges start there and periods are counted
 * from there (the billing anchor moves to `at`), so the first paid period is a whole one rather
 * than the rest of a period counted from the creation hour. Nothing before `at` was billable, so
 * invoicing resumes at `at`. A trial ended before its planned end has `trial_ends_at` moved to `at`.
 */
export async function endTrial(
  tx: Transaction<Schema>,
  e: { tenantId: string; at: Date; now: Date },
): Promise<void> {
  await tx
    .updateTable('tenants')
    .set({ trial_ends_at: e.at })
    .where('id', '=', e.tenantId)
    .where('trial_ends_at', '>', e.at)
    .execute();
  const started = await tx
    .updateTable('subscriptions')
    .set({
      billing_starts_at: sql<Date>`greatest(started_at, ${e.at}::timestamptz)`,
      invoiced_until: sql<Date>`greatest(invoiced_until, ${e.at}::timestamptz)`,
      updated_at: e.now,
    })
    .where('tenant_id', '=', e.tenantId)
    .where('ended_at', 'is', null)
    .executeTakeFirst();
  if (Number(started.numUpdatedRows) === 0) return;
  await changeSubscription(tx, { tenantId: e.tenantId, at: e.at, now: e.now, reanchor: true });
}

/**
 * Follows a lifecycle transition: cancelling (or deleting) ends the subscription at `now`, and
 * deleting a tenant whose provisioning failed ends it where it started (it never served, so
 * nothing is charged); activating a trialing tenant ends its trial ({@link endTrial}) at its
 * planned end, or now if that is earlier.
 */
export async function followTenantState(
  tx: Transaction<Schema>,
  e: { tenantId: string; from: TenantState; to: TenantState; now: Date },
): Promise<void> {
  if (e.to === 'cancelled' || e.to === 'deleted') {
    const end = e.from === 'provisioning_failed' ? sql<Date>`started_at` : sql<Date>`${e.now}::timestamptz`;
    await tx
      .updateTable('subscriptions')
      .set({ ended_at: end, updated_at: e.now })
      .where('tenant_id', '=', e.tenantId)
      .where('ended_at', 'is', null)
      .execute();
  } else if (e.from === 'trialing' && e.to === 'active') {
    const tenant = await tx
      .selectFrom('tenants')
      .select('trial_ends_at')
      .where('id', '=', e.tenantId)
      .executeTakeFirstOrThrow();
    const plannedEnd = (tenant.trial_ends_at ?? e.now).getTime();
    await endTrial(tx, {
      tenantId: e.tenantId,
      at: new Date(Math.min(plannedEnd, e.now.getTime())),
      now: e.now,
    });
  }
}
