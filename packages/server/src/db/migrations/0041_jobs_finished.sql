-- Finished jobs are kept for a while (what ran, how often it was tried, its last error) and then
-- deleted by the server's hourly housekeeping (JobQueue.purgeFinished); this index finds them
-- without reading the whole table, which otherwise grows by every job the fleet ever ran.
CREATE INDEX jobs_finished ON tenantry.jobs (finished_at) WHERE status IN ('succeeded', 'failed');
