import {
  applyAction,
  billingPeriod,
  type DomainError,
  type FieldError,
  fail,
  hourOf,
  isVendorPlacement,
  keysetPage,
  ok,
  type Page,
  PLACEMENTS,
  type Placement,
  type PlacementResources,
  type PlanDefinition,
  parseOverrides,
  plannedResources,
  type Result,
  TENANT_STATES,
  type TenantAction,
  type TenantOverrides,
  type TenantState,
  unknownCursor,
} from '@tenantry/core';
import { type Kysely, sql, type Transaction } from 'kysely';
import {
  changeSubscription,
  draftInvoiceAt,
  type InvoiceView,
  moneyOf,
  type PlanChangeRequest,
  type ProrationView,
  planChangeTiming,
  prorationOf,
  startSubscription,
} from '../billing/index.ts';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import { createTenantDataPlane, DEFAULT_DATA_PLANE } from '../data-planes/index.ts';
import type { ScheduledPlanChange, Schema } from '../db/index.ts';
import { newId } from '../ids.ts';
import type { JobQueue } from '../jobs/index.ts';
import type { PlanService, PlanVersionView } from '../plans/index.ts';
import type { ProvisioningView, ProvisioningWorkflow } from '../provisioning/index.ts';
import { type RequestContext, systemContext } from '../request-context.ts';
import { testClockAdvancing } from '../test-clocks/index.ts';
import { transitionTenant } from './tenant-transition.ts';
import { type TenantRecord, type TenantView, tenantView } from './tenant-view.ts';

/** Job kinds the tenant service owns (provisioning's are the workflow's). */
export const TENANT_JOBS = {
  purge: 'tenant.purge',
  scheduledPlanChange: 'tenant.scheduled_plan_change',
} as const;

/** A scheduled plan change, with the overrides that come with it when the request sent some. */
type ScheduledChange = ScheduledPlanChange & { overrides?: TenantOverrides };

/** Who the audit log names for the tenant service's own work. */
const PROVISIONER = systemContext('provisioner');
const RETENTION = systemContext('retention');
const SCHEDULER = systemContext('scheduler');

const DAY_MS = 86_400_000;

export interface CreateTenantInput {
  slug: string;
  name: string;
  plan: string;
  plan_version?: number | undefined;
  placement: Placement;
  /** The data plane to place the tenant on (`dpl_…`); default: the control plane's own server. */
  data_plane?: string | undefined;
  /** `byoi` and `byoi_agent`: the schema of the app's tables in the customer's database; default `public`. */
  app_schema?: string | undefined;
  region?: string | undefined;
  trial_days?: number | undefined;
  seats: number;
  overrides?: unknown;
  metadata?: Record<string, string> | undefined;
  /** A test clock's id: the tenant lives on it (see docs/billing.md, Test clocks). */
  test_clock?: string | undefined;
}

/**
 * What another feature does in the transaction that creates a tenant (self-serve sign-up: the
 * creator becomes its owner), so that both commit or neither does. `check` runs first and may
 * refuse, before anything is written; `write` runs once the tenant's row exists.
 */
export interface AlongsideCreation {
  check(tx: Transaction<Schema>): Promise<Result<void, DomainError>>;
  write(tx: Transaction<Schema>, tenantId: string, now: Date): Promise<void>;
}

export interface UpdateTenantInput {
  name?: string | undefined;
  region?: string | null | undefined;
  seats?: number | undefined;
  overrides?: unknown;
  metadata?: Record<string, string> | undefined;
}

export interface ChangePlanInput {
  plan: string;
  plan_version?: number | undefined;
  /** `auto`: an upgrade now, a downgrade at the period end (see planChangeTiming). */
  at: PlanChangeRequest;
  overrides?: unknown;
}

/** What a plan change would do: see {@link TenantService.previewPlanChange}. */
export interface PlanChangePreview {
  tenant: string;
  from: { plan: string; version: number };
  to: { plan: string; version: number };
  seats: number;
  effective: 'now' | 'period_end';
  effective_at: string;
  currency: string;
  /** The credit and charge the change adds to the current period's invoice (none at the period end). */
  proration: ProrationView;
  /** The current period's invoice as the subscription stands, without the change. */
  current_invoice: InvoiceView;
  /** The current period's invoice with the change: the next invoice the tenant gets. */
  next_invoice: InvoiceView;
  /** A change at the period end: the first period's invoice on the new plan (its recurring prices). */
  first_invoice_on_new_plan: InvoiceView | null;
}

/**
 * Carries a preview's result out of its transaction: throwing rolls the transaction back, so the
 * changes the preview made to rate them are never committed.
 */
class RolledBack extends Error {
  readonly result: Result<PlanChangePreview, DomainError>;
  constructor(result: Result<PlanChangePreview, DomainError>) {
    super('plan change preview rolled back');
    this.result = result;
  }
}

