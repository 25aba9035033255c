-- Migration runs (issue 15): the vendor's app migrations, run by the coordinator (the SDK's
-- `coordinateMigrations`, `tenantry app rollout`) across the pool, schema, database and BYOI
-- targets, and recorded here so that the fleet's progress and each tenant's migration history are
-- visible through the API (docs/app-migrations.md). The coordinator runs where the databases are
-- reachable and reports; the control plane never runs the vendor's SQL itself.

-- One run: which version every target is brought to, who started it, its canaries, its state.
-- state: running until every target has reached a final stage; then succeeded (none failed or
-- was skipped) or failed.
CREATE TABLE tenantry.migration_runs (
  id text PRIMARY KEY CHECK (id ~ '^mgr_[0-9a-z]{26}$'),
  -- The actor that created it, as the audit log names actors: `api_key:key_…`, `user:usr_…`.
  started_by text NOT NULL,
  target_version integer NOT NULL CHECK (target_version >= 0),
  dry_run boolean NOT NULL,
  -- The canary spec as given (`10%`, or tenant ids joined by commas); null: no canaries.
  canary text,
  state text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'succeeded', 'failed')),
  target_count integer NOT NULL CHECK (target_count > 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  CHECK ((state = 'running') = (finished_at IS NULL))
);
CREATE INDEX migration_runs_created ON tenantry.migration_runs (created_at DESC, id DESC);

-- One target of a run: the pool schema (`pool`) or a tenant. Its stage moves pending → prechecked
-- → (dry_run | applying → verified | applied) or ends failed / skipped; the final stages
-- (verified, applied, dry_run, failed, skipped) are not rewritten. Intermediate stages are plain
-- row updates (operational progress, many per second on a large fleet); a final stage is audited
-- in the tenant's chain (migration_run.target_finished).
CREATE TABLE tenantry.migration_run_targets (
  run_id text NOT NULL REFERENCES tenantry.migration_runs (id) ON DELETE CASCADE,
  target text NOT NULL CHECK (target = 'pool' OR target ~ '^ten_[0-9a-z]{26}$'),
  -- A purged tenant's history goes with it.
  tenant_id text REFERENCES tenantry.tenants (id) ON DELETE CASCADE,
  placement text NOT NULL CHECK (placement IN ('pool', 'schema', 'database', 'byoi', 'byoi_agent')),
  -- The run's order: canaries first.
  position integer NOT NULL,
  canary boolean NOT NULL,
  stage text NOT NULL DEFAULT 'pending' CHECK (
    stage IN ('pending', 'prechecked', 'dry_run', 'applying', 'applied', 'verified', 'failed', 'skipped')
  ),
  version_before integer,
  version_after integer,
  -- Why it failed or was skipped: {code, message, migration}.
  error jsonb,
  started_at timestamptz,
  finished_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (run_id, target),
  CHECK ((target = 'pool') = (tenant_id IS NULL)),
  CHECK (target = 'pool' OR target = tenant_id)
);
CREATE INDEX migration_run_targets_tenant ON tenantry.migration_run_targets (tenant_id, run_id DESC)
  WHERE tenant_id IS NOT NULL;
