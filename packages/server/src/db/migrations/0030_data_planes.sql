-- Data planes and placement resources (issue 15). A data plane is a registered PostgreSQL target
-- that holds tenants' data: the vendor's shared cluster, a dedicated server of the vendor's, or a
-- customer's own database reached directly (byoi) or only through an agent (byoi_agent).
--
-- kind:
--   vendor   — run by the vendor; pool, schema and database tenants live here. `dpl_default` is
--              the control plane's own server (no connection: it is DATABASE_URL, or embedded PGlite).
--   customer — a customer's database, reached with the connection details the customer gave.
--   agent    — a customer's database the control plane never reaches; an agent acts on it.
-- A customer or agent data plane holds one tenant (tenant_id), and its connection details are
-- sealed under that tenant's data key, bound to the tenant and the data plane.
CREATE TABLE tenantry.data_planes (
  id text PRIMARY KEY CHECK (id ~ '^dpl_[0-9a-z_]{1,40}$'),
  name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
  kind text NOT NULL CHECK (kind IN ('vendor', 'customer', 'agent')),
  region text,
  -- How many tenants it may hold; null: no limit.
  capacity integer CHECK (capacity > 0),
  tenant_id text REFERENCES tenantry.tenants (id),
  -- Sealed connection details; null for the control plane's own server and for agent data planes.
  connection_sealed text,
  health text NOT NULL DEFAULT 'unknown' CHECK (health IN ('unknown', 'healthy', 'degraded', 'unhealthy')),
  health_detail text,
  health_checked_at timestamptz,
  metadata jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- Retired data planes keep their row for the audit trail; their name may be taken again.
  retired_at timestamptz,
  CHECK ((kind = 'vendor') = (tenant_id IS NULL)),
  CHECK (kind <> 'agent' OR connection_sealed IS NULL)
);
CREATE UNIQUE INDEX data_planes_name_live ON tenantry.data_planes (name) WHERE retired_at IS NULL;
CREATE UNIQUE INDEX data_planes_tenant ON tenantry.data_planes (tenant_id) WHERE tenant_id IS NOT NULL;

INSERT INTO tenantry.data_planes (id, name, kind) VALUES ('dpl_default', 'default', 'vendor');

-- A tenant's data plane and what its placement made, as one value of the union in
-- packages/core/src/placements (`{placement, data_plane, …}`). Every tenant so far lives on the
-- control plane's own server.
ALTER TABLE tenantry.tenants
  ADD COLUMN data_plane_id text REFERENCES tenantry.data_planes (id),
  ADD COLUMN resources jsonb;
UPDATE tenantry.tenants SET
  data_plane_id = 'dpl_default',
  resources = CASE placement
    WHEN 'pool' THEN jsonb_build_object('placement', 'pool', 'data_plane', 'dpl_default')
    WHEN 'schema' THEN jsonb_build_object('placement', 'schema', 'data_plane', 'dpl_default',
      'schema', schema_name, 'role', role_name)
    ELSE jsonb_build_object('placement', 'database', 'data_plane', 'dpl_default',
      'database', database_name, 'role', role_name)
  END;
ALTER TABLE tenantry.tenants DROP CONSTRAINT tenants_placement_check;
ALTER TABLE tenantry.tenants ADD CONSTRAINT tenants_placement_check
  CHECK (placement IN ('pool', 'schema', 'database', 'byoi', 'byoi_agent'));
CREATE INDEX tenants_data_plane ON tenantry.tenants (data_plane_id) WHERE purged_at IS NULL;