/** The subscription change that moves `record` to `plan` at `at` (seats unchanged). */
function planChangeOf(record: TenantRecord, plan: PlanVersionView, at: Date, now: Date) {
  return {
    tenantId: record.id,
    at,
    terms: { planId: plan.plan_id, planVersion: plan.version, seats: record.seats },
    now,
  };
}

/** The fleet counted: see {@link TenantService.counts}. */
export interface TenantCounts {
  total: number;
  by_state: Record<TenantState, number>;
  by_placement: Record<Placement, number>;
}

export interface TenantFilter {
  state?: string | undefined;
  plan?: string | undefined;
  placement?: Placement | undefined;
  data_plane?: string | undefined;
  /** Part of the slug or the name, matched case-insensitively. */
  search?: string | undefined;
}

/** `text` as a LIKE pattern that matches it literally: its `%`, `_` and `\\` escaped. */
function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export interface TenantServiceOptions {
  db: Kysely<Schema>;
  clock: Clock;
  plans: PlanService;
  jobs: JobQueue;
  /** Provisions each tenant's placement through its driver, step by step. */
  provisioning: ProvisioningWorkflow;
  /** Days between deleting a tenant and removing its schema, database or pool rows. */
  deletionRetentionDays: number;
  /** Told after every committed change to a tenant, e.g. to drop cached entitlements. */
  onChanged: (tenantId: string) => void;
}

function withPrefix(prefix: string, errors: readonly FieldError[]): FieldError[] {
  return errors.map((e) => ({ ...e, path: `${prefix}.${e.path}` }));
}

/** The tenant registry: onboarding, lifecycle, plan changes, provisioning and deletion. */
export class TenantService {
  readonly #o: TenantServiceOptions;

