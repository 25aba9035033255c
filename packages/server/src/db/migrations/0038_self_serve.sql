-- Self-serve sign-up and the vendor's branding (docs/self-serve.md).
-- operator_settings: the vendor's own settings, one row per kind ('self_serve', 'branding'), each
-- a JSON document the self-serve feature validates; no row means its defaults (self-serve off,
-- the configured brand).
CREATE TABLE tenantry.operator_settings (
  key text PRIMARY KEY CHECK (key IN ('self_serve', 'branding')),
  value jsonb NOT NULL,
  updated_at timestamptz NOT NULL
);

-- One row per self-serve trial: the user who started it (one trial per user: the primary key), the
-- tenant it made, the address it came from (trials per address are limited), and when the setup
-- wizard was completed. The sign-up funnel counts from here.
CREATE TABLE tenantry.self_serve_trials (
  user_id text PRIMARY KEY REFERENCES tenantry.users (id),
  tenant_id text NOT NULL UNIQUE REFERENCES tenantry.tenants (id),
  plan text NOT NULL,
  source_ip text,
  created_at timestamptz NOT NULL,
  wizard_completed_at timestamptz
);
CREATE INDEX self_serve_trials_created ON tenantry.self_serve_trials (created_at);
CREATE INDEX self_serve_trials_source ON tenantry.self_serve_trials (source_ip, created_at);

-- The funnel counts the week's sign-ups: without this, counting them reads every user.
CREATE INDEX users_created ON tenantry.users (created_at);
