-- A `byoi` or `byoi_agent` tenant gets a data plane of its own in the transaction that registers
-- it (issue 15): the plane names its tenant and the tenant its plane, so one of the two foreign
-- keys is checked at commit, when both rows exist.
ALTER TABLE tenantry.data_planes
  ALTER CONSTRAINT data_planes_tenant_id_fkey DEFERRABLE INITIALLY DEFERRED;
