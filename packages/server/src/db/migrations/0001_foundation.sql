-- The control plane's own tables live in the `tenantry` schema, apart from the vendor's app
-- tables. Every statement here runs on PostgreSQL 15+ and on PGlite alike.

CREATE SCHEMA IF NOT EXISTS tenantry;

CREATE TABLE tenantry.api_keys (
  id            text PRIMARY KEY,
  name          text NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('operator')),
  -- The first characters of the secret, shown in listings so people can tell keys apart.
  display_prefix text NOT NULL,
  -- SHA-256 of the secret. Secrets carry 256 random bits, so a fast hash is enough: there is
  -- nothing to brute-force, and a slow one would cost every request.
  secret_hash   text NOT NULL UNIQUE,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz
);

CREATE TABLE tenantry.meters (
  key           text PRIMARY KEY,
  name          text NOT NULL,
  unit          text,
  aggregation   text NOT NULL,
  unique_by     text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenantry.plans (
  id             text PRIMARY KEY,
  key            text NOT NULL UNIQUE,
  name           text NOT NULL,
  latest_version integer NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Immutable: a version is written once and never changed, so subscribers keep what they bought.
CREATE TABLE tenantry.plan_versions (
  plan_id     text NOT NULL REFERENCES tenantry.plans (id),
  version     integer NOT NULL,
  definition  jsonb NOT NULL,
  checksum    text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (plan_id, version)
);

CREATE TABLE tenantry.tenants (
  id              text PRIMARY KEY,
  slug            text NOT NULL,
  name            text NOT NULL,
  state           text NOT NULL,
  -- Why the tenant is in its state, when that needs saying (a provisioning failure, a suspension).
  state_reason    text,
  placement       text NOT NULL CHECK (placement IN ('pool', 'schema', 'database')),
  region          text,
  plan_id         text NOT NULL,
  plan_version    integer NOT NULL,
  seats           integer NOT NULL CHECK (seats >= 0),
  overrides       jsonb NOT NULL DEFAULT '{}',
  billing_anchor  timestamptz NOT NULL,
  trial_ends_at   timestamptz,
  -- A plan change waiting for the end of the billing period: {plan_id, plan_version, effective_at}.
  scheduled_change jsonb,
  schema_name     text,
  role_name       text,
  database_name   text,
  metadata        jsonb NOT NULL DEFAULT '{}',
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  deleted_at      timestamptz,
  -- When the tenant's schema, database or pool rows were removed, after the retention period.
  purged_at       timestamptz,
  FOREIGN KEY (plan_id, plan_version) REFERENCES tenantry.plan_versions (plan_id, version)
);

-- A deleted tenant's slug may be taken again; the deleted row stays for the audit trail.
CREATE UNIQUE INDEX tenants_slug_live ON tenantry.tenants (slug) WHERE state <> 'deleted';
CREATE INDEX tenants_state ON tenantry.tenants (state, id);
CREATE INDEX tenants_plan ON tenantry.tenants (plan_id, id);

CREATE TABLE tenantry.jobs (
  id            text PRIMARY KEY,
  kind          text NOT NULL,
  payload       jsonb NOT NULL,
  -- At most one unfinished job per key: enqueueing the same work twice is a no-op.
  dedupe_key    text,
  status        text NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
  run_at        timestamptz NOT NULL,
  attempts      integer NOT NULL DEFAULT 0,
  max_attempts  integer NOT NULL,
  locked_until  timestamptz,
  last_error    text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz
);

CREATE UNIQUE INDEX jobs_dedupe_unfinished ON tenantry.jobs (dedupe_key)
  WHERE status IN ('pending', 'running');
CREATE INDEX jobs_due ON tenantry.jobs (run_at) WHERE status IN ('pending', 'running');

CREATE TABLE tenantry.idempotency_keys (
  api_key_id      text NOT NULL,
  key             text NOT NULL,
  request_hash    text NOT NULL,
  -- NULL while the first request is still being handled.
  status_code     integer,
  response_body   text,
  response_headers jsonb,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (api_key_id, key)
);

-- Written in the same transaction as the change it records.
CREATE TABLE tenantry.audit_events (
  id           text PRIMARY KEY,
  occurred_at  timestamptz NOT NULL DEFAULT now(),
  actor_type   text NOT NULL,
  actor_id     text NOT NULL,
  tenant_id    text,
  action       text NOT NULL,
  target_type  text NOT NULL,
  target_id    text NOT NULL,
  request_id   text,
  data         jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_events_tenant ON tenantry.audit_events (tenant_id, occurred_at);
CREATE INDEX audit_events_target ON tenantry.audit_events (target_type, target_id, occurred_at);
