-- Tenants and meters whose usage changed since their limits' thresholds were last checked.
-- Ingestion appends to it in the transaction that stores the usage (so nothing is missed if a
-- process dies), and the threshold checker works it off after the commit, outside the hot path.
-- Append-only, so concurrent batches never wait on each other here.
CREATE TABLE tenantry.usage_threshold_queue (
  id         bigserial PRIMARY KEY,
  tenant_id  text NOT NULL,
  meter      text NOT NULL,
  -- An hour of the usage that changed: the check looks at the billing period that holds it.
  at         timestamptz NOT NULL
);
