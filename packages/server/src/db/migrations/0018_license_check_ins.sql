-- License check-ins (issue 13): one row per install of a tenant, as it last checked in. The install
-- names itself (install_id); the license it presents, verified, says which tenant it belongs to.
-- license_id: the license last presented (an install moves to a newer one when it is re-issued).
-- seats_in_use: what the install last reported, null when it reported none.
CREATE TABLE tenantry.license_check_ins (
  tenant_id text NOT NULL REFERENCES tenantry.tenants (id) ON DELETE CASCADE,
  install_id text NOT NULL,
  license_id text NOT NULL REFERENCES tenantry.licenses (id) ON DELETE CASCADE,
  version text NOT NULL,
  seats_in_use integer CHECK (seats_in_use >= 0),
  first_seen_at timestamptz NOT NULL,
  last_check_in_at timestamptz NOT NULL,
  check_ins integer NOT NULL DEFAULT 1 CHECK (check_ins >= 1),
  PRIMARY KEY (tenant_id, install_id)
);