  constructor(options: TenantServiceOptions) {
    this.#o = options;
    options.provisioning.listen({
      ended: (tx, tenantId, error) => this.#provisioningEnded(tx, tenantId, error),
      committed: (tenantId) => options.onChanged(tenantId),
    });
    options.jobs.handle(TENANT_JOBS.purge, { run: (payload) => this.#purge(String(payload.tenant_id)) });
    options.jobs.handle(TENANT_JOBS.scheduledPlanChange, {
      run: (payload) => this.#applyScheduledChange(String(payload.tenant_id)),
    });
  }

  /** Registers a tenant and queues the provisioning of its placement. */
  async create(
    ctx: RequestContext,
    input: CreateTenantInput,
    alongside?: AlongsideCreation,
  ): Promise<Result<TenantView, DomainError>> {
    const plan = await this.#planVersion('plan', input.plan, input.plan_version);
    if (!plan.ok) return plan;
    const overrides = this.#overrides('overrides', input.overrides ?? {}, plan.value.definition);
    if (!overrides.ok) return overrides;
    const seatCheck = checkSeats(input.seats, plan.value.definition, overrides.value);
    if (!seatCheck.ok) return seatCheck;

    const clock = input.test_clock === undefined ? null : await this.#testClock(input.test_clock);
    if (clock !== null && !clock.ok) return clock;
    // A test tenant starts at its clock's time: its trial and periods count from there.
    const now = clock?.value.frozen_time ?? this.#o.clock.now();
    const id = newId('ten');
    const trialDays = input.trial_days ?? plan.value.definition.trial_days;
    const trialEndsAt = trialDays > 0 ? new Date(now.getTime() + trialDays * DAY_MS) : null;
    const ownPlane = ownDataPlaneKind(input.placement);
    if (ownPlane !== null && input.data_plane !== undefined) {
      const detail = `a ${input.placement} tenant gets a data plane of its own (its customer's database); leave data_plane out`;
      return fail('validation_failed', detail, { errors: [{ path: 'data_plane', message: detail }] });
    }
    if (ownPlane === null && input.app_schema !== undefined) {
      const detail = `a ${input.placement} tenant's tables live where its placement puts them; app_schema is for byoi and byoi_agent tenants`;
      return fail('validation_failed', detail, { errors: [{ path: 'app_schema', message: detail }] });
    }
    const dataPlane = ownPlane === null ? (input.data_plane ?? DEFAULT_DATA_PLANE) : newId('dpl');
    const resources = plannedResources(id, input.placement, dataPlane, input.app_schema);
    const slugTaken = fail('slug_taken', `a tenant with the slug "${input.slug}" exists`);
    const created = await this.#o.db
      .transaction()
      .execute(async (tx) => {
        if (alongside !== undefined) {
          const allowed = await alongside.check(tx);
          if (!allowed.ok) return allowed;
        }
        if (ownPlane === null) {
          const room = await dataPlaneRoom(tx, dataPlane, input.placement);
          if (!room.ok) return room;
        }
        if (await this.#slugTaken(tx, input.slug)) return slugTaken;
        if (ownPlane !== null) await createTenantDataPlane(tx, id, ownPlane, dataPlane);
        await tx
          .insertInto('tenants')
          .values({
            id,
            slug: input.slug,
            name: input.name,
            state: 'provisioning',
            state_reason: null,
            placement: input.placement,
            region: input.region ?? null,
            plan_id: plan.value.plan_id,
            plan_version: plan.value.version,
            seats: input.seats,
            overrides: JSON.stringify(overrides.value),
            // On the hour: usage is rolled up by hour, so periods then match the rollups exactly.
            billing_anchor: hourOf(now),
            trial_ends_at: trialEndsAt,
            scheduled_change: null,
            data_plane_id: dataPlane,
            resources: JSON.stringify(resources),
            metadata: JSON.stringify(input.metadata ?? {}),
            created_at: now,
            updated_at: now,
            deleted_at: null,
            purged_at: null,
            test_clock_id: clock?.value.id ?? null,
          })
          .execute();
        await startSubscription(tx, {
          tenantId: id,
          startedAt: hourOf(now),
          trialEndsAt,
          terms: { planId: plan.value.plan_id, planVersion: plan.value.version, seats: input.seats },
          interval: plan.value.definition.interval,
          now,
        });
        await this.#o.provisioning.start(tx, id, input.placement);
        await recordChange(tx, ctx, {
          action: 'tenant.created',
          tenantId: id,
          target: { type: 'tenant', id },
          data: {
            slug: input.slug,
            plan: plan.value.key,
            plan_version: plan.value.version,
            placement: input.placement,
            ...(clock === null ? {} : { test_clock: clock.value.id }),
          },
          also: [
            {
              type: 'subscription.created',
              data: {
                plan: plan.value.key,
                plan_version: plan.value.version,
                seats: input.seats,
                trial_ends_at: trialEndsAt?.toISOString() ?? null,
              },
            },
          ],
          occurredAt: now,
        });
        await alongside?.write(tx, id, now);
        return ok(await this.#record(tx, id));
      })
      // Two creations of one slug at once both pass the check above; the unique index stops the
      // second, which is the same conflict as a slug already taken, not a server error.
      .catch((error: unknown) => {
        if (isUniqueViolation(error, 'tenants_slug_live')) return slugTaken;
        throw error;
      });
    if (!created.ok) return created;
    this.#o.jobs.notify();
    return ok(tenantView(created.value, now));
  }

  /** A tenant by id (`ten_…`) or by the slug of a tenant that is not deleted. */
  async get(idOrSlug: string): Promise<Result<TenantView, DomainError>> {
    const record = await this.#find(this.#o.db, idOrSlug);
    return record ? ok(tenantView(record, this.#o.clock.now())) : tenantNotFound(idOrSlug);
  }

  /** A tenant's provisioning run, with its steps. */
  async provisioning(idOrSlug: string): Promise<Result<ProvisioningView, DomainError>> {
    const record = await this.#find(this.#o.db, idOrSlug);
    if (!record) return tenantNotFound(idOrSlug);
    const view = await this.#o.provisioning.view(record.id);
    return view === undefined
      ? fail(
          'provisioning_run_not_found',
          `tenant "${record.slug}" was provisioned before provisioning runs existed`,
        )
      : ok(view);
  }

  /** The stored record behind a tenant, for services that compute from it (entitlements). */
  async record(idOrSlug: string): Promise<TenantRecord | undefined> {
    return this.#find(this.#o.db, idOrSlug);
  }

  /** Tenants in creation order, filtered, one page at a time. */
  async list(
    filter: TenantFilter,
    page: { limit: number; cursor?: string | undefined },
  ): Promise<Result<Page<TenantView>, DomainError>> {
    let after: string | undefined;
    if (page.cursor !== undefined) {
      after = decodeCursor(page.cursor);
      if (after === undefined) {
        return unknownCursor();
      }
    }
    let query = this.#select(this.#o.db)
      .orderBy('t.id')
      .limit(page.limit + 1);
    if (after !== undefined) query = query.where('t.id', '>', after);
    if (filter.state !== undefined) query = query.where('t.state', '=', filter.state);
    if (filter.placement !== undefined) query = query.where('t.placement', '=', filter.placement);
    if (filter.data_plane !== undefined) query = query.where('t.data_plane_id', '=', filter.data_plane);
    if (filter.plan !== undefined) query = query.where('p.key', '=', filter.plan);
    if (filter.search !== undefined) {
      // A substring of the slug or the name, the user's `%` and `_` taken literally: a search
      // box, not a pattern language.
      const pattern = `%${likeLiteral(filter.search)}%`;
      query = query.where((eb) => eb.or([eb('t.slug', 'ilike', pattern), eb('t.name', 'ilike', pattern)]));
    }
    const rows = (await query.execute()) as TenantRecord[];
    const now = this.#o.clock.now();
    return ok(
      keysetPage(
        rows,
        page.limit,
        (r) => tenantView(r, now),
        (r) => encodeCursor(r.id),
      ),
    );
  }

  /**
   * How many tenants there are in each state and on each placement (every state and placement
   * named, 0 when none): the fleet at a glance, in one query whatever its size.
   */
  async counts(): Promise<TenantCounts> {
    const rows = await this.#o.db
      .selectFrom('tenants')
      .select(['state', 'placement', (eb) => eb.fn.countAll<string | number>().as('n')])
      .groupBy(['state', 'placement'])
      .execute();
    const byState = Object.fromEntries(TENANT_STATES.map((state) => [state, 0])) as Record<
      TenantState,
      number
    >;
    const byPlacement = Object.fromEntries(PLACEMENTS.map((placement) => [placement, 0])) as Record<
      Placement,
      number
    >;
    let total = 0;
    for (const row of rows) {
      const n = Number(row.n);
      total += n;
      byState[row.state as TenantState] += n;
      byPlacement[row.placement as Placement] += n;
    }
    return { total, by_state: byState, by_placement: byPlacement };
  }

  /** Changes a tenant's name, region, seats, overrides or metadata. */
  async update(
    ctx: RequestContext,
    idOrSlug: string,
    input: UpdateTenantInput,
  ): Promise<Result<TenantView, DomainError>> {
    return this.#mutate(idOrSlug, async (tx, record) => {
      if (record.state === 'deleted')
        return fail('tenant_deleted', `tenant "${record.slug}" is deleted and cannot change`);
      let overrides = record.overrides as TenantOverrides;
      if (input.overrides !== undefined) {
        const parsed = this.#overrides('overrides', input.overrides, record.definition);
        if (!parsed.ok) return parsed;
        overrides = parsed.value;
      }
      const seats = input.seats ?? record.seats;
      const seatCheck = checkSeats(seats, record.definition, overrides);
      if (!seatCheck.ok) return seatCheck;
      await tx
        .updateTable('tenants')
        .set({
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...(input.region !== undefined ? { region: input.region } : {}),
          ...(input.metadata !== undefined ? { metadata: JSON.stringify(input.metadata) } : {}),
          seats,
          overrides: JSON.stringify(overrides),
          updated_at: this.#now(record),
        })
        .where('id', '=', record.id)
        .execute();
      const now = this.#now(record);
      if (seats !== record.seats) {
        await changeSubscription(tx, {
          tenantId: record.id,
          at: now,
          terms: { planId: record.plan_id, planVersion: record.plan_version, seats },
          now,
        });
      }
      const changed = Object.keys(input).filter((k) => input[k as keyof UpdateTenantInput] !== undefined);
      const terms = { plan: record.plan_key, version: record.plan_version };
      await recordChange(tx, ctx, {
        action: 'tenant.updated',
        tenantId: record.id,
        target: { type: 'tenant', id: record.id },
        before: {
          name: record.name,
          region: record.region,
          seats: record.seats,
          overrides: record.overrides,
          metadata: record.metadata,
        },
        after: {
          name: input.name ?? record.name,
          region: input.region === undefined ? record.region : input.region,
          seats,
          overrides,
          metadata: input.metadata ?? record.metadata,
        },
        data: { fields: changed },
        ...(seats === record.seats
          ? {}
          : {
              also: [
                {
                  type: 'subscription.updated',
                  data: { from: { ...terms, seats: record.seats }, to: { ...terms, seats } },
                },
              ],
            }),
        occurredAt: now,
      });
      return ok(null);
    });
  }

  /**
   * Moves a tenant to another plan (or another version of its plan): now, or at the end of the
   * current billing period, when a job makes the change.
   */
  async changePlan(
    ctx: RequestContext,
    idOrSlug: string,
    input: ChangePlanInput,
  ): Promise<Result<TenantView, DomainError>> {
    const plan = await this.#planVersion('plan', input.plan, input.plan_version);
    if (!plan.ok) return plan;
    return this.#mutate(idOrSlug, async (tx, record) => {
      const decided = this.#decidePlanChange(record, input, plan.value);
      if (!decided.ok) return decided;
      const { timing, overrides, now, from, to, effectiveAt } = decided.value;
      if (timing === 'now') {
        await tx
          .updateTable('tenants')
          .set({
            plan_id: plan.value.plan_id,
            plan_version: plan.value.version,
            overrides: JSON.stringify(overrides),
            scheduled_change: null,
            updated_at: now,
          })
          .where('id', '=', record.id)
          .execute();
        await changeSubscription(tx, planChangeOf(record, plan.value, now, now));
        await recordChange(tx, ctx, {
          action: 'tenant.plan_changed',
          tenantId: record.id,
          target: { type: 'tenant', id: record.id },
          before: { plan: from.plan, plan_version: from.version, overrides: record.overrides },
          after: { plan: to.plan, plan_version: to.version, overrides },
          data: { from, to },
          occurredAt: now,
        });
        return ok(null);
      }
      const scheduled: ScheduledChange = {
        plan_id: plan.value.plan_id,
        plan_version: plan.value.version,
        effective_at: effectiveAt.toISOString(),
        // Overrides sent with the change replace the tenant's when it takes effect, not before.
        ...(input.overrides !== undefined ? { overrides } : {}),
      };
      await tx
        .updateTable('tenants')
        .set({ scheduled_change: JSON.stringify(scheduled), updated_at: now })
        .where('id', '=', record.id)
        .execute();
      await this.#o.jobs.enqueue(tx, {
        kind: TENANT_JOBS.scheduledPlanChange,
        payload: { tenant_id: record.id },
        dedupeKey: `plan-change:${record.id}:${scheduled.effective_at}`,
        runAt: effectiveAt,
        testClockId: record.test_clock_id,
      });
      await recordChange(tx, ctx, {
        action: 'tenant.plan_change_scheduled',
        tenantId: record.id,
        target: { type: 'tenant', id: record.id },
        data: { from, to, effective_at: scheduled.effective_at },
        occurredAt: now,
      });
      return ok(null);
    });
  }

