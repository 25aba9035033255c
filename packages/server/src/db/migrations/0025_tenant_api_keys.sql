-- Tenant API keys (issue 14): keys the vendor's customers call the vendor's own API with, issued
-- here and verified by the SDK from a local cache. Not the control plane's own keys (api_keys).
-- secret_hash: the SHA-256 of the whole key, hex. A fast hash is right here, unlike for
-- passwords: the key holds 190 random bits, so there is nothing to guess from a stolen hash,
-- and the SDK hashes every presented key on the request path, where argon2 would cost
-- milliseconds a call. Unique: two keys with the same hash would be the same key.
-- prefix, last_four: what listings show to tell keys apart; the secret is never stored.
-- permissions: the vendor's permissions (`meetings:write`) the key carries.
-- expires_at: set at creation (optional) or by a roll (now + overlap); the key is refused from then.
-- rolled_to: the successor a roll made; a key rolled once cannot be rolled again.
-- last_used_at: reported by the SDK in batches, at most once a minute per key.
CREATE TABLE tenantry.tenant_api_keys (
  id text PRIMARY KEY CHECK (id ~ '^tak_[0-9a-z]{26}$'),
  tenant_id text NOT NULL REFERENCES tenantry.tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  prefix text NOT NULL,
  last_four text NOT NULL CHECK (length(last_four) = 4),
  secret_hash text NOT NULL UNIQUE CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
  permissions text[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  revoked_at timestamptz,
  rolled_to text REFERENCES tenantry.tenant_api_keys (id),
  last_used_at timestamptz
);
-- A tenant's keys, newest first (ids sort by creation time): the listing and the SDK's key sets.
CREATE INDEX tenant_api_keys_tenant ON tenantry.tenant_api_keys (tenant_id, id);
