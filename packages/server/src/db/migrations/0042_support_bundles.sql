-- Support bundles (issue 16): the redacted tar.gz `tenantry support-bundle` writes, uploaded by a
-- self-hosted customer (POST /v1/tenants/{id}/support-bundles) for the vendor's staff to download.
-- The archive is kept as it came, in the database (PostgreSQL is the only service Tenantry needs);
-- each tenant may keep only so many (TENANTRY_SUPPORT_BUNDLES_PER_TENANT, _TENANT_MB), checked
-- on upload under a per-tenant lock, so the sums below are what that check reads.
-- sha256: SHA-256 (hex) of content, for the vendor to check a download against.
-- uploaded_by_type/_id: the actor of the upload (a member's user, or an API key).
CREATE TABLE tenantry.support_bundles (
  tenant_id text NOT NULL REFERENCES tenantry.tenants (id) ON DELETE CASCADE,
  id text NOT NULL,
  description text CHECK (char_length(description) <= 500),
  size_bytes integer NOT NULL CHECK (size_bytes > 0),
  sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  content bytea NOT NULL CHECK (octet_length(content) = size_bytes),
  uploaded_by_type text NOT NULL,
  uploaded_by_id text NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
