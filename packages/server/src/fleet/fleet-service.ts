import { type DomainError, keysetPage, ok, type Page, type Result, unknownCursor } from '@tenantry/core';
import { type Kysely, sql } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import { isId } from '../ids.ts';

const DAY_MS = 86_400_000;

/** How many items a signal lists; its count says how many there are in all. */
export const SIGNAL_ITEMS = 10;
/** A limit is near at this share of it reached (a threshold the checker recorded), in percent. */
export const NEAR_LIMIT_PERCENT = 80;
/** Trials ending within this many days. */
export const TRIAL_DAYS = 7;
/** Active licenses expiring within this many days. */
export const LICENSE_DAYS = 30;
/** A running provisioning run that has not moved for this long is stuck. */
export const PROVISIONING_STALE_MINUTES = 15;
/** A running migration run none of whose targets has moved for this long is stuck. */
export const MIGRATION_STALE_MINUTES = 60;
/** Failed migration runs that ended within this many days. */
export const MIGRATION_FAILED_DAYS = 7;

/** The provisioning run states, as `provisioning_runs.state` holds them. */
export const RUN_STATES = ['running', 'waiting', 'succeeded', 'failed'] as const;
export type ProvisioningRunState = (typeof RUN_STATES)[number];

export interface TenantRef {
  id: string;
  slug: string;
  name: string;
}

