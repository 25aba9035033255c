-- The threshold queue holds one row per ingested batch, listing every (tenant, meter, hour) the
-- batch changed, instead of one row per change: a batch of a thousand events for a thousand
-- tenants queued a thousand rows, which cost the database as much to write (and to vacuum) as
-- the events themselves. Entries queued by the old layout are carried over.
ALTER TABLE tenantry.usage_threshold_queue RENAME TO usage_threshold_queue_old;
ALTER INDEX tenantry.usage_threshold_queue_pkey RENAME TO usage_threshold_queue_old_pkey;

CREATE TABLE tenantry.usage_threshold_queue (
  id       bigserial PRIMARY KEY,
  -- [{"t": tenant id, "m": meter, "at": an hour of the usage that changed}, …]
  changes  jsonb NOT NULL
);

INSERT INTO tenantry.usage_threshold_queue (changes)
SELECT jsonb_agg(jsonb_build_object('t', tenant_id, 'm', meter, 'at', at) ORDER BY id)
FROM tenantry.usage_threshold_queue_old
HAVING count(*) > 0;

DROP TABLE tenantry.usage_threshold_queue_old;

-- Busy hours' rollup rows are updated by every batch: room on their page lets the update stay a
-- heap-only tuple, without a new index entry per update.
ALTER TABLE tenantry.usage_rollups SET (fillfactor = 50);
