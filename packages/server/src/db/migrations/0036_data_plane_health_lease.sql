-- The data-plane health check runs once per interval across all control-plane processes, rather
-- than once per process (docs/data-planes.md, "Health"). Two things move from a process's memory
-- to here, so that every process sees the same:

-- Consecutive failed checks of a data plane, whoever checked it: a data plane is `degraded` after
-- one and `unhealthy` after `unhealthyAfter` in a row, counted across processes; a success clears it.
ALTER TABLE tenantry.data_planes
  ADD COLUMN health_failures integer NOT NULL DEFAULT 0 CHECK (health_failures >= 0);

-- Periodic work that one process at a time runs, once per interval across all processes (one row
-- per kind of work, made by the first process that asks). A process takes a run with a conditional
-- update, when the run is due (next_run_at) and nobody holds one (held_until past or null); it
-- renews held_until while the run lasts and clears it when done. A holder that died stops
-- renewing, and once held_until has passed another process takes the work over.
CREATE TABLE tenantry.periodic_leases (
  name text PRIMARY KEY,
  -- Who took the last run: host, process id and a random tag (for operators; a process compares it
  -- to its own before renewing or releasing).
  holder text NOT NULL,
  -- Until when the holder's run is its own; null once the run is done.
  held_until timestamptz,
  next_run_at timestamptz NOT NULL
);
