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

-- Limits at 80 % or more, by period: the signal reads the recent periods' rows only.
CREATE INDEX usage_thresholds_near ON tenantry.usage_thresholds (period_start) WHERE threshold >= 80;

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
