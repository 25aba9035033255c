-- Hybrid (issue 15): datasets a self-hosted install pushes through its agent, each only while the
-- customer's own switch for it is on (a file on the customer's side; the control plane cannot
-- set it). The content is stored encrypted under the tenant's data key (AES-256-GCM, bound to
-- the tenant, agent, dataset and sequence): this table never holds it in the clear.
CREATE TABLE tenantry.agent_dataset_snapshots (
  tenant_id text NOT NULL REFERENCES tenantry.tenants (id),
  agent_id text NOT NULL REFERENCES tenantry.agents (id),
  dataset text NOT NULL,
  seq integer NOT NULL CHECK (seq > 0),
  sha256 text NOT NULL,
  size_bytes integer NOT NULL,
  field_names text[] NOT NULL,
  received_at timestamptz NOT NULL,
  ciphertext text NOT NULL,
  PRIMARY KEY (agent_id, dataset, seq)
);
CREATE INDEX agent_dataset_snapshots_latest
  ON tenantry.agent_dataset_snapshots (tenant_id, dataset, received_at DESC);

-- The switches as the agent last reported them: what the customer enabled, for the vendor to see.
CREATE TABLE tenantry.agent_dataset_switches (
  tenant_id text NOT NULL REFERENCES tenantry.tenants (id),
  agent_id text NOT NULL REFERENCES tenantry.agents (id),
  dataset text NOT NULL,
  enabled boolean NOT NULL,
  reported_at timestamptz NOT NULL,
  PRIMARY KEY (agent_id, dataset)
);
