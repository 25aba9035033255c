-- The keys that sign the short-lived access tokens apps verify against /.well-known/jwks.json.
-- A key is published as "next" before it signs anything, so that apps already hold it when a
-- rotation makes it active; once retired it stays published until every token it signed has
-- expired, and its private half is erased at once, since nothing may sign with it again.
CREATE TABLE tenantry.signing_keys (
  -- The RFC 7638 thumbprint of the public key.
  kid           text PRIMARY KEY,
  algorithm     text NOT NULL CHECK (algorithm IN ('ES256')),
  public_jwk    jsonb NOT NULL,
  private_jwk   jsonb,
  created_at    timestamptz NOT NULL,
  -- NULL while the key waits, published, to become active.
  activated_at  timestamptz,
  -- NULL while the key is active (or waiting).
  retired_at    timestamptz,
  CHECK (retired_at IS NULL OR activated_at IS NOT NULL),
  CHECK ((private_jwk IS NULL) = (retired_at IS NOT NULL))
);

-- Exactly one key signs, and at most one waits: the service keeps one of each under an advisory
-- lock, and these indexes hold that even against a bug.
CREATE UNIQUE INDEX signing_keys_one_active ON tenantry.signing_keys ((true))
  WHERE activated_at IS NOT NULL AND retired_at IS NULL;
CREATE UNIQUE INDEX signing_keys_one_next ON tenantry.signing_keys ((true))
  WHERE activated_at IS NULL;
