-- The process whose request holds an in-progress idempotency key: the key of its process lock
-- (Database.processLock). A retry may take the key over as soon as that process is gone, instead
-- of waiting out a timer. NULL on rows written before this column existed.
ALTER TABLE tenantry.idempotency_keys ADD COLUMN owner integer;
