-- Fleet signals and the fleet's provisioning runs (issue 16): the operator console's home asks,
-- across a fleet of tens of thousands of tenants, which tenants are near a limit, whose trial or
-- license ends soon, which provisioning runs failed or stopped moving. One query a signal, each
-- reading a small indexed slice rather than every tenant (docs/fleet.md).

-- Provisioning runs by state, newest tenant first: `GET /v1/provisioning-runs?state=failed`
-- and the stuck-provisioning signal read the few runs not succeeded without the rest.
CREATE INDEX provisioning_runs_state ON tenantry.provisioning_runs (state, tenant_id DESC);

-- Trials ending soon: only trialing tenants, by when their trial ends.
CREATE INDEX tenants_trial_ends ON tenantry.tenants (trial_ends_at) WHERE state = 'trialing';

-- Licenses expiring soon: only the active ones, by expiry.
CREATE INDEX licenses_active_expiry ON tenantry.licenses (expires_at) WHERE status = 'active';

-- Limits at 80 % or more in the current period: a threshold row now says when its period ends,
-- so that the signal reads only the rows of periods not yet over, by index, rather than a year of
-- every tenant's. The checker writes it from then on; the rows before are given it here from the
-- tenant's billing anchor and its plan's interval, as billingPeriod counts (the anchor moved on by
-- whole months, its day clamped to the month's end). A row whose tenant is gone keeps none.
ALTER TABLE tenantry.usage_thresholds ADD COLUMN period_end timestamptz;
UPDATE tenantry.usage_thresholds u SET period_end = (
  (t.billing_anchor AT TIME ZONE 'UTC') + make_interval(months => (
    (extract(year FROM u.period_start AT TIME ZONE 'UTC') - extract(year FROM t.billing_anchor AT TIME ZONE 'UTC')) * 12
    + extract(month FROM u.period_start AT TIME ZONE 'UTC') - extract(month FROM t.billing_anchor AT TIME ZONE 'UTC')
    + CASE WHEN pv.definition->>'interval' = 'year' THEN 12 ELSE 1 END
  )::int)
) AT TIME ZONE 'UTC'
FROM tenantry.tenants t
JOIN tenantry.plan_versions pv ON pv.plan_id = t.plan_id AND pv.version = t.plan_version
WHERE t.id = u.tenant_id;
CREATE INDEX usage_thresholds_near ON tenantry.usage_thresholds (period_end) WHERE threshold >= 80;

-- Failing webhook endpoints: the pending deliveries already tried and failed at least once.
CREATE INDEX webhook_deliveries_retrying ON tenantry.webhook_deliveries (endpoint_id)
  WHERE state = 'pending' AND attempt_count > 0;

-- Migration runs by state: the running ones (few) and those failed lately.
CREATE INDEX migration_runs_state ON tenantry.migration_runs (state, finished_at DESC);

-- A migration run may be paused (issue 16): no target of a paused run starts (a report that would
-- move a pending target on is refused), while the targets already started finish; resumed, its
-- coordinator starts the rest. A paused run has not ended.
ALTER TABLE tenantry.migration_runs DROP CONSTRAINT migration_runs_state_check;
ALTER TABLE tenantry.migration_runs DROP CONSTRAINT migration_runs_check;
ALTER TABLE tenantry.migration_runs
  ADD CONSTRAINT migration_runs_state_check CHECK (state IN ('running', 'paused', 'succeeded', 'failed')),
  ADD CONSTRAINT migration_runs_check CHECK ((state IN ('running', 'paused')) = (finished_at IS NULL));