/** One tenant's provisioning run, as the fleet listing shows it. */
export interface FleetProvisioningRun {
  tenant: TenantRef;
  tenant_state: string;
  state: ProvisioningRunState;
  step: string | null;
  error: string | null;
  /** Attempts made at the current step; 0 once the run succeeded. */
  attempts: number;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

interface Signal<T> {
  count: number;
  items: T[];
}

export interface FleetSignals {
  generated_at: string;
  near_limit: Signal<{
    tenant: TenantRef;
    meter: string;
    threshold: number;
    used: number;
    limit: number;
    reached_at: string;
  }>;
  trials_ending: Signal<{ tenant: TenantRef; trial_ends_at: string }>;
  licenses_expiring: Signal<{ tenant: TenantRef; license_id: string; expires_at: string }>;
  failing_webhooks: Signal<{
    endpoint_id: string;
    tenant: TenantRef | null;
    url: string;
    status: 'enabled' | 'disabled';
    disabled_reason: string | null;
    retrying_deliveries: number;
  }>;
  provisioning_stuck: Signal<{
    tenant: TenantRef;
    state: 'running' | 'failed';
    step: string | null;
    error: string | null;
    updated_at: string;
  }>;
  migrations_stuck: Signal<{
    run_id: string;
    state: 'running' | 'failed';
    target_version: number;
    failed: number;
    last_progress_at: string;
  }>;
}

/** `count(*) over ()` beside each listed row: the count and the capped list in one statement. */
type Counted<T> = T & { total: number | string };

function signalOf<R, T>(rows: readonly Counted<R>[], map: (row: R) => T): Signal<T> {
  return { count: Number(rows[0]?.total ?? 0), items: rows.map(map) };
}

function tenantOf(row: { tenant_id: string; slug: string; name: string }): TenantRef {
  return { id: row.tenant_id, slug: row.slug, name: row.name };
}

function iso(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

/** The states of a tenant whose limits, trial and license still matter. */
const LIVE = sql`('trialing', 'active', 'past_due')`;

/**
 * The fleet at a glance for operators (docs/fleet.md): what needs looking at across every tenant,
 * and the fleet's provisioning runs. Each signal is one statement over an indexed slice (migration
 * 0039) that answers its count and its first {@link SIGNAL_ITEMS} items together, so that the
 * home costs the same for fifty tenants or fifty thousand. Reads only: nothing here changes state.
 */
export class FleetService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;

  constructor(deps: { db: Kysely<Schema>; clock: Clock }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
  }

  /** Provisioning runs, newest tenant first, optionally in one state, a page at a time. */
  async provisioningRuns(
    filter: { state?: ProvisioningRunState | undefined },
    page: { limit: number; cursor?: string | undefined },
  ): Promise<Result<Page<FleetProvisioningRun>, DomainError>> {
    if (page.cursor !== undefined && !isId('ten', page.cursor)) return unknownCursor();
    let query = this.#db
      .selectFrom('provisioning_runs as r')
      .innerJoin('tenants as t', 't.id', 'r.tenant_id')
      .select([
        'r.tenant_id',
        't.slug',
        't.name',
        't.state as tenant_state',
        'r.state',
        'r.step',
        'r.error',
        'r.created_at',
        'r.updated_at',
        'r.finished_at',
      ])
      .select((eb) =>
        eb
          .selectFrom('provisioning_steps as s')
          .select('s.attempts')
          .whereRef('s.tenant_id', '=', 'r.tenant_id')
          .whereRef('s.name', '=', 'r.step')
          .as('attempts'),
      )
      .orderBy('r.tenant_id', 'desc')
      .limit(page.limit + 1);
    if (filter.state !== undefined) query = query.where('r.state', '=', filter.state);
    if (page.cursor !== undefined) query = query.where('r.tenant_id', '<', page.cursor);
    return ok(
      keysetPage(
        await query.execute(),
        page.limit,
        (row) => ({
          tenant: tenantOf(row),
          tenant_state: row.tenant_state,
          state: row.state,
          step: row.step,
          error: row.error,
          attempts: row.attempts ?? 0,
          created_at: row.created_at.toISOString(),
          updated_at: row.updated_at.toISOString(),
          finished_at: row.finished_at?.toISOString() ?? null,
        }),
        (row) => row.tenant_id,
      ),
    );
  }

  /** Every signal, each one statement, read side by side. */
  async signals(): Promise<FleetSignals> {
    const now = this.#clock.now();
    const [near, trials, licenses, webhooks, provisioning, migrations] = await Promise.all([
      this.#nearLimit(now),
      this.#trialsEnding(now),
      this.#licensesExpiring(now),
      this.#failingWebhooks(),
      this.#provisioningStuck(now),
      this.#migrationsStuck(now),
    ]);
    return {
      generated_at: now.toISOString(),
      near_limit: near,
      trials_ending: trials,
      licenses_expiring: licenses,
      failing_webhooks: webhooks,
      provisioning_stuck: provisioning,
      migrations_stuck: migrations,
    };
  }

  /**
   * Live tenants that reached a threshold of {@link NEAR_LIMIT_PERCENT} % or more of a limit in
   * their current billing period, each once, at its highest share. Read from the thresholds the
   * usage checker records (usage_thresholds), not recomputed: a limit whose plan sets no threshold
   * at or above 80 % is not seen here. A row is of the current period when its period holds now:
   * read by its end (indexed), so that past periods' rows are not read at all.
   */
  async #nearLimit(now: Date): Promise<FleetSignals['near_limit']> {
    const { rows } = await sql<
      Counted<{
        tenant_id: string;
        slug: string;
        name: string;
        meter: string;
        threshold: number;
        used: string;
        limit_value: string;
        reached_at: Date;
      }>
    >`
      with current as (
        select distinct on (u.tenant_id) u.tenant_id, t.slug, t.name, u.meter, u.threshold, u.used,
          u.limit_value, u.reached_at
        from usage_thresholds u
        join tenants t on t.id = u.tenant_id
        where u.threshold >= ${NEAR_LIMIT_PERCENT} and u.period_end > ${now} and u.period_start <= ${now}
          and t.state in ${LIVE} and u.limit_value > 0
        order by u.tenant_id, u.used / u.limit_value desc, u.meter
      )
      select *, count(*) over () as total from current
      order by used / limit_value desc, tenant_id
      limit ${SIGNAL_ITEMS}`.execute(this.#db);
    return signalOf(rows, (row) => ({
      tenant: tenantOf(row),
      meter: row.meter,
      threshold: row.threshold,
      used: Number(row.used),
      limit: Number(row.limit_value),
      reached_at: iso(row.reached_at),
    }));
  }

  /** Trialing tenants whose trial ends within {@link TRIAL_DAYS} days, soonest first. */
  async #trialsEnding(now: Date): Promise<FleetSignals['trials_ending']> {
    const until = new Date(now.getTime() + TRIAL_DAYS * DAY_MS);
    const { rows } = await sql<
      Counted<{ tenant_id: string; slug: string; name: string; trial_ends_at: Date }>
    >`
      select id as tenant_id, slug, name, trial_ends_at, count(*) over () as total
      from tenants
      where state = 'trialing' and trial_ends_at >= ${now} and trial_ends_at <= ${until}
      order by trial_ends_at, id
      limit ${SIGNAL_ITEMS}`.execute(this.#db);
    return signalOf(rows, (row) => ({ tenant: tenantOf(row), trial_ends_at: iso(row.trial_ends_at) }));
  }

  /** Active licenses of live tenants expiring within {@link LICENSE_DAYS} days, soonest first. */
  async #licensesExpiring(now: Date): Promise<FleetSignals['licenses_expiring']> {
    const until = new Date(now.getTime() + LICENSE_DAYS * DAY_MS);
    const { rows } = await sql<
      Counted<{ tenant_id: string; slug: string; name: string; id: string; expires_at: Date }>
    >`
      select l.tenant_id, t.slug, t.name, l.id, l.expires_at, count(*) over () as total
      from licenses l
      join tenants t on t.id = l.tenant_id
      where l.status = 'active' and l.expires_at >= ${now} and l.expires_at <= ${until} and t.state in ${LIVE}
      order by l.expires_at, l.id
      limit ${SIGNAL_ITEMS}`.execute(this.#db);
    return signalOf(rows, (row) => ({
      tenant: tenantOf(row),
      license_id: row.id,
      expires_at: iso(row.expires_at),
    }));
  }

  /**
   * Endpoints whose deliveries fail: enabled ones with deliveries pending after a failed attempt
   * (being retried), and those the control plane disabled after its retry schedule ran out or a
   * 410 (an endpoint disabled by request is not failing). Most retrying deliveries first.
   */
  async #failingWebhooks(): Promise<FleetSignals['failing_webhooks']> {
    const { rows } = await sql<
      Counted<{
        id: string;
        tenant_id: string | null;
        slug: string | null;
        name: string | null;
        url: string;
        status: 'enabled' | 'disabled';
        disabled_reason: string | null;
        retrying: number | string;
      }>
    >`
      with retrying as (
        select endpoint_id, count(*) as retrying from webhook_deliveries
        where state = 'pending' and attempt_count > 0
        group by endpoint_id
      )
      select e.id, e.tenant_id, t.slug, t.name, e.url, e.status, e.disabled_reason,
        coalesce(r.retrying, 0) as retrying, count(*) over () as total
      from webhook_endpoints e
      left join retrying r on r.endpoint_id = e.id
      left join tenants t on t.id = e.tenant_id
      where (e.status = 'enabled' and r.retrying is not null)
         or (e.status = 'disabled' and e.disabled_reason is distinct from 'disabled by request')
      order by (e.status = 'disabled') desc, coalesce(r.retrying, 0) desc, e.id
      limit ${SIGNAL_ITEMS}`.execute(this.#db);
    return signalOf(rows, (row) => ({
      endpoint_id: row.id,
      tenant:
        row.tenant_id === null || row.slug === null || row.name === null
          ? null
          : { id: row.tenant_id, slug: row.slug, name: row.name },
      url: row.url,
      status: row.status,
      disabled_reason: row.disabled_reason,
      retrying_deliveries: Number(row.retrying),
    }));
  }

  /**
   * Provisioning runs that failed, or that are running and have not moved for
   * {@link PROVISIONING_STALE_MINUTES} minutes; a run waiting on its customer is not stuck.
   */
  async #provisioningStuck(now: Date): Promise<FleetSignals['provisioning_stuck']> {
    const stale = new Date(now.getTime() - PROVISIONING_STALE_MINUTES * 60_000);
    const { rows } = await sql<
      Counted<{
        tenant_id: string;
        slug: string;
        name: string;
        state: 'running' | 'failed';
        step: string | null;
        error: string | null;
        updated_at: Date;
      }>
    >`
      select r.tenant_id, t.slug, t.name, r.state, r.step, r.error, r.updated_at, count(*) over () as total
      from provisioning_runs r
      join tenants t on t.id = r.tenant_id
      where (r.state = 'failed' or (r.state = 'running' and r.updated_at < ${stale})) and t.state <> 'deleted'
      order by r.tenant_id desc
      limit ${SIGNAL_ITEMS}`.execute(this.#db);
    return signalOf(rows, (row) => ({
      tenant: tenantOf(row),
      state: row.state,
      step: row.step,
      error: row.error,
      updated_at: iso(row.updated_at),
    }));
  }

  /**
   * Migration runs that failed within {@link MIGRATION_FAILED_DAYS} days, and running ones none of
   * whose targets has moved for {@link MIGRATION_STALE_MINUTES} minutes (a coordinator that
   * stopped). The running runs are few; their targets are read by the run's key.
   */
  async #migrationsStuck(now: Date): Promise<FleetSignals['migrations_stuck']> {
    const stale = new Date(now.getTime() - MIGRATION_STALE_MINUTES * 60_000);
    const failedSince = new Date(now.getTime() - MIGRATION_FAILED_DAYS * DAY_MS);
    const { rows } = await sql<
      Counted<{
        id: string;
        state: 'running' | 'failed';
        target_version: number;
        failed: number | string;
        last_progress_at: Date;
      }>
    >`
      with runs as (
        select r.id, r.state, r.target_version,
          (select count(*) from migration_run_targets x where x.run_id = r.id and x.stage = 'failed') as failed,
          coalesce((select max(x.updated_at) from migration_run_targets x where x.run_id = r.id), r.created_at)
            as last_progress_at
        from migration_runs r
        where r.state = 'running' or (r.state = 'failed' and r.finished_at >= ${failedSince})
      )
      select *, count(*) over () as total from runs
      where state = 'failed' or last_progress_at < ${stale}
      order by id desc
      limit ${SIGNAL_ITEMS}`.execute(this.#db);
    return signalOf(rows, (row) => ({
      run_id: row.id,
      state: row.state,
      target_version: row.target_version,
      failed: Number(row.failed),
      last_progress_at: iso(row.last_progress_at),
    }));
  }
}
