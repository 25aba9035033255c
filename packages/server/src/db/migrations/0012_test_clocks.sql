-- Test clocks, as Stripe's: a clock a vendor creates and advances by hand, and test tenants that
-- live on it. Everything time-dependent for such a tenant (its trial, periods, invoice runs,
-- dunning) reads the clock's frozen_time instead of the wall clock, and runs when the clock is
-- advanced; live tenants (test_clock_id null) never see it.
CREATE TABLE tenantry.test_clocks (
  id text PRIMARY KEY,
  name text,
  frozen_time timestamptz NOT NULL,
  -- 'advancing' while an advance to advancing_to is being worked through, 'ready' otherwise.
  status text NOT NULL CHECK (status IN ('ready', 'advancing')),
  advancing_to timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  -- A deleted clock is kept (its tenants, deleted with it, still name it) but no longer shown.
  deleted_at timestamptz,
  CHECK ((status = 'advancing') = (advancing_to IS NOT NULL))
);

ALTER TABLE tenantry.tenants ADD COLUMN test_clock_id text REFERENCES tenantry.test_clocks (id);
CREATE INDEX tenants_test_clock ON tenantry.tenants (test_clock_id) WHERE test_clock_id IS NOT NULL;

-- A job of a test tenant (a dunning retry, a suspension) runs when its clock reaches run_at, by
-- the clock's advance; the worker runs only the jobs of no clock.
ALTER TABLE tenantry.jobs ADD COLUMN test_clock_id text;
CREATE INDEX jobs_test_clock_due ON tenantry.jobs (test_clock_id, run_at)
  WHERE test_clock_id IS NOT NULL AND status = 'pending';
