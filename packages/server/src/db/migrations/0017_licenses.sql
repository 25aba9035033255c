-- Licenses for self-hosted installs (issue 13). A license is a JWS signed with an Ed25519 key of
-- the vendor's; installs verify it offline against the public halves (GET /v1/license-keys).

-- private_key_sealed: the private JWK sealed with the master key (SecretBox), never in clear.
-- The newest key is active and signs; older ones are retired, their private halves erased (they
-- sign nothing more), but stay published, so licenses they signed keep verifying.
CREATE TABLE tenantry.license_keys (
  kid text PRIMARY KEY,
  public_jwk jsonb NOT NULL,
  private_key_sealed text,
  status text NOT NULL CHECK (status IN ('active', 'retired')),
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz
);
-- At most one key signs at a time.
CREATE UNIQUE INDEX license_keys_one_active ON tenantry.license_keys (status) WHERE status = 'active';

-- seq grows per tenant: a newer license replaces an older one on the install. claims: what the
-- token signs, kept for listing without parsing the token. 'expired' is not stored: it follows
-- from expires_at and the clock.
CREATE TABLE tenantry.licenses (
  id text PRIMARY KEY,
  tenant_id text NOT NULL REFERENCES tenantry.tenants (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  kid text NOT NULL REFERENCES tenantry.license_keys (kid),
  token text NOT NULL,
  claims jsonb NOT NULL,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'superseded', 'revoked')),
  issued_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  superseded_at timestamptz,
  revoked_at timestamptz,
  revoke_reason text,
  UNIQUE (tenant_id, seq)
);
