-- Tenantry as the OpenID provider of the vendor's app (issue 14).
--
-- oidc_clients: the vendor's apps registered as OpenID clients. The provider (oidc-provider)
-- loads a client's metadata from here on each request, so a client deleted over the API stops at
-- once. A confidential client's secret is kept sealed with the master key, not hashed: the
-- provider must compare it (client_secret_basic/post) and can only compare clear text.
-- redirect_uris are matched exactly (the provider never does prefix matching).
CREATE TABLE tenantry.oidc_clients (
  id text PRIMARY KEY CHECK (id ~ '^cli_[0-9a-z]{26}$'),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  kind text NOT NULL CHECK (kind IN ('confidential', 'public')),
  redirect_uris jsonb NOT NULL CHECK (jsonb_typeof(redirect_uris) = 'array' AND jsonb_array_length(redirect_uris) BETWEEN 1 AND 20),
  secret_sealed text,
  created_at timestamptz NOT NULL,
  CHECK ((kind = 'confidential') = (secret_sealed IS NOT NULL))
);

-- oidc_payloads: every short-lived object of the provider (sessions, interactions, authorization
-- codes, refresh tokens, grants…), one row per (model, id) with the provider's payload as jsonb,
-- as its adapter interface expects. The columns beside the payload are what it looks rows up by:
-- grant_id (revokeByGrantId drops every token of a grant at once), uid (a session by its uid),
-- user_code (device flow), and expires_at: a row past it is treated as absent and swept.
-- consumed_at marks a single-use artefact (a code, a rotated refresh token) used: the provider
-- refuses it again and revokes its grant on replay.
CREATE TABLE tenantry.oidc_payloads (
  model text NOT NULL,
  id text NOT NULL,
  payload jsonb NOT NULL,
  grant_id text,
  uid text,
  user_code text,
  expires_at timestamptz,
  consumed_at timestamptz,
  PRIMARY KEY (model, id)
);
CREATE INDEX oidc_payloads_grant_id ON tenantry.oidc_payloads (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX oidc_payloads_uid ON tenantry.oidc_payloads (model, uid) WHERE uid IS NOT NULL;
CREATE INDEX oidc_payloads_user_code ON tenantry.oidc_payloads (model, user_code) WHERE user_code IS NOT NULL;
CREATE INDEX oidc_payloads_expires_at ON tenantry.oidc_payloads (expires_at) WHERE expires_at IS NOT NULL;

-- The members removed from a tenant within the last hour, which its entitlement snapshot names
-- so that apps refuse their still-unexpired access tokens: read from the audit log's
-- member.removed entries on every snapshot build, hence an index of those entries alone.
CREATE INDEX audit_events_member_removed ON tenantry.audit_events (tenant_id, occurred_at)
  WHERE action = 'member.removed';
