-- The durable provisioning workflow (issue 15). A tenant's placement is provisioned by a run of
-- its driver's steps, each step in a job execution of its own whose outcome is written before the
-- next step starts, so that a control plane that stops between steps resumes at the step it
-- stopped at rather than from the start.
--
-- state of a run:
--   running   — a job is on its current step (or queued for it).
--   waiting   — the current step needs something from outside (a customer's connection details, an
--               agent's enrolment); no job runs until the run is resumed.
--   succeeded — every step holds; the tenant left `provisioning`.
--   failed    — the current step failed (retries exhausted, or a failure retrying cannot mend);
--               `retry_provisioning` resumes the run at that step.
-- One run per tenant, kept after it ends: it is what the tenant's view shows.
CREATE TABLE tenantry.provisioning_runs (
  tenant_id   text PRIMARY KEY REFERENCES tenantry.tenants (id),
  state       text NOT NULL CHECK (state IN ('running', 'waiting', 'succeeded', 'failed')),
  -- The step being run, waited on or failed; null once the run has succeeded.
  step        text,
  error       text,
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  finished_at timestamptz,
  CHECK ((state = 'succeeded') = (step IS NULL))
);

CREATE TABLE tenantry.provisioning_steps (
  tenant_id   text NOT NULL REFERENCES tenantry.provisioning_runs (tenant_id) ON DELETE CASCADE,
  position    integer NOT NULL CHECK (position >= 0),
  name        text NOT NULL,
  status      text NOT NULL CHECK (status IN ('pending', 'running', 'waiting', 'succeeded', 'failed')),
  attempts    integer NOT NULL DEFAULT 0,
  last_error  text,
  started_at  timestamptz,
  finished_at timestamptz,
  PRIMARY KEY (tenant_id, position),
  UNIQUE (tenant_id, name)
);

-- Tenants created between migration 0030 and this one got no data plane or resources yet.
UPDATE tenantry.tenants SET
  data_plane_id = 'dpl_default',
  resources = CASE placement
    WHEN 'pool' THEN jsonb_build_object('placement', 'pool', 'data_plane', 'dpl_default')
    WHEN 'schema' THEN jsonb_build_object('placement', 'schema', 'data_plane', 'dpl_default',
      'schema', schema_name, 'role', role_name)
    ELSE jsonb_build_object('placement', 'database', 'data_plane', 'dpl_default',
      'database', database_name, 'role', role_name)
  END
WHERE resources IS NULL OR data_plane_id IS NULL;

-- The resources union replaces the three columns that spelled out the vendor placements.
ALTER TABLE tenantry.tenants
  ALTER COLUMN data_plane_id SET NOT NULL,
  ALTER COLUMN resources SET NOT NULL,
  DROP COLUMN schema_name,
  DROP COLUMN role_name,
  DROP COLUMN database_name,
  ADD CONSTRAINT tenants_resources_placement
    CHECK (resources->>'placement' = placement AND resources->>'data_plane' = data_plane_id);
