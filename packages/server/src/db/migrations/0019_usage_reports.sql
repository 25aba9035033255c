-- Offline usage reports (issue 13): a self-hosted install signs its usage for a period with its own
-- Ed25519 key and the vendor imports the report (POST /v1/usage-reports). One row per imported
-- report, chained per (tenant, install): seq 1, 2, 3…, each report's `previous` the digest of the
-- one before, its period starting where that one's ended. The events themselves are stored as
-- usage_events, by their ids, like any other usage.
-- digest: SHA-256 (hex) of the report token, what the next report's `previous` must be.
-- install_key: the install's public key (Ed25519 JWK) that signed the report. The first report of an
-- install pins it: every later report of that install must carry and be signed by the same key.
-- key_thumbprint: its RFC 7638 thumbprint (the report header's kid).
-- license_id: the license the report carried (its customer is the tenant).
CREATE TABLE tenantry.usage_reports (
  tenant_id text NOT NULL REFERENCES tenantry.tenants (id) ON DELETE CASCADE,
  install_id text NOT NULL,
  seq integer NOT NULL CHECK (seq >= 1),
  report_id text NOT NULL,
  digest text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
  install_key jsonb NOT NULL,
  key_thumbprint text NOT NULL,
  license_id text NOT NULL REFERENCES tenantry.licenses (id) ON DELETE CASCADE,
  period_from timestamptz NOT NULL,
  period_to timestamptz NOT NULL CHECK (period_to > period_from),
  event_count integer NOT NULL CHECK (event_count >= 0),
  totals jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  imported_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, install_id, seq)
);
