-- Per-tenant secrets (issue 14, "bring your own key"): a tenant's own provider keys (AI provider,
-- cloud, webhook signing secrets), which the vendor's app reads through the SDK. Envelope
-- encryption: each tenant has one data key, and each secret is encrypted under it.

-- A tenant's data key: 32 random bytes, sealed with the master key (SecretBox, a compact JWE
-- whose protected header binds it to `tenant_data_key:<tenant_id>`, so a sealed key copied to
-- another tenant's row does not open). Made with the tenant's first secret. Deleting the tenant
-- deletes this row in the same transaction: with it goes the only way to decrypt any copy of the
-- tenant's ciphertexts (crypto-shredding). One row per tenant, never replaced while it lives: a
-- master-key rotation reseals it, which changes the wrapping and not the key.
CREATE TABLE tenantry.tenant_data_keys (
  tenant_id text PRIMARY KEY REFERENCES tenantry.tenants (id) ON DELETE CASCADE,
  sealed text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- One secret of a tenant, by name. Only the current version is kept: a rotation replaces the
-- ciphertext and raises the version, so the previous value is destroyed at once (the tenant
-- revokes it at its provider, and no reader caches it: see docs/tenant-secrets.md).
-- ciphertext: base64url of nonce (12 bytes) || AES-256-GCM ciphertext || tag (16 bytes), under
-- the tenant's data key, with the tenant id, name and version as associated data: a ciphertext
-- copied to another tenant, another name, or over a newer version does not decrypt.
-- The name rule is the service's too; the check keeps rows the API never wrote out.
CREATE TABLE tenantry.tenant_secrets (
  tenant_id text NOT NULL REFERENCES tenantry.tenants (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (name ~ '^[a-z0-9_.-]{1,100}$'),
  id text NOT NULL UNIQUE CHECK (id ~ '^sec_[0-9a-z]{26}$'),
  version integer NOT NULL CHECK (version >= 1),
  ciphertext text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  rotated_at timestamptz,
  PRIMARY KEY (tenant_id, name)
);
