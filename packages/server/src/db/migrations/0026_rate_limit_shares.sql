-- Rate limits (issue 14): the share of a tenant's named rate limit each app instance holds.
-- The vendor's app counts its requests against a rate limit of the tenant's plan (e.g. `api`:
-- 100 requests a second) in a token bucket in each instance's memory; for the instances together
-- to allow no more than the plan says, each leases a fraction of the rate (`share`, 0 to 1) and
-- sizes its bucket by it. Grants for one tenant and limit take turns (an advisory lock), so the
-- open shares never add up to more than 1; a share lapses at `expires_at`, so a crashed
-- instance's share returns to the others within one lease, and a released one at once.
-- One row per (tenant, limit, instance): renewing updates it, which keeps the table as small as
-- the fleet of app instances times the limits in use.
-- Like usage leases, shares are operational state renewed every few seconds, not changes of
-- anyone's account: they are not audited.
CREATE TABLE tenantry.rate_limit_shares (
  tenant_id   text NOT NULL,
  name        text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
  instance_id text NOT NULL CHECK (length(instance_id) BETWEEN 1 AND 200),
  share       double precision NOT NULL CHECK (share >= 0 AND share <= 1),
  expires_at  timestamptz NOT NULL,
  released_at timestamptz,
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, name, instance_id)
);