  /**
   * What {@link changePlan} would do, without doing it: when the change takes effect, its
   * proration and the invoices it leaves, as Stripe's upcoming invoice with a proposed change.
   * The same checks refuse the same requests. The subscription change is made by the same code
   * as the real one (and, at the period end, as the job that applies a scheduled change), the
   * drafts are rated by the invoice run's code inside that transaction, and the transaction is
   * rolled back: nothing is written, and no audit entry, event or job is made.
   */
  async previewPlanChange(
    idOrSlug: string,
    input: ChangePlanInput,
  ): Promise<Result<PlanChangePreview, DomainError>> {
    const plan = await this.#planVersion('plan', input.plan, input.plan_version);
    if (!plan.ok) return plan;
    try {
      await this.#o.db.transaction().execute(async (tx) => {
        const record = await this.#find(tx, idOrSlug, false);
        if (!record) throw new RolledBack(tenantNotFound(idOrSlug));
        const decided = this.#decidePlanChange(record, input, plan.value);
        if (!decided.ok) throw new RolledBack(decided);
        const { timing, now, from, to, effectiveAt } = decided.value;
        const tenant = { id: record.id, slug: record.slug, name: record.name };
        const draft = async (at: Date) => {
          const found = await draftInvoiceAt(tx, tenant, at, now);
          if (found === null)
            return fail('validation_failed', `tenant "${record.slug}" has no subscription to bill`, {
              errors: [{ path: 'params.id', message: 'has no subscription' }],
            });
          return found;
        };
        const before = await draft(now);
        if (!before.ok) throw new RolledBack(before);
        const at = timing === 'now' ? now : effectiveAt;
        await changeSubscription(tx, planChangeOf(record, plan.value, at, now));
        const after = await draft(now);
        if (!after.ok) throw new RolledBack(after);
        const firstOnNewPlan = timing === 'now' ? null : await draft(effectiveAt);
        if (firstOnNewPlan !== null && !firstOnNewPlan.ok) throw new RolledBack(firstOnNewPlan);
        throw new RolledBack(
          ok({
            tenant: record.id,
            from,
            to,
            seats: record.seats,
            effective: timing,
            effective_at: at.toISOString(),
            currency: after.value.currency,
            proration:
              timing === 'now'
                ? prorationOf(before.value, after.value, at)
                : { lines: [], amount: moneyOf(0n, after.value.currency) },
            current_invoice: before.value,
            next_invoice: after.value,
            first_invoice_on_new_plan: firstOnNewPlan?.value ?? null,
          }),
        );
      });
    } catch (error) {
      if (error instanceof RolledBack) return error.result;
      throw error;
    }
    throw new Error('previewPlanChange: the preview transaction ended without its result');
  }

  /** The checks a plan change passes and when it takes effect, shared by the change and its preview. */
  #decidePlanChange(
    record: TenantRecord,
    input: ChangePlanInput,
    plan: PlanVersionView,
  ): Result<
    {
      timing: 'now' | 'period_end';
      overrides: TenantOverrides;
      now: Date;
      from: { plan: string; version: number };
      to: { plan: string; version: number };
      effectiveAt: Date;
    },
    DomainError
  > {
    if (record.state === 'deleted')
      return fail('tenant_deleted', `tenant "${record.slug}" is deleted and cannot change plan`);
    const overrides = this.#overrides('overrides', input.overrides ?? record.overrides, plan.definition);
    if (!overrides.ok) {
      return input.overrides === undefined
        ? fail(
            'validation_failed',
            `the tenant's overrides do not fit plan "${plan.key}" v${plan.version}; send new overrides with the change`,
            {
              errors: overrides.error.errors ?? [],
            },
          )
        : overrides;
    }
    // The new plan's hard seats limit holds from the change on, whenever it takes effect.
    const seatCheck = checkSeats(record.seats, plan.definition, overrides.value);
    if (!seatCheck.ok) return seatCheck;
    const timing = planChangeTiming(record.definition, plan.definition, record.seats, input.at);
    if (!timing.ok) return timing;
    const now = this.#now(record);
    return ok({
      timing: timing.value,
      overrides: overrides.value,
      now,
      from: { plan: record.plan_key, version: record.plan_version },
      to: { plan: plan.key, version: plan.version },
      effectiveAt: billingPeriod(record.billing_anchor, record.definition.interval, now).end,
    });
  }

  /** Performs a lifecycle action; an action the tenant's state does not allow is refused with the ones it does. */
  async act(
    ctx: RequestContext,
    idOrSlug: string,
    action: TenantAction,
    reason?: string,
  ): Promise<Result<TenantView, DomainError>> {
    const result = await this.#mutate(idOrSlug, (tx, record) => this.#actIn(tx, ctx, record, action, reason));
    if (result.ok && action === 'retry_provisioning') this.#o.jobs.notify();
    return result;
  }

  /**
   * Performs a lifecycle action on a locked tenant in `tx`: the transition (which records it),
   * then what the new state sets off (a purge after a deletion, provisioning after a retry).
   */
  async #actIn(
    tx: Transaction<Schema>,
    ctx: RequestContext,
    record: TenantRecord,
    action: TenantAction,
    reason: string | undefined,
  ): Promise<Result<null, DomainError>> {
    const next = applyAction(record.state as TenantState, action);
    if (!next.ok) return next;
    const moved = await transitionTenant(tx, ctx, record, {
      to: next.value,
      reason: reason ?? null,
      now: this.#now(record),
    });
    if (!moved.ok) return moved;
    if (next.value === 'deleted') {
      await this.#o.jobs.enqueue(tx, {
        kind: TENANT_JOBS.purge,
        payload: { tenant_id: record.id },
        dedupeKey: `purge:${record.id}`,
        // Removing the data is the operator's infrastructure, on the wall clock even for a test tenant.
        runAt: new Date(this.#o.clock.now().getTime() + this.#o.deletionRetentionDays * DAY_MS),
      });
    }
    if (action === 'retry_provisioning') await this.#o.provisioning.retry(tx, record.id, record.placement);
    return ok(null);
  }

  /**
   * Cancels and deletes every tenant of a test clock inside the caller's transaction (the clock's
   * deletion), each step recorded like the actions; returns their ids. A tenant still provisioning
   * cannot be deleted yet: that refusal rolls the whole deletion back.
   */
  async deleteOnClock(
    tx: Transaction<Schema>,
    ctx: RequestContext,
    testClockId: string,
  ): Promise<Result<string[], DomainError>> {
    const rows = await tx
      .selectFrom('tenants')
      .select('id')
      .where('test_clock_id', '=', testClockId)
      .where('state', '<>', 'deleted')
      .orderBy('id')
      .execute();
    for (const { id } of rows) {
      for (const action of ['cancel', 'delete'] as const) {
        const record = await this.#find(tx, id, true);
        if (record === undefined) break;
        if (action === 'cancel' && ['cancelled', 'provisioning_failed'].includes(record.state)) continue;
        const done = await this.#actIn(tx, ctx, record, action, 'test_clock_deleted');
        if (!done.ok) return done;
      }
    }
    return ok(rows.map((r) => r.id));
  }

  /**
   * Runs a change to one tenant (which records itself) in a transaction that locks its row, and
   * tells this process's listeners once it has committed.
   */
  async #mutate(
    idOrSlug: string,
    change: (tx: Transaction<Schema>, record: TenantRecord) => Promise<Result<null, DomainError>>,
  ): Promise<Result<TenantView, DomainError>> {
    const result = await this.#o.db.transaction().execute(async (tx) => {
      const record = await this.#find(tx, idOrSlug, true);
      if (!record) return tenantNotFound(idOrSlug);
      const done = await change(tx, record);
      if (!done.ok) return done;
      return ok(await this.#record(tx, record.id));
    });
    if (!result.ok) return result;
    this.#o.onChanged(result.value.id);
    return ok(tenantView(result.value, this.#o.clock.now()));
  }

  /**
   * Ends provisioning, in the transaction that records the run's end: moves a tenant still
   * `provisioning` to trialing or active at its time, or to provisioning_failed with the error;
   * skipped if it has moved on meanwhile.
   */
  async #provisioningEnded(tx: Transaction<Schema>, tenantId: string, error: string | null): Promise<void> {
    const record = await this.#find(tx, tenantId, true);
    if (record?.state !== 'provisioning') return;
    const now = this.#now(record);
    const to: TenantState =
      error !== null ? 'provisioning_failed' : (record.trial_ends_at ?? 0) > now ? 'trialing' : 'active';
    const moved = await transitionTenant(tx, PROVISIONER, record, { to, reason: error, now });
    // Out of provisioning, every state the table allows is one of those above.
    if (!moved.ok)
      throw new Error(`provisioning could not end for tenant ${tenantId}: ${moved.error.detail}`);
  }

  async #purge(tenantId: string): Promise<void> {
    const record = await this.#find(this.#o.db, tenantId);
    if (record?.state !== 'deleted' || record.purged_at) return;
    await this.#o.provisioning.deprovision({
      id: record.id,
      resources: record.resources as PlacementResources,
    });
    await this.#o.db.transaction().execute(async (tx) => {
      await tx
        .updateTable('tenants')
        .set({ purged_at: this.#o.clock.now() })
        .where('id', '=', tenantId)
        .execute();
      await recordChange(tx, RETENTION, {
        action: 'tenant.purged',
        tenantId,
        target: { type: 'tenant', id: tenantId },
        data: {},
        occurredAt: this.#o.clock.now(),
      });
    });
  }

  async #applyScheduledChange(tenantId: string): Promise<void> {
    const changed = await this.#o.db.transaction().execute(async (tx) => {
      const record = await this.#find(tx, tenantId, true);
      const scheduled = record?.scheduled_change as ScheduledChange | null | undefined;
      if (!record || !scheduled || record.state === 'deleted') return false;
      const now = this.#now(record);
      if (new Date(scheduled.effective_at) > now) return false;
      await tx
        .updateTable('tenants')
        .set({
          plan_id: scheduled.plan_id,
          plan_version: scheduled.plan_version,
          ...(scheduled.overrides !== undefined ? { overrides: JSON.stringify(scheduled.overrides) } : {}),
          scheduled_change: null,
          updated_at: now,
        })
        .where('id', '=', tenantId)
        .execute();
      await changeSubscription(tx, {
        tenantId,
        at: new Date(scheduled.effective_at),
        terms: { planId: scheduled.plan_id, planVersion: scheduled.plan_version, seats: record.seats },
        now: now,
      });
      const from = { plan: record.plan_key, version: record.plan_version };
      const to = { plan: record.scheduled_plan_key ?? scheduled.plan_id, version: scheduled.plan_version };
      await recordChange(tx, SCHEDULER, {
        action: 'tenant.plan_changed',
        tenantId,
        target: { type: 'tenant', id: tenantId },
        before: { plan: from.plan, plan_version: from.version, overrides: record.overrides },
        after: {
          plan: to.plan,
          plan_version: to.version,
          overrides: scheduled.overrides ?? record.overrides,
        },
        data: { from, to, scheduled: true },
        occurredAt: now,
      });
      return true;
    });
    if (changed) this.#o.onChanged(tenantId);
  }

  async #planVersion(
    field: string,
    key: string,
    version: number | undefined,
  ): Promise<Result<PlanVersionView, DomainError>> {
    const found = await this.#o.plans.version(key, version);
    if (found.ok) return found;
    const path = found.error.code === 'plan_version_not_found' ? `${field}_version` : field;
    return fail('validation_failed', found.error.detail, { errors: [{ path, message: found.error.detail }] });
  }

  #overrides(field: string, input: unknown, plan: PlanDefinition): Result<TenantOverrides, DomainError> {
    const parsed = parseOverrides(input, plan);
    if (parsed.ok) return parsed;
    return fail('validation_failed', `the overrides do not fit plan "${plan.key}"`, {
      errors: withPrefix(field, parsed.error.errors ?? []),
    });
  }

  async #slugTaken(tx: Transaction<Schema>, slug: string): Promise<boolean> {
    const row = await tx
      .selectFrom('tenants')
      .select('id')
      .where('slug', '=', slug)
      .where('state', '<>', 'deleted')
      .executeTakeFirst();
    return row !== undefined;
  }

  #select(db: Kysely<Schema>) {
    return db
      .selectFrom('tenants as t')
      .innerJoin('plans as p', 'p.id', 't.plan_id')
      .innerJoin('plan_versions as v', (join) =>
        join.onRef('v.plan_id', '=', 't.plan_id').onRef('v.version', '=', 't.plan_version'),
      )
      .leftJoin('provisioning_runs as pr', 'pr.tenant_id', 't.id')
      .innerJoin('data_planes as dp', 'dp.id', 't.data_plane_id')
      .selectAll('t')
      .select('dp.health as data_plane_health')
      .select(['p.key as plan_key', 'v.definition'])
      .select([
        'pr.state as provisioning_state',
        'pr.step as provisioning_step',
        'pr.error as provisioning_error',
      ])
      .select(
        sql<string | null>`(select sp.key from plans sp where sp.id = t.scheduled_change->>'plan_id')`.as(
          'scheduled_plan_key',
        ),
      )
      .select(
        sql<Date | null>`(select c.frozen_time from test_clocks c where c.id = t.test_clock_id)`.as(
          'clock_time',
        ),
      );
  }

  /** The time as the tenant sees it: its test clock's, or the wall clock's. */
  #now(record: TenantRecord): Date {
    return record.clock_time ?? this.#o.clock.now();
  }

  /** The test clock a new tenant is to live on; refused while it is being advanced. */
  async #testClock(id: string): Promise<Result<{ id: string; frozen_time: Date }, DomainError>> {
    const clock = await this.#o.db
      .selectFrom('test_clocks')
      .select(['id', 'frozen_time', 'status'])
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    if (clock === undefined) {
      return fail('validation_failed', `no test clock has the id "${id}"`, {
        errors: [{ path: 'test_clock', message: 'no such test clock' }],
      });
    }
    if (clock.status === 'advancing') return testClockAdvancing(id);
    return ok({ id: clock.id, frozen_time: clock.frozen_time });
  }

  async #find(db: Kysely<Schema>, idOrSlug: string, lock = false): Promise<TenantRecord | undefined> {
    let query = this.#select(db);
    query = idOrSlug.startsWith('ten_')
      ? query.where('t.id', '=', idOrSlug)
      : query.where('t.slug', '=', idOrSlug).where('t.state', '<>', 'deleted');
    if (lock) query = query.forUpdate('t');
    return (await query.executeTakeFirst()) as TenantRecord | undefined;
  }

  async #record(db: Kysely<Schema>, id: string): Promise<TenantRecord> {
    const record = await this.#find(db, id);
    if (!record) throw new Error(`tenant ${id} vanished inside its own transaction`);
    return record;
  }
}

