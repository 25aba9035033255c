-- The outbound agent (issue 15): a process in the customer's environment that dials out to the
-- control plane over a WebSocket and acts on the customer's database, which the control plane
-- never has credentials for (its data plane is of kind `agent`, migration 0030).

-- One-time enrolment tokens: the operator makes one for a tenant, the agent spends it on its
-- first connection for a long-term credential. Only the SHA-256 of the token is kept.
CREATE TABLE tenantry.agent_enrolments (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenantry.tenants (id),
  data_plane_id text NOT NULL REFERENCES tenantry.data_planes (id),
  token_hash text NOT NULL UNIQUE,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Set when spent, with the agent it made: a token enrols one agent, once.
  used_at timestamptz,
  agent_id text
);

CREATE TABLE tenantry.agents (
  id text PRIMARY KEY CHECK (id ~ '^agt_[0-9a-z]{26}$'),
  tenant_id text NOT NULL REFERENCES tenantry.tenants (id),
  data_plane_id text NOT NULL REFERENCES tenantry.data_planes (id),
  enrolment_id text NOT NULL REFERENCES tenantry.agent_enrolments (id),
  -- SHA-256 hex of the credential the agent authenticates with (256 random bits: a fast hash
  -- is enough, as for API keys).
  credential_hash text NOT NULL,
  -- During a rotation: the credential before it, accepted until the agent acknowledges the new one.
  previous_credential_hash text,
  -- The rotation the agent has not acknowledged yet; null when none is under way.
  rotation_id text,
  credential_rotated_at timestamptz NOT NULL,
  state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'revoked')),
  version text,
  job_types text[] NOT NULL DEFAULT '{}',
  last_seen_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz
);
CREATE INDEX agents_tenant ON tenantry.agents (tenant_id);
ALTER TABLE tenantry.agent_enrolments
  ADD CONSTRAINT agent_enrolments_agent FOREIGN KEY (agent_id) REFERENCES tenantry.agents (id);

-- Jobs sent to agents. `queued`: waiting for the agent; `sent`: offered, not yet acknowledged;
-- `running`: the agent acknowledged it; then one of the ends. A job interrupted by a disconnect
-- (sent or running) is offered again, with the same id, when its agent reconnects.
CREATE TABLE tenantry.agent_jobs (
  id text PRIMARY KEY CHECK (id ~ '^agj_[0-9a-z]{26}$'),
  agent_id text NOT NULL REFERENCES tenantry.agents (id),
  tenant_id text NOT NULL REFERENCES tenantry.tenants (id),
  type text NOT NULL,
  input jsonb NOT NULL,
  state text NOT NULL DEFAULT 'queued'
    CHECK (state IN ('queued', 'sent', 'running', 'succeeded', 'failed', 'refused')),
  progress jsonb,
  output jsonb,
  -- Why it failed or was refused: {code, message[, fields]}.
  error jsonb,
  attempts integer NOT NULL DEFAULT 0,
  -- The caller's key: the same key for the same agent answers the job it made, not a second one.
  idempotency_key text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  -- When a placement driver's step told the provisioning workflow this job failed: a later run
  -- of the step (the operator's retry) sends a new job instead of reporting this one again.
  reported_at timestamptz
);
CREATE UNIQUE INDEX agent_jobs_idempotency ON tenantry.agent_jobs (agent_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX agent_jobs_open ON tenantry.agent_jobs (agent_id, created_at)
  WHERE state IN ('queued', 'sent', 'running');
