import {
  billingPeriod,
  type Placement,
  type PlacementResources,
  type PlanDefinition,
  type TenantOverrides,
  type TenantState,
} from '@tenantry/core';
import type { DataPlaneHealth } from '../data-planes/index.ts';
import type { ScheduledPlanChange, TenantRow } from '../db/index.ts';
import type { RunState } from '../provisioning/index.ts';

/** A tenant as the API shows it. */
export interface TenantView {
  id: string;
  slug: string;
  name: string;
  state: TenantState;
  state_reason: string | null;
  placement: Placement;
  /** The data plane holding the tenant's data (`dpl_…`). */
  data_plane: string;
  /** Its data plane's health: `unhealthy` means its data cannot be reached now. */
  data_plane_health: DataPlaneHealth;
  region: string | null;
  plan: { id: string; key: string; version: number };
  seats: number;
  overrides: TenantOverrides;
  trial_ends_at: string | null;
  billing_anchor: string;
  current_period: { start: string; end: string };
  scheduled_change: { plan: { id: string; key: string; version: number }; effective_at: string } | null;
  /** What its placement made (or will make). */
  resources: PlacementResources;
  /** Its provisioning run: where it is, and why it stopped; null for a tenant provisioned before runs existed. */
  provisioning: { state: RunState; step: string | null; error: string | null } | null;
  metadata: Record<string, string>;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
  /** The test clock the tenant lives on (`clk_…`), null for a live tenant. */
  test_clock: string | null;
}

/** A tenant row with what it takes to show it: its plan's key and definition. */
export interface TenantRecord extends TenantRow {
  plan_key: string;
  definition: PlanDefinition;
  scheduled_plan_key: string | null;
  /** Its test clock's frozen time; null for a live tenant. */
  clock_time: Date | null;
  /** Its data plane's health, as the scheduled health check (or its agent) last found it. */
  data_plane_health: DataPlaneHealth;
  provisioning_state: RunState | null;
  provisioning_step: string | null;
  provisioning_error: string | null;
}

/**
 * Builds the API's view of a tenant at `now` (the current period depends on it), or at its test
 * clock's time when it lives on one.
 */
export function tenantView(record: TenantRecord, now: Date): TenantView {
  const period = billingPeriod(record.billing_anchor, record.definition.interval, record.clock_time ?? now);
  const scheduled = record.scheduled_change as ScheduledPlanChange | null;
  return {
    id: record.id,
    slug: record.slug,
    name: record.name,
    state: record.state as TenantState,
    state_reason: record.state_reason,
    placement: record.placement,
    data_plane: record.data_plane_id,
    data_plane_health: record.data_plane_health,
    region: record.region,
    plan: { id: record.plan_id, key: record.plan_key, version: record.plan_version },
    seats: record.seats,
    overrides: record.overrides as TenantOverrides,
    trial_ends_at: record.trial_ends_at?.toISOString() ?? null,
    billing_anchor: record.billing_anchor.toISOString(),
    current_period: { start: period.start.toISOString(), end: period.end.toISOString() },
    scheduled_change:
      scheduled && record.scheduled_plan_key
        ? {
            plan: { id: scheduled.plan_id, key: record.scheduled_plan_key, version: scheduled.plan_version },
            effective_at: scheduled.effective_at,
          }
        : null,
    resources: record.resources as PlacementResources,
    provisioning:
      record.provisioning_state === null
        ? null
        : {
            state: record.provisioning_state,
            step: record.provisioning_step,
            error: record.provisioning_error,
          },
    metadata: record.metadata,
    created_at: record.created_at.toISOString(),
    updated_at: record.updated_at.toISOString(),
    deleted_at: record.deleted_at?.toISOString() ?? null,
    test_clock: record.test_clock_id,
  };
}