/** The answer to a tenant id or slug that names no tenant, wherever a tenant is looked up. */
export function tenantNotFound(idOrSlug: string): { readonly ok: false; readonly error: DomainError } {
  return fail('tenant_not_found', `no tenant has the id or slug "${idOrSlug}"`);
}

/** The kind of data plane a tenant of `placement` holds alone, or null for one on a vendor data plane. */
function ownDataPlaneKind(placement: Placement): 'customer' | 'agent' | null {
  if (placement === 'byoi') return 'customer';
  if (placement === 'byoi_agent') return 'agent';
  return null;
}

/**
 * Whether the data plane can take a new tenant of this placement: it exists, is not retired, is
 * of the kind the placement needs, and has room under its capacity. A data plane with a capacity
 * has its row locked while its tenants are counted, so that two creations at once cannot both
 * take its last place; one without (dpl_default) is not, so creations do not queue on it.
 */
async function dataPlaneRoom(
  tx: Transaction<Schema>,
  id: string,
  placement: Placement,
): Promise<Result<null, DomainError>> {
  const invalid = (message: string) =>
    fail('validation_failed', `data plane "${id}" ${message}`, { errors: [{ path: 'data_plane', message }] });
  const find = (lock: boolean) => {
    const query = tx
      .selectFrom('data_planes')
      .select(['kind', 'capacity', 'retired_at'])
      .where('id', '=', id);
    return (lock ? query.forUpdate() : query).executeTakeFirst();
  };
  let plane = await find(false);
  if (plane?.capacity !== null && plane?.capacity !== undefined) plane = await find(true);
  if (plane === undefined) return invalid('does not exist');
  if (plane.retired_at !== null) return invalid('is retired');
  if (isVendorPlacement(placement) && plane.kind !== 'vendor')
    return invalid(`is a ${plane.kind} data plane; placement ${placement} needs a vendor data plane`);
  if (plane.capacity !== null) {
    const held = await tx
      .selectFrom('tenants')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('data_plane_id', '=', id)
      .where('purged_at', 'is', null)
      .executeTakeFirstOrThrow();
    if (Number(held.n) >= plane.capacity) {
      const message = `holds ${plane.capacity} tenants, its capacity`;
      return fail('data_plane_full', `data plane "${id}" ${message}`, {
        errors: [{ path: 'data_plane', message }],
      });
    }
  }
  return ok(null);
}

/** A hard `seats` limit caps the seat count; a soft one lets it pass. */
function checkSeats(
  seats: number,
  plan: PlanDefinition,
  overrides: TenantOverrides,
): Result<null, DomainError> {
  const limit = { ...plan.limits.seats, ...overrides.limits?.seats };
  if (
    limit.value === undefined ||
    limit.value === null ||
    limit.enforcement === 'soft' ||
    seats <= limit.value
  )
    return ok(null);
  return fail('validation_failed', `plan "${plan.key}" allows at most ${limit.value} seats`, {
    errors: [{ path: 'seats', message: `must be at most ${limit.value} on plan "${plan.key}"` }],
  });
}

/** Whether `error` is Postgres's unique_violation on `constraint` (from `pg` or PGlite alike). */
function isUniqueViolation(error: unknown, constraint: string): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { code?: unknown; constraint?: unknown };
  return e.code === '23505' && e.constraint === constraint;
}

function encodeCursor(id: string): string {
  return Buffer.from(JSON.stringify({ after: id })).toString('base64url');
}

function decodeCursor(cursor: string): string | undefined {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown };
    return typeof value.after === 'string' && value.after.startsWith('ten_') ? value.after : undefined;
  } catch {
    return undefined;
  }
}
